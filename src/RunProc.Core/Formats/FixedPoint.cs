using System.Globalization;
using System.Runtime.CompilerServices;

namespace RunProc.Formats;

/// <summary>
/// '%.Nf' of a double into UTF-8, without a string per value: the text arrays hold millions of
/// values. For a non-negative value whose scaled product v·10^N is below 10^9 and not within
/// 10^-6 of a half (the product's rounding error is below 1.2·10^-7 there, so it rounds as the
/// exact value does), the digits come from one integer; every other value (negative, huge, near a
/// tie, NaN, infinite) goes through the runtime's exact formatting, so the text is byte for byte
/// what <c>ToString("F" + N)</c> gives (with nan/inf/-inf spelt as Python does).
/// </summary>
internal static class FixedPoint
{
    public const int MaxLength = 350; // "F9" of -double.MaxValue: 309 digits, point, 9 decimals, sign

    private static readonly double[] Scale = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 };
    private static readonly long[] Pow10 = { 1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000 };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
                    return WriteScaled((long)whole + (frac > 0.5 ? 1 : 0), decimals, dst);
            }
        }
        if (double.IsNaN(v)) return Ascii("nan", dst);
        if (double.IsPositiveInfinity(v)) return Ascii("inf", dst);
        if (double.IsNegativeInfinity(v)) return Ascii("-inf", dst);
        v.TryFormat(dst, out var n, format, CultureInfo.InvariantCulture);
        return n;
    }

    private static int WriteScaled(long n, int decimals, Span<byte> dst)
    {
        var intPart = n / Pow10[decimals];
        var fracPart = n - intPart * Pow10[decimals];
        intPart.TryFormat(dst, out var len, default, CultureInfo.InvariantCulture);
        if (decimals == 0)
            return len;
        dst[len++] = (byte)'.';
        for (var i = decimals - 1; i >= 0; i--)
        {
            dst[len + i] = (byte)('0' + fracPart % 10);
            fracPart /= 10;
        }
        return len + decimals;
    }

    private static int Ascii(string s, Span<byte> dst)
    {
        for (var i = 0; i < s.Length; i++)
            dst[i] = (byte)s[i];
        return s.Length;
    }
}
