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
}
