using RunProc.Pixels;
using Xunit;

namespace RunProc.Tests.Pixels;

public class PixelStatusSummaryTests
{
    private static PixelStatusSummary Run(Func<int, int, ushort> value, int px, int frames, PixelStatusOptions options)
    {
        var data = new ushort[px * frames];
        for (var f = 0; f < frames; f++)
            for (var p = 0; p < px; p++)
                data[f * px + p] = value(f, p);
        var (lo, hi) = options.Gates();
        var acc = new PixelStatusAccumulator(px, lo, hi);
        PixelStatusKernel.Accumulate(acc, data);
        return PixelStatusSummary.Compute(acc, options);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheStatusIsTheOneTheArraysGive_ArraysComputedOnFirstUseAndRefusedAfterAChange(bool nSigma)
    {
        // The status pass derives mean/rms/fractions in registers; the arrays, computed on first
        // use, must be the values it decided on (every bit recomputed from them agrees).
        var options = nSigma ? new PixelStatusOptions { RmsHighSigma = 2, IntensityLowSigma = 3, IntensityHighSigma = 3 } : new PixelStatusOptions { RmsHigh = 40 };
        const int px = 70000, frames = 12; // > 65,536 px: the parallel ranges
        var rng = new Random(3);
        var data = new ushort[px * frames];
        for (var i = 0; i < data.Length; i++)
        {
            var p = i % px;
            data[i] = p % 101 == 0 ? (ushort)0 : p % 103 == 0 ? (ushort)16500 : (ushort)(1000 + rng.Next(0, p % 7 == 0 ? 400 : 30));
        }
        var (lo, hi) = options.Gates();
        var acc = new PixelStatusAccumulator(px, lo, hi);
        PixelStatusKernel.Accumulate(acc, data);
        var s = PixelStatusSummary.Compute(acc, options);
        var (mLo, mHi) = s.MeanLimits;
        var (rLo, rHi) = s.RmsLimits;
        long bad = 0;
        for (var p = 0; p < px; p++)
        {
            var bits = (s.Rms[p] > rHi ? 1 : 0) | (s.FractionHigh[p] > options.FractionLimit ? 2 : 0) | (s.FractionLow[p] > options.FractionLimit ? 4 : 0)
                | (s.Rms[p] < rLo ? 8 : 0) | (s.Mean[p] > mHi ? 16 : 0) | (s.Mean[p] < mLo ? 32 : 0) | (s.Max[p] > mHi ? 64 : 0) | (s.Min[p] < mLo ? 128 : 0);
            Assert.Equal(bits, s.Status[p]);
            Assert.Equal(bits == 0 ? 1 : 0, s.Mask[p]);
            Assert.Equal(acc.Max[p], s.Max[p]);
            Assert.Equal(acc.Min[p], s.Min[p]);
            if (bits != 0) bad++;
        }
        Assert.Equal(bad, s.BadPixels);
        Assert.InRange(bad, 1, px - 1);
        Assert.Same(s.Mean, s.Mean); // computed once
        var fresh = PixelStatusSummary.Compute(acc, options);
        PixelStatusKernel.Accumulate(acc, data.AsSpan(0, px));
        var ex = Assert.Throws<InvalidOperationException>(() => fresh.FractionLow); // never needed by the limits, so not computed yet
        Assert.Contains("compute the summary again", ex.Message);
        Assert.Equal(s.Status, fresh.Status); // the status was decided at Compute
    }

    [Fact]
    public void EachConstructedDefectGetsItsBit()
    {
        // 10 events; pixel 0 normal, 1 noisy, 2 saturated 30% of events, 3 cold 30%, 4 dead (constant).
        var options = new PixelStatusOptions { RmsHigh = 50 };
        var s = Run((f, p) => p switch
        {
            0 => (ushort)(f % 2 == 0 ? 990 : 1010),
            1 => (ushort)(f % 2 == 0 ? 500 : 1500),
            2 => (ushort)(f < 3 ? 16001 : 1000 + f),
            3 => (ushort)(f < 3 ? 0 : 1000 + f),
            _ => (ushort)1000,
        }, 5, 10, options);

        Assert.Equal(0, s.Status[0]);
        Assert.Equal(1, s.Mask[0]);
        Assert.Equal(1, s.Status[1]);                 // rms 500 > 50: hot / noisy
        Assert.Equal(2 | 64, s.Status[2]);            // 30% above 16000 (saturated) and max > 16000
        Assert.Equal(4 | 128, s.Status[3]);           // 30% below 1 (cold) and min < 1
        Assert.Equal(8, s.Status[4]);                 // rms 0 < 0.1: dead
        Assert.Equal(0, s.Mask[4]);
        Assert.Equal(10.0, s.Rms[0], 12);
        Assert.Equal(1000.0, s.Mean[0], 12);
        Assert.Equal(0.3, s.FractionHigh[2], 12);
        Assert.Equal(new long[] { 1, 1, 1, 1, 0, 0, 1, 1 }, s.CountPerBit);
        Assert.Equal(4, s.BadPixels);
    }

    [Fact]
    public void NSigmaLimitsFlagMeanHighAndLowAsTheOriginalEvaluate()
    {
        // 200 pixels near 1000, one at 5000, one at 100; 3-sigma mean limits.
        var options = new PixelStatusOptions { IntensityLowSigma = 3, IntensityHighSigma = 3 };
        var s = Run((f, p) => p switch
        {
            0 => (ushort)(5000 + f % 2),
            1 => (ushort)(100 + f % 2),
            _ => (ushort)(1000 + (p + f) % 7),
        }, 200, 6, options);
        Assert.True(s.MeanLimits.High < 5000 && s.MeanLimits.Low > 100, $"limits {s.MeanLimits}");
        Assert.Equal(16 | 64, s.Status[0]);  // mean > hi, and max > hi (bit 6 uses the evaluated mean limit)
        Assert.Equal(32 | 128, s.Status[1]);
        Assert.Equal(0, s.Status[2]);

        var m = s.Mean;
        var (lo, hi) = PixelStatusSummary.Evaluate(m, 3, 3, 1, 16000);
        var mean = m.Average();
        var std = Math.Sqrt(m.Select(x => (x - mean) * (x - mean)).Average());
        Assert.Equal(mean + 3 * std, hi, 9);
        Assert.Equal(Math.Max(mean - 3 * std, 1), lo, 9);
    }

    [Fact]
    public void RobustMethodUsesMedianAndMad()
    {
        var values = new double[] { 10, 11, 12, 13, 14, 100 };
        // median 12.5, |x - med| = 2.5 1.5 .5 .5 1.5 87.5 → MAD 1.5
        var (lo, hi) = PixelStatusSummary.Robust(values, 8, double.MinValue, double.MaxValue);
        Assert.Equal(12.5 - 12, lo, 12);
        Assert.Equal(12.5 + 12, hi, 12);
        // MAD 0 → the std is used instead.
        var flat = new double[] { 5, 5, 5, 5, 9 };
        var (lo2, hi2) = PixelStatusSummary.Robust(flat, 1, double.MinValue, double.MaxValue);
        Assert.Equal(5 - 1.6, lo2, 9);
        Assert.Equal(5 + 1.6, hi2, 9);

        var options = new PixelStatusOptions { Method = PixelLimitMethod.Robust };
        var s = Run((f, p) => (ushort)((p == 3 ? 3000 : 1000) + (p + f) % 5), 64, 8, options);
        Assert.Equal(16, s.Status[3]);           // far above median + 8·MAD; max still inside the absolute gate
        Assert.Equal(1, s.BadPixels);
    }

    [Fact]
    public void NoGoodEventsGivesZeroMeanAndRms()
    {
        var s = Run((f, p) => 0, 3, 4, new PixelStatusOptions());
        Assert.All(s.Mean, v => Assert.Equal(0, v));
        Assert.All(s.Rms, v => Assert.Equal(0, v));
        Assert.All(s.Status, v => Assert.Equal(4 | 8 | 32 | 128, v));
    }

    [Theory]
    [InlineData(0L, false)]
    [InlineData(1_000L, false)]
    [InlineData(1_000L, true)]
    public void BlockwiseMomentsFractionsAndExtremes_AreTheOldFormulasValues_BitForBit_VectorAndScalar(long events, bool someWideSquares)
    {
        // What the writers read instead of the arrays: mean/rms and the fractions made a block at a
        // time (AVX-512 lanes and the scalar tail), max/min straight from the accumulator. Each value
        // against the old formula computed here, per pixel, in plain double arithmetic.
        const int px = 70_007;
        var acc = new PixelStatusAccumulator(px, 1, int.MaxValue);
        typeof(PixelStatusAccumulator).GetProperty(nameof(PixelStatusAccumulator.Events))!.SetValue(acc, events);
        var rng = new Random(9);
        for (var p = 0; p < px; p++)
        {
            var below = events == 0 ? 0 : p % 13 == 0 ? (int)events : rng.Next(0, 150);
            var above = events == 0 || p % 13 == 0 ? 0 : rng.Next(0, 150);
            var good = Math.Max(0, events - below - above);
            var mean = (long)rng.Next(0, 100_000_000);
            acc.BelowLow[p] = below;
            acc.AboveHigh[p] = above;
            acc.Sum[p] = good * mean + rng.Next(0, 1000);
            var sq = (UInt128)(ulong)mean * (ulong)mean * (ulong)good + (ulong)rng.NextInt64(0, 1L << 50);
            acc.SumSquares[p] = someWideSquares && p % 1000 == 7 ? sq + ((UInt128)1 << 64) : sq;
            acc.Max[p] = events == 0 ? int.MinValue : (int)(mean + rng.Next(0, 1000));
            acc.Min[p] = events == 0 ? int.MaxValue : rng.Next(-5, 100);
        }
        var s = PixelStatusSummary.Compute(acc, new PixelStatusOptions());
        var expectMean = new double[px];
        var expectRms = new double[px];
        for (var p = 0; p < px; p++)
        {
            var good = events - acc.BelowLow[p] - acc.AboveHigh[p];
            if (good <= 0) continue;
            expectMean[p] = acc.Sum[p] / (double)good;
            var v = (double)acc.SumSquares[p] / good - expectMean[p] * expectMean[p];
            expectRms[p] = v > 0 ? Math.Sqrt(v) : 0;
        }
        foreach (var vector in new[] { true, false })
        {
            var mean = new double[px];
            var rms = new double[px];
            var onlyRms = new double[px];
            var flo = new double[px];
            var fhi = new double[px];
            try
            {
                PixelStatusSummary.VectorStatus = vector;
                for (var first = 0; first < px; first += 4099) // odd blocks: groups of 8 straddle them
                {
                    var n = Math.Min(4099, px - first);
                    s.MomentsInto(first, mean.AsSpan(first, n), rms.AsSpan(first, n));
                    s.MomentsInto(first, default, onlyRms.AsSpan(first, n));
                    s.FractionsInto(false, first, flo.AsSpan(first, n));
                    s.FractionsInto(true, first, fhi.AsSpan(first, n));
                }
            }
            finally
            {
                PixelStatusSummary.VectorStatus = true;
            }
            var sample = (Mean: new double[(px + 6) / 7], Rms: new double[(px + 6) / 7]);
            try
            {
                PixelStatusSummary.VectorStatus = vector;
                s.MomentsSample(7, sample.Mean, sample.Rms);
            }
            finally
            {
                PixelStatusSummary.VectorStatus = true;
            }
            Assert.Equal(expectMean.Where((_, p) => p % 7 == 0).Select(BitConverter.DoubleToInt64Bits), sample.Mean.Select(BitConverter.DoubleToInt64Bits));
            Assert.Equal(expectRms.Where((_, p) => p % 7 == 0).Select(BitConverter.DoubleToInt64Bits), sample.Rms.Select(BitConverter.DoubleToInt64Bits));
            Assert.Equal(expectMean.Select(BitConverter.DoubleToInt64Bits), mean.Select(BitConverter.DoubleToInt64Bits));
            Assert.Equal(expectRms.Select(BitConverter.DoubleToInt64Bits), rms.Select(BitConverter.DoubleToInt64Bits));
            Assert.Equal(expectRms.Select(BitConverter.DoubleToInt64Bits), onlyRms.Select(BitConverter.DoubleToInt64Bits));
            for (var p = 0; p < px; p++)
            {
                Assert.Equal(events == 0 ? 0 : acc.BelowLow[p] / (double)events, flo[p]);
                Assert.Equal(events == 0 ? 0 : acc.AboveHigh[p] / (double)events, fhi[p]);
            }
        }
        Assert.Equal(s.Mean.Select(BitConverter.DoubleToInt64Bits), expectMean.Select(BitConverter.DoubleToInt64Bits));
        if (events > 0)
            Assert.True(expectRms.Count(v => v > 0) > px / 2);
        Assert.Equal(events == 0 ? new int[px] : acc.Max.ToArray(), s.MaxValues.ToArray());
        Assert.Equal(events == 0 ? new int[px] : acc.Min.ToArray(), s.MinValues.ToArray());
        Assert.Equal(s.Max, s.MaxValues.ToArray());
        Assert.Equal(s.Min, s.MinValues.ToArray());
        var fresh = PixelStatusSummary.Compute(acc, new PixelStatusOptions());
        typeof(PixelStatusAccumulator).GetProperty(nameof(PixelStatusAccumulator.Events))!.SetValue(acc, events + 1);
        Assert.Contains("compute the summary again", Assert.Throws<InvalidOperationException>(() => fresh.MaxValues).Message);
        Assert.Contains("compute the summary again", Assert.Throws<InvalidOperationException>(() => fresh.MomentsInto(0, new double[8], default)).Message);
    }

    [Fact]
    public void MaxValuesAreTheAccumulatorsMemoryNotACopy()
    {
        var acc = new PixelStatusAccumulator(1000, 1, 16000);
        PixelStatusKernel.Accumulate(acc, Enumerable.Range(0, 1000).Select(p => (ushort)(1000 + p)).ToArray());
        var s = PixelStatusSummary.Compute(acc, new PixelStatusOptions());
        Assert.True(s.MaxValues.Span.Overlaps(acc.Max));
        Assert.True(s.MinValues.Span.Overlaps(acc.Min));
        Assert.Equal(1999, s.MaxValues.Span[999]);
    }
}
