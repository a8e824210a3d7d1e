using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using RunProc.Config;
using RunProc.Formats;
using RunProc.Pixels;

namespace RunProc.Benchmarks;

/// <summary>
/// Pixel-status benchmarks. `kernel`: BenchmarkDotNet over 200 frames × 2,162,688 px uint16 in
/// memory (RunProc's kernel on its best path and on AVX2 on the reader blocks' padded layout, on
/// frames back to back as files are scanned in place, a plain scalar C# loop; 1 and 2 threads).
/// `alias [PAD...]`: the plain against padded strides and the one-thread ceiling, rounds interleaved.
/// `xtc2lab DIR`, `acclab`: where the xtc2 analysis's time goes. `numpy`: the original np.select float64 formulation in /usr/bin/python3.
/// `e2e FILE...`: reader alone vs the end-to-end pipeline (read + kernel + summary) per file.
/// `xtc2 DIR`: a 200-event epix10ka-quad xtc2 run, the analysis vs reading it with no work (<see cref="Xtc2Bench"/>).
/// `lab`: where the 1-thread kernel's time goes (sequential read, access pattern, L1-resident compute).
/// Every mode prints one JSON line "RESULT {...}" for tests/bench/Pixels.Bench.ps1.
/// </summary>
public static class Program
{
    public const int Frames = 200;
    public const int Pixels = 2_162_688; // 16 × 352 × 384 (a jungfrau 4M-like epix stack)

