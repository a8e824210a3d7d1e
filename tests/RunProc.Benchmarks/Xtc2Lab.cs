using System.Diagnostics;
using System.Globalization;
using RunProc.Formats;
using RunProc.Pixels;

namespace RunProc.Benchmarks;

/// <summary>`xtc2lab DIR`: where the xtc2 analysis's time goes (open, page tables, kernel, folds), each phase on a fresh open, best of 5.</summary>
internal static class Xtc2Lab
{
    static long MinorFaults() => long.Parse(File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[7], CultureInfo.InvariantCulture);

    /// <summary>`acclab`: the cost of a new quad-sized accumulator in a fresh process (first, second, third; GCs seen).</summary>
    public static void Accumulators()
    {
        for (var i = 0; i < 4; i++)
        {
            var g = GC.CollectionCount(0) + GC.CollectionCount(2) * 1000;
            var f0 = MinorFaults();
            var sw = Stopwatch.StartNew();
            var acc = new PixelStatusAccumulator(540_672, 1, 16000);
            var t = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            acc.BelowLow.Clear(); acc.AboveHigh.Clear(); acc.Sum.Clear(); acc.SumSquares.Clear();
            Console.WriteLine($"new accumulator {t:F2} ms ({MinorFaults() - f0} faults, gen0+1000*gen2 GCs {GC.CollectionCount(0) + GC.CollectionCount(2) * 1000 - g}); then clearing the rest {sw.Elapsed.TotalMilliseconds:F2} ms");
        }
    }

    /// <summary>`natlab`: the same 21.6 MB as native memory aligned to 2 MiB and advised onto huge pages (FrameBuffer), filled.</summary>
    public static unsafe void Native()
    {
        for (var i = 0; i < 4; i++)
        {
            var f0 = MinorFaults();
            var sw = Stopwatch.StartNew();
            using var b = new FrameBuffer(540_672L * 40);
            new Span<byte>(b.Pointer, 540_672 * 40).Clear();
            Console.WriteLine($"native 21.6 MB filled {sw.Elapsed.TotalMilliseconds:F2} ms ({MinorFaults() - f0} faults, huge {b.HugePages})");
        }
    }

    /// <summary>
    /// `l1lab`: the kernel's compute alone — 16 frames of a few pixels (in L1/L2) repeated to a long
    /// pass, 1 thread; nanoseconds per 64-pixel frame strip for several frame sizes.
    /// </summary>
    public static unsafe void L1()
    {
        foreach (var (px, outliers) in new[] { (2048, 0), (8192, 0), (2048, 30), (8192, 121) })
        {
            // Values 950..1050 with the gain bit set; `outliers` zeros (below the gate) a frame at
            // random places (the xtc2 bench's density: ~1000 of 135,168 pixels a segment).
            var data = new ushort[16 * px];
            var rnd = new Random(7);
            for (var i = 0; i < data.Length; i++) data[i] = (ushort)(0x4000 | (950 + rnd.Next(101)));
            for (var f = 0; f < 16; f++)
                for (var o = 0; o < outliers; o++) data[f * px + rnd.Next(px)] = 0x4000;
            fixed (ushort* p = data)
            {
                var n = 60000;
                var ptrs = new nint[n];
                for (var f = 0; f < n; f++) ptrs[f] = (nint)(p + (f % 16) * px);
                var best = double.MaxValue;
                for (var rep = 0; rep < 7; rep++)
                {
                    var acc = new PixelStatusAccumulator(px, 1, 16000);
                    var sw = Stopwatch.StartNew();
                    PixelStatusKernel.AccumulatePiece(acc, ptrs, 0, px, 0x3FFF, 1, KernelPath.Auto, countEvents: false);
                    best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
                    acc.Dispose();
                }
                var strips = (double)n * px / 64;
                Console.WriteLine($"{px,5} px x 16 frames, {outliers,3} outliers a frame: {best:F2} ms, {best * 1e6 / strips:F2} ns per 64-px frame strip ({best * 1e6 / strips * 3.2:F1} cycles at 3.2 GHz)");
            }
        }
    }

