using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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
        var (belowMin, belowMax) = Range<int>(acc.BelowLow);
        var (aboveMin, aboveMax) = Range<int>(acc.AboveHigh);
        var counts = Math.Max(belowMax, aboveMax) <= ushort.MaxValue && Math.Min(belowMin, aboveMin) >= 0 ? 2 : 4;
        var (sumMin, sumMax) = Range<long>(acc.Sum);
        var sums = sumMin >= int.MinValue && sumMax <= int.MaxValue ? 4 : 8;
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

    private static bool InUInt16(ReadOnlySpan<int> values)
    {
        var (min, max) = Range(values);
        return min >= 0 && max <= ushort.MaxValue;
    }

    /// <summary>The smallest and largest value (vectorised; the accumulator's arrays are spans over native memory, not arrays LINQ could scan).</summary>
    private static (T Min, T Max) Range<T>(ReadOnlySpan<T> values) where T : unmanaged, System.Numerics.INumber<T>
    {
        T min = values[0], max = values[0];
        var vectors = MemoryMarshal.Cast<T, System.Numerics.Vector<T>>(values);
        if (vectors.Length > 0)
        {
            var vmin = vectors[0];
            var vmax = vmin;
            foreach (var v in vectors)
            {
                vmin = System.Numerics.Vector.Min(vmin, v);
                vmax = System.Numerics.Vector.Max(vmax, v);
            }
            for (var k = 0; k < System.Numerics.Vector<T>.Count; k++)
            {
                min = T.Min(min, vmin[k]);
                max = T.Max(max, vmax[k]);
            }
        }
        for (var i = vectors.Length * System.Numerics.Vector<T>.Count; i < values.Length; i++)
        {
            min = T.Min(min, values[i]);
            max = T.Max(max, values[i]);
        }
        return (min, max);
    }

    private static bool HighWordsZero(ReadOnlySpan<UInt128> values)
    {
        var words = MemoryMarshal.Cast<UInt128, ulong>(values);
        ulong any = 0;
        for (var i = 1; i < words.Length; i += 2)
            any |= words[i];
        return any == 0;
    }

    /// <summary>Writes pixels [first, first + count) of <paramref name="acc"/> at these widths into <paramref name="dest"/>; returns the bytes written.</summary>
    public int Put(PixelStatusAccumulator acc, int first, int count, Span<byte> dest)
    {
        var at = 0;
        at += PutInts(acc.BelowLow.Slice(first, count), CountBytes, dest[at..]);
        at += PutInts(acc.AboveHigh.Slice(first, count), CountBytes, dest[at..]);
        if (SumBytes == 8)
            at += Raw<long>(acc.Sum.Slice(first, count), dest[at..]);
        else
        {
            var to = MemoryMarshal.Cast<byte, int>(dest.Slice(at, 4 * count));
            var from = acc.Sum.Slice(first, count);
            for (var i = 0; i < count; i++)
                to[i] = (int)from[i];
            at += 4 * count;
        }
        if (SquareBytes == 16)
            at += Raw<UInt128>(acc.SumSquares.Slice(first, count), dest[at..]);
        else
        {
            var to = MemoryMarshal.Cast<byte, ulong>(dest.Slice(at, 8 * count));
            var from = acc.SumSquares.Slice(first, count);
            for (var i = 0; i < count; i++)
                to[i] = (ulong)from[i];
            at += 8 * count;
        }
        at += PutInts(acc.Max.Slice(first, count), ExtremeBytes, dest[at..]);
        at += PutInts(acc.Min.Slice(first, count), ExtremeBytes, dest[at..]);
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