    public static int Main(string[] args)
    {
        var mode = args.Length > 0 ? args[0] : "kernel";
        switch (mode)
        {
            case "kernel":
                var summary = BenchmarkRunner.Run<KernelBench>(DefaultConfig.Instance
                    .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(1).WithIterationCount(9).WithLaunchCount(1).WithInvocationCount(1).WithUnrollFactor(1))
                    .WithOptions(ConfigOptions.DisableOptimizationsValidator));
                foreach (var r in summary.Reports)
                {
                    if (r.ResultStatistics is null) continue;
                    var seconds = r.ResultStatistics.Median / 1e9;
                    var method = r.BenchmarkCase.Descriptor.WorkloadMethod.Name;
                    var threads = r.BenchmarkCase.Parameters["Threads"];
                    Console.WriteLine("RESULT " + JsonSerializer.Serialize(new { kind = "kernel", method, threads, seconds, framesPerSecond = Frames / seconds, gbPerSecond = 2.0 * Frames * Pixels / seconds / 1e9 }));
                }
                return 0;
            case "e2e":
                foreach (var file in args.Skip(1))
                    EndToEnd(file);
                return 0;
            case "h5lab":
                H5Lab(args[1]);
                return 0;
            case "natlab":
                Xtc2Lab.Native();
                return 0;
            case "acclab":
                Xtc2Lab.Accumulators();
                return 0;
            case "l1lab":
                Xtc2Lab.L1();
                return 0;
            case "runlab":
                Xtc2Lab.RunnerParts(args[1]);
                return 0;
            case "xtc2lab":
                Xtc2Lab.Run(args[1]);
                return 0;
            case "firsttouch":
                Xtc2Lab.FirstTouch(args[1]);
                return 0;
            case "xtc2":
                Xtc2Bench.Run(args[1]);
                return 0;
            case "parts":
                Parts(args[1]);
                return 0;
            case "lab":
                Lab.Run();
                return 0;
            case "sumlab":
            {
                var px = 540_672;
                var acc = new PixelStatusAccumulator(px, 1, 16000);
                var frames = MakeFrames(16, px);
                for (var i = 0; i < 12; i++) PixelStatusKernel.Accumulate(acc, frames, 0xFFFF, 2);
                var st = new int[px];
                var lim = new PixelStatusSummary.StatusLimits(0.1, 16000, 1, 16000, 0.2, 1, 16000);
                var bits = new long[8];
                for (var rep = 0; rep < 10; rep++)
                {
                    var sw = Stopwatch.StartNew();
                    PixelStatusSummary.StatusRange(acc, st.AsSpan(), 0, px, lim, bits);
                    var t1 = sw.Elapsed.TotalMilliseconds;
                    sw.Restart();
                    var fresh = GC.AllocateUninitializedArray<int>(px);
                    PixelStatusSummary.StatusRange(acc, fresh.AsSpan(), 0, px, lim, bits);
                    Console.WriteLine($"status 1 thread: reused array {t1:F2} ms, fresh array {sw.Elapsed.TotalMilliseconds:F2} ms");
                }
                return 0;
            }
            case "summary":
                SummaryBench(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4 * 352 * 384);
                return 0;
            case "merge":
                MergeBench(args[1], args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 8);
                return 0;
            case "alias":
                Alias(args.Skip(1).ToArray());
                return 0;
            case "quick":
                Quick();
                return 0;
            default:
                Console.Error.WriteLine("usage: RunProc.Benchmarks kernel | e2e FILE... | quick");
                return 2;
        }
    }

    /// <summary>The same frames for every benchmark: ~N(1000, 30)-like values with a few hot and dead pixels.</summary>
    public static ushort[] MakeFrames(int frames, int pixels)
    {
        var data = GC.AllocateUninitializedArray<ushort>(frames * pixels);
        FillFrames(data, frames, pixels);
        return data;
    }

    /// <summary>The same frames in a RunProc <see cref="FrameBuffer"/> (native memory on 2 MiB pages, as the reader's blocks are).</summary>
    public static FrameBuffer MakeFrameBuffer(int frames, int pixels)
    {
        var buf = new FrameBuffer(2L * frames * pixels);
        FillFrames(buf.AsSpan<ushort>(0, frames * pixels), frames, pixels);
        return buf;
    }

    private static unsafe void FillFrames(Span<ushort> into, int frames, int pixels)
    {
        fixed (ushort* d = into)
        {
            var data = (nint)d;
            Parallel.For(0, frames, f =>
            {
                var r = new Random(12345 + f);
                var frame = (ushort*)data + (long)f * pixels;
                for (var p = 0; p < pixels; p++)
                    frame[p] = (ushort)(950 + r.Next(101));
                for (var k = 0; k < 2000; k++)
                    frame[r.Next(pixels)] = (ushort)(r.Next(2) == 0 ? 0 : 16500);
            });
        }
    }

    /// <summary>
    /// Tuning knobs for experiments, from the environment (the library's defaults are what the
    /// numbers report otherwise; build.ps1 Bench sets none): RUNPROC_TILE and RUNPROC_MTILE (tile
    /// pixels, in memory and mapped), RUNPROC_K (frames per register run), RUNPROC_PF (prefetch lines).
    /// </summary>
    internal static void ApplyKernelKnobs()
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("RUNPROC_TILE"), out var tile)) PixelStatusKernel.TilePixels = tile;
        if (int.TryParse(Environment.GetEnvironmentVariable("RUNPROC_MTILE"), out var mapped)) PixelStatusKernel.MappedTilePixels = mapped;
        if (int.TryParse(Environment.GetEnvironmentVariable("RUNPROC_K"), out var k)) PixelStatusKernel.MaxChunk = k;
        if (int.TryParse(Environment.GetEnvironmentVariable("RUNPROC_PF"), out var pf)) PixelStatusKernel.PrefetchPixels = pf * 32;
    }

    private static void Quick()
    {
        ApplyKernelKnobs();
        var pixels = int.TryParse(Environment.GetEnvironmentVariable("RUNPROC_PX"), out var px) ? px : Pixels;
        if (int.TryParse(Environment.GetEnvironmentVariable("RUNPROC_PAD"), out var pad))
        {
            // Frames laid out with a gap (elements) between them, e.g. to break stride aliasing.
            var padded = MakeFrames(Frames, pixels + pad);
            foreach (var th in new[] { 1, 2 })
            {
                var best = double.MaxValue;
                for (var rep = 0; rep < 3; rep++)
                {
                    var acc = new PixelStatusAccumulator(pixels, 1, 16000);
                    var ptrs = new nint[Frames];
                    unsafe
                    {
                        fixed (ushort* b = padded)
                        {
                            for (var f = 0; f < Frames; f++) ptrs[f] = (nint)(b + (long)f * (pixels + pad));
                            var sw = Stopwatch.StartNew();
                            PixelStatusKernel.AccumulateUInt16(acc, ptrs, 0xFFFF, th, KernelPath.Auto);
                            best = Math.Min(best, sw.Elapsed.TotalSeconds);
                        }
                    }
                }
                Console.WriteLine($"padded by {pad} elements, threads={th}: {Frames / best,8:F0} frames/s {2.0 * Frames * pixels / best / 1e9,6:F2} GB/s");
            }
            return;
        }
        var data = MakeFrames(Frames, pixels);
        foreach (var path in new[] { KernelPath.Avx512, KernelPath.Avx2, KernelPath.Scalar })
            foreach (var t in new[] { 1, 2 })
            {
                var best = double.MaxValue;
                var bestCpu = double.MaxValue;
                for (var rep = 0; rep < (path == KernelPath.Scalar ? 1 : pixels < 100000 ? 200 : 3); rep++)
                {
                    var acc = new PixelStatusAccumulator(pixels, 1, 16000);
                    var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                    var sw = Stopwatch.StartNew();
                    PixelStatusKernel.Accumulate(acc, data, 0xFFFF, t, path);
                    best = Math.Min(best, sw.Elapsed.TotalSeconds);
                    bestCpu = Math.Min(bestCpu, (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds / t);
                }
                // CPU time per thread is shown too: on a shared machine it is the steadier measure.
                Console.WriteLine($"{path,-7} threads={t}: {Frames / best,8:F0} frames/s {2.0 * Frames * pixels / best / 1e9,6:F2} GB/s wall, {2.0 * Frames * pixels / bestCpu / 1e9,6:F2} GB/s per CPU-second");
                if (Environment.GetEnvironmentVariable("RUNPROC_ONLY1") == "1") return;
            }
    }

    /// <summary>
    /// `alias [PAD...]`: the README's lead that a frame stride that is a whole number of 128 KiB
    /// (this detector's 4,325,376 B = 33 × 128 KiB) costs the kernel speed, because the 16 frames
    /// it reads at one pixel offset then fall into one L1/L2 set. The same 200 frames on 2 MiB
    /// pages at the plain stride and at strides padded by PAD pixels, 1 thread, rounds
    /// interleaved (plain, padded, plain, ...) so a changing machine load hits both alike; best of 7.
    /// </summary>
    private static unsafe void Alias(string[] variants)
    {
        // A variant is PAD (pixels between frames) or PAD:K (and K frames per register run).
        var parsed = new[] { (Pad: 0, K: PixelStatusKernel.MaxChunk) }.Concat(variants.DefaultIfEmpty("32").Select(v =>
        {
            var parts = v.Split(':');
            return (Pad: int.Parse(parts[0], CultureInfo.InvariantCulture), K: parts.Length > 1 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : PixelStatusKernel.MaxChunk);
        })).ToArray();
        var ks = parsed.Select(x => x.K).ToArray();
        var pads = parsed.Skip(1).Select(x => x.Pad).ToArray();
        ApplyKernelKnobs();
        Console.WriteLine($"// frames per register run {PixelStatusKernel.MaxChunk}, prefetch {PixelStatusKernel.PrefetchPixels / 32} lines, tile {PixelStatusKernel.TilePixels} px");
        var strides = new[] { 0 }.Concat(pads).ToArray();
        var byPad = strides.Distinct().ToDictionary(pad => pad, pad => MakeFrameBuffer(Frames, Pixels + pad));
        var bufs = strides.Select(pad => byPad[pad]).ToArray();
        var best = new double[strides.Length];
        var bestCpu = new double[strides.Length];
        Array.Fill(best, double.MaxValue);
        Array.Fill(bestCpu, double.MaxValue);
        var acc = new PixelStatusAccumulator(Pixels, 1, 16000);
        var reps = int.TryParse(Environment.GetEnvironmentVariable("RUNPROC_REPS"), out var r) ? r : 7;
        // The one-thread memory ceiling, in the same rounds: the plain frames read with no work.
        double ceiling = double.MaxValue, ceilingCpu = double.MaxValue;
        ushort sink = 0;
        for (var rep = 0; rep < reps; rep++)
        {
            {
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                sink ^= ReadAll((ushort*)bufs[0].Pointer, (long)Frames * Pixels);
                ceiling = Math.Min(ceiling, sw.Elapsed.TotalSeconds);
                ceilingCpu = Math.Min(ceilingCpu, (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds);
            }
            for (var i = 0; i < strides.Length; i++)
            {
                var ptrs = new nint[Frames];
                for (var f = 0; f < Frames; f++) ptrs[f] = (nint)((ushort*)bufs[i].Pointer + (long)f * (Pixels + strides[i]));
                PixelStatusKernel.MaxChunk = ks[i];
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                PixelStatusKernel.AccumulateUInt16(acc, ptrs, 0xFFFF, 1, KernelPath.Auto);
                best[i] = Math.Min(best[i], sw.Elapsed.TotalSeconds);
                bestCpu[i] = Math.Min(bestCpu[i], (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds);
            }
        }
        Console.WriteLine($"memory ceiling (the plain frames read with no work, 1 thread): {ceiling * 1e3:F1} ms {2.0 * Frames * Pixels / ceiling / 1e9:F2} GB/s, CPU {ceilingCpu * 1e3:F1} ms ({sink & 0})");
        for (var i = 0; i < strides.Length; i++)
        {
            Console.WriteLine($"  pad {strides[i]} px: share of the ceiling {ceiling / best[i]:F3} (wall), {ceilingCpu / bestCpu[i]:F3} (CPU time)");
            var stride = 2L * (Pixels + strides[i]);
            Console.WriteLine($"stride {stride,9} B ({stride / 131072.0,7:F3} x 128 KiB, pad {strides[i],5} px, k {ks[i],2}): {best[i] * 1e3,7:F1} ms {2.0 * Frames * Pixels / best[i] / 1e9,6:F2} GB/s = {best[0] / best[i]:F3} x the plain stride; CPU {bestCpu[i] * 1e3,7:F1} ms = {bestCpu[0] / bestCpu[i]:F3} x; huge pages {bufs[i].HugePages}");
            Console.WriteLine("RESULT " + JsonSerializer.Serialize(new { kind = "alias", pad = strides[i], strideBytes = stride, seconds = best[i], cpuSeconds = bestCpu[i], ratioToPlain = best[0] / best[i], cpuRatioToPlain = bestCpu[0] / bestCpu[i], shareOfCeiling = ceiling / best[i], cpuShareOfCeiling = ceilingCpu / bestCpu[i] }));
        }
        foreach (var b in byPad.Values) b.Dispose();
    }

    /// <summary>One pass over <paramref name="n"/> values with four independent max chains (the memory ceiling's loop).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static unsafe ushort ReadAll(ushort* q, long n)
    {
        Vector256<ushort> m0 = default, m1 = default, m2 = default, m3 = default;
        for (long i = 0; i + 64 <= n; i += 64)
        {
            m0 = Vector256.Max(m0, Vector256.Load(q + i));
            m1 = Vector256.Max(m1, Vector256.Load(q + i + 16));
            m2 = Vector256.Max(m2, Vector256.Load(q + i + 32));
            m3 = Vector256.Max(m3, Vector256.Load(q + i + 48));
        }
        return Vector256.Max(Vector256.Max(m0, m1), Vector256.Max(m2, m3)).ToScalar();
    }

    /// <summary>`summary [PIXELS]`: PixelStatusSummary.Compute alone on a 200-event accumulator (default an epix10ka quad), best of 15 wall and CPU time.</summary>
    private static void SummaryBench(int pixels)
    {
        var acc = new PixelStatusAccumulator(pixels, 1, 16000);
        var frames = MakeFrames(16, pixels);
        for (var i = 0; i < 12; i++) // 192 events, then 8 more: 200
            PixelStatusKernel.Accumulate(acc, frames, 0xFFFF, 2);
        PixelStatusKernel.Accumulate(acc, frames.AsSpan(0, 8 * pixels), 0xFFFF, 2);
        var options = new PixelStatusOptions();
        double wall = double.MaxValue, cpu = double.MaxValue;
        long faults = long.MaxValue;
        static long MinorFaults() => long.Parse(File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[7], CultureInfo.InvariantCulture);
        for (var rep = 0; rep < 15; rep++)
        {
            var f0 = MinorFaults();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            var s = PixelStatusSummary.Compute(acc, options);
            wall = Math.Min(wall, sw.Elapsed.TotalMilliseconds);
            cpu = Math.Min(cpu, (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds);
            faults = Math.Min(faults, MinorFaults() - f0);
            GC.KeepAlive(s);
        }
        Console.WriteLine($"summary of {pixels} px, {acc.Events} events: best {wall:F2} ms wall, {cpu:F2} ms CPU ({Environment.ProcessorCount} cores), {faults} page faults");
        Console.WriteLine("RESULT " + JsonSerializer.Serialize(new { kind = "summary", pixels, wallMs = wall, cpuMs = cpu }));
    }

    /// <summary>`merge DIR [PARTS]`: the merge's phases on PARTS partial files of a 2.16 Mpx detector written into DIR (open + headers; read, checksum and add each block), best of 5, and the wall and CPU time of each round.</summary>
    private static void MergeBench(string dir, int parts)
    {
        Directory.CreateDirectory(dir);
        var frames = MakeFrames(20, Pixels);
        var paths = new List<string>();
        for (var k = 0; k < parts; k++)
        {
            var acc = new PixelStatusAccumulator(Pixels, 1, 16000);
            PixelStatusKernel.Accumulate(acc, frames, 0xFFFF, 2);
            var header = new RunProc.Pixels.Split.PartialHeader
            {
                RunProcVersion = "bench", Experiment = "xppbench1", Run = 1, Dataset = "d", Source = "d", Shape = new[] { 16, 352, 384 }, ElementType = "UInt16",
                GateLow = 1, GateHigh = 16000, Options = new PixelStatusOptions(), Part = k, PartCount = parts,
                Coverage = new RunProc.Pixels.Split.PartCoverage(RunProc.Pixels.Split.SplitMode.Events, 20L * k, 20, 0, 20L * parts),
                Events = acc.Events, EventFirst = 20L * k, SourceFiles = new[] { "f" },
            };
            var path = Path.Combine(dir, $"d.part-{k:0000}.rpacc");
            RunProc.Pixels.Split.PartialAccumulatorFile.Write(path, header, acc, 0b110_100_100);
            paths.Add(path);
        }
        double open = double.MaxValue, sum = double.MaxValue, total = double.MaxValue, cpuBest = double.MaxValue;
        for (var rep = 0; rep < 5; rep++)
        {
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            var mapped = paths.Select(RunProc.Pixels.Split.PartialAccumulatorFile.OpenPartial.Open).ToList();
            var t1 = sw.Elapsed.TotalMilliseconds;
            var acc = RunProc.Pixels.Split.PartialAccumulatorFile.Sum(mapped, Environment.ProcessorCount);
            var t2 = sw.Elapsed.TotalMilliseconds;
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds;
            var again = Stopwatch.StartNew();
            RunProc.Pixels.Split.PartialAccumulatorFile.Sum(mapped, Environment.ProcessorCount);
            Console.Write($"(again on the same open files: {again.Elapsed.TotalMilliseconds:F1} ms, 1 thread: ");
            again.Restart();
            RunProc.Pixels.Split.PartialAccumulatorFile.Sum(mapped, 1);
            Console.Write($"{again.Elapsed.TotalMilliseconds:F1} ms) ");
            foreach (var m in mapped) m.Dispose();
            open = Math.Min(open, t1);
            sum = Math.Min(sum, t2 - t1);
            total = Math.Min(total, sw.Elapsed.TotalMilliseconds);
            cpuBest = Math.Min(cpuBest, cpu);
            Console.WriteLine($"open + headers {t1:F1} ms, checksums + add {t2 - t1:F1} ms, CPU {cpu:F0} ms ({acc.Events} events)");
        }
        var bytes = new FileInfo(paths[0]).Length * (double)parts;
        Console.WriteLine($"merge of {parts} parts ({bytes / 1e6:F0} MB): best {total:F1} ms = {bytes / total / 1e6:F2} GB/s (open + headers {open:F1}, checksums + add {sum:F1}), best CPU {cpuBest:F0} ms");
        foreach (var p in paths) File.Delete(p);
    }

    private static void Parts(string file)
    {
        var runner = new PixelStatusRunner(new RunProcConfig());
        for (var rep = 0; rep < 6; rep++)
        {
            PixelReadPipeline.PreferPread = rep % 2 == 0;
            var sw = Stopwatch.StartNew();
            var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { file }, Array.Empty<string>());
            var open = sw.Elapsed.TotalMilliseconds;
            using (handle)
            {
                sw.Restart();
                var acc0 = new PixelStatusAccumulator(dets[0].Parts[0].FramePixels, 1, 16000);
                var alloc = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                var acc = PixelReadPipeline.Accumulate(dets[0], new PixelStatusRequest { Files = new[] { file } }, null, CancellationToken.None);
                var scan = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                _ = PixelStatusSummary.Compute(acc, new PixelStatusOptions());
                var sum = sw.Elapsed.TotalMilliseconds;
                var src = dets[0].Parts[0];
                var px = src.FramePixels;
                var nf = (int)src.FrameCount;
                double mapped = -1, heap = -1, mapped1 = -1;
                unsafe
                {
                    var ptr = src.TryGetUInt16Pointer(0, nf);
                    if (ptr != null)
                    {
                        var ptrs = new nint[nf];
                        for (var i = 0; i < nf; i++) ptrs[i] = (nint)(ptr + (long)i * px);
                        var a2 = new PixelStatusAccumulator(px, 1, 16000);
                        sw.Restart();
                        PixelStatusKernel.AccumulateUInt16(a2, ptrs, 0xFFFF, 2, KernelPath.Auto);
                        mapped = sw.Elapsed.TotalMilliseconds;
                        sw.Restart();
                        PixelStatusKernel.AccumulateUInt16(a2, ptrs, 0xFFFF, 1, KernelPath.Auto);
                        mapped1 = sw.Elapsed.TotalMilliseconds;
                        var copy = new ReadOnlySpan<ushort>(ptr, nf * px).ToArray();
                        sw.Restart();
                        PixelStatusKernel.Accumulate(a2, copy, 0xFFFF, 1, KernelPath.Auto);
                        heap = sw.Elapsed.TotalMilliseconds;
                    }
                }
                Console.WriteLine($"open {open:F1} ms, alloc {alloc:F1} ms, accumulate {scan:F1} ms, summary {sum:F1} ms; kernel on map 2T {mapped:F1} ms, 1T {mapped1:F1} ms, on heap copy 1T {heap:F1} ms");
            }
        }
    }

    /// <summary>Reader alone (same blocks, same parallel decode, no kernel) vs the full pipeline with summary.</summary>
    /// <summary>`h5lab FILE`: a contiguous uint16 HDF5 run, the pipeline's read + kernel phase (pread into reused blocks) against its parts: pread alone into one reused block, the kernel alone on one block.</summary>
    private static unsafe void H5Lab(string file)
    {
        var request = new PixelStatusRequest { Files = new[] { file }, Threads = 2 };
        for (var rep = 0; rep < 6; rep++)
        {
            PixelReadPipeline.PreferPread = rep % 2 == 0;
            var sw = Stopwatch.StartNew();
            var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { file }, Array.Empty<string>());
            var open = sw.Elapsed.TotalMilliseconds;
            PixelStatusAccumulator acc;
            using (handle)
                acc = PixelReadPipeline.Accumulate(dets[0], request, null, CancellationToken.None);
            var accumulate = sw.Elapsed.TotalMilliseconds - open;
            sw.Restart();
            var s = PixelStatusSummary.Compute(acc, request.Options);
            var summary = sw.Elapsed.TotalMilliseconds;
            acc.Dispose();
            (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { file }, Array.Empty<string>());
            double readMs, freshMs, kernelMs; int blockFrames;
            using (handle)
            {
                var src = dets[0].Parts[0];
                var px = src.FramePixels;
                var n = (int)src.FrameCount;
                blockFrames = (int)Math.Clamp(request.BlockBytes / (px * 2L), 1, 4096);
                sw.Restart();
                using var buf = new FrameBuffer(blockFrames * px * 2L);
                new Span<byte>(buf.Pointer, (int)buf.Bytes).Clear();
                freshMs = sw.Elapsed.TotalMilliseconds;
                sw.Restart();
                for (var f = 0; f < n; f += blockFrames)
                    src.ReadUInt16(f, Math.Min(blockFrames, n - f), buf.AsSpan<ushort>(0, Math.Min(blockFrames, n - f) * px));
                readMs = sw.Elapsed.TotalMilliseconds;
                using var a2 = new PixelStatusAccumulator(px, 1, 16000);
                var ptrs = Enumerable.Range(0, blockFrames).Select(f => (nint)buf.Pointer + (nint)f * px * 2).ToArray();
                sw.Restart();
                for (var f = 0; f < n; f += blockFrames)
                    PixelStatusKernel.AccumulateUInt16(a2, ptrs.AsSpan(0, Math.Min(blockFrames, n - f)), 0xFFFF, 1, KernelPath.Auto);
                kernelMs = sw.Elapsed.TotalMilliseconds;
            }
            Console.WriteLine($"round {rep + 1} ({(PixelReadPipeline.PreferPread ? "pread" : "in place")}): open {open:F0} ms, read + kernel {accumulate:F0} ms, summary {summary:F0} ms | parts: a fresh {blockFrames}-frame block {freshMs:F0} ms, pread every frame into it {readMs:F0} ms, kernel 1T over it as often {kernelMs:F0} ms (bad pixels {s.BadPixels})");
        }
    }

    private static void EndToEnd(string file)
    {
        var runner = new PixelStatusRunner(new RunProcConfig());
        var request = new PixelStatusRequest { Files = new[] { file } };
        double readerSeconds = double.MaxValue, e2eSeconds = double.MaxValue, touchSeconds = double.MaxValue;
        long bytes = 0, frames = 0;
        for (var rep = 0; rep < 3; rep++)
        {
            // Reader alone and pipeline each on a fresh open (a fresh memory map: its page tables
            // are part of the cost), both timed from the open.
            var sw = Stopwatch.StartNew();
            var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { file }, Array.Empty<string>());
            using (handle)
            {
                var src = dets[0].Parts[0];
                var px = src.FramePixels;
                frames = src.FrameCount;
                bytes = frames * px * 2L;
                var blockFrames = (int)Math.Clamp(request.BlockBytes / (px * 2L), 1, 4096);
                var buf = GC.AllocateUninitializedArray<ushort>(blockFrames * px);
                var threads = Environment.ProcessorCount;
                for (long f = 0; f < frames; f += blockFrames)
                {
                    var n = (int)Math.Min(blockFrames, frames - f);
                    var parts = src.Compressed ? Math.Min(threads, n) : 1;
                    Parallel.For(0, parts, t =>
                    {
                        var a = n * t / parts;
                        var b = n * (t + 1) / parts;
                        if (b > a) src.ReadUInt16(f + a, b - a, buf.AsSpan(a * px, (b - a) * px));
                    });
                }
                readerSeconds = Math.Min(readerSeconds, sw.Elapsed.TotalSeconds);

                // Where the frames are scanned in place, the memory map itself is the reader: touch every byte.
                unsafe
                {
                    var p = src.TryGetUInt16Pointer(0, (int)frames);
                    if (p != null)
                    {
                        sw.Restart();
                        var m = System.Runtime.Intrinsics.Vector256<ushort>.Zero;
                        var total = frames * px;
                        for (long i = 0; i + 16 <= total; i += 16)
                            m = System.Runtime.Intrinsics.Vector256.Max(m, System.Runtime.Intrinsics.Vector256.Load(p + i));
                        touchSeconds = Math.Min(touchSeconds, sw.Elapsed.TotalSeconds);
                        GC.KeepAlive(m.ToString());
                    }
                }
            }

            sw.Restart();
            (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { file }, Array.Empty<string>());
            using (handle)
            {
                var acc = PixelReadPipeline.Accumulate(dets[0], request, null, CancellationToken.None);
                _ = PixelStatusSummary.Compute(acc, request.Options);
            }
            e2eSeconds = Math.Min(e2eSeconds, sw.Elapsed.TotalSeconds);
        }
        Console.WriteLine("RESULT " + JsonSerializer.Serialize(new
        {
            kind = "e2e", file = Path.GetFileName(file), frames, readerSeconds, e2eSeconds,
            readerGBps = bytes / readerSeconds / 1e9, e2eGBps = bytes / e2eSeconds / 1e9, ratio = readerSeconds / e2eSeconds,
            mappedTouchGBps = touchSeconds == double.MaxValue ? (double?)null : bytes / touchSeconds / 1e9,
        }));
    }
}

