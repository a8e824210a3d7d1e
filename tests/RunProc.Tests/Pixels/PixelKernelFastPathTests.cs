using System.Runtime.Intrinsics.X86;
using RunProc.Pixels;
using Xunit;

namespace RunProc.Tests.Pixels;

/// <summary>
/// The AVX-512 tile skips the gate counters for lines with every value inside the gates and
/// keeps 32-bit square partials across register runs: realistic data (almost every value in
/// range, sparse outliers) takes the fast path, which the edge-heavy data of
/// <see cref="PixelKernelTests"/> rarely does. The AVX-512 tile and AVX2 must equal the reference.
/// </summary>
public class PixelKernelFastPathTests
{
    public static IEnumerable<object[]> SimdPaths()
    {
        if (Avx2.IsSupported) yield return new object[] { nameof(KernelPath.Avx2) };
        if (Avx512BW.IsSupported) yield return new object[] { nameof(KernelPath.Avx512) };
    }

    /// <summary>Values around 1000 with sparse outliers (each of 0, lo-1, hi+1, 65535 and the gates themselves).</summary>
    private static ushort[] MostlyInRange(int px, int n, int lo, int hi, int seed, int outlierOneIn)
    {
        var rng = new Random(seed);
        var rare = new[] { 0, lo - 1, lo, hi, hi + 1, 65535 }.Where(v => v is >= 0 and <= 65535).ToArray();
        var data = new ushort[px * n];
        for (var i = 0; i < data.Length; i++)
            data[i] = (ushort)(rng.Next(outlierOneIn) == 0 ? rare[rng.Next(rare.Length)] : 900 + rng.Next(300));
        return data;
    }

    [Theory]
    [MemberData(nameof(SimdPaths))]
    public void SparseOutliersManyFramesEqualTheReference(string pathName)
    {
        var path = Enum.Parse<KernelPath>(pathName);
        // 16000² bounds a 32-bit square partial to 16 frames: 53 and 100 frames cross several
        // partial windows and register runs, with a short last one.
        var cases = new (int Px, int Frames, int Lo, int Hi, ushort Mask, int OneIn)[]
        {
            (16384 + 96 + 5, 53, 1, 16000, 0xFFFF, 5000), // whole tile, a second SIMD tile, a tail; mostly fast path
            (4099, 100, 1, 16000, 0xFFFF, 50),             // fast and slow lines mixed within strips
            (1024, 37, 1, 16000, 0x3FFF, 200),             // data-bit mask on the fast path
            (2048, 21, 900, 1199, 0xFFFF, 1000000),        // every value exactly inside [lo, hi] incl. both gates
            (2048, 20, 1000, 1100, 0xFFFF, 1000000),       // most values outside: counters only
            (512, 70, 1, 40000, 0xFFFF, 100),              // hi above 32767: 32-bit multiply, 2-frame partials
        };
        var seed = 100;
        foreach (var (px, n, lo, hi, mask, oneIn) in cases)
        {
            var data = MostlyInRange(px, n, lo, hi, seed++, oneIn);
            var expected = PixelKernelTests.Reference(data, px, lo, hi, mask);
            foreach (var threads in new[] { 1, 2 })
            {
                var acc = new PixelStatusAccumulator(px, lo, hi);
                PixelStatusKernel.Accumulate(acc, data, mask, threads, path);
                PixelKernelTests.AssertSame(expected, acc, $"{path} px={px} frames={n} gates=[{lo},{hi}] mask={mask:X} threads={threads}");
            }
        }
    }

