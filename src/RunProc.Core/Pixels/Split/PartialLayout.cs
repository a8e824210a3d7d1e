using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RunProc.Pixels.Split;

/// <summary>
/// The widths, in bytes, at which a partial accumulator file stores the per-pixel arrays: the
/// event counts below and above the gates (2 = unsigned 16-bit, 4 = 32-bit), the sum (4 or 8,
/// signed), the sum of squares (8 or 16, unsigned) and max/min (2 = unsigned 16-bit, 4 = 32-bit).
/// Reading widens them back exactly; <see cref="Narrowest"/> picks the smallest that hold every
/// value, so narrowing never loses a bit.
/// </summary>
internal readonly record struct PartialLayout(int CountBytes, int SumBytes, int SquareBytes, int ExtremeBytes)
{
    /// <summary>The full widths of <see cref="PixelStatusAccumulator"/>'s arrays.</summary>
    public static PartialLayout Full => new(4, 8, 16, 4);

    public int BytesPerPixel => 2 * CountBytes + SumBytes + SquareBytes + 2 * ExtremeBytes;

    public override string ToString() => $"widths {CountBytes}/{SumBytes}/{SquareBytes}/{ExtremeBytes} B (counts/sum/squares/max-min)";

    public void WriteTo(Span<byte> four)
    {
        four[0] = (byte)CountBytes;
        four[1] = (byte)SumBytes;
        four[2] = (byte)SquareBytes;
        four[3] = (byte)ExtremeBytes;
    }

    public static bool TryRead(ReadOnlySpan<byte> four, out PartialLayout layout)
    {
        layout = new(four[0], four[1], four[2], four[3]);
        return layout.CountBytes is 2 or 4 && layout.SumBytes is 4 or 8 && layout.SquareBytes is 8 or 16 && layout.ExtremeBytes is 2 or 4;
    }

    /// <summary>The narrowest widths that hold every value of <paramref name="acc"/>.</summary>
    public static PartialLayout Narrowest(PixelStatusAccumulator acc)
    {
        var counts = Math.Max(acc.BelowLow.Max(), acc.AboveHigh.Max()) <= ushort.MaxValue && Math.Min(acc.BelowLow.Min(), acc.AboveHigh.Min()) >= 0 ? 2 : 4;
        var sums = acc.Sum.Min() >= int.MinValue && acc.Sum.Max() <= int.MaxValue ? 4 : 8;
        var squares = HighWordsZero(acc.SumSquares) ? 8 : 16;
        var extremes = InUInt16(acc.Max) && InUInt16(acc.Min) ? 2 : 4;
        return new(counts, sums, squares, extremes);
    }

    /// <summary>Whether every value of <paramref name="acc"/> fits these widths.</summary>
    public bool Holds(PixelStatusAccumulator acc)
    {
        var n = Narrowest(acc);
        return n.CountBytes <= CountBytes && n.SumBytes <= SumBytes && n.SquareBytes <= SquareBytes && n.ExtremeBytes <= ExtremeBytes;
    }

    private static bool InUInt16(int[] values) => values.Min() >= 0 && values.Max() <= ushort.MaxValue;

    private static bool HighWordsZero(UInt128[] values)
    {
        var words = MemoryMarshal.Cast<UInt128, ulong>(values.AsSpan());
        ulong any = 0;
        for (var i = 1; i < words.Length; i += 2)
            any |= words[i];
        return any == 0;
    }

    /// <summary>Writes pixels [first, first + count) of <paramref name="acc"/> at these widths into <paramref name="dest"/>; returns the bytes written.</summary>
    public int Put(PixelStatusAccumulator acc, int first, int count, Span<byte> dest)
    {
        var at = 0;
        at += PutInts(acc.BelowLow.AsSpan(first, count), CountBytes, dest[at..]);
        at += PutInts(acc.AboveHigh.AsSpan(first, count), CountBytes, dest[at..]);
        if (SumBytes == 8)
            at += Raw<long>(acc.Sum.AsSpan(first, count), dest[at..]);
        else
        {
            var to = MemoryMarshal.Cast<byte, int>(dest.Slice(at, 4 * count));
            var from = acc.Sum.AsSpan(first, count);
            for (var i = 0; i < count; i++)
                to[i] = (int)from[i];
            at += 4 * count;
        }
        if (SquareBytes == 16)
            at += Raw<UInt128>(acc.SumSquares.AsSpan(first, count), dest[at..]);
        else
        {
            var to = MemoryMarshal.Cast<byte, ulong>(dest.Slice(at, 8 * count));
            var from = acc.SumSquares.AsSpan(first, count);
            for (var i = 0; i < count; i++)
                to[i] = (ulong)from[i];
            at += 8 * count;
        }
        at += PutInts(acc.Max.AsSpan(first, count), ExtremeBytes, dest[at..]);
        at += PutInts(acc.Min.AsSpan(first, count), ExtremeBytes, dest[at..]);
        return at;
    }

    private static int PutInts(ReadOnlySpan<int> from, int width, Span<byte> dest)
    {
        if (width == 4)
            return Raw(from, dest);
        var to = MemoryMarshal.Cast<byte, ushort>(dest[..(2 * from.Length)]);
        for (var i = 0; i < from.Length; i++)
            to[i] = (ushort)from[i];
        return 2 * from.Length;
    }

    private static int Raw<T>(ReadOnlySpan<T> from, Span<byte> dest) where T : unmanaged
    {
        // The arrays are stored as they are in memory: a little-endian format.
        var bytes = MemoryMarshal.AsBytes(from);
        bytes.CopyTo(dest);
        return bytes.Length;
    }

    /// <summary>
    /// Adds the block at <paramref name="src"/> (count pixels at these widths) into pixels
    /// [first, first + count) of <paramref name="sum"/>, or copies it there when
    /// <paramref name="copy"/> (the first part of a merge into an uninitialised accumulator).
    /// Exact integers, vectorised where the hardware is; the same result as the scalar loops.
    /// </summary>
    public unsafe void AddTo(PixelStatusAccumulator sum, byte* src, int first, int count, bool copy)
    {
        if (first < 0 || count < 0 || first > sum.PixelCount - count)
            throw new ArgumentOutOfRangeException(nameof(first), $"pixels {first}..{first + count} are outside the accumulator's 0..{sum.PixelCount}.");
        fixed (int* below = sum.BelowLow, above = sum.AboveHigh, max = sum.Max, min = sum.Min)
        fixed (long* s = sum.Sum)
        fixed (UInt128* sq = sum.SumSquares)
        {
            Widen.Ints(below + first, src, CountBytes, count, copy, Widen.Op.Add);
            src += (long)count * CountBytes;
            Widen.Ints(above + first, src, CountBytes, count, copy, Widen.Op.Add);
            src += (long)count * CountBytes;
            Widen.Longs(s + first, src, SumBytes, count, copy);
            src += (long)count * SumBytes;
            Widen.Squares(sq + first, src, SquareBytes, count, copy);
            src += (long)count * SquareBytes;
            Widen.Ints(max + first, src, ExtremeBytes, count, copy, Widen.Op.Max);
            src += (long)count * ExtremeBytes;
            Widen.Ints(min + first, src, ExtremeBytes, count, copy, Widen.Op.Min);
        }
    }
}

