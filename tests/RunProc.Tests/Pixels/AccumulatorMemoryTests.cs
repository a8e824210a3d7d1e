using System.Runtime.CompilerServices;
using RunProc.Pixels;
using Xunit;

namespace RunProc.Tests.Pixels;

/// <summary>The accumulator's native block (huge pages) and the status region in it that its first summary takes.</summary>
public class AccumulatorMemoryTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(13)]
    [InlineData(540_672)] // an epix10ka quad: several 2 MiB pages
    public void ANewAccumulatorIsEmptyInEveryArrayAndRefusedAfterDispose(int px)
    {
        var acc = new PixelStatusAccumulator(px, 1, 16000);
        Assert.Equal(px, acc.BelowLow.Length);
        Assert.True(acc.BelowLow.IndexOfAnyExcept(0) < 0);
        Assert.True(acc.AboveHigh.IndexOfAnyExcept(0) < 0);
        Assert.True(acc.Sum.IndexOfAnyExcept(0L) < 0);
        Assert.True(acc.SumSquares.IndexOfAnyExcept(UInt128.Zero) < 0);
        Assert.True(acc.Max.IndexOfAnyExcept(int.MinValue) < 0);
        Assert.True(acc.Min.IndexOfAnyExcept(int.MaxValue) < 0);
        // The arrays do not overlap: writing the last pixel of each leaves the others' first and last alone.
        acc.SumSquares[px - 1] = 7; acc.Sum[px - 1] = 6; acc.BelowLow[px - 1] = 5; acc.AboveHigh[px - 1] = 4; acc.Max[px - 1] = 3; acc.Min[px - 1] = 2;
        Assert.Equal((UInt128)7, acc.SumSquares[px - 1]);
        Assert.Equal(6, acc.Sum[px - 1]);
        Assert.Equal(5, acc.BelowLow[px - 1]);
        Assert.Equal(4, acc.AboveHigh[px - 1]);
        Assert.Equal(3, acc.Max[px - 1]);
        Assert.Equal(2, acc.Min[px - 1]);
        if (px > 1)
        {
            Assert.Equal(0, acc.BelowLow[0]);
            Assert.Equal(int.MinValue, acc.Max[0]);
            Assert.Equal(int.MaxValue, acc.Min[0]);
        }
        acc.Dispose();
        acc.Dispose(); // twice is harmless
        Assert.Throws<ObjectDisposedException>(() => acc.Max.Length);
        Assert.Throws<ObjectDisposedException>(() => acc.SumSquares.Length);
    }

    /// <summary>
    /// A disposed accumulator's block is kept for the next of its size (HugeBlocks): the next one
    /// gets that very block, dirty, and must still start empty in every array; a kept block past
    /// the limits is freed, not kept.
    /// </summary>
    [Fact]
    public unsafe void AKeptBlockIsReusedAndStillStartsEmpty()
    {
        const int px = 611_111; // a size no other test uses (tests run in parallel and share the kept blocks)
        var first = new PixelStatusAccumulator(px, 1, 16000);
        first.Sum.Fill(123); first.SumSquares.Fill(456); first.BelowLow.Fill(7); first.AboveHigh.Fill(8); first.Max.Fill(9); first.Min.Fill(10);
        var block = (nint)Unsafe.AsPointer(ref first.SumSquares[0]);
        first.Dispose();
        var second = new PixelStatusAccumulator(px, 1, 16000);
        Assert.Equal(block, (nint)Unsafe.AsPointer(ref second.SumSquares[0])); // the very block, dirty
        Assert.True(second.Sum.IndexOfAnyExcept(0L) < 0);
        Assert.True(second.SumSquares.IndexOfAnyExcept(UInt128.Zero) < 0);
        Assert.True(second.BelowLow.IndexOfAnyExcept(0) < 0);
        Assert.True(second.AboveHigh.IndexOfAnyExcept(0) < 0);
        Assert.True(second.Max.IndexOfAnyExcept(int.MinValue) < 0);
        Assert.True(second.Min.IndexOfAnyExcept(int.MaxValue) < 0);
        second.Dispose();
        // More blocks than are kept: the oldest are freed; never more than MaxKept or MaxKeptBytes.
        var many = Enumerable.Range(0, HugeBlocks.MaxKept + 2).Select(i => new PixelStatusAccumulator(px + (i + 1) * 100_003, 1, 16000)).ToList();
        foreach (var a in many) a.Dispose();
        Assert.InRange(HugeBlocks.KeptCount, 1, HugeBlocks.MaxKept);
        Assert.InRange(HugeBlocks.KeptBytes, 1, HugeBlocks.MaxKeptBytes);
        // Beyond MaxKeptBytes a block is freed at once, never kept.
        Assert.False(HugeBlocks.Keeps(HugeBlocks.MaxKeptBytes + 1));
    }

    /// <summary>
    /// The in-place scan's lazy start: an uninitialized accumulator (a dirty reused block) scanned
    /// with initialize, each tile setting its own lines first, equals a fresh accumulator scanned
    /// the usual way — on several tiles, two threads, pieces, a tail that is not a whole strip,
    /// and the scalar path.
    /// </summary>
    [Theory]
    [InlineData(false, 1)]
    [InlineData(false, 2)]
    [InlineData(true, 2)]
    public unsafe void AnUninitializedAccumulatorScannedWithInitializeEqualsAFreshOne(bool scalar, int threads)
    {
        var path = scalar ? KernelPath.Scalar : KernelPath.Auto;
        const int px = 3 * 16384 + 77, frames = 21;
        var rng = new Random(5);
        var data = new ushort[frames * px];
        for (var i = 0; i < data.Length; i++) data[i] = (ushort)(rng.Next(20) == 0 ? rng.Next(0, 65536) : rng.Next(900, 1100));
        fixed (ushort* d = data)
        {
            var ptrs = new nint[frames];
            for (var f = 0; f < frames; f++) ptrs[f] = (nint)(d + (long)f * px);
            var expected = new PixelStatusAccumulator(px, 5, 16000);
            PixelStatusKernel.AccumulatePiece(expected, ptrs, 0, px, 0x3FFF, threads, path, countEvents: true);
            // A dirty block first, so an uninitialized accumulator sees garbage where a tile forgot to initialize.
            var dirty = new PixelStatusAccumulator(px, 5, 16000);
            dirty.Sum.Fill(-1); dirty.SumSquares.Fill(UInt128.MaxValue); dirty.BelowLow.Fill(-3); dirty.AboveHigh.Fill(-4); dirty.Max.Fill(int.MaxValue); dirty.Min.Fill(int.MinValue);
            dirty.Dispose();
            var lazy = PixelStatusAccumulator.Uninitialized(px, 5, 16000);
            // Two pieces (as xtc2 segments): the first px/2 rounded to a line, then the rest.
            var half = px / 2 & ~31;
            PixelStatusKernel.AccumulatePiece(lazy, ptrs, 0, half, 0x3FFF, threads, path, countEvents: true, initialize: true);
            PixelStatusKernel.AccumulatePiece(lazy, ptrs.Select(q => q + half * 2).ToArray(), half, px - half, 0x3FFF, threads, path, countEvents: false, initialize: true);
            PixelKernelTests.AssertSame(expected, lazy, $"{path} {threads}T lazily initialized");
        }
    }

    /// <summary>
    /// The status pass against the per-pixel formula of the arrays (Mean/Rms/fractions, computed
    /// by the other code path), over square sums past 2^64 and pixels with no good event.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheStatusPassAgreesWithTheArraysOnWideSquaresAndEmptyPixels_InTheRegionOrAnArray(bool regionTaken)
    {
        const int px = 140_001; // > 65,536: two parallel ranges, odd tail
        var options = new PixelStatusOptions { RmsLow = 2, RmsHigh = 5e8, IntensityLow = 1, IntensityHigh = 1.5e9 };
        var acc = new PixelStatusAccumulator(px, 1, int.MaxValue);
        var rng = new Random(11);
        const long events = 1_000;
        typeof(PixelStatusAccumulator).GetProperty(nameof(PixelStatusAccumulator.Events))!.SetValue(acc, events);
        for (var p = 0; p < px; p++)
        {
            var below = p % 9 == 0 ? (int)events : rng.Next(0, 300); // every 9th pixel: no good event
            var above = p % 9 == 0 ? 0 : rng.Next(0, 300);
            var good = events - below - above;
            var mean = (long)rng.Next(1, 2_000_000_000);
            acc.BelowLow[p] = below;
            acc.AboveHigh[p] = above;
            acc.Sum[p] = good * mean;
            // mean² · good (≈ 4e21 > 2^64 for large means) plus a spread
            acc.SumSquares[p] = (UInt128)(ulong)mean * (ulong)mean * (ulong)good + (p % 5 == 0 ? (UInt128)(ulong)mean * (ulong)mean * (ulong)good / 2 : 0) + (ulong)rng.NextInt64(0, 1L << 40);
            acc.Max[p] = (int)Math.Min(int.MaxValue, mean + rng.Next(0, 1000));
            acc.Min[p] = rng.Next(-5, 100);
        }
        Assert.Contains(acc.SumSquares.ToArray(), q => q > ulong.MaxValue);
        // The first summary writes the accumulator's status region, a later one an array of its own.
        var first = regionTaken ? PixelStatusSummary.Compute(acc, options) : null;
        var firstStatus = first?.StatusValues.ToArray();
        var s = PixelStatusSummary.Compute(acc, options);
        Assert.Equal(regionTaken, System.Runtime.InteropServices.MemoryMarshal.TryGetArray(s.StatusValues, out _));
        var (mLo, mHi) = s.MeanLimits;
        var (rLo, rHi) = s.RmsLimits;
        var perBit = new long[8];
        for (var p = 0; p < px; p++)
        {
            var bits = (s.Rms[p] > rHi ? 1 : 0) | (s.FractionHigh[p] > options.FractionLimit ? 2 : 0) | (s.FractionLow[p] > options.FractionLimit ? 4 : 0)
                | (s.Rms[p] < rLo ? 8 : 0) | (s.Mean[p] > mHi ? 16 : 0) | (s.Mean[p] < mLo ? 32 : 0) | (acc.Max[p] > mHi ? 64 : 0) | (acc.Min[p] < mLo ? 128 : 0);
            Assert.Equal(bits, s.Status[p]);
            for (var b = 0; b < 8; b++) perBit[b] += (bits >> b) & 1;
        }
        Assert.Equal(perBit, s.CountPerBit);
        Assert.True(new[] { 0, 3, 4, 5, 6, 7 }.All(b => perBit[b] > 0 && perBit[b] < px), string.Join(",", perBit));
        // A second summary of the same accumulator gets its own array and leaves the first one's status as it was.
        var before = s.StatusValues.ToArray();
        var again = PixelStatusSummary.Compute(acc, new PixelStatusOptions { RmsLow = 0, RmsHigh = 1e30, IntensityLow = 0, IntensityHigh = 1e30, FractionLimit = 1 });
        Assert.NotEqual(before, again.StatusValues.ToArray()); // other limits, another status
        Assert.Equal(before, s.StatusValues.ToArray());
        Assert.Equal(before, s.Status);
        Assert.NotSame(s.Status, again.Status);
        if (firstStatus is not null)
            Assert.Equal(firstStatus, first!.StatusValues.ToArray());
    }

    [Fact]
    public void WithoutEventsNoPixelGetsTheExtremeBits()
    {
        var acc = new PixelStatusAccumulator(70_000, 1, 16000);
        var s = PixelStatusSummary.Compute(acc, new PixelStatusOptions());
        Assert.Equal(0, s.CountPerBit[6]);
        Assert.Equal(0, s.CountPerBit[7]);
        Assert.True(s.Status.All(v => (v & 0xC0) == 0));
    }
}

