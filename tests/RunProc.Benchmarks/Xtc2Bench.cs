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
/// work: open it and touch every segment's words on 2 threads. Both timed from the open, in 15
/// interleaved rounds; the ratio is the median of the rounds' ratios, with its min and max.
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

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int posix_fadvise(int fd, long offset, long len, int advice);

    /// <summary>
    /// Puts the file into the page cache as reading it from disk does (evicted, then read in
    /// 16 MiB pieces: readahead builds large folios), or leaves it as this process wrote it (in
    /// small writes: small folios). How the page cache holds the file decides how fast a fresh
    /// mapping of it is read the first time (measured 2026-12-02: 219 MB in ~23 ms from large
    /// folios, ~80–100 ms from small ones, both with no page faults left after MADV_POPULATE_READ).
    /// </summary>
    private static void Cache(string file, bool asReadFromDisk)
    {
        if (!asReadFromDisk)
            return;
        using var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        if (posix_fadvise((int)fs.SafeFileHandle.DangerousGetHandle(), 0, 0, 4 /* POSIX_FADV_DONTNEED */) != 0)
            Console.WriteLine("// posix_fadvise(DONTNEED) refused: the file stays cached as it was written");
        var buf = new byte[16 << 20];
        while (fs.Read(buf) > 0) { }
    }

    private static long MinorFaults() => long.Parse(File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[7], System.Globalization.CultureInfo.InvariantCulture);

    public static void Run(string dir)
    {
        Program.ApplyKernelKnobs();
        Directory.CreateDirectory(dir);
        var fresh = !File.Exists(Path.Combine(dir, "benchxtc-r0001-s000-c000.xtc2"));
        var file = EnsureRun(dir);
        var files = new[] { file };
        const int threads = 2;
        var bytes = (long)Events * Segments * Rows * Cols * 2;
        var request = new PixelStatusRequest { Files = files, Threads = threads, ArrayTypes = new[] { "sta" } };
        var reps = int.TryParse(Environment.GetEnvironmentVariable("RUNPROC_REPS"), out var r) ? r : 15;
        // As written is only known for a file this run wrote; the headline is the cache as a read from disk fills it.
        foreach (var asRead in fresh ? new[] { false, true } : new[] { true })
        {
            Cache(file, asRead);
            var state = asRead ? "as read from disk" : "as written";
            // Every round's three times are kept: the ratio is the median of the rounds' own
            // ratios (baseline and analysis measured back to back), the spread their min and max.
            var reads = new List<double>(); var seqs = new List<double>(); var analyses = new List<double>(); var ratios = new List<double>();
            for (var rep = 0; rep < reps; rep++)
            {
                // Rounds interleaved, each on a fresh open (a fresh mapping: its first read is part of the cost).
                var me = Process.GetCurrentProcess();
                var cpu0 = me.TotalProcessorTime;
                var readFaults0 = MinorFaults();
                var sw = Stopwatch.StartNew();
                var (dets, handle) = PixelReadPipeline.OpenDetectors(files, Array.Empty<string>(), null, request.Xtc2Selection, null);
                using (handle)
                    TouchAsTheKernelReads(dets[0].Parts[0], threads, request.BlockBytes);
                var roundRead = sw.Elapsed.TotalSeconds;
                me.Refresh();
                var cpuRead = (me.TotalProcessorTime - cpu0).TotalMilliseconds;
                var faultsRead = MinorFaults() - readFaults0;

                sw.Restart();
                (dets, handle) = PixelReadPipeline.OpenDetectors(files, Array.Empty<string>(), null, request.Xtc2Selection, null);
                using (handle)
                    TouchSequentially(dets[0].Parts[0], threads);
                var roundSeq = sw.Elapsed.TotalSeconds;

                me.Refresh();
                cpu0 = me.TotalProcessorTime;
                var faults0 = MinorFaults();
                sw.Restart();
                (dets, handle) = PixelReadPipeline.OpenDetectors(files, Array.Empty<string>(), null, request.Xtc2Selection, null);
                var opened = sw.Elapsed.TotalSeconds;
                double accumulated, summarised, freed;
                using (handle)
                {
                    var acc = PixelReadPipeline.Accumulate(dets[0], request, null, CancellationToken.None);
                    accumulated = sw.Elapsed.TotalSeconds;
                    _ = PixelStatusSummary.Compute(acc, request.Options);
                    summarised = sw.Elapsed.TotalSeconds;
                    acc.Dispose(); // as a job's end frees it
                    freed = sw.Elapsed.TotalSeconds;
                }
                var roundAnalysis = sw.Elapsed.TotalSeconds;
                me.Refresh();
                var cpuAnalysis = (me.TotalProcessorTime - cpu0).TotalMilliseconds;
                var faultsAnalysis = MinorFaults() - faults0;
                reads.Add(roundRead); seqs.Add(roundSeq); analyses.Add(roundAnalysis);
                // The no-work baseline is the faster of the two ways of reading every segment word.
                ratios.Add(Math.Min(roundRead, roundSeq) / roundAnalysis);
                Console.WriteLine($"{state}: round {rep + 1}: analysis {roundAnalysis * 1e3:F1} ms (open {opened * 1e3:F1}, accumulate {(accumulated - opened) * 1e3:F1}, summary {(summarised - accumulated) * 1e3:F1}, free the accumulator {(freed - summarised) * 1e3:F1}, unmap {(roundAnalysis - freed) * 1e3:F1}), read alone {roundRead * 1e3:F1} ms as the kernel reads, {roundSeq * 1e3:F1} ms sequentially; ratio {ratios[^1]:F2}; CPU (all threads) read as the kernel reads {cpuRead:F0} ms, analysis {cpuAnalysis:F0} ms; minor faults: read {faultsRead}, analysis {faultsAnalysis}");
            }
            static double Median(List<double> v) { var s = v.Order().ToList(); return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2; }
            var readMedian = Median(reads); var seqMedian = Median(seqs); var analysisSeconds = Median(analyses);
            var baseline = Math.Min(readMedian, seqMedian);
            var readSeconds = readMedian; var seqSeconds = seqMedian;
            Console.WriteLine("RESULT " + JsonSerializer.Serialize(new
            {
                kind = "xtc2", cache = state, file = Path.GetFileName(file), events = Events, threads, readSeconds = baseline, analysisSeconds,
                readGBps = bytes / baseline / 1e9, analysisGBps = bytes / analysisSeconds / 1e9, ratio = Median(ratios), ratioMin = ratios.Min(), ratioMax = ratios.Max(), rounds = reps,
                kernelPatternReadGBps = bytes / readSeconds / 1e9, sequentialReadGBps = bytes / seqSeconds / 1e9,
            }));
        }
    }

    /// <summary>
    /// Reading with no work, in the analysis's own access pattern: the runner's blocks (16 frames,
    /// then up to 64 MiB) with the next block's page tables filled on a helper task, each segment
    /// split over the threads by pixel ranges, and within a range the kernel's order — 16 frames
    /// at a time, 64-pixel strips of one 16 Ki-pixel tile — loading every word once and doing
    /// nothing with it but a max.
    /// </summary>
    private static unsafe void TouchAsTheKernelReads(FrameSource src, int threads, long blockBytes)
    {
        var n = (int)src.FrameCount;
        var pieces = src.FramePieces;
        var piecePx = src.FramePixels / pieces;
        var blockFrames = (int)Math.Clamp(4 * blockBytes / (src.FramePixels * 2L), 1, 4096); // as PixelReadPipeline's in-place blocks
        var blocks = new List<(int Start, int Count)>();
        for (var f = 0; f < n;)
        {
            var c = Math.Min(blocks.Count == 0 ? Math.Min(16, blockFrames) : blockFrames, n - f);
            blocks.Add((f, c));
            f += c;
        }
        nint[][] Pointers((int Start, int Count) b)
        {
            var ptrs = new nint[pieces][];
            for (var k = 0; k < pieces; k++)
            {
                ptrs[k] = new nint[b.Count];
                src.TryGetUInt16Pieces(b.Start, b.Count, k, ptrs[k]);
            }
            return ptrs;
        }
        void Populate(nint[][] ptrs)
        {
            nint lo = nint.MaxValue, hi = 0;
            foreach (var list in ptrs)
                foreach (var p in list) { lo = Math.Min(lo, p); hi = Math.Max(hi, p); }
            MappedPages.Populate((void*)lo, hi + piecePx * 2 - lo);
        }
        var current = Pointers(blocks[0]);
        var populate = Task.Run(() => Populate(current));
        var sink = new ushort[threads];
        for (var b = 0; b < blocks.Count; b++)
        {
            populate.Wait();
            var ptrs = current;
            if (b + 1 < blocks.Count)
            {
                var next = current = Pointers(blocks[b + 1]);
                populate = Task.Run(() => Populate(next));
            }
            foreach (var frames in ptrs)
            {
                var per = (piecePx / threads + 31) & ~31;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                {
                    var start = Math.Min(piecePx, t * per);
                    var end = t == threads - 1 ? piecePx : Math.Min(piecePx, start + per);
                    sink[t] = TouchRange(frames, start, end);
                });
            }
        }
        populate.Wait();
        GC.KeepAlive(sink);
    }

    /// <summary>Every word of pixels [start, end) of the frames, in the kernel's order (16 frames, 64-pixel strips of a tile); optimised from the first call.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static unsafe ushort TouchRange(nint[] frames, int start, int end)
    {
        var m = Vector256<ushort>.Zero;
        for (var p0 = start; p0 < end; p0 += PixelStatusKernel.TilePixels)
        {
            var tile = Math.Min(PixelStatusKernel.TilePixels, end - p0) & ~63;
            for (var f0 = 0; f0 < frames.Length; f0 += 16)
                for (var i = 0; i < tile; i += 64)
                    for (var f = f0; f < Math.Min(frames.Length, f0 + 16); f++)
                    {
                        var q = (ushort*)frames[f] + p0 + i;
                        m = Vector256.Max(m, Vector256.Max(Vector256.Max(Vector256.Load(q), Vector256.Load(q + 16)), Vector256.Max(Vector256.Load(q + 32), Vector256.Load(q + 48))));
                    }
        }
        return m.GetElement(0);
    }

    /// <summary>Every word of one segment, four independent chains; optimised from the first call.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static unsafe Vector256<ushort> TouchSegment(ushort* p, int px, Vector256<ushort> m)
    {
        Vector256<ushort> m1 = default, m2 = default, m3 = default;
        var i = 0;
        for (; i + 64 <= px; i += 64)
        {
            m = Vector256.Max(m, Vector256.Load(p + i));
            m1 = Vector256.Max(m1, Vector256.Load(p + i + 16));
            m2 = Vector256.Max(m2, Vector256.Load(p + i + 32));
            m3 = Vector256.Max(m3, Vector256.Load(p + i + 48));
        }
        for (; i + 16 <= px; i += 16)
            m = Vector256.Max(m, Vector256.Load(p + i));
        return Vector256.Max(Vector256.Max(m, m1), Vector256.Max(m2, m3));
    }

    /// <summary>Each thread streams whole segments of every other frame (the earlier baseline; no page-table filling ahead).</summary>
    private static unsafe void TouchSequentially(FrameSource src, int threads)
    {
        var n = (int)src.FrameCount;
        var segPx = src.FramePixels / src.FramePieces;
        var max = new ushort[threads];
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, th =>
        {
            var ptrs = new nint[n];
            var m = Vector256<ushort>.Zero;
            for (var s = 0; s < src.FramePieces; s++)
            {
                src.TryGetUInt16Pieces(0, n, s, ptrs);
                for (var f = th; f < n; f += threads)
                {
                    m = TouchSegment((ushort*)ptrs[f], segPx, m);
                }
            }
            max[th] = Vector256.Max(m, Vector256<ushort>.Zero).GetElement(0);
        });
        GC.KeepAlive(max);
    }
}
