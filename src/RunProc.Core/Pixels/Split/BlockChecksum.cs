using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RunProc.Pixels.Split;

/// <summary>
/// The 128-bit XxHash3 of a partial file's block (the bytes of <see cref="XxHash128.Hash(ReadOnlySpan{byte}, Span{byte}, long)"/>),
/// computed by its own copy of XXH3's long-input loop for inputs over 240 bytes, compiled fully
/// optimised at once and vectorised with AVX-512 or AVX2. Why: System.IO.Hashing's precompiled
/// code for that loop ran at ~2.4 GB/s on this machine until the runtime recompiled it, which in a
/// PowerShell session took longer than a merge (a merge hashes ~2,100 blocks of 160 KiB; measured
/// 2026-12-02: 67 µs a block for the first ~2,400 calls of a fresh process, 4–5 µs afterwards,
/// 4–5 µs from the first call here). Inputs of 240 bytes or fewer (a detector's last, short
/// block) go to System.IO.Hashing: a call or two a file.
/// </summary>
internal static unsafe class BlockChecksum
{
    public const int Bytes = 16;

    /// <summary>The loop used: the widest the hardware has (tests force each).</summary>
    internal enum Path { Auto, Scalar, Avx2, Avx512 }

    private const int StripeBytes = 64;
    private const int SecretBytes = 192;
    private const int StripesPerBlock = (SecretBytes - StripeBytes) / 8; // 16
    private const int BlockBytes = StripeBytes * StripesPerBlock; // 1,024
    private const int LastStripeSecret = SecretBytes - StripeBytes - 7;
    private const int MergeSecret = 11;

    private const ulong Prime64_1 = 0x9E3779B185EBCA87UL;
    private const ulong Prime64_2 = 0xC2B2AE3D27D4EB4FUL;
    private const ulong Prime64_3 = 0x165667B19E3779F9UL;
    private const ulong Prime64_4 = 0x85EBCA77C2B2AE63UL;
    private const ulong Prime64_5 = 0x27D4EB2F165667C5UL;
    private const uint Prime32_1 = 0x9E3779B1U;
    private const uint Prime32_2 = 0x85EBCA77U;
    private const uint Prime32_3 = 0xC2B2AE3DU;

    /// <summary>XXH3's default secret (the algorithm's constant), from which a seed's secret is derived.</summary>
    private static ReadOnlySpan<byte> DefaultSecret =>
    [
        0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
        0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
        0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
        0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
        0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
        0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
        0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
        0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
        0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
        0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
        0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
        0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
    ];

    /// <summary>Writes the 16 bytes of the hash of <paramref name="data"/> with <paramref name="seed"/>, as XxHash128.Hash does.</summary>
    public static void Hash(ReadOnlySpan<byte> data, Span<byte> destination, long seed) => Hash(data, destination, seed, Path.Auto);

    /// <summary>Whether <paramref name="expected"/> is the hash of <paramref name="data"/> with <paramref name="seed"/>.</summary>
    public static bool Matches(ReadOnlySpan<byte> data, ReadOnlySpan<byte> expected, long seed)
    {
        Span<byte> hash = stackalloc byte[Bytes];
        Hash(data, hash, seed, Path.Auto);
        return hash.SequenceEqual(expected);
    }

