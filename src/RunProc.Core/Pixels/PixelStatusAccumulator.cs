using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RunProc.Pixels;

/// <summary>
/// Per-pixel statistics of a detector over the events seen so far, exactly as the old
/// det_ndarr_data_status accumulates them: events below the low gate and above the high gate,
/// sum and sum of squares of the values inside the gates, and max/min over all events.
/// All integer, so two accumulators over the two halves of a run merge into exactly the
/// accumulator of the whole run (<see cref="Merge"/>).
/// </summary>
public sealed class PixelStatusAccumulator
{
    /// <summary>Creates an empty accumulator for <paramref name="pixelCount"/> pixels with gates lo &lt;= v &lt;= hi.</summary>
    public PixelStatusAccumulator(int pixelCount, int gateLow, int gateHigh) : this(pixelCount, gateLow, gateHigh, uninitialized: false)
    {
    }

    private PixelStatusAccumulator(int pixelCount, int gateLow, int gateHigh, bool uninitialized)
    {
        if (pixelCount <= 0)
            throw new ArgumentOutOfRangeException(nameof(pixelCount), pixelCount, "a detector has at least one pixel.");
        if (gateLow > gateHigh)
            throw new ArgumentException($"the low gate {gateLow} is above the high gate {gateHigh}.", nameof(gateLow));
        PixelCount = pixelCount;
        GateLow = gateLow;
        GateHigh = gateHigh;
        // Allocated without the GC's zeroing (which would be the first write, on 4 KiB pages)
        // and advised onto 2 MiB pages before the first write: the fill below (or a merge's copy
        // of its first part) then takes a few dozen page faults instead of ~5,000 per 20 MB.
        // Page faults are dear in this VM: 48 ms for a 540,672-pixel accumulator (an epix10ka
        // quad) on 4 KiB pages, a fixed cost of every xtc2 quad analysis. A merge's sum starts as
        // a copy of its first part: no fill it would overwrite.
        BelowLow = GC.AllocateUninitializedArray<int>(pixelCount);
        AboveHigh = GC.AllocateUninitializedArray<int>(pixelCount);
        Sum = GC.AllocateUninitializedArray<long>(pixelCount);
        SumSquares = GC.AllocateUninitializedArray<UInt128>(pixelCount);
        Max = GC.AllocateUninitializedArray<int>(pixelCount);
        Min = GC.AllocateUninitializedArray<int>(pixelCount);
        AdviseHugePages(BelowLow);
        AdviseHugePages(AboveHigh);
        AdviseHugePages(Sum);
        AdviseHugePages(SumSquares);
        AdviseHugePages(Max);
        AdviseHugePages(Min);
        if (uninitialized)
            return;
        BelowLow.AsSpan().Clear();
        AboveHigh.AsSpan().Clear();
        Sum.AsSpan().Clear();
        SumSquares.AsSpan().Clear();
        Array.Fill(Max, int.MinValue);
        Array.Fill(Min, int.MaxValue);
    }

    private static unsafe void AdviseHugePages<T>(T[] array) where T : unmanaged
    {
        if ((long)array.Length * sizeof(T) < RunProc.Formats.MappedPages.HugePage)
            return;
        fixed (T* p = array)
            RunProc.Formats.MappedPages.AdviseHugePages(p, (long)array.Length * sizeof(T));
    }

    /// <summary>An accumulator whose arrays hold garbage: the caller's first <see cref="AddBlock"/> of every pixel copies (a merge).</summary>
    internal static PixelStatusAccumulator Uninitialized(int pixelCount, int gateLow, int gateHigh) => new(pixelCount, gateLow, gateHigh, uninitialized: true);

    public int PixelCount { get; }

    /// <summary>Values below this are counted in <see cref="BelowLow"/> and not summed (old intlow).</summary>
    public int GateLow { get; }

    /// <summary>Values above this are counted in <see cref="AboveHigh"/> and not summed (old inthig).</summary>
    public int GateHigh { get; }

    /// <summary>Events accumulated.</summary>
    public long Events { get; internal set; }

    public int[] BelowLow { get; }
    public int[] AboveHigh { get; }

    /// <summary>Sum of the values inside the gates (|v| &lt; 2^31, so 2^32 events cannot overflow).</summary>
    public long[] Sum { get; }

    /// <summary>Sum of squares inside the gates; 128-bit so any value type and any event count stay exact.</summary>
    public UInt128[] SumSquares { get; }

    /// <summary>Largest value over all events (int.MinValue before the first event).</summary>
    public int[] Max { get; }

    /// <summary>Smallest value over all events (int.MaxValue before the first event).</summary>
    public int[] Min { get; }

    /// <summary>Events inside the gates for pixel <paramref name="p"/> (every event is below, above or inside).</summary>
    public long Good(int p) => Events - BelowLow[p] - AboveHigh[p];