/// <summary>The status pass's AVX-512 loop against its scalar loop, bit for bit.</summary>
public class StatusVectorTests
{
    [Theory]
    [InlineData(0L, false)]
    [InlineData(1_000L, false)]
    [InlineData(1_000L, true)]
    public void TheAvx512StatusIsTheScalarOne(long events, bool someWideSquares)
    {
        const int px = 100_003; // two parallel ranges, a tail of 3
        var options = new PixelStatusOptions { RmsLow = 2, RmsHigh = 4e7, IntensityLow = 5, IntensityHigh = 5e7, FractionLimit = 0.1 };
        var acc = new PixelStatusAccumulator(px, 1, int.MaxValue);
        typeof(PixelStatusAccumulator).GetProperty(nameof(PixelStatusAccumulator.Events))!.SetValue(acc, events);
        var rng = new Random(5);
        for (var p = 0; p < px; p++)
        {
            var below = events == 0 ? 0 : p % 13 == 0 ? (int)events : rng.Next(0, 150);
            var above = events == 0 || p % 13 == 0 ? 0 : rng.Next(0, 150);
            var good = Math.Max(0, events - below - above);
            var mean = (long)rng.Next(0, 100_000_000); // mean² · good up to 1e19: past 2^53, below 2^64
            acc.BelowLow[p] = below;
            acc.AboveHigh[p] = above;
            acc.Sum[p] = good * mean + rng.Next(0, 1000);
            var sq = (UInt128)(ulong)mean * (ulong)mean * (ulong)good + (ulong)rng.NextInt64(0, 1L << 50);
            acc.SumSquares[p] = someWideSquares && p == px / 2 ? sq + ((UInt128)1 << 64) : sq;
            acc.Max[p] = (int)(mean + rng.Next(0, 1000));
            acc.Min[p] = rng.Next(-5, 100);
        }
        PixelStatusSummary vector, scalar;
        try
        {
            PixelStatusSummary.VectorStatus = true;
            vector = PixelStatusSummary.Compute(acc, options);
            PixelStatusSummary.VectorStatus = false;
            scalar = PixelStatusSummary.Compute(acc, options);
        }
        finally
        {
            PixelStatusSummary.VectorStatus = true;
        }
        Assert.Equal(scalar.Status, vector.Status);
        Assert.Equal(scalar.CountPerBit, vector.CountPerBit);
        Assert.Equal(scalar.BadPixels, vector.BadPixels);
        if (events > 0)
            Assert.True(scalar.CountPerBit.Count(c => c > 0 && c < px) >= 6, string.Join(",", scalar.CountPerBit));
    }
}