    /// <summary>Every event's segment pointers of a mapped run (by segment), and the mapped range they lie in.</summary>
    private static (nint[][] Ptrs, int Frames, int Pieces, int PiecePx, nint Lo, nint Hi) Pieces(FrameSource src)
    {
        var n = (int)src.FrameCount;
        var pieces = src.FramePieces;
        var piecePx = src.FramePixels / pieces;
        var ptrs = new nint[pieces][];
        for (var k = 0; k < pieces; k++) { ptrs[k] = new nint[n]; src.TryGetUInt16Pieces(0, n, k, ptrs[k]); }
        return (ptrs, n, pieces, piecePx, ptrs.SelectMany(p => p).Min(), ptrs.SelectMany(p => p).Max() + piecePx * 2);
    }

    /// <summary>
    /// `runlab DIR`: the runner's accumulate against its parts, each on a fresh open of the run
    /// (a fresh mapping), 2 threads, 9 rounds: min and median of each.
    /// </summary>
    public static unsafe void RunnerParts(string dir)
    {
        Program.ApplyKernelKnobs();
        var file = Xtc2Bench.EnsureRun(dir);
        var files = new[] { file };
        var request = new PixelStatusRequest { Files = files, Threads = 2, ArrayTypes = new[] { "sta" } };
        var res = new Dictionary<string, List<double>>();
        void Add(string k, double v) { if (!res.TryGetValue(k, out var l)) res[k] = l = new(); l.Add(v); }
        var warm = new PixelStatusAccumulator(540_672, 1, 16000);
        for (var rep = 0; rep < 9; rep++)
        {
            foreach (var variant in new[] { "runner Accumulate", "runner Accumulate, mapping populated first", "kernel, uninitialized + initialize, no status", "kernel on a warm accumulator" })
            {
                var (dets, handle) = PixelReadPipeline.OpenDetectors(files, Array.Empty<string>(), null, request.Xtc2Selection, null);
                var src = dets[0].Parts[0];
                var (ptrs, _, pieces, piecePx, lo, hi) = Pieces(src);
                var sw = Stopwatch.StartNew();
                if (variant.Contains("populated"))
                {
                    MappedPages.Populate((void*)lo, hi - lo);
                    Add("  (populate, 1 thread)", sw.Elapsed.TotalMilliseconds);
                    sw.Restart();
                }
                if (variant.StartsWith("runner"))
                    PixelReadPipeline.Accumulate(dets[0], request, null, CancellationToken.None).Dispose();
                else
                {
                    var acc = variant.Contains("warm") ? warm : PixelStatusAccumulator.Uninitialized(src.FramePixels, 1, 16000);
                    for (var k = 0; k < pieces; k++)
                        PixelStatusKernel.AccumulatePiece(acc, ptrs[k], k * piecePx, piecePx, 0x3FFF, 2, KernelPath.Auto, countEvents: false, mapped: true, initialize: !variant.Contains("warm"));
                    if (acc != warm) acc.Dispose();
                }
                Add(variant, sw.Elapsed.TotalMilliseconds);
                handle.Dispose();
            }
        }
        foreach (var (k, v) in res)
        {
            var s = v.Order().ToList();
            Console.WriteLine($"{k,-50} min {s[0],6:F1}  median {s[s.Count / 2],6:F1} ms");
        }
    }