    internal static void Hash(ReadOnlySpan<byte> data, Span<byte> destination, long seed, Path path)
    {
        if (destination.Length < Bytes)
            throw new ArgumentException($"the destination holds {destination.Length} bytes, a hash {Bytes}.", nameof(destination));
        if (data.Length <= 240)
        {
            XxHash128.Hash(data, destination, seed);
            return;
        }
        var (low, high) = Long(data, (ulong)seed, path);
        // XxHash128's canonical form: the high word first, each big endian.
        BinaryPrimitives.WriteUInt64BigEndian(destination, high);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], low);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (ulong Low, ulong High) Long(ReadOnlySpan<byte> data, ulong seed, Path path)
    {
        // A seed's secret: the default secret's 64-bit words, seed added to the even, subtracted from the odd.
        var secret = stackalloc ulong[SecretBytes / 8];
        fixed (byte* d = DefaultSecret)
            for (var i = 0; i < SecretBytes / 8; i += 2)
            {
                secret[i] = ReadLE(d + 8 * i) + seed;
                secret[i + 1] = ReadLE(d + 8 * i + 8) - seed;
            }
        var acc = stackalloc ulong[8];
        acc[0] = Prime32_3; acc[1] = Prime64_1; acc[2] = Prime64_2; acc[3] = Prime64_3;
        acc[4] = Prime64_4; acc[5] = Prime32_2; acc[6] = Prime64_5; acc[7] = Prime32_1;
        if (path == Path.Auto)
            path = Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? Path.Avx512 : Avx2.IsSupported ? Path.Avx2 : Path.Scalar;
        var s = (byte*)secret;
        var length = (ulong)data.Length;
        fixed (byte* input = data)
        {
            switch (path)
            {
                case Path.Avx512 when Avx512F.IsSupported:
                    Loop512(acc, input, data.Length, s);
                    break;
                case Path.Avx2 when Avx2.IsSupported:
                    Loop256(acc, input, data.Length, s);
                    break;
                case Path.Scalar:
                    LoopScalar(acc, input, data.Length, s);
                    break;
                default:
                    throw new PlatformNotSupportedException($"the {path} hash loop needs hardware this machine lacks.");
            }
        }
        var low = MergeAccumulators(acc, s + MergeSecret, length * Prime64_1);
        var high = MergeAccumulators(acc, s + SecretBytes - StripeBytes - MergeSecret, ~(length * Prime64_2));
        return (low, high);
    }

    private static ulong ReadLE(byte* p) => BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(p, 8));

    private static ulong MergeAccumulators(ulong* acc, byte* secret, ulong start)
    {
        var result = start;
        for (var i = 0; i < 4; i++)
        {
            var product = (UInt128)(acc[2 * i] ^ ReadLE(secret + 16 * i)) * (acc[2 * i + 1] ^ ReadLE(secret + 16 * i + 8));
            result += (ulong)product ^ (ulong)(product >> 64);
        }
        result ^= result >> 37;
        result *= 0x165667919E3779F9UL;
        return result ^ (result >> 32);
    }

    // The long-input loop: 1,024-byte blocks of 16 stripes (stripe n with the secret at 8n), the
    // accumulators scrambled after each block; then the last block's whole stripes before the
    // final byte, and the last 64 bytes with the secret at 192 - 64 - 7.

    private static void LoopScalar(ulong* acc, byte* input, int length, byte* secret)
    {
        var blocks = (length - 1) / BlockBytes;
        for (var b = 0; b < blocks; b++)
        {
            for (var n = 0; n < StripesPerBlock; n++)
                StripeScalar(acc, input + b * BlockBytes + n * StripeBytes, secret + 8 * n);
            for (var i = 0; i < 8; i++)
            {
                var a = acc[i];
                a ^= a >> 47;
                a ^= ReadLE(secret + SecretBytes - StripeBytes + 8 * i);
                acc[i] = a * Prime32_1;
            }
        }
        var tail = input + blocks * BlockBytes;
        var stripes = (length - 1 - blocks * BlockBytes) / StripeBytes;
        for (var n = 0; n < stripes; n++)
            StripeScalar(acc, tail + n * StripeBytes, secret + 8 * n);
        StripeScalar(acc, input + length - StripeBytes, secret + LastStripeSecret);
    }

    private static void StripeScalar(ulong* acc, byte* input, byte* secret)
    {
        for (var i = 0; i < 8; i++)
        {
            var value = ReadLE(input + 8 * i);
            var key = value ^ ReadLE(secret + 8 * i);
            acc[i ^ 1] += value;
            acc[i] += (ulong)(uint)key * (key >> 32);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Loop256(ulong* acc, byte* input, int length, byte* secret)
    {
        var a0 = Avx.LoadVector256(acc);
        var a1 = Avx.LoadVector256(acc + 4);
        var blocks = (length - 1) / BlockBytes;
        var scramble = secret + SecretBytes - StripeBytes;
        var prime = Vector256.Create((ulong)Prime32_1).AsUInt32();
        for (var b = 0; b < blocks; b++)
        {
            var block = input + b * BlockBytes;
            for (var n = 0; n < StripesPerBlock; n++)
                Stripe256(ref a0, ref a1, block + n * StripeBytes, secret + 8 * n);
            a0 = Scramble256(a0, Avx.LoadVector256((ulong*)scramble), prime);
            a1 = Scramble256(a1, Avx.LoadVector256((ulong*)(scramble + 32)), prime);
        }
        var tail = input + blocks * BlockBytes;
        var stripes = (length - 1 - blocks * BlockBytes) / StripeBytes;
        for (var n = 0; n < stripes; n++)
            Stripe256(ref a0, ref a1, tail + n * StripeBytes, secret + 8 * n);
        Stripe256(ref a0, ref a1, input + length - StripeBytes, secret + LastStripeSecret);
        Avx.Store(acc, a0);
        Avx.Store(acc + 4, a1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stripe256(ref Vector256<ulong> a0, ref Vector256<ulong> a1, byte* input, byte* secret)
    {
        a0 = Add256(a0, Avx.LoadVector256((ulong*)input), Avx.LoadVector256((ulong*)secret));
        a1 = Add256(a1, Avx.LoadVector256((ulong*)(input + 32)), Avx.LoadVector256((ulong*)(secret + 32)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Add256(Vector256<ulong> acc, Vector256<ulong> value, Vector256<ulong> secret)
    {
        var key = Avx2.Xor(value, secret);
        var product = Avx2.Multiply(key.AsUInt32(), Avx2.ShiftRightLogical(key, 32).AsUInt32());
        // acc[i ^ 1] += value[i]: the two words of each 128-bit lane swapped.
        var swapped = Avx2.Shuffle(value.AsUInt32(), 0b01_00_11_10).AsUInt64();
        return Avx2.Add(acc, Avx2.Add(swapped, product));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Scramble256(Vector256<ulong> acc, Vector256<ulong> secret, Vector256<uint> prime)
    {
        acc = Avx2.Xor(Avx2.Xor(acc, Avx2.ShiftRightLogical(acc, 47)), secret);
        // acc * Prime32_1 in 64 bits: low word × prime + (high word × prime) << 32.
        var low = Avx2.Multiply(acc.AsUInt32(), prime);
        var high = Avx2.Multiply(Avx2.ShiftRightLogical(acc, 32).AsUInt32(), prime);
        return Avx2.Add(low, Avx2.ShiftLeftLogical(high, 32));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Loop512(ulong* acc, byte* input, int length, byte* secret)
    {
        var a = Avx512F.LoadVector512(acc);
        var blocks = (length - 1) / BlockBytes;
        var scramble = Avx512F.LoadVector512((ulong*)(secret + SecretBytes - StripeBytes));
        var prime = Vector512.Create((ulong)Prime32_1).AsUInt32();
        for (var b = 0; b < blocks; b++)
        {
            var block = input + b * BlockBytes;
            for (var n = 0; n < StripesPerBlock; n++)
                a = Add512(a, Avx512F.LoadVector512((ulong*)(block + n * StripeBytes)), Avx512F.LoadVector512((ulong*)(secret + 8 * n)));
            a = Avx512F.Xor(Avx512F.Xor(a, Avx512F.ShiftRightLogical(a, 47)), scramble);
            var low = Avx512F.Multiply(a.AsUInt32(), prime);
            var high = Avx512F.Multiply(Avx512F.ShiftRightLogical(a, 32).AsUInt32(), prime);
            a = Avx512F.Add(low, Avx512F.ShiftLeftLogical(high, 32));
        }
        var tail = input + blocks * BlockBytes;
        var stripes = (length - 1 - blocks * BlockBytes) / StripeBytes;
        for (var n = 0; n < stripes; n++)
            a = Add512(a, Avx512F.LoadVector512((ulong*)(tail + n * StripeBytes)), Avx512F.LoadVector512((ulong*)(secret + 8 * n)));
        a = Add512(a, Avx512F.LoadVector512((ulong*)(input + length - StripeBytes)), Avx512F.LoadVector512((ulong*)(secret + LastStripeSecret)));
        Avx512F.Store(acc, a);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Add512(Vector512<ulong> acc, Vector512<ulong> value, Vector512<ulong> secret)
    {
        var key = Avx512F.Xor(value, secret);
        var product = Avx512F.Multiply(key.AsUInt32(), Avx512F.ShiftRightLogical(key, 32).AsUInt32());
        var swapped = Avx512F.Shuffle(value.AsUInt32(), 0b01_00_11_10).AsUInt64();
        return Avx512F.Add(acc, Avx512F.Add(swapped, product));
    }
}
