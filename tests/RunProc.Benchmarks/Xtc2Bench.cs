using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Text.Json;
using RunProc.Config;
using RunProc.Formats;
using RunProc.Pixels;

namespace RunProc.Benchmarks;

/// <summary>
/// `xtc2 DIR`: a 200-event epix10ka-quad xtc2 run (4 × 352 × 384 uint16 a segment, raw + aux per
/// segment as the DAQ writes it, gain bit 14 set) in the page cache. The analysis (open, the
/// kernel on every segment in place, the summary; 2 threads) against reading the same run with no
/// work: open it and touch every segment's words on 2 threads. Both timed from the open, best of 3.
/// </summary>
internal static class Xtc2Bench
{
    public const int Events = 200, Segments = 4, Rows = 352, Cols = 384;

    public static string EnsureRun(string dir)
    {
        var file = Path.Combine(dir, "benchxtc-r0001-s000-c000.xtc2");
        if (File.Exists(file))
            return file;
        using var w = new Xtc2StreamWriter(dir, "benchxtc", 1, 0);
        var names = Enumerable.Range(0, Segments).Select(s => w.Declare(s, "epixquad", "epix10ka", "raw", 0x020001, s,
            new Xtc2Field("raw", Xtc2DataType.UInt16, 2), new Xtc2Field("aux", Xtc2DataType.UInt16, 2))).ToArray();
        ulong t = 1_100_000_000UL << 32;
        w.Configure(t);
        w.BeginRun(t + 1);
        w.Transition(t + 2, Xtc2Transition.Enable);
        var frames = Program.MakeFrames(Segments, Rows * Cols);
        var aux = new ushort[4 * Cols];
        for (var e = 0; e < Events; e++)
        {
            // Each event its own values: the frames rotated by the event number.
            var shift = e * 97 % (Rows * Cols);
            w.L1Accept(t + 10 + (ulong)e, names.Select((n, s) =>
            {
                var raw = new ushort[Rows * Cols];
                var seg = frames.AsSpan(s * Rows * Cols, Rows * Cols);
                seg[shift..].CopyTo(raw);
                seg[..shift].CopyTo(raw.AsSpan(Rows * Cols - shift));
                for (var i = 0; i < raw.Length; i++) raw[i] |= 0x4000;
                return (n, new[] { Xtc2Value.Array<ushort>(raw, Rows, Cols), Xtc2Value.Array<ushort>(aux, 4, Cols) });
            }));
        }
        w.Transition(t + 1000, Xtc2Transition.Disable);
        w.EndRun(t + 1001);
        return file;
    }

    public static void Run(string dir)
    {
        Directory.CreateDirectory(dir);
        var file = EnsureRun(dir);
        var files = new[] { file };
        _ = File.ReadAllBytes(file); // into the page cache
        const int threads = 2;
        var bytes = (long)Events * Segments * Rows * Cols * 2;
        double readSeconds = double.MaxValue, analysisSeconds = double.MaxValue;
        var runner = new PixelStatusRunner(new RunProcConfig());
        var request = new PixelStatusRequest { Files = files, Threads = threads, ArrayTypes = new[] { "sta" } };
        for (var rep = 0; rep < 3; rep++)
        {
            var sw = Stopwatch.StartNew();
            var (dets, handle) = PixelStatusRunner.OpenDetectors(files, Array.Empty<string>(), null, request.Xtc2Selection, null);
            using (handle)
            {
                var src = dets[0].Parts[0];
                var n = (int)src.FrameCount;
                var segPx = src.FramePixels / src.FramePieces;
                var max = new ushort[threads];
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, th =>
                {
                    unsafe
                    {
                        var ptrs = new nint[n];
                        var m = Vector256<ushort>.Zero;
                        for (var s = 0; s < src.FramePieces; s++)
                        {
                            src.TryGetUInt16Pieces(0, n, s, ptrs);
                            for (var f = th; f < n; f += threads)
                            {
                                var p = (ushort*)ptrs[f];
                                for (var i = 0; i + 16 <= segPx; i += 16)
                                    m = Vector256.Max(m, Vector256.Load(p + i));
                            }
                        }
                        max[th] = Vector256.Max(m, Vector256<ushort>.Zero).GetElement(0);
                    }
                });
                GC.KeepAlive(max);
            }
            readSeconds = Math.Min(readSeconds, sw.Elapsed.TotalSeconds);

            sw.Restart();
            (dets, handle) = PixelStatusRunner.OpenDetectors(files, Array.Empty<string>(), null, request.Xtc2Selection, null);
            var opened = sw.Elapsed.TotalSeconds;
            double accumulated;
            using (handle)
            {
                var acc = runner.Accumulate(dets[0], request, null, CancellationToken.None);
                accumulated = sw.Elapsed.TotalSeconds;
                _ = PixelStatusSummary.Compute(acc, request.Options);
            }
            analysisSeconds = Math.Min(analysisSeconds, sw.Elapsed.TotalSeconds);
            Console.WriteLine($"open {opened * 1e3:F0} ms, accumulate {(accumulated - opened) * 1e3:F0} ms, summary {(sw.Elapsed.TotalSeconds - accumulated) * 1e3:F0} ms; read alone {readSeconds * 1e3:F0} ms");
        }
        Console.WriteLine("RESULT " + JsonSerializer.Serialize(new
        {
            kind = "xtc2", file = Path.GetFileName(file), events = Events, threads, readSeconds, analysisSeconds,
            readGBps = bytes / readSeconds / 1e9, analysisGBps = bytes / analysisSeconds / 1e9, ratio = readSeconds / analysisSeconds,
        }));
    }
}
