using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RunProc.Pixels;

/// <summary>Which implementation of the kernel to run (tests pin one; users get <see cref="Auto"/>).</summary>
internal enum KernelPath
{
    Auto,
    Scalar,
    Avx2,
    Avx512,
}

/// <summary>
/// Adds blocks of frames to a <see cref="PixelStatusAccumulator"/>. The uint16 path is the fast
/// one: pixel tiles × frame blocks. For a strip of 64 pixels (AVX-512BW; 32 with AVX2: one or two
/// cache lines of every frame) max, min, sums and 32-bit square partials stay in registers across
/// a run of up to 16 frames (k·hi² &lt; 2^32), then in a per-tile scratch that stays in L2 across
/// the block, so memory sees each frame once and the wide per-pixel arrays once per block. Lines
/// whose values are all inside the gates (one range check) skip the gate counters, which live in
/// the scratch. A scalar path gives bit-identical results (everything is exact integer
/// arithmetic). Pixel tiles are split over threads; nothing is allocated per frame. Frames on
/// 2 MiB pages (<see cref="FrameBuffer"/>) read markedly faster than on 4 KiB pages.
/// </summary>
public static unsafe class PixelStatusKernel
{
    /// <summary>Pixels per tile: its scratch (20 B/px, 320 KiB) stays in L2 while each frame is read as a 32 KiB slice.</summary>
    internal static int TilePixels = 16384;

    /// <summary>
    /// Pixels per tile for frames scanned where a file mapping holds them (4 KiB pages): a register
    /// run reads 16 frames at once, each its own pages, and 16 × 16 KiB slices (4–5 pages each) stay
    /// within the L1 data TLB's 72 entries where 16 × 32 KiB did not (`RunProc.Benchmarks firsttouch`,
    /// 2026-12-02: the xtc2 quad's 200 events in 20.1–21.4 ms against 22.2–22.6, minima over 16 fresh mappings).
    /// </summary>
    internal static int MappedTilePixels = 8192;

    /// <summary>Software prefetch distance in pixels (32 lines ahead in each frame's stream).</summary>
    internal static int PrefetchPixels = 32 * 32;

    /// <summary>Most frames per register run (concurrent frame streams); fewer if hi² needs it.</summary>
    internal static int MaxChunk = 16;

    /// <summary>16-bit event counters in the scratch: a kernel call handles at most this many frames.</summary>
    internal const int MaxFramesPerPass = 32767;

    /// <summary>True where a SIMD path (AVX2 or AVX-512BW) runs.</summary>
    public static bool IsAccelerated => Avx2.IsSupported;

    /// <summary>Adds <c>frames.Length / PixelCount</c> uint16 frames (contiguous) with an optional data-bit mask.</summary>
    public static void Accumulate(PixelStatusAccumulator acc, ReadOnlySpan<ushort> frames, ushort dataMask = 0xFFFF, int threads = 1) =>
        Accumulate(acc, frames, dataMask, threads, KernelPath.Auto);

    /// <summary>Adds <c>frames.Length / PixelCount</c> int32 frames (int16, uint32 and float32 data converted by the reader).</summary>
    public static void Accumulate(PixelStatusAccumulator acc, ReadOnlySpan<int> frames, int threads = 1)
    {
        var n = FrameCount(acc, frames.Length);
        fixed (int* p = frames)
        {
            var ptrs = new nint[n];
            for (var f = 0; f < n; f++)
                ptrs[f] = (nint)(p + (long)f * acc.PixelCount);
            AccumulateInt32(acc, ptrs, threads);
        }
    }

    internal static void Accumulate(PixelStatusAccumulator acc, ReadOnlySpan<ushort> frames, ushort dataMask, int threads, KernelPath path)
    {
        var n = FrameCount(acc, frames.Length);
        fixed (ushort* p = frames)
        {
            var ptrs = new nint[n];
            for (var f = 0; f < n; f++)
                ptrs[f] = (nint)(p + (long)f * acc.PixelCount);
            AccumulateUInt16(acc, ptrs, dataMask, threads, path);
        }
    }

    private static int FrameCount(PixelStatusAccumulator acc, int length)
    {
        ArgumentNullException.ThrowIfNull(acc);
        if (length % acc.PixelCount != 0)
            throw new ArgumentException($"{length} values are not a whole number of {acc.PixelCount}-pixel frames.", nameof(length));
        return length / acc.PixelCount;
    }

    /// <summary>
    /// Adds uint16 frames given as pointers (each to PixelCount values; frames need not be
    /// contiguous, so a reader's ring of buffers can be passed as one block). The caller keeps the
    /// memory alive and fixed for the call.
    /// </summary>
    internal static void AccumulateUInt16(PixelStatusAccumulator acc, ReadOnlySpan<nint> frames, ushort dataMask, int threads, KernelPath path) =>
        AccumulatePiece(acc, frames, 0, acc.PixelCount, dataMask, threads, path, countEvents: true);