    public static unsafe void Run(string dir)
    {
        Directory.CreateDirectory(dir);
        var file = Xtc2Bench.EnsureRun(dir);
        var files = new[] { file };
        _ = File.ReadAllBytes(file);
        var request = new PixelStatusRequest { Files = files, Threads = 2, ArrayTypes = new[] { "sta" } };
        var best = new Dictionary<string, double>();
        var faults = new Dictionary<string, long>();
        void Note(string k, double ms, long f) { best[k] = Math.Min(best.GetValueOrDefault(k, double.MaxValue), ms); faults[k] = f; }
        for (var rep = 0; rep < 5; rep++)
        {
            var f0 = MinorFaults();
            var sw = Stopwatch.StartNew();
            var (dets, handle) = PixelReadPipeline.OpenDetectors(files, Array.Empty<string>(), null, request.Xtc2Selection, null);
            Note("open", sw.Elapsed.TotalMilliseconds, MinorFaults() - f0);
            var src = dets[0].Parts[0];
            var (ptrs, n, pieces, piecePx, lo, hi) = Pieces(src);
            f0 = MinorFaults();
            sw.Restart();
            MappedPages.Populate((void*)lo, hi - lo);
            Note("populate all", sw.Elapsed.TotalMilliseconds, MinorFaults() - f0);
            f0 = MinorFaults();
            sw.Restart();
            var acc = new PixelStatusAccumulator(src.FramePixels, 1, 16000);
            Note("new accumulator", sw.Elapsed.TotalMilliseconds, MinorFaults() - f0);
            sw.Restart();
            for (var k = 0; k < pieces; k++)
                PixelStatusKernel.AccumulatePiece(acc, ptrs[k], k * piecePx, piecePx, 0x3FFF, 2, KernelPath.Auto, countEvents: false);
            Note("kernel 2T 1 block, first touch of the mapping", sw.Elapsed.TotalMilliseconds, 0);
            sw.Restart();
            var sum = 0;
            for (var q = lo; q < hi; q += 4096) sum += *(byte*)q;
            Note("touch one byte per 4 KiB page after the kernel", sw.Elapsed.TotalMilliseconds, sum & 0);
            foreach (var th in rep % 2 == 0 ? new[] { 1, 2, 1 } : new[] { 2, 1, 2 })
            {
                f0 = MinorFaults();
                sw.Restart();
                for (var k = 0; k < pieces; k++)
                    PixelStatusKernel.AccumulatePiece(acc, ptrs[k], k * piecePx, piecePx, 0x3FFF, th, KernelPath.Auto, countEvents: false);
                Console.WriteLine($"  rep {rep} 1 block {th}T {sw.Elapsed.TotalMilliseconds:F1} ms faults {MinorFaults() - f0}");
                Note($"kernel populated, 1 block, {th}T", sw.Elapsed.TotalMilliseconds, 0);
                sw.Restart();
                for (var b = 0; b < n; b += 62)
                    for (var k = 0; k < pieces; k++)
                        PixelStatusKernel.AccumulatePiece(acc, ptrs[k].AsSpan(b, Math.Min(62, n - b)), k * piecePx, piecePx, 0x3FFF, th, KernelPath.Auto, countEvents: false);
                Note($"kernel populated, 62-ev blocks, {th}T", sw.Elapsed.TotalMilliseconds, 0);
                sw.Restart();
                for (var b = 0; b < n; b += 200)
                    PixelStatusKernel.AccumulatePiece(acc, ptrs[0].AsSpan(b, Math.Min(200, n - b)), 0, piecePx, 0x3FFF, th, KernelPath.Auto, countEvents: false);
                Note($"kernel populated, seg0 only x4, {th}T", 4 * sw.Elapsed.TotalMilliseconds, 0);
                // Compute only: 16 frames of segment 0 (4.3 MB, in L3) repeated to 200 frames, four times over (as much work as the run).
                var rep16 = Enumerable.Range(0, n).Select(f => ptrs[0][f % 16]).ToArray();
                sw.Restart();
                for (var q = 0; q < 4; q++)
                    PixelStatusKernel.AccumulatePiece(acc, rep16, 0, piecePx, 0x3FFF, th, KernelPath.Auto, countEvents: false);
                Note($"kernel compute only (16 frames in cache), {th}T", sw.Elapsed.TotalMilliseconds, 0);
            }
            handle.Dispose();

            // The accumulate as the runner does it.
            sw.Restart();
            (dets, handle) = PixelReadPipeline.OpenDetectors(files, Array.Empty<string>(), null, request.Xtc2Selection, null);
            var t0 = sw.Elapsed.TotalMilliseconds;
            f0 = MinorFaults();
            var a2 = PixelReadPipeline.Accumulate(dets[0], request, null, CancellationToken.None);
            Note("runner Accumulate", sw.Elapsed.TotalMilliseconds - t0, MinorFaults() - f0);
            sw.Restart();
            _ = PixelStatusSummary.Compute(a2, request.Options);
            Note("summary", sw.Elapsed.TotalMilliseconds, 0);
            handle.Dispose();

            // pread the file into a huge-page buffer (no mapping).
            using (var buf = new FrameBuffer(new FileInfo(file).Length))
            {
                f0 = MinorFaults();
                sw.Restart();
                using var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
                var span = new Span<byte>(buf.Pointer, (int)buf.Bytes);
                var got = 0;
                while (got < span.Length) { var r = fs.Read(span[got..]); if (r <= 0) break; got += r; }
                Note("pread whole file into FrameBuffer (first touch)", sw.Elapsed.TotalMilliseconds, MinorFaults() - f0);
                sw.Restart();
                fs.Position = 0; got = 0;
                while (got < span.Length) { var r = fs.Read(span[got..]); if (r <= 0) break; got += r; }
                Note("pread whole file into FrameBuffer (again)", sw.Elapsed.TotalMilliseconds, 0);
                sw.Restart();
                fs.Position = 0; got = 0;
                while (got < span.Length) { var r = fs.Read(span.Slice(got, Math.Min(8 << 20, span.Length - got))); if (r <= 0) break; got += r; }
                Note("pread 8 MiB pieces (again)", sw.Elapsed.TotalMilliseconds, 0);
            }
        }
        foreach (var (k, v) in best)
            Console.WriteLine($"{k,-50} {v,8:F1} ms  faults {faults[k]}");
    }

