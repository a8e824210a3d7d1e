using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace RunProc.Formats;

/// <summary>
/// '%.Nf' of a double and '%d' of an integer into UTF-8, without a string per value: the text
/// arrays hold millions of values. Digits are written two at a time from a table. For a
/// non-negative double whose scaled product v·10^N is below 10^9 and not within 10^-6 of a half
/// (the product's rounding error is below 1.2·10^-7 there, so it rounds as the exact value does),
/// the digits come from one integer; every other value (negative, huge, near a tie, NaN,
/// infinite) goes through the runtime's exact formatting, so the text is byte for byte what
/// <c>ToString("F" + N)</c> gives (with nan/inf/-inf spelt as Python does).
/// </summary>
internal static class FixedPoint
{
    public const int MaxLength = 350; // "F9" of -double.MaxValue: 309 digits, point, 9 decimals, sign

    /// <summary>The longest '%d' of a 64-bit integer: a sign and 20 digits.</summary>
    public const int MaxIntegerLength = 21;

    private static readonly double[] Scale = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 };
    private static readonly uint[] Pow10 = { 1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000 };

    private static readonly ulong[] Pow10U64 = BuildPow10();

    /// <summary>"00" "01" … "99": two digits a step.</summary>
    private static ReadOnlySpan<byte> Pairs =>
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"u8;

    public static int Write(double v, int decimals, string format, Span<byte> dst)
    {
        if (v >= 0 && !double.IsNegative(v))
        {
            var scaled = v * Scale[decimals];
            if (scaled < 1e9)
            {
                var whole = Math.Floor(scaled);
                var frac = scaled - whole;
                if (Math.Abs(frac - 0.5) > 1e-6)
                    return WriteScaled((uint)whole + (frac > 0.5 ? 1u : 0u), decimals, dst);
            }
        }
        if (double.IsNaN(v)) return Ascii("nan", dst);
        if (double.IsPositiveInfinity(v)) return Ascii("inf", dst);
        if (double.IsNegativeInfinity(v)) return Ascii("-inf", dst);
        v.TryFormat(dst, out var n, format, CultureInfo.InvariantCulture);
        return n;
    }

    /// <summary>'%d' of any integer of up to 64 bits (wider ones through the runtime).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int WriteInteger<T>(T v, Span<byte> dst) where T : unmanaged, IBinaryInteger<T>
    {
        if (Unsafe.SizeOf<T>() > 8)
        {
            v.TryFormat(dst, out var written, default, CultureInfo.InvariantCulture);
            return written;
        }
        // Sign-extended to 64 bits for signed types; the magnitude of a negative value is its two's complement.
        var bits = ulong.CreateTruncating(v);
        if (!T.IsNegative(v))
            return WriteUInt64(bits, dst);
        dst[0] = (byte)'-';
        return 1 + WriteUInt64(0 - bits, dst[1..]);
    }

    /// <summary>'%d' of an int32 (non-generic: precompiled by ReadyToRun, unlike the generic path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int WriteInt32(int v, Span<byte> dst)
    {
        if (v >= 0)
            return WriteUInt32((uint)v, dst);
        dst[0] = (byte)'-';
        return 1 + WriteUInt32(0u - (uint)v, dst[1..]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int WriteUInt64(ulong v, Span<byte> dst) =>
        v <= uint.MaxValue ? WriteUInt32((uint)v, dst) : WriteDigits64(v, CountDigits(v), dst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int WriteUInt32(uint v, Span<byte> dst) => WriteDigits32(v, CountDigits(v), dst);

    /// <summary>The <paramref name="digits"/> digits of v, two at a time from the last, in 32-bit arithmetic.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int WriteDigits32(uint v, int digits, Span<byte> dst)
    {
        var pos = digits;
        while (v >= 100)
        {
            var q = v / 100;
            var r = (int)(v - q * 100) * 2;
            pos -= 2;
            dst[pos] = Pairs[r];
            dst[pos + 1] = Pairs[r + 1];
            v = q;
        }
        WriteLast(v, dst, pos);
        return digits;
    }

    /// <summary>As <see cref="WriteDigits32"/> for a value above uint.MaxValue.</summary>
    private static int WriteDigits64(ulong v, int digits, Span<byte> dst)
    {
        var pos = digits;
        while (v >= 100)
        {
            var q = v / 100;
            var r = (int)(v - q * 100) * 2;
            pos -= 2;
            dst[pos] = Pairs[r];
            dst[pos + 1] = Pairs[r + 1];
            v = q;
        }
        WriteLast((uint)v, dst, pos);
        return digits;
    }

    /// <summary>The leading one or two digits (v &lt; 100) ending at pos.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteLast(uint v, Span<byte> dst, int pos)
    {
        if (v >= 10)
        {
            dst[pos - 2] = Pairs[(int)v * 2];
            dst[pos - 1] = Pairs[(int)v * 2 + 1];
        }
        else
            dst[pos - 1] = (byte)('0' + v);
    }

    /// <summary>Decimal digits of v (1 for 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int CountDigits(ulong v)
    {
        // v | 1 has as many digits as v and counts 0 as one digit; t is floor(log10) or one more.
        var w = v | 1;
        var t = (BitOperations.Log2(w) + 1) * 1233 >> 12;
        return t - (w < Pow10U64[t] ? 1 : 0) + 1;
    }

    /// <summary>n / 10^decimals, a point, then exactly <paramref name="decimals"/> digits (n ≤ 10^9).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int WriteScaled(uint n, int decimals, Span<byte> dst)
    {
        var p = Pow10[decimals];
        var intPart = n / p;
        var fracPart = n - intPart * p;
        var len = WriteUInt32(intPart, dst);
        if (decimals == 0)
            return len;
        dst[len++] = (byte)'.';
        var pos = len + decimals;
        var k = decimals;
        while (k >= 2)
        {
            var q = fracPart / 100;
            var r = (int)(fracPart - q * 100) * 2;
            pos -= 2;
            dst[pos] = Pairs[r];
            dst[pos + 1] = Pairs[r + 1];
            fracPart = q;
            k -= 2;
        }
        if (k == 1)
            dst[pos - 1] = (byte)('0' + fracPart);
        return len + decimals;
    }

    private static int Ascii(string s, Span<byte> dst)
    {
        for (var i = 0; i < s.Length; i++)
            dst[i] = (byte)s[i];
        return s.Length;
    }

    private static ulong[] BuildPow10()
    {
        var t = new ulong[20];
        t[0] = 1;
        for (var i = 1; i < t.Length; i++) t[i] = t[i - 1] * 10;
        return t;
    }
}
