using System.Runtime.Intrinsics.X86;
using RunProc.Pixels;
using Xunit;

namespace RunProc.Tests.Pixels;

public class PixelKernelTests
{
    /// <summary>The reference: the old per-pixel definition, written as plainly as possible.</summary>
    internal static PixelStatusAccumulator Reference(ushort[] frames, int px, int lo, int hi, ushort mask = 0xFFFF)
    {
        var acc = new PixelStatusAccumulator(px, lo, hi);
        var n = frames.Length / px;
        for (var f = 0; f < n; f++)
            for (var p = 0; p < px; p++)
            {
                int v = frames[f * px + p] & mask;
                if (v < lo) acc.BelowLow[p]++;
                else if (v > hi) acc.AboveHigh[p]++;
                else { acc.Sum[p] += v; acc.SumSquares[p] += (UInt128)(ulong)v * (ulong)v; }
                acc.Max[p] = Math.Max(acc.Max[p], v);
                acc.Min[p] = Math.Min(acc.Min[p], v);
            }
        acc.Events = n;
        return acc;
    }

    internal static void AssertSame(PixelStatusAccumulator expected, PixelStatusAccumulator actual, string what)
    {
        Assert.Equal(expected.Events, actual.Events);
        for (var p = 0; p < expected.PixelCount; p++)
        {
            if (expected.BelowLow[p] != actual.BelowLow[p] || expected.AboveHigh[p] != actual.AboveHigh[p] || expected.Sum[p] != actual.Sum[p]
                || expected.SumSquares[p] != actual.SumSquares[p] || expected.Max[p] != actual.Max[p] || expected.Min[p] != actual.Min[p])
            {
                Assert.Fail($"{what}: pixel {p}: expected lo={expected.BelowLow[p]} hi={expected.AboveHigh[p]} sum={expected.Sum[p]} sq={expected.SumSquares[p]} max={expected.Max[p]} min={expected.Min[p]}, " +
                    $"got lo={actual.BelowLow[p]} hi={actual.AboveHigh[p]} sum={actual.Sum[p]} sq={actual.SumSquares[p]} max={actual.Max[p]} min={actual.Min[p]}");
            }
        }
    }

    /// <summary>Random frames mixing the edge values around the gates with ordinary values.</summary>
    internal static ushort[] Frames(int px, int n, int lo, int hi, int seed)
    {
        var rng = new Random(seed);
        var edges = new[] { 0, lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, 65535, 32767, 32768 }.Where(v => v is >= 0 and <= 65535).ToArray();
        var data = new ushort[px * n];
        for (var i = 0; i < data.Length; i++)
            data[i] = (ushort)(rng.Next(4) == 0 ? edges[rng.Next(edges.Length)] : rng.Next(3) == 0 ? rng.Next(65536) : 900 + rng.Next(300));
        return data;
    }

    public static IEnumerable<object[]> Paths()
    {
        yield return new object[] { nameof(KernelPath.Scalar) };
        if (Avx2.IsSupported) yield return new object[] { nameof(KernelPath.Avx2) };
        if (Avx512BW.IsSupported) yield return new object[] { nameof(KernelPath.Avx512) };
    }

