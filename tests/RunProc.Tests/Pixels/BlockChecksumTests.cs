using System.IO.Hashing;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RunProc.Pixels.Split;
using Xunit;

namespace RunProc.Tests.Pixels;

/// <summary>
/// Issue 15: the partial files' block checksum is RunProc's own copy of XXH3-128's long-input
/// loop (fast from the first call); on every path the machine has it must give XxHash128's bytes,
/// so files written before it still read and the format is unchanged.
/// </summary>
public sealed class BlockChecksumTests
{
    public static TheoryData<int> Paths()
    {
        var paths = new TheoryData<int> { (int)BlockChecksum.Path.Scalar };
        if (Avx2.IsSupported)
            paths.Add((int)BlockChecksum.Path.Avx2);
        if (Avx512F.IsSupported && Vector512.IsHardwareAccelerated)
            paths.Add((int)BlockChecksum.Path.Avx512);
        return paths;
    }

    // Lengths around XXH3's edges: the 240-byte limit of the short forms, one stripe (64), one
    // block of 16 stripes (1,024), the "final byte" rule (a length one past a block or stripe),
    // and a full partial-file block (8,192 px × 20 B narrow, × 40 B full width).
    private static readonly int[] Lengths =
    {
        0, 1, 16, 17, 128, 129, 240, 241, 255, 256, 257, 319, 320, 321, 1023, 1024, 1025, 1087, 1088, 1089,
        2047, 2048, 2049, 4096 + 63, 10_000, 163_840, 327_680, 327_680 + 16,
    };

    private static readonly long[] Seeds = { 0, 1, 263, 264, -1, long.MinValue, long.MaxValue, 0x5DEECE66DL };

    [Theory]
    [MemberData(nameof(Paths))]
    public void Gives_XxHash128s_bytes_for_every_length_and_seed(int path)
    {
        var rng = new Random(15);
        var data = new byte[Lengths.Max() + 7];
        rng.NextBytes(data);
        Span<byte> expected = stackalloc byte[16];
        Span<byte> actual = stackalloc byte[16];
        foreach (var length in Lengths)
            foreach (var seed in Seeds)
                foreach (var offset in new[] { 0, 3 }) // unaligned input too
                {
                    var input = data.AsSpan(offset, length);
                    XxHash128.Hash(input, expected, seed);
                    actual.Fill(0xAA);
                    BlockChecksum.Hash(input, actual, seed, (BlockChecksum.Path)path);
                    Assert.True(expected.SequenceEqual(actual), $"length {length}, seed {seed}, offset {offset}: {Convert.ToHexString(actual)} != {Convert.ToHexString(expected)}");
                }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Random_lengths_and_data_match_and_one_flipped_bit_does_not(int path)
    {
        var rng = new Random(1501);
        Span<byte> expected = stackalloc byte[16];
        Span<byte> actual = stackalloc byte[16];
        for (var round = 0; round < 300; round++)
        {
            var data = new byte[rng.Next(241, 40_000)];
            rng.NextBytes(data);
            var seed = rng.NextInt64(0, 5000);
            XxHash128.Hash(data, expected, seed);
            BlockChecksum.Hash(data, actual, seed, (BlockChecksum.Path)path);
            Assert.True(expected.SequenceEqual(actual), $"round {round}: {data.Length} bytes, seed {seed}");
            Assert.True(BlockChecksum.Matches(data, expected, seed));
            var bit = rng.Next(data.Length * 8);
            data[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(BlockChecksum.Matches(data, expected, seed), $"round {round}: bit {bit} of {data.Length} bytes flipped, still matches");
            data[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(BlockChecksum.Matches(data, expected, seed + 1), $"round {round}: another block index still matches");
        }
    }

    [Fact]
    public void A_short_destination_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => BlockChecksum.Hash(new byte[300], new byte[15], 0));
        Assert.Contains("15 bytes", e.Message);
    }
}