    /// <summary>
    /// Adds pixels [firstPixel, firstPixel + pixels) of uint16 frames given as pointers to that
    /// range (a frame stored in pieces, e.g. an xtc2 detector's segments, each scanned in place
    /// into its part of one accumulator). The caller counts the events once per frame unless
    /// <paramref name="countEvents"/>. <paramref name="afterTile"/> (pixel start, count) is called
    /// on the scanning thread for each tile once the call's last pass has added it, while the
    /// tile's accumulator lines are still in cache (the status of a run's last block is computed
    /// there, <see cref="PixelStatusAccumulator.StatusInScan"/>). <paramref name="initialize"/>:
    /// the range's accumulator lines are uninitialized (<see cref="PixelStatusAccumulator.Uninitialized"/>)
    /// and each tile sets its own to the empty state before it adds its first frames.
    /// </summary>
    internal static void AccumulatePiece(PixelStatusAccumulator acc, ReadOnlySpan<nint> frames, int firstPixel, int pixels, ushort dataMask, int threads, KernelPath path, bool countEvents,
        Action<int, int>? afterTile = null, bool mapped = false, bool initialize = false)
    {
        var tile = mapped ? MappedTilePixels : TilePixels;
        if (firstPixel < 0 || pixels <= 0 || firstPixel > acc.PixelCount - pixels)
            throw new ArgumentOutOfRangeException(nameof(firstPixel), $"pixels {firstPixel}..{firstPixel + pixels} are outside the accumulator's 0..{acc.PixelCount}.");
        if (countEvents)
            acc.CheckEventBudget(frames.Length);
        var simd = Resolve(path);
        // Gates outside 0..65535 are expressible in the SIMD compare only after clamping, which
        // changes nothing for uint16 values, except a low gate above 65535 (everything is "below").
        if (acc.GateLow > 65535 || acc.GateHigh < 0)
            simd = KernelPath.Scalar;
        // The tiles index frames and accumulator alike by pixel number: the pointers are moved
        // back by the range's start (never read below it).
        var ptrs = frames.ToArray();
        if (firstPixel != 0)
            for (var i = 0; i < ptrs.Length; i++) ptrs[i] -= (nint)firstPixel * sizeof(ushort);
        // One pass (one fold of each tile into the accumulator) per call, up to the scratch's
        // 16-bit counters; inside it, register runs of frames a constant distance apart.
        var k = ChunkFrames(Math.Clamp(acc.GateHigh, 0, 65535));
        for (var i = 0; i < ptrs.Length; i += MaxFramesPerPass)
        {
            var count = Math.Min(MaxFramesPerPass, ptrs.Length - i);
            var pass = new FramePass(ptrs, i, count, k);
            var after = i + count == ptrs.Length ? afterTile : null;
            var init = initialize && i == 0;
            RunParallel(firstPixel, firstPixel + pixels, threads, (start, end) => RangeUInt16(acc, pass, dataMask, start, end, simd, after, tile, init));
            if (countEvents)
                acc.Events += count;
        }
    }

    /// <summary>A register run: up to k frames, the first at <see cref="First"/>, each <see cref="Stride"/> bytes after the one before.</summary>
    private readonly record struct FrameRun(nint First, nint Stride, int Count);

    /// <summary>
    /// The frames of one pass, by pointer, cut into register runs of at most k frames a constant
    /// distance apart: a block of one buffer or of one mapped file is a few runs of k; a list whose
    /// distances change (an xtc2 stream's events around another transition or another detector's
    /// data of varying size, a chunk boundary) is cut at each change, and still folded into the
    /// accumulator once per tile (cutting the pass itself cost a fold of the whole accumulator per change).
    /// </summary>
    private sealed class FramePass
    {
        private readonly nint[] _ptrs;
        private readonly int _start;

        public FramePass(nint[] ptrs, int start, int count, int k)
        {
            _ptrs = ptrs;
            _start = start;
            Count = count;
            var runs = new List<FrameRun>(count / k + 1);
            for (var f = 0; f < count;)
            {
                var stride = f + 1 < count ? ptrs[start + f + 1] - ptrs[start + f] : 0;
                var n = 1;
                while (f + n < count && n < k && ptrs[start + f + n] - ptrs[start + f + n - 1] == stride)
                    n++;
                runs.Add(new FrameRun(ptrs[start + f], stride, n));
                f += n;
            }
            Runs = runs.ToArray();
        }

        public int Count { get; }
        public FrameRun[] Runs { get; }
        public ushort* Frame(int f) => (ushort*)_ptrs[_start + f];
    }

    /// <summary>Adds int32 frames given as pointers (scalar: the wide types are not the fast path).</summary>
    internal static void AccumulateInt32(PixelStatusAccumulator acc, ReadOnlySpan<nint> frames, int threads)
    {
        acc.CheckEventBudget(frames.Length);
        var ptrs = frames.ToArray();
        RunParallel(0, acc.PixelCount, threads, (start, end) =>
        {
            for (var p0 = start; p0 < end; p0 += TilePixels)
                TileScalarInt32(acc, ptrs, p0, Math.Min(TilePixels, end - p0));
        });
        acc.Events += ptrs.Length;
    }

