using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RunProc.Pixels;

/// <summary>
/// The adds, copies, max and min of a merge, widening a narrower source (a partial file's block)
/// or at full width (another accumulator). Source pointers need not be aligned.
/// Compiled fully optimised at once: a merge in a fresh process calls them a few thousand
/// times, and under tiered compilation most of those calls ran their unoptimised first version.
/// </summary>
internal static unsafe class Widen
{
    public enum Op { Add, Max, Min }

    /// <summary>dst[i] = src[i] (copy) or dst[i] op src[i], src unsigned 16-bit (width 2) or 32-bit (width 4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Squares(UInt128* dst, byte* src, int width, int n, bool copy)
    {
        var i = 0;
        if (width == 16)
        {
            var s = (UInt128*)src;
            if (copy)
            {
                new ReadOnlySpan<UInt128>(s, n).CopyTo(new Span<UInt128>(dst, n));
                return;
            }
            if (Avx2.IsSupported)
                for (; i <= n - 2; i += 2)
                    Avx.Store((ulong*)(dst + i), AddCarry(Avx.LoadVector256((ulong*)(dst + i)), Avx.LoadVector256((ulong*)(s + i))));
            for (; i < n; i++)
                dst[i] += Unaligned(s + i);
            return;
        }
        var u = (ulong*)src;
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

    /// <summary>Two 128-bit adds (little endian: low word, high word): the low words' carry into the high words.</summary>
    private static Vector256<ulong> AddCarry(Vector256<ulong> d, Vector256<ulong> x)
    {
        var s = Avx2.Add(d, x);
        var carry = Vector256.LessThan(s, x); // meaningful in the low words; the high words' is shifted out
        return Avx2.Subtract(s, Avx2.ShiftLeftLogical128BitLane(carry.AsByte(), 8).AsUInt64());
    }

    private static UInt128 Unaligned(UInt128* p) => System.Runtime.CompilerServices.Unsafe.ReadUnaligned<UInt128>(p);
}