    /// <summary>Adds another accumulator of the same detector and gates (e.g. the other half of the run).</summary>
    public void Merge(PixelStatusAccumulator other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.PixelCount != PixelCount || other.GateLow != GateLow || other.GateHigh != GateHigh)
            throw new ArgumentException(
                $"cannot merge: {other.PixelCount} px gates [{other.GateLow},{other.GateHigh}] into {PixelCount} px gates [{GateLow},{GateHigh}].", nameof(other));
        CheckEventBudget(other.Events);
        unsafe
        {
            fixed (int* below = other.BelowLow, above = other.AboveHigh, max = other.Max, min = other.Min)
            fixed (long* sum = other.Sum)
            fixed (UInt128* sq = other.SumSquares)
                AddBlock(new Arrays(below, above, sum, sq, max, min), 0, PixelCount, copy: false);
        }
        Events += other.Events;
    }

    /// <summary>The six per-pixel arrays of an accumulator elsewhere (another accumulator, or a mapped partial file).</summary>
    internal readonly unsafe struct Arrays(int* below, int* above, long* sum, UInt128* squares, int* max, int* min)
    {
        public readonly int* Below = below, Above = above, Max = max, Min = min;
        public readonly long* Sum = sum;
        public readonly UInt128* Squares = squares;
    }

    /// <summary>
    /// Adds pixels [first, first + count) of <paramref name="src"/> into this accumulator (counts
    /// and sums added, max/min taken), or copies them when <paramref name="copy"/> (the first part
    /// of a merge into an <see cref="Uninitialized"/> accumulator). Exact integers, vectorised:
    /// the same result as the per-pixel loop. Events are the caller's to add.
    /// </summary>
    internal unsafe void AddBlock(in Arrays src, int first, int count, bool copy)
    {
        if (first < 0 || count < 0 || first > PixelCount - count)
            throw new ArgumentOutOfRangeException(nameof(first), $"pixels {first}..{first + count} are outside the accumulator's 0..{PixelCount}.");
        fixed (int* below = BelowLow, above = AboveHigh, max = Max, min = Min)
        fixed (long* sum = Sum)
        fixed (UInt128* sq = SumSquares)
        {
            if (copy)
            {
                Copy(src.Below + first, below + first, count);
                Copy(src.Above + first, above + first, count);
                Copy(src.Sum + first, sum + first, count);
                Copy(src.Squares + first, sq + first, count);
                Copy(src.Max + first, max + first, count);
                Copy(src.Min + first, min + first, count);
                return;
            }
            AddInts(below + first, src.Below + first, count);
            AddInts(above + first, src.Above + first, count);
            AddLongs((ulong*)(sum + first), (ulong*)(src.Sum + first), count);
            AddWide(sq + first, src.Squares + first, count);
            MaxMin(max + first, min + first, src.Max + first, src.Min + first, count);
        }
    }

    private static unsafe void Copy<T>(T* from, T* to, int count) where T : unmanaged =>
        new ReadOnlySpan<T>(from, count).CopyTo(new Span<T>(to, count));

    private static unsafe void AddInts(int* dst, int* src, int n)
    {
        var i = 0;
        for (; i <= n - 8; i += 8)
            Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(src + i), dst + i);
        for (; i < n; i++)
            dst[i] += src[i];
    }

    private static unsafe void AddLongs(ulong* dst, ulong* src, int n)
    {
        var i = 0;
        for (; i <= n - 4; i += 4)
            Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(src + i), dst + i);
        for (; i < n; i++)
            dst[i] += src[i];
    }

    /// <summary>128-bit adds, two per 256-bit vector (little endian: low word, high word), the low words' carry into the high words.</summary>
    private static unsafe void AddWide(UInt128* dst, UInt128* src, int n)
    {
        var i = 0;
        if (Avx2.IsSupported)
        {
            for (; i <= n - 2; i += 2)
            {
                var x = Avx.LoadVector256((ulong*)(src + i));
                var s = Avx2.Add(Avx.LoadVector256((ulong*)(dst + i)), x);
                var carry = Vector256.LessThan(s, x); // meaningful in the low words; the high words' is shifted out
                Avx.Store((ulong*)(dst + i), Avx2.Subtract(s, Avx2.ShiftLeftLogical128BitLane(carry.AsByte(), 8).AsUInt64()));
            }
        }
        for (; i < n; i++)
            dst[i] += src[i];
    }

    private static unsafe void MaxMin(int* max, int* min, int* srcMax, int* srcMin, int n)
    {
        var i = 0;
        for (; i <= n - 8; i += 8)
        {
            Vector256.Store(Vector256.Max(Vector256.Load(max + i), Vector256.Load(srcMax + i)), max + i);
            Vector256.Store(Vector256.Min(Vector256.Load(min + i), Vector256.Load(srcMin + i)), min + i);
        }
        for (; i < n; i++)
        {
            if (srcMax[i] > max[i]) max[i] = srcMax[i];
            if (srcMin[i] < min[i]) min[i] = srcMin[i];
        }
    }

    /// <summary>The per-pixel event counters are 32-bit: refuse to go past them instead of wrapping.</summary>
    internal void CheckEventBudget(long more)
    {
        if (Events + more > int.MaxValue)
            throw new InvalidOperationException($"more than {int.MaxValue} events in one accumulator; split the run and merge summaries instead.");
    }
}