/// <summary>
/// 200 frames × 2,162,688 px uint16 in memory. The headline (baseline row) is the layout the
/// cmdlet's reader blocks use: a RunProc <see cref="FrameBuffer"/> (2 MiB pages) with the frames
/// <see cref="FrameBuffer.FrameStride"/> apart (4,325,440 B: one 64-byte line more than the frame,
/// which is 33 × 128 KiB). The same frames back to back (the plain stride: how uncompressed
/// HDF5 and .npy files are scanned in place from the page cache) and in an ordinary array
/// (4 KiB pages, plain stride) are rows of the same table.
/// </summary>
[MemoryDiagnoser]
public unsafe class KernelBench
{
    private FrameBuffer _frames = null!;
    private FrameBuffer _plain = null!;
    private nint[] _padded = Array.Empty<nint>();
    private ushort[] _smallPages = Array.Empty<ushort>();

    [Params(1, 2)]
    public int Threads { get; set; }

    private PixelStatusAccumulator _acc = null!;

    private static long Length => (long)Program.Frames * Program.Pixels;

    private ReadOnlySpan<ushort> Plain => _plain.AsSpan<ushort>(0, (int)Length);

    [GlobalSetup]
    public void Setup()
    {
        var stride = FrameBuffer.FrameStride(Program.Pixels, 2);
        _frames = new FrameBuffer(2L * stride * Program.Frames);
        _padded = new nint[Program.Frames];
        _plain = Program.MakeFrameBuffer(Program.Frames, Program.Pixels);
        for (var f = 0; f < Program.Frames; f++)
        {
            _padded[f] = (nint)((ushort*)_frames.Pointer + f * stride);
            Plain.Slice(f * Program.Pixels, Program.Pixels).CopyTo(new Span<ushort>((void*)_padded[f], Program.Pixels));
        }
        _smallPages = Program.MakeFrames(Program.Frames, Program.Pixels);
        Console.WriteLine($"// frame buffers on huge pages: {_frames.HugePages && _plain.HugePages}; reader-block stride {2 * stride} B (frame {2 * Program.Pixels} B)");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _frames.Dispose();
        _plain.Dispose();
    }