    [Fact]
    public void ThisMachineRunsBothSimdPathsAndTheScalarOne()
    {
        // The SIMD == scalar tests below only prove something where the SIMD paths exist.
        Assert.True(Avx2.IsSupported, "this test machine is expected to have AVX2");
        Assert.Equal(Avx512BW.IsSupported ? KernelPath.Avx512 : KernelPath.Avx2, PixelStatusKernel.Resolve(KernelPath.Auto));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void EveryPathEqualsTheReference_OddSizesFrameCountsGatesAndThreads(string pathName)
    {
        var path = Enum.Parse<KernelPath>(pathName);
        var cases = new (int Px, int Frames, int Lo, int Hi, ushort Mask)[]
        {
            (1, 1, 1, 16000, 0xFFFF),
            (31, 17, 1, 16000, 0xFFFF),
            (33, 17, 1, 16000, 0xFFFF),
            (1000, 3, 0, 65535, 0xFFFF),        // no gates: 32-bit multiply path, 1 frame per register run
            (16384 + 17, 20, 1, 16000, 0xFFFF), // a whole tile plus a tail
            (4099, 33, 100, 40000, 0xFFFF),     // hi above 32767: multiply-low path
            (2053, 19, 1, 16000, 0x3FFF),       // data-bit mask
            (640, 40, 5, 5, 0xFFFF),            // lo == hi
        };
        var seed = 1;
        foreach (var (px, n, lo, hi, mask) in cases)
        {
            var data = Frames(px, n, lo, hi, seed++);
            var expected = Reference(data, px, lo, hi, mask);
            foreach (var threads in new[] { 1, 2 })
            {
                var acc = new PixelStatusAccumulator(px, lo, hi);
                PixelStatusKernel.Accumulate(acc, data, mask, threads, path);
                AssertSame(expected, acc, $"{path} px={px} frames={n} gates=[{lo},{hi}] mask={mask:X} threads={threads}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void ManyFramesPastTheNarrowCountersStayExact(string pathName)
    {
        var path = Enum.Parse<KernelPath>(pathName);
        // 40000 frames > 32767 (the 16-bit scratch counters) and 65535² squares in every frame.
        const int px = 40, n = 40000;
        var data = new ushort[px * n];
        for (var f = 0; f < n; f++)
            for (var p = 0; p < px; p++)
                data[f * px + p] = (ushort)(p % 2 == 0 ? 65535 : (f % 3 == 0 ? 0 : 20000 + p));
        var expected = Reference(data, px, 0, 65535);
        var acc = new PixelStatusAccumulator(px, 0, 65535);
        PixelStatusKernel.Accumulate(acc, data, 0xFFFF, 1, path);
        AssertSame(expected, acc, $"{path} 40000 frames");
        Assert.Equal((UInt128)n * 65535UL * 65535UL, acc.SumSquares[0]);
    }

    [Fact]
    public void TwoHalvesMergedEqualTheWholeRun()
    {
        const int px = 5000, n = 37;
        var data = Frames(px, n, 1, 16000, 42);
        var whole = new PixelStatusAccumulator(px, 1, 16000);
        PixelStatusKernel.Accumulate(whole, data, 0xFFFF, 2, KernelPath.Auto);
        var a = new PixelStatusAccumulator(px, 1, 16000);
        var b = new PixelStatusAccumulator(px, 1, 16000);
        PixelStatusKernel.Accumulate(a, data.AsSpan(0, px * 20), 0xFFFF, 1, KernelPath.Auto);
        PixelStatusKernel.Accumulate(b, data.AsSpan(px * 20), 0xFFFF, 1, KernelPath.Scalar);
        a.Merge(b);
        AssertSame(whole, a, "merged halves");
        Assert.Throws<ArgumentException>(() => a.Merge(new PixelStatusAccumulator(px, 0, 16000)));
    }

    [Fact]
    public void MergeIsTheExactPerPixelSum_CarriesIntoTheHighWordsNegativesAndTails()
    {
        // 1,003 pixels: vector bodies and scalar tails; squares whose low words wrap when added;
        // negative sums and extremes (int32 frames), so every lane of the vectorised add is checked.
        const int px = 1003;
        var rng = new Random(7);
        PixelStatusAccumulator Make()
        {
            var a = new PixelStatusAccumulator(px, -5, 5);
            for (var p = 0; p < px; p++)
            {
                a.BelowLow[p] = rng.Next(0, 1000);
                a.AboveHigh[p] = rng.Next(0, 1000);
                a.Sum[p] = rng.NextInt64(long.MinValue / 4, long.MaxValue / 4);
                a.SumSquares[p] = new UInt128((ulong)rng.Next(0, 3), ulong.MaxValue - (ulong)rng.Next(0, 3));
                a.Max[p] = rng.Next(int.MinValue, int.MaxValue);
                a.Min[p] = rng.Next(int.MinValue, int.MaxValue);
            }
            a.Events = 2000;
            return a;
        }
        var x = Make();
        var y = Make();
        var expected = new PixelStatusAccumulator(px, -5, 5) { Events = 4000 };
        for (var p = 0; p < px; p++)
        {
            expected.BelowLow[p] = x.BelowLow[p] + y.BelowLow[p];
            expected.AboveHigh[p] = x.AboveHigh[p] + y.AboveHigh[p];
            expected.Sum[p] = x.Sum[p] + y.Sum[p];
            expected.SumSquares[p] = x.SumSquares[p] + y.SumSquares[p];
            expected.Max[p] = Math.Max(x.Max[p], y.Max[p]);
            expected.Min[p] = Math.Min(x.Min[p], y.Min[p]);
        }
        // The low words (near 2^64) wrap when added, a carry into the high word: counted before the merge, so the data really tests it.
        var carries = Enumerable.Range(0, px).Count(p => unchecked((ulong)x.SumSquares[p] + (ulong)y.SumSquares[p]) < (ulong)x.SumSquares[p]);
        Assert.InRange(carries, px / 4, px);
        x.Merge(y);
        AssertSame(expected, x, "vectorised merge");
    }

    [Fact]
    public void WidePathHandlesNegativesAndMatchesTheReference()
    {
        const int px = 77, n = 9;
        var rng = new Random(5);
        var data = new int[px * n];
        for (var i = 0; i < data.Length; i++) data[i] = rng.Next(-40000, 40000);
        var acc = new PixelStatusAccumulator(px, -100, 30000);
        PixelStatusKernel.Accumulate(acc, data, 2);
        for (var p = 0; p < px; p++)
        {
            long below = 0, above = 0, sum = 0; UInt128 sq = 0; int max = int.MinValue, min = int.MaxValue;
            for (var f = 0; f < n; f++)
            {
                var v = data[f * px + p];
                if (v < -100) below++; else if (v > 30000) above++; else { sum += v; sq += (UInt128)(ulong)((long)v * v); }
                max = Math.Max(max, v); min = Math.Min(min, v);
            }
            Assert.Equal(below, acc.BelowLow[p]);
            Assert.Equal(above, acc.AboveHigh[p]);
            Assert.Equal(sum, acc.Sum[p]);
            Assert.Equal(sq, acc.SumSquares[p]);
            Assert.Equal(max, acc.Max[p]);
            Assert.Equal(min, acc.Min[p]);
        }
    }

    [Fact]
    public void RejectsFramesThatAreNotWholeAndGatesTheWrongWayRound()
    {
        var acc = new PixelStatusAccumulator(10, 1, 16000);
        Assert.Throws<ArgumentException>(() => PixelStatusKernel.Accumulate(acc, new ushort[15]));
        Assert.Throws<ArgumentException>(() => new PixelStatusAccumulator(10, 5, 4));
    }
}
