using System.Diagnostics;
using System.Globalization;
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
/// memory (RunProc's kernel on its best path and on AVX2, a plain scalar C# loop; 1 and 2
/// threads). `numpy`: the original np.select float64 formulation in /usr/bin/python3.
/// `e2e FILE...`: reader alone vs the end-to-end pipeline (read + kernel + summary) per file.
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
                    .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(1).WithIterationCount(5).WithLaunchCount(1).WithInvocationCount(1).WithUnrollFactor(1))
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
        var rng = new Random(12345);
        Parallel.For(0, frames, f =>
        {
            var r = new Random(12345 + f);
            var off = (long)f * pixels;
            for (var p = 0; p < pixels; p++)
                data[off + p] = (ushort)(950 + r.Next(101));
            for (var k = 0; k < 2000; k++)
                data[off + r.Next(pixels)] = (ushort)(r.Next(2) == 0 ? 0 : 16500);
        });
        return data;
    }

    private static void Quick()
    {
        // Tuning knobs for experiments (the library's defaults are what the numbers report otherwise).
        if (int.TryParse(Environment.GetEnvironmentVariable("RUNPROC_TILE"), out var tile)) PixelStatusKernel.TilePixels = tile;
        if (int.TryParse(Environment.GetEnvironmentVariable("RUNPROC_K"), out var k)) PixelStatusKernel.MaxChunk = k;
        if (int.TryParse(Environment.GetEnvironmentVariable("RUNPROC_PF"), out var pf)) PixelStatusKernel.PrefetchPixels = pf * 32;
        var data = MakeFrames(Frames, Pixels);
        foreach (var path in new[] { KernelPath.Avx512, KernelPath.Avx2, KernelPath.Scalar })
            foreach (var t in new[] { 1, 2 })
            {
                var best = double.MaxValue;
                for (var rep = 0; rep < (path == KernelPath.Scalar ? 1 : 3); rep++)
                {
                    var acc = new PixelStatusAccumulator(Pixels, 1, 16000);
                    var sw = Stopwatch.StartNew();
                    PixelStatusKernel.Accumulate(acc, data, 0xFFFF, t, path);
                    best = Math.Min(best, sw.Elapsed.TotalSeconds);
                }
                Console.WriteLine($"{path,-7} threads={t}: {Frames / best,8:F0} frames/s {2.0 * Frames * Pixels / best / 1e9,6:F2} GB/s");
            }
    }

    /// <summary>Reader alone (same blocks, same parallel decode, no kernel) vs the full pipeline with summary.</summary>
    private static void EndToEnd(string file)
    {
        var runner = new PixelStatusRunner(new RunProcConfig());
        var request = new PixelStatusRequest { Files = new[] { file } };
        double readerSeconds = double.MaxValue, e2eSeconds = double.MaxValue, touchSeconds = double.MaxValue;
        long bytes = 0, frames = 0;
        for (var rep = 0; rep < 3; rep++)
        {
            var (dets, handle) = PixelStatusRunner.OpenDetectors(new[] { file }, Array.Empty<string>());
            using (handle)
            {
                var det = dets[0];
                var src = det.Parts[0];
                var px = src.FramePixels;
                frames = src.FrameCount;
                bytes = frames * px * 2L;
                var blockFrames = (int)Math.Clamp(request.BlockBytes / (px * 2L), 1, 4096);
                var buf = GC.AllocateUninitializedArray<ushort>(blockFrames * px);
                var threads = Environment.ProcessorCount;
                var sw = Stopwatch.StartNew();
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

                sw.Restart();
                var acc = runner.Accumulate(det, request, null, CancellationToken.None);
                _ = PixelStatusSummary.Compute(acc, request.Options);
                e2eSeconds = Math.Min(e2eSeconds, sw.Elapsed.TotalSeconds);
            }
        }
        Console.WriteLine("RESULT " + JsonSerializer.Serialize(new
        {
            kind = "e2e", file = Path.GetFileName(file), frames, readerSeconds, e2eSeconds,
            readerGBps = bytes / readerSeconds / 1e9, e2eGBps = bytes / e2eSeconds / 1e9, ratio = readerSeconds / e2eSeconds,
            mappedTouchGBps = touchSeconds == double.MaxValue ? (double?)null : bytes / touchSeconds / 1e9,
        }));
    }
}

/// <summary>200 frames × 2,162,688 px uint16 in memory.</summary>
[MemoryDiagnoser]
public class KernelBench
{
    private ushort[] _data = Array.Empty<ushort>();

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup() => _data = Program.MakeFrames(Program.Frames, Program.Pixels);

    [Benchmark(Baseline = true, Description = "RunProc kernel (best path)")]
    public long RunProc()
    {
        var acc = new PixelStatusAccumulator(Program.Pixels, 1, 16000);
        PixelStatusKernel.Accumulate(acc, _data, 0xFFFF, Threads, KernelPath.Auto);
        return acc.Events;
    }

    [Benchmark(Description = "RunProc kernel (AVX2)")]
    public long RunProcAvx2()
    {
        var acc = new PixelStatusAccumulator(Program.Pixels, 1, 16000);
        PixelStatusKernel.Accumulate(acc, _data, 0xFFFF, Threads, KernelPath.Avx2);
        return acc.Events;
    }

    /// <summary>A plain scalar C# loop over frames and pixels (the obvious port), threads over pixel ranges.</summary>
    [Benchmark(Description = "plain scalar C# loop")]
    public long ScalarLoop()
    {
        const int lo = 1, hi = 16000;
        var px = Program.Pixels;
        var nGood = new int[px]; var nLo = new int[px]; var nHi = new int[px];
        var sum = new double[px]; var sum2 = new double[px]; var max = new int[px]; var min = new int[px];
        Array.Fill(min, int.MaxValue);
        var data = _data;
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
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
