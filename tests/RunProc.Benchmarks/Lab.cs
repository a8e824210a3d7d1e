using System.Diagnostics;
using System.Runtime.Intrinsics;
using RunProc.Pixels;

namespace RunProc.Benchmarks;

/// <summary>`lab`: where the kernel's time goes — a plain sequential read, the kernel's access pattern without arithmetic, and the kernel on a pre-faulted accumulator (1 thread).</summary>
internal static unsafe class Lab
{
    public static void Run()
    {
        var frames = Program.Frames;
        var pixels = Program.Pixels;
        var pad = int.TryParse(Environment.GetEnvironmentVariable("LAB_PADPX"), out var pp) ? pp : 0;
        var stride = pixels + pad; // frame stride in elements (LAB_PADPX breaks the 128 KiB multiple)
        var data = Program.MakeFrames(frames, stride);
        // Frames in a FrameBuffer (2 MiB pages) as the reader's blocks are; LAB_PAGES=4k keeps the array (4 KiB pages).
        using var buffer = Environment.GetEnvironmentVariable("LAB_PAGES") == "4k" ? null : new FrameBuffer(data.LongLength * 2);
        if (buffer is not null) data.AsSpan().CopyTo(buffer.AsSpan<ushort>(0, data.Length));
        Console.WriteLine($"frames on {(buffer is null ? "4 KiB pages" : buffer.HugePages ? "2 MiB pages" : "4 KiB pages (huge-page advice refused)")}");
        var acc = new PixelStatusAccumulator(pixels, 1, 16000);
        double gb = 2.0 * frames * pixels / 1e9;
        fixed (ushort* pd = data)
        {
            var p = buffer is null ? pd : (ushort*)buffer.Pointer;
            for (var rep = 0; rep < (int.TryParse(Environment.GetEnvironmentVariable("LAB_REPS"), out var reps) ? reps : 2); rep++)
            {
                Console.WriteLine($"rep {rep}");
                var sw = Stopwatch.StartNew();
                var m = Vector256<ushort>.Zero;
                long total = (long)frames * pixels;
                for (long i = 0; i + 64 <= total; i += 64)
                    m = Vector256.Max(Vector256.Max(Vector256.Max(m, Vector256.Load(p + i)), Vector256.Max(Vector256.Load(p + i + 16), Vector256.Load(p + i + 32))), Vector256.Load(p + i + 48));
                Report("sequential read", gb, sw, m);
                // Fixed (per pass: scratch, fold into the wide arrays) vs per-frame cost.
                foreach (var nf in new[] { 1, 16, frames })
                {
                    var fp = new nint[nf];
                    for (var f = 0; f < nf; f++) fp[f] = (nint)(p + (long)f * stride);
                    sw.Restart();
                    PixelStatusKernel.AccumulateUInt16(acc, fp, 0xFFFF, 1, KernelPath.Auto);
                    Console.WriteLine($"  kernel on {nf,3} frames: {sw.Elapsed.TotalMilliseconds,8:F2} ms");
                }
                foreach (var (k, tile, pfKind, pfd) in Patterns)
                {
                    sw.Restart();
                    m = Vector256<ushort>.Zero;
                    var pfb = (nint)pfd * 64;
                    for (var p0 = 0; p0 < pixels; p0 += tile)
                        for (var f0 = 0; f0 < frames; f0 += k)
                            for (var i = 0; i < tile; i += 32)
                            {
                                var s = p + (long)f0 * stride + p0 + i;
                                for (var f = f0; f < Math.Min(frames, f0 + k); f++, s += stride)
                                {
                                    if (pfKind == 0) System.Runtime.Intrinsics.X86.Sse.Prefetch0((byte*)s + pfb);
                                    else if (pfKind == 2) System.Runtime.Intrinsics.X86.Sse.Prefetch2((byte*)s + pfb);
                                    else if (pfKind == 3) System.Runtime.Intrinsics.X86.Sse.PrefetchNonTemporal((byte*)s + pfb);
                                    m = Vector256.Max(m, Vector256.Max(Vector256.Load(s), Vector256.Load(s + 16)));
                                }
                            }
                    Report($"pattern k={k} tile={tile} pf={pfKind}/{pfd}", gb, sw, m);
                }
                foreach (var (path, wide) in new[] { (KernelPath.Avx2, false), (KernelPath.Avx512, true) })
                    foreach (var (k, tile, pf) in Configs)
                    {
                        PixelStatusKernel.WideStrips = wide; PixelStatusKernel.MaxChunk = k; PixelStatusKernel.TilePixels = tile; PixelStatusKernel.PrefetchPixels = pf * 32;
                        sw.Restart();
                        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                        var fptrs = new nint[frames];
                        for (var f = 0; f < frames; f++) fptrs[f] = (nint)(p + (long)f * stride);
                        PixelStatusKernel.AccumulateUInt16(acc, fptrs, 0xFFFF, 1, path);
                        Console.Write($"  cpu {gb / (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds,6:F2} GB/s/cpu-s");
                        Report($"kernel {path}{(wide ? " wide" : "")} k={k} tile={tile} pf={pf}", gb, sw, default);
                        var same = new nint[frames]; Array.Fill(same, (nint)p);
                        sw.Restart();
                        PixelStatusKernel.AccumulateUInt16(acc, same, 0xFFFF, 1, path);
                        Report($"  same frame (L3)", gb, sw, default);

                    }
            }
        }
    }

    private static (int, int, int)[] Configs => (Environment.GetEnvironmentVariable("LAB_CFG") ?? "16,16384,32")
        .Split(' ').Select(c => c.Split(',').Select(int.Parse).ToArray()).Select(a => (a[0], a[1], a[2])).ToArray();

    private static (int, int, int, int)[] Patterns => (Environment.GetEnvironmentVariable("LAB_PAT") ?? "")
        .Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(c => c.Split(',').Select(int.Parse).ToArray()).Select(a => (a[0], a[1], a[2], a[3])).ToArray();

    private static void Report(string what, double gb, Stopwatch sw, Vector256<ushort> m)
    {
        var s = sw.Elapsed.TotalSeconds;
        Console.WriteLine($"  {what,-28} {gb / s,6:F2} GB/s {(m == Vector256<ushort>.AllBitsSet ? "!" : "")}");
    }
}