/// <summary>The widening adds, copies, max and min of a merge (source pointers need not be aligned).</summary>
internal static unsafe class Widen
{
    public enum Op { Add, Max, Min }

    /// <summary>dst[i] = src[i] (copy) or dst[i] op src[i], src unsigned 16-bit (width 2) or 32-bit (width 4).</summary>
    public static void Ints(int* dst, byte* src, int width, int n, bool copy, Op op)
    {
        var i = 0;
        if (width == 4)
        {
            var s = (int*)src;
            if (copy)
            {
                new ReadOnlySpan<int>(s, n).CopyTo(new Span<int>(dst, n));
                return;
            }
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                    Vector256.Store(Apply(op, Vector256.Load(dst + i), Vector256.Load(s + i)), dst + i);
            for (; i < n; i++)
                dst[i] = Apply(op, dst[i], s[i]);
            return;
        }
        var u = (ushort*)src;
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 16; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(u + i));
                if (copy)
                {
                    Vector256.Store(lo.AsInt32(), dst + i);
                    Vector256.Store(hi.AsInt32(), dst + i + 8);
                }
                else
                {
                    Vector256.Store(Apply(op, Vector256.Load(dst + i), lo.AsInt32()), dst + i);
                    Vector256.Store(Apply(op, Vector256.Load(dst + i + 8), hi.AsInt32()), dst + i + 8);
                }
            }
        for (; i < n; i++)
            dst[i] = copy ? u[i] : Apply(op, dst[i], u[i]);
    }

    private static Vector256<int> Apply(Op op, Vector256<int> a, Vector256<int> b) => op switch
    {
        Op.Add => a + b,
        Op.Max => Vector256.Max(a, b),
        _ => Vector256.Min(a, b),
    };

    private static int Apply(Op op, int a, int b) => op switch
    {
        Op.Add => a + b,
        Op.Max => Math.Max(a, b),
        _ => Math.Min(a, b),
    };

    /// <summary>dst[i] (+)= src[i], src signed 32-bit (width 4) or 64-bit (width 8).</summary>
    public static void Longs(long* dst, byte* src, int width, int n, bool copy)
    {
        var i = 0;
        if (width == 8)
        {
            var s = (long*)src;
            if (copy)
            {
                new ReadOnlySpan<long>(s, n).CopyTo(new Span<long>(dst, n));
                return;
            }
            if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 4; i += 4)
                    Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(s + i), dst + i);
            for (; i < n; i++)
                dst[i] += s[i];
            return;
        }
        var w = (int*)src;
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - 8; i += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(w + i));
                if (copy)
                {
                    Vector256.Store(lo, dst + i);
                    Vector256.Store(hi, dst + i + 4);
                }
                else
                {
                    Vector256.Store(Vector256.Load(dst + i) + lo, dst + i);
                    Vector256.Store(Vector256.Load(dst + i + 4) + hi, dst + i + 4);
                }
            }
        for (; i < n; i++)
            dst[i] = copy ? w[i] : dst[i] + w[i];
    }

    /// <summary>dst[i] (+)= src[i] in 128 bits, src unsigned 64-bit (width 8) or 128-bit (width 16).</summary>
    public static void Squares(UInt128* dst, byte* src, int width, int n, bool copy)
    {
        if (width == 16)
        {
            var s = (UInt128*)src;
            if (copy)
                new ReadOnlySpan<UInt128>(s, n).CopyTo(new Span<UInt128>(dst, n));
            else
                for (var j = 0; j < n; j++)
                    dst[j] += Unaligned(s + j);
            return;
        }
        var u = (ulong*)src;
        var i = 0;
        if (Avx2.IsSupported)
        {
            var zero = Vector256<ulong>.Zero;
            for (; i <= n - 4; i += 4)
            {
                // [s0 s1 s2 s3] -> [s0 0 s1 0] and [s2 0 s3 0]: four 128-bit values (low word, high word).
                var p = Avx2.Permute4x64(Avx.LoadVector256(u + i), 0b11_01_10_00);
                var a = Avx2.UnpackLow(p, zero);
                var b = Avx2.UnpackHigh(p, zero);
                var d = (ulong*)(dst + i);
                if (copy)
                {
                    Avx.Store(d, a);
                    Avx.Store(d + 4, b);
                    continue;
                }
                Avx.Store(d, AddCarry(Avx.LoadVector256(d), a));
                Avx.Store(d + 4, AddCarry(Avx.LoadVector256(d + 4), b));
            }
        }
        for (; i < n; i++)
            dst[i] = copy ? u[i] : dst[i] + u[i];
    }

    /// <summary>Two 128-bit adds (x has zero high words): the low words' carry into the high words.</summary>
    private static Vector256<ulong> AddCarry(Vector256<ulong> d, Vector256<ulong> x)
    {
        var s = Avx2.Add(d, x);
        var carry = Vector256.LessThan(s, x); // meaningful in the low words; the high words' is 0 (x is 0 there)
        return Avx2.Subtract(s, Avx2.ShiftLeftLogical128BitLane(carry.AsByte(), 8).AsUInt64());
    }

    private static UInt128 Unaligned(UInt128* p) => System.Runtime.CompilerServices.Unsafe.ReadUnaligned<UInt128>(p);
}