    private static void RunParallel(int first, int last, int threads, Action<int, int> range)
    {
        var total = last - first;
        threads = Math.Clamp(threads, 1, Math.Max(1, total / TilePixels));
        if (threads == 1)
        {
            range(first, last);
            return;
        }
        // Contiguous pixel ranges per thread, cut on 32-pixel boundaries (one cache line of uint16).
        var per = (total / threads + 31) & ~31;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var start = Math.Min(total, t * per);
            var end = t == threads - 1 ? total : Math.Min(total, start + per);
            if (end > start)
                range(first + start, first + end);
        });
    }

    /// <summary>The path to run: AVX-512BW where present (half the instructions per pixel), else AVX2, else scalar.</summary>
    internal static KernelPath Resolve(KernelPath path) => path switch
    {
        KernelPath.Scalar => KernelPath.Scalar,
        KernelPath.Avx2 => Avx2.IsSupported ? KernelPath.Avx2 : throw new PlatformNotSupportedException("AVX2 is not available on this CPU."),
        KernelPath.Avx512 => Avx512BW.IsSupported ? path : throw new PlatformNotSupportedException("AVX-512BW is not available on this CPU."),
        _ => Avx512BW.IsSupported ? KernelPath.Avx512 : Avx2.IsSupported ? KernelPath.Avx2 : KernelPath.Scalar,
    };

    private static void RangeUInt16(PixelStatusAccumulator acc, FramePass frames, ushort mask, int start, int end, KernelPath path, Action<int, int>? afterTile, int tilePixels, bool initialize)
    {
        var simd = path != KernelPath.Scalar;
        var scratch = simd ? Scratch.ForThisThread(tilePixels) : null;
        var lo = Math.Max(acc.GateLow, 0);
        var hi = Math.Min(acc.GateHigh, 65535);
        for (var p0 = start; p0 < end; p0 += tilePixels)
        {
            var n = Math.Min(tilePixels, end - p0);
            var nv = simd ? n & ~31 : 0;
            // An accumulator made uninitialized for this call: the tile's lines are set to the
            // empty state just before the tile folds into them (in cache then, where clearing the
            // whole block first streamed 23.8 MB of an epix10ka quad's accumulator through memory).
            if (initialize)
                acc.InitRange(p0, n);
            if (nv > 0)
            {
                // Squares of values up to 32767 fit the signed 16-bit multiply-add; above that use a 32-bit multiply.
                var madd = hi <= 32767;
                if (path == KernelPath.Avx512)
                {
                    if (mask == 0xFFFF)
                    {
                        if (madd) TileAvx512<No, Yes>(acc, frames, p0, nv, mask, lo, hi, scratch!);
                        else TileAvx512<No, No>(acc, frames, p0, nv, mask, lo, hi, scratch!);
                    }
                    else
                    {
                        if (madd) TileAvx512<Yes, Yes>(acc, frames, p0, nv, mask, lo, hi, scratch!);
                        else TileAvx512<Yes, No>(acc, frames, p0, nv, mask, lo, hi, scratch!);
                    }
                }
                else if (mask == 0xFFFF)
                {
                    if (madd) TileAvx2<No, Yes>(acc, frames, p0, nv, mask, lo, hi, scratch!);
                    else TileAvx2<No, No>(acc, frames, p0, nv, mask, lo, hi, scratch!);
                }
                else
                {
                    if (madd) TileAvx2<Yes, Yes>(acc, frames, p0, nv, mask, lo, hi, scratch!);
                    else TileAvx2<Yes, No>(acc, frames, p0, nv, mask, lo, hi, scratch!);
                }
            }
            if (n > nv)
                TileScalarUInt16(acc, frames, p0 + nv, n - nv, mask);
            afterTile?.Invoke(p0, n);
        }
    }

    /// <summary>The scalar reference of one tile (also the tail of a SIMD tile).</summary>
    private static void TileScalarUInt16(PixelStatusAccumulator acc, FramePass frames, int p0, int n, ushort mask)
    {
        int lo = acc.GateLow, hi = acc.GateHigh;
        var below = acc.BelowLow; var above = acc.AboveHigh; var sum = acc.Sum; var sq = acc.SumSquares; var max = acc.Max; var min = acc.Min;
        for (var f = 0; f < frames.Count; f++)
        {
            var frame = frames.Frame(f) + p0;
            for (var i = 0; i < n; i++)
            {
                int v = frame[i] & mask;
                var p = p0 + i;
                if (v < lo) below[p]++;
                else if (v > hi) above[p]++;
                else { sum[p] += v; sq[p] += (ulong)((long)v * v); }
                if (v > max[p]) max[p] = v;
                if (v < min[p]) min[p] = v;
            }
        }
    }

    private static void TileScalarInt32(PixelStatusAccumulator acc, nint[] frames, int p0, int n)
    {
        int lo = acc.GateLow, hi = acc.GateHigh;
        var below = acc.BelowLow; var above = acc.AboveHigh; var sum = acc.Sum; var sq = acc.SumSquares; var max = acc.Max; var min = acc.Min;
        foreach (var fp in frames)
        {
            var frame = (int*)fp + p0;
            for (var i = 0; i < n; i++)
            {
                var v = frame[i];
                var p = p0 + i;
                if (v < lo) below[p]++;
                else if (v > hi) above[p]++;
                else { sum[p] += v; sq[p] += (ulong)((long)v * v); }
                if (v > max[p]) max[p] = v;
                if (v < min[p]) min[p] = v;
            }
        }
    }

    /// <summary>
    /// One tile of <paramref name="nv"/> pixels (a multiple of 32) over all frames of the pass
    /// (AVX2), the same structure as <see cref="TileAvx512{TMask,TMadd}"/> on 32-pixel strips:
    /// max/min (16-bit lanes), sums of even and odd pixels (32-bit lanes: ≤ 32767 frames × 65535
    /// fits) and square partials (32-bit, widened at each run's end, k·hi² &lt; 2^32) in registers;
    /// gate counters in the scratch, touched only by lines with a value outside the gates.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileAvx2<TMask, TMadd>(PixelStatusAccumulator acc, FramePass frames, int p0, int nv, ushort mask, int lo, int hi, Scratch s)
        where TMask : struct, IFlag where TMadd : struct, IFlag
    {
        s.ResetCounters(nv);
        var runs = frames.Runs;
        for (var r = 0; r < runs.Length; r++)
        {
            var run = runs[r];
            var last = r + 1 == runs.Length;
            var toNext = (last ? runs[0].First : runs[r + 1].First) - run.First;
            for (var i = 0; i < nv; i += 32)
                StripAvx2<TMask, TMadd>(s, i, (ushort*)run.First + p0 + i, run.Stride, run.Count,
                    PrefetchOffset(i, nv, toNext, last), (ushort)lo, (ushort)hi, mask, r == 0);
        }
        s.Fold(acc, p0, nv);
    }

    /// <summary>32 pixels (two vectors = one 64-byte line of every frame) over <paramref name="n"/> frames, accumulators in registers.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void StripAvx2<TMask, TMadd>(Scratch s, int i, ushort* src, nint stride, int n, nint pf, ushort lo, ushort hi, ushort mask, bool first)
        where TMask : struct, IFlag where TMadd : struct, IFlag
    {
        // Two vectors = 32 pixels = one 64-byte line of every frame, so each line is
        // loaded once; frames a multiple of 4 KiB apart all map to one L1 set, and
        // half-line strips would evict the line before its second half is used.
        Vector256<ushort> maxA, maxB, minA, minB;
        Vector256<uint> seA, seB, soA, soB;
        if (first)
        {
            maxA = maxB = Vector256<ushort>.Zero;
            minA = minB = Vector256<ushort>.AllBitsSet;
            seA = seB = soA = soB = Vector256<uint>.Zero;
        }
        else
        {
            maxA = Avx.LoadVector256(s.Max + i);
            maxB = Avx.LoadVector256(s.Max + i + 16);
            minA = Avx.LoadVector256(s.Min + i);
            minB = Avx.LoadVector256(s.Min + i + 16);
            seA = Avx.LoadVector256(s.SumEven + i / 2);
            seB = Avx.LoadVector256(s.SumEven + i / 2 + 8);
            soA = Avx.LoadVector256(s.SumOdd + i / 2);
            soB = Avx.LoadVector256(s.SumOdd + i / 2 + 8);
        }
        Vector256<uint> qeA = default, qeB = default, qoA = default, qoB = default;
        var lov = Vector256.Create(lo);
        var span = Vector256.Create((ushort)(hi - lo)); // lo <= v <= hi  <=>  (ushort)(v - lo) <= hi - lo
        var maskv = Vector256.Create(mask);
        var low16 = Vector256.Create(0x0000FFFFu);
        for (; n > 0; n--, src = (ushort*)((byte*)src + stride))
        {
            Sse.Prefetch2((byte*)src + pf);
            var va = Avx.LoadVector256(src);
            var vb = Avx.LoadVector256(src + 16);
            if (default(TMask).Value)
            {
                va = Avx2.And(va, maskv);
                vb = Avx2.And(vb, maskv);
            }
            maxA = Avx2.Max(maxA, va);
            maxB = Avx2.Max(maxB, vb);
            minA = Avx2.Min(minA, va);
            minB = Avx2.Min(minB, vb);
            // (v - lo) - span, saturating at 0, is non-zero exactly for values outside the gates.
            var outA = Avx2.SubtractSaturate(Avx2.Subtract(va, lov), span);
            var outB = Avx2.SubtractSaturate(Avx2.Subtract(vb, lov), span);
            var ga = va;
            var gb = vb;
            if (!Avx.TestZ(Avx2.Or(outA, outB), Avx2.Or(outA, outB)))
            {
                var badA = CountOutside(s, i, va, outA, lo, hi);
                var badB = CountOutside(s, i + 16, vb, outB, lo, hi);
                ga = Avx2.AndNot(badA, va);
                gb = Avx2.AndNot(badB, vb);
            }
            var veA = Avx2.And(ga.AsUInt32(), low16);
            var veB = Avx2.And(gb.AsUInt32(), low16);
            var voA = Avx2.ShiftRightLogical(ga.AsUInt32(), 16);
            var voB = Avx2.ShiftRightLogical(gb.AsUInt32(), 16);
            seA = Avx2.Add(seA, veA);
            seB = Avx2.Add(seB, veB);
            soA = Avx2.Add(soA, voA);
            soB = Avx2.Add(soB, voB);
            if (default(TMadd).Value)
            {
                qeA = Avx2.Add(qeA, Avx2.MultiplyAddAdjacent(veA.AsInt16(), veA.AsInt16()).AsUInt32());
                qeB = Avx2.Add(qeB, Avx2.MultiplyAddAdjacent(veB.AsInt16(), veB.AsInt16()).AsUInt32());
                qoA = Avx2.Add(qoA, Avx2.MultiplyAddAdjacent(voA.AsInt16(), voA.AsInt16()).AsUInt32());
                qoB = Avx2.Add(qoB, Avx2.MultiplyAddAdjacent(voB.AsInt16(), voB.AsInt16()).AsUInt32());
            }
            else
            {
                qeA = Avx2.Add(qeA, Avx2.MultiplyLow(veA, veA));
                qeB = Avx2.Add(qeB, Avx2.MultiplyLow(veB, veB));
                qoA = Avx2.Add(qoA, Avx2.MultiplyLow(voA, voA));
                qoB = Avx2.Add(qoB, Avx2.MultiplyLow(voB, voB));
            }
        }
        Avx.Store(s.Max + i, maxA);
        Avx.Store(s.Max + i + 16, maxB);
        Avx.Store(s.Min + i, minA);
        Avx.Store(s.Min + i + 16, minB);
        Avx.Store(s.SumEven + i / 2, seA);
        Avx.Store(s.SumEven + i / 2 + 8, seB);
        Avx.Store(s.SumOdd + i / 2, soA);
        Avx.Store(s.SumOdd + i / 2 + 8, soB);
        AddWidened(s.SqEven + i / 2, qeA, first);
        AddWidened(s.SqEven + i / 2 + 8, qeB, first);
        AddWidened(s.SqOdd + i / 2, qoA, first);
        AddWidened(s.SqOdd + i / 2 + 8, qoB, first);
    }

    /// <summary>
    /// Counts 16 values below and above the gates into the scratch counters (the rare path);
    /// returns all-ones lanes for the values outside (<paramref name="outside"/> non-zero).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> CountOutside(Scratch s, int i, Vector256<ushort> v, Vector256<ushort> outside, ushort lo, ushort hi)
    {
        var bad = Avx2.CompareEqual(outside, Vector256<ushort>.Zero) ^ Vector256<ushort>.AllBitsSet;
        // Outside and at most hi is below lo; a true compare is -1, so subtracting it counts.
        var above = Avx2.AndNot(Avx2.CompareEqual(Avx2.Min(v, Vector256.Create(hi)), v), bad);
        var below = Avx2.AndNot(above, bad);
        Avx.Store(s.Below + i, Avx2.Subtract(Avx.LoadVector256(s.Below + i), below.AsInt16()));
        Avx.Store(s.Above + i, Avx2.Subtract(Avx.LoadVector256(s.Above + i), above.AsInt16()));
        return bad;
    }

    /// <summary>
    /// The AVX-512 tile: register runs of up to <see cref="MaxChunk"/> frames over 64-pixel
    /// strips (32-pixel strips for the tail). A run's sums, max and min live in registers; its
    /// 32-bit square partials start at zero in registers and are widened into the 64-bit scratch
    /// at the run's end (k·hi² &lt; 2^32 bounds the run); the gate counters stay in the scratch
    /// and are touched only by lines with a value outside the gates. The first run of a tile
    /// starts from constants instead of the scratch, so only the counters are cleared per tile.
    /// Frames a multiple of 128 KiB apart put a run's lines into one L1 and one L2 set; shorter
    /// runs relieve the sets but pay more flushes, and measured no faster (tests/RunProc.Benchmarks lab).
    /// </summary>
    private static void TileAvx512<TMask, TMadd>(PixelStatusAccumulator acc, FramePass frames, int p0, int nv, ushort mask, int lo, int hi, Scratch s)
        where TMask : struct, IFlag where TMadd : struct, IFlag
    {
        s.ResetCounters(nv);
        var runs = frames.Runs;
        for (var r = 0; r < runs.Length; r++)
        {
            var run = runs[r];
            var first = r == 0;
            var last = r + 1 == runs.Length;
            var toNext = (last ? runs[0].First : runs[r + 1].First) - run.First;
            var i = 0;
            if (WideStrips)
                for (; i + 64 <= nv; i += 64)
                    StripAvx512Wide<TMask, TMadd>(s, i, (ushort*)run.First + p0 + i, run.Stride, run.Count,
                        PrefetchOffset(i, nv, toNext, last), (ushort)lo, (ushort)hi, mask, first);
            for (; i < nv; i += 32)
                StripAvx512Masked<TMask, TMadd>(s, i, (ushort*)run.First + p0 + i, run.Stride, run.Count,
                    PrefetchOffset(i, nv, toNext, last), (ushort)lo, (ushort)hi, mask, first);
        }
        s.Fold(acc, p0, nv);
    }

    /// <summary>Use 64-pixel strips (two lines of every frame per step) where they fit.</summary>
    internal static bool WideStrips = true;

    /// <summary>
    /// 64 pixels (two adjacent lines of every frame per step, so two loads are in flight per
    /// frame stream) over <paramref name="n"/> frames, 12 accumulators in zmm registers (a method
    /// of its own so the JIT keeps them there). The compares of the rare path stay in mask
    /// registers: the counters take a masked add in the scratch, the gated value a masked blend.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void StripAvx512Wide<TMask, TMadd>(Scratch s, int i, ushort* src, nint stride, int n, nint pf, ushort lo, ushort hi, ushort mask, bool first)
        where TMask : struct, IFlag where TMadd : struct, IFlag
    {
        var lov = Vector512.Create(lo);
        var hiv = Vector512.Create(hi);
        var maskv = Vector512.Create(mask);
        var low16 = Vector512.Create(0x0000FFFFu);
        var span = Vector512.Create((ushort)(hi - lo)); // lo <= v <= hi  <=>  (ushort)(v - lo) <= hi - lo
        Vector512<ushort> maxA, maxB, minA, minB;
        Vector512<uint> seA, seB, soA, soB;
        if (first)
        {
            maxA = maxB = Vector512<ushort>.Zero;
            minA = minB = Vector512<ushort>.AllBitsSet;
            seA = seB = soA = soB = Vector512<uint>.Zero;
        }
        else
        {
            maxA = Vector512.Load(s.Max + i);
            maxB = Vector512.Load(s.Max + i + 32);
            minA = Vector512.Load(s.Min + i);
            minB = Vector512.Load(s.Min + i + 32);
            seA = Vector512.Load(s.SumEven + i / 2);
            seB = Vector512.Load(s.SumEven + i / 2 + 16);
            soA = Vector512.Load(s.SumOdd + i / 2);
            soB = Vector512.Load(s.SumOdd + i / 2 + 16);
        }
        Vector512<uint> qeA = default, qeB = default, qoA = default, qoB = default;
        for (; n > 0; n--)
        {
            var va = Vector512.Load(src);
            var vb = Vector512.Load(src + 32);
            Sse.Prefetch2((byte*)src + pf);
            Sse.Prefetch2((byte*)src + pf + 64);
            src = (ushort*)((byte*)src + stride);
            if (default(TMask).Value)
            {
                va &= maskv;
                vb &= maskv;
            }
            maxA = Vector512.Max(maxA, va);
            maxB = Vector512.Max(maxB, vb);
            minA = Vector512.Min(minA, va);
            minB = Vector512.Min(minB, vb);
            var ga = va;
            var gb = vb;
            // Values outside the gates are rare (dead, hot or saturated pixels): one range
            // compare per line decides whether the counters are needed at all.
            // (Both lines' compare masks moved to general registers and or-ed: one test and
            // branch, where two GreaterThanAny calls compiled to two kortest/setne pairs.)
            if ((Vector512.GreaterThan(va - lov, span).ExtractMostSignificantBits() | Vector512.GreaterThan(vb - lov, span).ExtractMostSignificantBits()) != 0)
            {
                CountOutside(s, i, va, lov, hiv);
                CountOutside(s, i + 32, vb, lov, hiv);
                ga = Avx512BW.BlendVariable(Vector512<ushort>.Zero, va, Vector512.LessThanOrEqual(va - lov, span));
                gb = Avx512BW.BlendVariable(Vector512<ushort>.Zero, vb, Vector512.LessThanOrEqual(vb - lov, span));
            }
            var veA = ga.AsUInt32() & low16;
            var veB = gb.AsUInt32() & low16;
            var voA = Vector512.ShiftRightLogical(ga.AsUInt32(), 16);
            var voB = Vector512.ShiftRightLogical(gb.AsUInt32(), 16);
            seA += veA;
            seB += veB;
            soA += voA;
            soB += voB;
            if (default(TMadd).Value)
            {
                qeA += Avx512BW.MultiplyAddAdjacent(veA.AsInt16(), veA.AsInt16()).AsUInt32();
                qeB += Avx512BW.MultiplyAddAdjacent(veB.AsInt16(), veB.AsInt16()).AsUInt32();
                qoA += Avx512BW.MultiplyAddAdjacent(voA.AsInt16(), voA.AsInt16()).AsUInt32();
                qoB += Avx512BW.MultiplyAddAdjacent(voB.AsInt16(), voB.AsInt16()).AsUInt32();
            }
            else
            {
                qeA += veA * veA;
                qeB += veB * veB;
                qoA += voA * voA;
                qoB += voB * voB;
            }
        }
        maxA.Store(s.Max + i);
        maxB.Store(s.Max + i + 32);
        minA.Store(s.Min + i);
        minB.Store(s.Min + i + 32);
        seA.Store(s.SumEven + i / 2);
        seB.Store(s.SumEven + i / 2 + 16);
        soA.Store(s.SumOdd + i / 2);
        soB.Store(s.SumOdd + i / 2 + 16);
        AddSquares(s.SqEven + i / 2, qeA, first);
        AddSquares(s.SqEven + i / 2 + 16, qeB, first);
        AddSquares(s.SqOdd + i / 2, qoA, first);
        AddSquares(s.SqOdd + i / 2 + 16, qoB, first);
    }

    /// <summary>
    /// <see cref="StripAvx512Wide{TMask,TMadd}"/> over 32 pixels (one line of every frame), for a
    /// tile's last 32 pixels when its width is an odd multiple of 32.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void StripAvx512Masked<TMask, TMadd>(Scratch s, int i, ushort* src, nint stride, int n, nint pf, ushort lo, ushort hi, ushort mask, bool first)
        where TMask : struct, IFlag where TMadd : struct, IFlag
    {
        var lov = Vector512.Create(lo);
        var hiv = Vector512.Create(hi);
        var maskv = Vector512.Create(mask);
        var low16 = Vector512.Create(0x0000FFFFu);
        var span = Vector512.Create((ushort)(hi - lo));
        var vmax = first ? Vector512<ushort>.Zero : Vector512.Load(s.Max + i);
        var vmin = first ? Vector512<ushort>.AllBitsSet : Vector512.Load(s.Min + i);
        var se = first ? Vector512<uint>.Zero : Vector512.Load(s.SumEven + i / 2);
        var so = first ? Vector512<uint>.Zero : Vector512.Load(s.SumOdd + i / 2);
        Vector512<uint> qe = default, qo = default;
        for (; n > 0; n--)
        {
            var v = Vector512.Load(src);
            Sse.Prefetch2((byte*)src + pf);
            src = (ushort*)((byte*)src + stride);
            if (default(TMask).Value)
                v &= maskv;
            vmax = Vector512.Max(vmax, v);
            vmin = Vector512.Min(vmin, v);
            var gv = v;
            if (Vector512.GreaterThan(v - lov, span).ExtractMostSignificantBits() != 0) // kmov + test, not kortest + setne
            {
                CountOutside(s, i, v, lov, hiv);
                gv = Avx512BW.BlendVariable(Vector512<ushort>.Zero, v, Vector512.LessThanOrEqual(v - lov, span));
            }
            var ve = gv.AsUInt32() & low16;
            var vo = Vector512.ShiftRightLogical(gv.AsUInt32(), 16);
            se += ve;
            so += vo;
            if (default(TMadd).Value)
            {
                qe += Avx512BW.MultiplyAddAdjacent(ve.AsInt16(), ve.AsInt16()).AsUInt32();
                qo += Avx512BW.MultiplyAddAdjacent(vo.AsInt16(), vo.AsInt16()).AsUInt32();
            }
            else
            {
                qe += ve * ve;
                qo += vo * vo;
            }
        }
        vmax.Store(s.Max + i);
        vmin.Store(s.Min + i);
        se.Store(s.SumEven + i / 2);
        so.Store(s.SumOdd + i / 2);
        AddSquares(s.SqEven + i / 2, qe, first);
        AddSquares(s.SqOdd + i / 2, qo, first);
    }

    /// <summary>Counts one line's values below and above the gates into the scratch counters (the rare path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CountOutside(Scratch s, int i, Vector512<ushort> v, Vector512<ushort> lov, Vector512<ushort> hiv)
    {
        var one = Vector512.Create((ushort)1);
        var below = Vector512.Load((ushort*)s.Below + i);
        var above = Vector512.Load((ushort*)s.Above + i);
        Avx512BW.BlendVariable(below, below + one, Vector512.LessThan(v, lov)).Store((ushort*)s.Below + i);
        Avx512BW.BlendVariable(above, above + one, Vector512.GreaterThan(v, hiv)).Store((ushort*)s.Above + i);
    }

    /// <summary>Widens a run's 16 32-bit square partials into 16 64-bit scratch sums (stores them on a tile's first run).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddSquares(ulong* dst, Vector512<uint> q, bool first)
    {
        var (lo, hi) = Vector512.Widen(q);
        if (!first)
        {
            lo += Vector512.Load(dst);
            hi += Vector512.Load(dst + 8);
        }
        lo.Store(dst);
        hi.Store(dst + 8);
    }


    /// <summary>
    /// Byte offset from a strip's data to the line to prefetch: PrefetchPixels ahead in the same
    /// frame; near the tile's end, the start of the tile in the next register run's frames (one
    /// ~32 KiB slice per frame is too short a stream for the hardware prefetcher to ramp up); and
    /// in the tile's last run, the start of the next tile in the first run's frames. A prefetch
    /// past the frames (the last tile, a short last run) is harmless: it never faults.
    /// </summary>
    private static nint PrefetchOffset(int i, int nv, nint toNextRun, bool lastRun)
    {
        var pj = i + PrefetchPixels;
        if (pj < nv)
            return PrefetchPixels * 2;
        // toNextRun: from this run's first frame to the next run's (the tile's first run's from the last run)
        return lastRun ? toNextRun + (pj - i) * 2 : toNextRun + (pj - nv - i) * 2;
    }

    /// <summary>Frames per register run: k·hi² must stay below 2^32 in the 32-bit square accumulators.</summary>
    private static int ChunkFrames(int hi)
    {
        var hiSq = (ulong)hi * (ulong)hi;
        return hiSq == 0 ? MaxChunk : (int)Math.Clamp(uint.MaxValue / hiSq, 1UL, (ulong)MaxChunk);
    }

    /// <summary>Widens 8 32-bit square partials into 8 64-bit scratch sums (stores them on a tile's first run).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddWidened(ulong* dst, Vector256<uint> q, bool first)
    {
        var (lo, hi) = Vector256.Widen(q);
        if (!first)
        {
            lo = Avx2.Add(Avx.LoadVector256(dst), lo);
            hi = Avx2.Add(Avx.LoadVector256(dst + 4), hi);
        }
        Avx.Store(dst, lo);
        Avx.Store(dst + 4, hi);
    }

    /// <summary>A compile-time flag: the JIT specialises the kernel per struct and drops the dead branch.</summary>
    private interface IFlag { bool Value { get; } }
    private readonly struct Yes : IFlag { public bool Value => true; }
    private readonly struct No : IFlag { public bool Value => false; }

    /// <summary>Per-thread tile scratch, 64-byte aligned native memory.</summary>
    private sealed class Scratch : IDisposable
    {
        private void* _block;
        public readonly short* Below, Above;
        public readonly ushort* Max, Min;
        public readonly uint* SumEven, SumOdd;
        public readonly ulong* SqEven, SqOdd;

        [ThreadStatic] private static Scratch? t_scratch;

        /// <summary>
        /// This thread's scratch for tiles of up to <paramref name="pixels"/> (kept for its next
        /// call: a fresh 330 KB block per range was ~80 first-touch page faults each time; one per
        /// kernel thread stays allocated for the thread's life).
        /// </summary>
        public static Scratch ForThisThread(int pixels)
        {
            if (t_scratch is { } s && s.Pixels >= pixels)
                return s;
            t_scratch?.Dispose();
            return t_scratch = new Scratch(pixels);
        }

        public int Pixels { get; }

        public Scratch(int pixels)
        {
            Pixels = pixels;
            var bytes = (nuint)pixels * 20 + 8 * 64;
            _block = NativeMemory.AlignedAlloc(bytes, 64);
            var b = (byte*)_block;
            SqEven = (ulong*)b; b += pixels * 4;
            SqOdd = (ulong*)b; b += pixels * 4;
            SumEven = (uint*)b; b += pixels * 2;
            SumOdd = (uint*)b; b += pixels * 2;
            Below = (short*)b; b += pixels * 2;
            Above = (short*)b; b += pixels * 2;
            Max = (ushort*)b; b += pixels * 2;
            Min = (ushort*)b;
        }

        /// <summary>Clears the gate counters only (a tile's first run sets everything else).</summary>
        public void ResetCounters(int nv)
        {
            new Span<short>(Below, nv).Clear();
            new Span<short>(Above, nv).Clear();
        }

        /// <summary>
        /// Adds the tile into the wide per-pixel arrays (once per pass; pixel q even ↔ SumEven[q/2]).
        /// 16 pixels per step with AVX2: this streams the accumulator's 40 B/px from memory once,
        /// so it is a fixed cost of every pass, not a per-frame one. Counters of 16 pixels that
        /// stayed inside the gates (the normal case) are not touched at all.
        /// </summary>
        public void Fold(PixelStatusAccumulator acc, int p0, int nv)
        {
            fixed (int* aBelow = &acc.BelowLow[p0], aAbove = &acc.AboveHigh[p0], aMax = &acc.Max[p0], aMin = &acc.Min[p0])
            fixed (long* aSumL = &acc.Sum[p0])
            fixed (UInt128* aSq128 = &acc.SumSquares[p0])
            {
                var aSum = (ulong*)aSumL;
                var aSq = (ulong*)aSq128; // little-endian UInt128: low word, then high word
                for (var i = 0; i < nv; i += 16)
                {
                    var j = i >> 1;
                    AddCounts(aBelow + i, Avx.LoadVector256(Below + i));
                    AddCounts(aAbove + i, Avx.LoadVector256(Above + i));
                    var (mx0, mx1) = Vector256.Widen(Avx.LoadVector256(Max + i));
                    Avx.Store(aMax + i, Avx2.Max(Avx.LoadVector256(aMax + i), mx0.AsInt32()));
                    Avx.Store(aMax + i + 8, Avx2.Max(Avx.LoadVector256(aMax + i + 8), mx1.AsInt32()));
                    var (mn0, mn1) = Vector256.Widen(Avx.LoadVector256(Min + i));
                    Avx.Store(aMin + i, Avx2.Min(Avx.LoadVector256(aMin + i), mn0.AsInt32()));
                    Avx.Store(aMin + i + 8, Avx2.Min(Avx.LoadVector256(aMin + i + 8), mn1.AsInt32()));
                    // Sums: even/odd halves interleaved back into pixel order, widened to 64 bits.
                    var se = Avx.LoadVector256(SumEven + j);
                    var so = Avx.LoadVector256(SumOdd + j);
                    var u0 = Avx2.UnpackLow(se, so);  // p0 p1 p2 p3 | p8 p9 p10 p11
                    var u1 = Avx2.UnpackHigh(se, so); // p4 p5 p6 p7 | p12 .. p15
                    AddSums(aSum + i, Avx2.Permute2x128(u0, u1, 0x20));
                    AddSums(aSum + i + 8, Avx2.Permute2x128(u0, u1, 0x31));
                    // Squares: 128-bit adds, two pixels per vector.
                    for (var h = 0; h < 8; h += 4)
                    {
                        var e = Avx.LoadVector256(SqEven + j + h); // pixels 2h, 2h+2, 2h+4, 2h+6 (relative)
                        var o = Avx.LoadVector256(SqOdd + j + h);
                        var el = Avx2.UnpackLow(e, Vector256<ulong>.Zero);  // e0 0 | e2 0
                        var eh = Avx2.UnpackHigh(e, Vector256<ulong>.Zero); // e1 0 | e3 0
                        var ol = Avx2.UnpackLow(o, Vector256<ulong>.Zero);
                        var oh = Avx2.UnpackHigh(o, Vector256<ulong>.Zero);
                        var q = aSq + 2 * (i + 2 * h);
                        AddWide(q, Avx2.Permute2x128(el, ol, 0x20));      // pixels +0, +1
                        AddWide(q + 4, Avx2.Permute2x128(eh, oh, 0x20));  // +2, +3
                        AddWide(q + 8, Avx2.Permute2x128(el, ol, 0x31));  // +4, +5
                        AddWide(q + 12, Avx2.Permute2x128(eh, oh, 0x31)); // +6, +7
                    }
                }
            }
        }

        /// <summary>Adds 16 16-bit counts to 16 int counters, skipping the memory when all are zero.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void AddCounts(int* dst, Vector256<short> counts)
        {
            if (Avx.TestZ(counts, counts))
                return;
            var (c0, c1) = Vector256.Widen(counts.AsUInt16());
            Avx.Store(dst, Avx2.Add(Avx.LoadVector256(dst), c0.AsInt32()));
            Avx.Store(dst + 8, Avx2.Add(Avx.LoadVector256(dst + 8), c1.AsInt32()));
        }

        /// <summary>Adds 8 32-bit sums to 8 64-bit sums.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void AddSums(ulong* dst, Vector256<uint> sums)
        {
            var (s0, s1) = Vector256.Widen(sums);
            Avx.Store(dst, Avx2.Add(Avx.LoadVector256(dst), s0));
            Avx.Store(dst + 4, Avx2.Add(Avx.LoadVector256(dst + 4), s1));
        }

        /// <summary>Adds [x0, 0, x1, 0] to two little-endian 128-bit counters, carrying into the high words.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void AddWide(ulong* dst, Vector256<ulong> x)
        {
            var sum = Avx2.Add(Avx.LoadVector256(dst), x);
            var carry = Vector256.LessThan(sum, x); // low words: wrapped; high words: never (x is 0 there)
            Avx.Store(dst, Avx2.Subtract(sum, Avx2.ShiftLeftLogical128BitLane(carry.AsByte(), 8).AsUInt64()));
        }

        public void Dispose()
        {
            if (_block != null)
            {
                NativeMemory.AlignedFree(_block);
                _block = null;
            }
        }
    }
}