    /// <summary>
    /// Frames whose distances change (an xtc2 stream's events around other transitions, a chunk
    /// boundary): register runs are cut at each change inside one pass, with the prefetch offsets
    /// between runs of different strides; the scalar path and both SIMD paths equal the reference,
    /// and so does the in-place scan of a piece (a pixel range) of such frames.
    /// </summary>
    [Theory]
    [MemberData(nameof(SimdPaths))]
    [InlineData(nameof(KernelPath.Scalar))]
    public unsafe void FramesAtChangingDistancesEqualTheReference(string pathName)
    {
        var path = Enum.Parse<KernelPath>(pathName);
        const int px = 16384 + 2048 + 40, n = 41; // two tiles and a tail
        var data = MostlyInRange(px, n, 1, 16000, 11, 400);
        var expected = PixelKernelTests.Reference(data, px, 1, 16000, 0x3FFF);
        // Gaps: runs of 3 at one distance, a single frame, 20 at another (past 16: cut by k too), then irregular.
        var gaps = Enumerable.Range(0, n).Select(f => f < 3 ? 64 : f == 3 ? 4096 + 128 : f < 24 ? 0 : (f * 37 % 5) * 64).ToArray();
        var total = gaps.Sum(g => (long)g) + (long)n * px * 2 + 64;
        var buffer = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)total, 64);
        try
        {
            var ptrs = new nint[n];
            var at = buffer;
            for (var f = 0; f < n; f++)
            {
                at += gaps[f];
                ptrs[f] = (nint)at;
                data.AsSpan(f * px, px).CopyTo(new Span<ushort>(at, px));
                at += px * 2;
            }
            foreach (var threads in new[] { 1, 2 })
            {
                var acc = new PixelStatusAccumulator(px, 1, 16000);
                PixelStatusKernel.AccumulateUInt16(acc, ptrs, 0x3FFF, threads, path);
                PixelKernelTests.AssertSame(expected, acc, $"{path} changing distances, threads={threads}");
                // The same frames as two pieces (pixel ranges), in place.
                var pieces = new PixelStatusAccumulator(px, 1, 16000);
                var half = 9216;
                PixelStatusKernel.AccumulatePiece(pieces, ptrs, 0, half, 0x3FFF, threads, path, countEvents: false, mapped: true);
                var second = ptrs.Select(p => p + half * 2).ToArray();
                PixelStatusKernel.AccumulatePiece(pieces, second, half, px - half, 0x3FFF, threads, path, countEvents: true, mapped: true);
                PixelKernelTests.AssertSame(expected, pieces, $"{path} changing distances in two pieces, threads={threads}");
            }
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(buffer);
        }
    }

    [Theory]
    [MemberData(nameof(SimdPaths))]
    public void AccumulatingInSeveralCallsEqualsOneCall(string pathName)
    {
        // The runner feeds blocks of frames: per-call state (scratch, partial windows) must not leak.
        var path = Enum.Parse<KernelPath>(pathName);
        const int px = 3000, n = 45;
        var data = MostlyInRange(px, n, 1, 16000, 7, 300);
        var expected = PixelKernelTests.Reference(data, px, 1, 16000);
        var acc = new PixelStatusAccumulator(px, 1, 16000);
        foreach (var (a, b) in new[] { (0, 7), (7, 24), (24, 25), (25, 45) })
            PixelStatusKernel.Accumulate(acc, data.AsSpan(a * px, (b - a) * px), 0xFFFF, 1, path);
        PixelKernelTests.AssertSame(expected, acc, $"{path} in four calls");
    }

    [Theory]
    [MemberData(nameof(SimdPaths))]
    public void SquarePartialsAtTheHighGateDoNotWrap(string pathName)
    {
        // Every value at the high gate: 17 frames of 16000² already exceed 2^32, so a 32-bit
        // partial kept one frame too long wraps and this fails.
        var path = Enum.Parse<KernelPath>(pathName);
        foreach (var hi in new[] { 16000, 32767, 20000 })
        {
            const int px = 96, n = 70;
            var data = new ushort[px * n];
            Array.Fill(data, (ushort)hi);
            var expected = PixelKernelTests.Reference(data, px, 1, hi);
            var acc = new PixelStatusAccumulator(px, 1, hi);
            PixelStatusKernel.Accumulate(acc, data, 0xFFFF, 1, path);
            PixelKernelTests.AssertSame(expected, acc, $"{path} hi={hi}");
            Assert.Equal((UInt128)n * (ulong)hi * (ulong)hi, acc.SumSquares[5]);
        }
    }

    [Theory]
    [MemberData(nameof(SimdPaths))]
    public void FoldCarriesSquareSumsPastSixtyFourBitsAndKeepsEarlierState(string pathName)
    {
        // An accumulator that already holds a long run: square sums just below 2^64 (and one
        // already above it), counters, max and min. The tile's fold adds 128-bit, so the low
        // word wraps into the high word; a fold that drops the carry or overwrites state fails.
        var path = Enum.Parse<KernelPath>(pathName);
        const int px = 96, n = 5;
        var data = MostlyInRange(px, n, 1, 16000, 11, 40);
        var acc = new PixelStatusAccumulator(px, 1, 16000);
        var start = new UInt128[px];
        for (var p = 0; p < px; p++)
        {
            start[p] = p % 3 == 2 ? ((UInt128)7 << 64) + ulong.MaxValue - (ulong)p : (UInt128)(ulong.MaxValue - (ulong)p * 1000);
            acc.SumSquares[p] = start[p];
            acc.Sum[p] = 1L << 40;
            acc.BelowLow[p] = p;
            acc.AboveHigh[p] = 2 * p;
            acc.Max[p] = p % 2 == 0 ? 60000 : int.MinValue;
            acc.Min[p] = p % 2 == 0 ? 0 : int.MaxValue;
        }
        PixelStatusKernel.Accumulate(acc, data, 0xFFFF, 1, path);
        var fresh = PixelKernelTests.Reference(data, px, 1, 16000);
        var reference = new PixelStatusAccumulator(px, 1, 16000);
        PixelStatusKernel.Accumulate(reference, data, 0xFFFF, 1, KernelPath.Scalar);
        for (var p = 0; p < px; p++)
        {
            Assert.Equal(start[p] + reference.SumSquares[p], acc.SumSquares[p]);
            Assert.Equal((1L << 40) + reference.Sum[p], acc.Sum[p]);
            Assert.Equal(p + reference.BelowLow[p], acc.BelowLow[p]);
            Assert.Equal(2 * p + reference.AboveHigh[p], acc.AboveHigh[p]);
            Assert.Equal(p % 2 == 0 ? Math.Max(60000, reference.Max[p]) : reference.Max[p], acc.Max[p]);
            Assert.Equal(p % 2 == 0 ? 0 : reference.Min[p], acc.Min[p]);
        }
        Assert.True(acc.SumSquares.ToArray().Count(q => q > ulong.MaxValue) > px / 2, "most square sums crossed 2^64");
        PixelKernelTests.AssertSame(fresh, reference, "scalar");
    }
}