    /// <summary>`firsttouch DIR`: on fresh opens of the run (mapping populated), the kernel against the no-work touch, each the first reader of the mapping, then again (warm).</summary>
    public static unsafe void FirstTouch(string dir)
    {
        var file = Xtc2Bench.EnsureRun(dir);
        var files = new[] { file };
        var request = new PixelStatusRequest { Files = files, Threads = 2, ArrayTypes = new[] { "sta" } };
        var res = new Dictionary<string, List<double>>();
        void Add(string k, double v) { if (!res.TryGetValue(k, out var l)) res[k] = l = new(); l.Add(v); }
        var acc = new PixelStatusAccumulator(540_672, 1, 16000);
        if (int.TryParse(Environment.GetEnvironmentVariable("RP_TILE"), out var tile)) PixelStatusKernel.TilePixels = tile;
        if (int.TryParse(Environment.GetEnvironmentVariable("RP_CHUNK"), out var chunk)) PixelStatusKernel.MaxChunk = chunk;
        for (var rep = 0; rep < 16; rep++)
        {
            foreach (var kernelFirst in new[] { rep % 2 == 0, rep % 2 != 0 })
            {
                var (dets, handle) = PixelReadPipeline.OpenDetectors(files, Array.Empty<string>(), null, request.Xtc2Selection, null);
                var src = dets[0].Parts[0];
                var n = (int)src.FrameCount; var pieces = src.FramePieces; var piecePx = src.FramePixels / pieces;
                var ptrs = new nint[pieces][];
                for (var k = 0; k < pieces; k++) { ptrs[k] = new nint[n]; src.TryGetUInt16Pieces(0, n, k, ptrs[k]); }
                nint lo = ptrs.SelectMany(p => p).Min(), hi = ptrs.SelectMany(p => p).Max() + piecePx * 2;
                MappedPages.Populate((void*)lo, hi - lo);
                void Kernel() { for (var k = 0; k < pieces; k++) PixelStatusKernel.AccumulatePiece(acc, ptrs[k], k * piecePx, piecePx, 0x3FFF, 2, KernelPath.Auto, countEvents: false); }
                void Touch()
                {
                    foreach (var fr in ptrs)
                    {
                        var per = (piecePx / 2 + 31) & ~31;
                        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, t => Xtc2Bench.TouchRange(fr, t * per, t == 1 ? piecePx : per));
                    }
                }
                var sw = Stopwatch.StartNew();
                if (kernelFirst) Kernel(); else Touch();
                Add(kernelFirst ? "kernel first touch" : "touch first touch", sw.Elapsed.TotalMilliseconds);
                sw.Restart();
                if (kernelFirst) Kernel(); else Touch();
                Add(kernelFirst ? "kernel again" : "touch again", sw.Elapsed.TotalMilliseconds);
                handle.Dispose();
            }
        }
        foreach (var (k, v) in res)
        {
            var s = v.Skip(2).Order().ToList();
            Console.WriteLine($"{k,-22} median {s[s.Count / 2],6:F1} ms  min {s[0],6:F1}  max {s[^1],6:F1}");
        }
    }
}
