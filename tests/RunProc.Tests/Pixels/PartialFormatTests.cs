using RunProc.Pixels;
using RunProc.Pixels.Split;
using Xunit;

namespace RunProc.Tests.Pixels;

/// <summary>
/// Issue 15: the partial accumulator file (format version 3) — checksummed blocks at the narrowest
/// widths that hold the values — reads back and merges exactly at every width, and refuses damage.
/// </summary>
public sealed class PartialFormatTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("runproc-partial-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>An accumulator with pseudo-random values in the ranges a part of that kind holds.</summary>
    private static PixelStatusAccumulator Filled(int pixels, int seed, bool wideCounts = false, bool wideSums = false, bool wideSquares = false, bool wideExtremes = false)
    {
        var rng = new Random(seed);
        var acc = new PixelStatusAccumulator(pixels, 0, 65535) { Events = wideCounts ? 100_000 : 12_500 };
        for (var p = 0; p < pixels; p++)
        {
            var events = (int)acc.Events;
            acc.BelowLow[p] = rng.Next(0, events / 3);
            acc.AboveHigh[p] = rng.Next(0, events / 3);
            acc.Sum[p] = wideSums ? (rng.Next(2) == 0 ? -1 : 1) * (long)rng.NextInt64(1L << 31, 1L << 50) : rng.Next(int.MinValue, int.MaxValue);
            acc.SumSquares[p] = wideSquares ? ((UInt128)(ulong)rng.NextInt64() << 64) + (ulong)rng.NextInt64() : (UInt128)unchecked((ulong)rng.NextInt64() * 3);
            acc.Max[p] = wideExtremes ? rng.Next(-100_000, 100_000) : rng.Next(0, 65536);
            acc.Min[p] = wideExtremes ? rng.Next(-100_000, 100_000) : rng.Next(0, 65536);
        }
        // The edges of each range, so a narrowing that lost the top bit would show.
        acc.BelowLow[0] = wideCounts ? 70_000 : ushort.MaxValue;
        acc.Max[pixels - 1] = wideExtremes ? int.MaxValue : ushort.MaxValue;
        acc.Min[pixels - 1] = wideExtremes ? int.MinValue : 0;
        acc.Sum[pixels / 2] = wideSums ? long.MinValue / 4 : int.MinValue;
        acc.SumSquares[pixels / 3] = wideSquares ? UInt128.MaxValue / 16 : ulong.MaxValue / 16;
        return acc;
    }

    private static PartialHeader HeaderOf(PixelStatusAccumulator acc, int part = 0, int parts = 1) => new()
    {
        RunProcVersion = PartialAccumulatorFile.RunProcVersion, Experiment = "xpptut15", Run = 1, Dataset = "entry/data/epix", Source = "entry.data.epix",
        Shape = new[] { acc.PixelCount }, ElementType = "UInt16", GateLow = acc.GateLow, GateHigh = acc.GateHigh, Options = new PixelStatusOptions(),
        Part = part, PartCount = parts, Coverage = new PartCoverage(SplitMode.Events, 0, acc.Events, 0, acc.Events), Events = acc.Events, EventFirst = 0, SourceFiles = new[] { "a.h5" },
    };

    private string WritePart(PixelStatusAccumulator acc, string name, PartialLayout? layout = null)
    {
        var path = Path.Combine(_dir, name);
        if (layout is { } l)
            PartialAccumulatorFile.Write(path, HeaderOf(acc), acc, 0b110_100_100, l);
        else
            PartialAccumulatorFile.Write(path, HeaderOf(acc), acc, 0b110_100_100);
        return path;
    }

    // Pixel counts: one pixel, less than a vector, a block and a vector tail, several blocks and an odd tail.
    [Theory]
    [InlineData(1)]
    [InlineData(13)]
    [InlineData(PartialAccumulatorFile.BlockPixels + 21)]
    [InlineData(3 * PartialAccumulatorFile.BlockPixels + 4093)]
    public void Every_width_reads_back_exactly(int pixels)
    {
        var cases = new (PixelStatusAccumulator Acc, PartialLayout Expected)[]
        {
            (Filled(pixels, 1), new(2, 4, 8, 2)),
            (Filled(pixels, 2, wideCounts: true), new(4, 4, 8, 2)),
            (Filled(pixels, 3, wideSums: true), new(2, 8, 8, 2)),
            (Filled(pixels, 4, wideSquares: true), new(2, 4, 16, 2)),
            (Filled(pixels, 5, wideExtremes: true), new(2, 4, 8, 4)),
            (Filled(pixels, 6, true, true, true, true), PartialLayout.Full),
        };
        foreach (var (acc, expected) in cases)
        {
            Assert.Equal(expected, PartialLayout.Narrowest(acc));
            var path = WritePart(acc, $"w{expected.CountBytes}{expected.SumBytes}{expected.SquareBytes}{expected.ExtremeBytes}.rpacc");
            var (h, back) = PartialAccumulatorFile.Read(path);
            Assert.Equal(acc.Events, h.Events);
            PixelKernelTests.AssertSame(acc, back, $"{pixels} px at {expected}");
            // The same values at full width: the same accumulator back.
            var (_, full) = PartialAccumulatorFile.Read(WritePart(acc, "full.rpacc", PartialLayout.Full));
            PixelKernelTests.AssertSame(acc, full, $"{pixels} px at full width");
        }
    }

    [Fact]
    public void A_narrow_part_is_half_the_size_of_the_full_widths()
    {
        var acc = Filled(4 * PartialAccumulatorFile.BlockPixels, 7);
        var narrow = new FileInfo(WritePart(acc, "n.rpacc")).Length;
        var full = new FileInfo(WritePart(acc, "f.rpacc", PartialLayout.Full)).Length;
        Assert.Equal(20L * acc.PixelCount, narrow, tolerance: 4096);
        Assert.Equal(40L * acc.PixelCount, full, tolerance: 4096);
    }

    [Fact]
    public void Widths_that_do_not_hold_the_values_are_refused_at_write()
    {
        var acc = Filled(100, 8, wideSums: true);
        Assert.Throws<ArgumentException>(() => WritePart(acc, "x.rpacc", new PartialLayout(2, 4, 8, 2)));
        Assert.False(File.Exists(Path.Combine(_dir, "x.rpacc")));
    }

    [Fact]
    public void Parts_at_different_widths_merge_to_the_in_memory_merge()
    {
        var pixels = 2 * PartialAccumulatorFile.BlockPixels + 777;
        var parts = new[] { Filled(pixels, 11), Filled(pixels, 12, wideCounts: true), Filled(pixels, 13, wideSums: true, wideExtremes: true), Filled(pixels, 14, wideSquares: true) };
        var expected = new PixelStatusAccumulator(pixels, 0, 65535);
        foreach (var p in parts)
            expected.Merge(p);
        var mapped = parts.Select((p, k) => PartialAccumulatorFile.OpenPartial.Open(WritePart(p, $"p{k}.rpacc"))).ToList();
        try
        {
            Assert.Equal(4, mapped.Select(m => m.Layout).Distinct().Count());
            foreach (var threads in new[] { 1, 2, 4 })
                PixelKernelTests.AssertSame(expected, PartialAccumulatorFile.Sum(mapped, threads), $"{threads} threads");
        }
        finally
        {
            foreach (var m in mapped) m.Dispose();
        }
    }

    [Fact]
    public void Many_parts_and_runs_of_widths_merge_to_the_in_memory_merge()
    {
        // 19 parts, the widths in runs and alone; an odd pixel tail after the vectors.
        var pixels = PartialAccumulatorFile.BlockPixels + 4096 + 13;
        var kinds = new[] { 0, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 0 };
        var parts = kinds.Select((kind, k) => Filled(pixels, 40 + k, wideCounts: kind == 1, wideSums: kind == 2, wideSquares: kind == 3, wideExtremes: kind == 2)).ToArray();
        var expected = new PixelStatusAccumulator(pixels, 0, 65535);
        foreach (var p in parts)
            expected.Merge(p);
        var opened = parts.Select((p, k) => PartialAccumulatorFile.OpenPartial.Open(WritePart(p, $"g{k}.rpacc"))).ToList();
        try
        {
            Assert.Equal(4, opened.Select(m => m.Layout).Distinct().Count());
            foreach (var threads in new[] { 1, 2 })
            {
                using var sum = PartialAccumulatorFile.Sum(opened, threads);
                PixelKernelTests.AssertSame(expected, sum, $"{parts.Length} parts, {threads} threads");
            }
            // One part alone (copied only) and the first nine.
            using (var one = PartialAccumulatorFile.Sum(opened.Take(1).ToList(), 2))
                PixelKernelTests.AssertSame(parts[0], one, "one part");
            var nine = new PixelStatusAccumulator(pixels, 0, 65535);
            foreach (var p in parts.Take(9))
                nine.Merge(p);
            using (var sum9 = PartialAccumulatorFile.Sum(opened.Take(9).ToList(), 2))
                PixelKernelTests.AssertSame(nine, sum9, "nine parts");
        }
        finally
        {
            foreach (var m in opened) m.Dispose();
        }
    }

    [Fact]
    public void Damage_in_two_late_parts_of_many_names_the_first()
    {
        var pixels = 2 * PartialAccumulatorFile.BlockPixels + 5;
        var paths = Enumerable.Range(0, 11).Select(k => WritePart(Filled(pixels, 60 + k), $"l{k}.rpacc")).ToArray();
        foreach (var k in new[] { 10, 9 })
        {
            var b = File.ReadAllBytes(paths[k]);
            b[b.Length - 200 * (k - 8)] ^= 0x04; // the second block of each
            File.WriteAllBytes(paths[k], b);
        }
        var opened = paths.Select(PartialAccumulatorFile.OpenPartial.Open).ToList();
        try
        {
            foreach (var threads in new[] { 1, 2 })
            {
                var ex = Assert.Throws<InvalidDataException>(() => PartialAccumulatorFile.Sum(opened, threads));
                Assert.StartsWith(paths[9] + ":", ex.Message);
            }
        }
        finally
        {
            foreach (var m in opened) m.Dispose();
        }
    }

    [Fact]
    public void Damage_anywhere_is_refused_naming_the_first_damaged_part()
    {
        var pixels = 3 * PartialAccumulatorFile.BlockPixels + 5;
        var paths = Enumerable.Range(0, 3).Select(k => WritePart(Filled(pixels, 20 + k), $"d{k}.rpacc")).ToArray();
        var pristine = paths.Select(File.ReadAllBytes).ToArray();
        var length = pristine[1].Length;
        // Three full blocks (20 B/px, checksum and padding in 64 B) and a last one of 5 px (100 + 16 B in 128).
        var blocksAt = length - 3 * (20 * PartialAccumulatorFile.BlockPixels + 64) - 128;
        // A bit of the header JSON, of the first block, of a middle block, of the last block's min array, of a block checksum.
        foreach (var offset in new[] { 40, 200 + 4096, length / 2, length - 70, blocksAt + 20 * PartialAccumulatorFile.BlockPixels + 8 })
        {
            var b = (byte[])pristine[1].Clone();
            b[offset] ^= 0x10;
            File.WriteAllBytes(paths[1], b);
            // Part 2 damaged too (later in part order, in its first block): part 1 is the one named.
            var c = (byte[])pristine[2].Clone();
            c[c.Length / 3] ^= 1;
            File.WriteAllBytes(paths[2], c);
            var ex = Assert.Throws<InvalidDataException>(() =>
            {
                var mapped = paths.Select(PartialAccumulatorFile.OpenPartial.Open).ToList();
                try { PartialAccumulatorFile.Sum(mapped, 2); }
                finally { foreach (var m in mapped) m.Dispose(); }
            });
            Assert.StartsWith(paths[1] + ":", ex.Message);
            Assert.Contains("checksum", ex.Message);
            Assert.Contains("run this part again", ex.Message);
        }
    }

    [Fact]
    public void A_cut_or_padded_file_and_unknown_widths_are_refused_before_anything_is_read()
    {
        var path = WritePart(Filled(PartialAccumulatorFile.BlockPixels + 3, 30), "c.rpacc");
        var b = File.ReadAllBytes(path);
        File.WriteAllBytes(path, b[..^64]);
        Assert.Contains("cut short", Assert.Throws<InvalidDataException>(() => PartialAccumulatorFile.OpenPartial.Open(path)).Message);
        File.WriteAllBytes(path, b.Concat(new byte[64]).ToArray());
        Assert.Contains("cut short", Assert.Throws<InvalidDataException>(() => PartialAccumulatorFile.OpenPartial.Open(path)).Message);
        var w = (byte[])b.Clone();
        w[21] = 3; // the sum's width
        File.WriteAllBytes(path, w);
        Assert.Contains("widths", Assert.Throws<InvalidDataException>(() => PartialAccumulatorFile.OpenPartial.Open(path)).Message);
        var s = (byte[])b.Clone();
        BitConverter.GetBytes(100u).CopyTo(s, 16); // pixels per block
        File.WriteAllBytes(path, s);
        Assert.Contains("per block", Assert.Throws<InvalidDataException>(() => PartialAccumulatorFile.ReadHeader(path)).Message);
        File.WriteAllBytes(path, b[..30]);
        Assert.Contains(path, Assert.Throws<InvalidDataException>(() => PartialAccumulatorFile.ReadHeader(path)).Message);
    }
}