    /// <summary>
    /// An empty accumulator whose pages are already mapped: the kernel is timed, not the OS
    /// zero-filling 86 MB of new arrays (the end-to-end numbers include that). One accumulator,
    /// emptied before each iteration, so no 86 MB of garbage per iteration wakes the background
    /// GC while an iteration is timed.
    /// </summary>
    [IterationSetup]
    public void EmptyAccumulator()
    {
        _acc ??= new PixelStatusAccumulator(Program.Pixels, 1, 16000);
        _acc.Events = 0;
        _acc.BelowLow.Clear();
        _acc.AboveHigh.Clear();
        _acc.Sum.Clear();
        _acc.SumSquares.Clear();
        _acc.Max.Fill(int.MinValue);
        _acc.Min.Fill(int.MaxValue);
    }

    [Benchmark(Baseline = true, Description = "RunProc kernel (best path), the reader's blocks (padded stride)")]
    public long RunProc()
    {
        PixelStatusKernel.AccumulateUInt16(_acc, _padded, 0xFFFF, Threads, KernelPath.Auto);
        return _acc.Events;
    }

    [Benchmark(Description = "RunProc kernel (AVX2), the reader's blocks")]
    public long RunProcAvx2()
    {
        PixelStatusKernel.AccumulateUInt16(_acc, _padded, 0xFFFF, Threads, KernelPath.Avx2);
        return _acc.Events;
    }

    [Benchmark(Description = "RunProc kernel (best path), frames back to back (in place: HDF5/npy)")]
    public long RunProcPlainStride()
    {
        PixelStatusKernel.Accumulate(_acc, Plain, 0xFFFF, Threads, KernelPath.Auto);
        return _acc.Events;
    }

    [Benchmark(Description = "RunProc kernel (best path), back to back on 4 KiB pages")]
    public long RunProcSmallPages()
    {
        PixelStatusKernel.Accumulate(_acc, _smallPages, 0xFFFF, Threads, KernelPath.Auto);
        return _acc.Events;
    }

    /// <summary>
    /// The machine's read ceiling for this data: one pass over the same frames with 256-bit
    /// loads and four independent max chains (no other work), split over threads in
    /// contiguous halves. The kernel's GB/s over this one is its share of what memory gives.
    /// </summary>
    [Benchmark(Description = "sequential read (memory ceiling)")]
    public long SequentialRead()
    {
        var total = Length;
        var results = new ushort[Threads];
        var basePtr = (nint)_plain.Pointer;
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
            var q = (ushort*)basePtr;
            long a = total * t / Threads & ~127L, b = t == Threads - 1 ? total & ~127L : total * (t + 1) / Threads & ~127L;
            // 256-bit loads on every x86-64 with AVX2; memory, not the load width, bounds this loop.
            Vector256<ushort> m0 = default, m1 = default, m2 = default, m3 = default;
            for (var i = a; i < b; i += 64)
            {
                m0 = Vector256.Max(m0, Vector256.Load(q + i));
                m1 = Vector256.Max(m1, Vector256.Load(q + i + 16));
                m2 = Vector256.Max(m2, Vector256.Load(q + i + 32));
                m3 = Vector256.Max(m3, Vector256.Load(q + i + 48));
            }
            results[t] = Vector256.Max(Vector256.Max(m0, m1), Vector256.Max(m2, m3)).ToScalar();
        });
        return results.Max();
    }

    /// <summary>A plain scalar C# loop over frames and pixels (the obvious port), threads over pixel ranges.</summary>
    [Benchmark(Description = "plain scalar C# loop")]
    public long ScalarLoop()
    {
        const int lo = 1, hi = 16000;
        var px = Program.Pixels;
        // Its own accumulators (double sums, as the numpy original); allocated here as the arrays a plain port would use.
        var nGood = new int[px]; var nLo = new int[px]; var nHi = new int[px];
        var sum = new double[px]; var sum2 = new double[px]; var max = new int[px]; var min = new int[px];
        Array.Fill(min, int.MaxValue);
        var basePtr = (nint)_plain.Pointer;
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
            var data = (ushort*)basePtr;
            var a = px * t / Threads; var b = px * (t + 1) / Threads;
            for (var f = 0; f < Program.Frames; f++)
            {
                var off = (long)f * px;
                for (var p = a; p < b; p++)
                {
                    int v = data[off + p];
                    if (v < lo) nLo[p]++;
                    else if (v > hi) nHi[p]++;
                    else { nGood[p]++; sum[p] += v; sum2[p] += (double)v * v; }
                    if (v > max[p]) max[p] = v;
                    if (v < min[p]) min[p] = v;
                }
            }
        });
        return nGood[0];
    }
}
