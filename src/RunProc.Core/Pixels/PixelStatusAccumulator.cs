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

    /// <summary>An accumulator whose arrays hold garbage: the caller's first add of every pixel copies (a merge of partial files, <see cref="Split.PartialLayout.AddTo"/>).</summary>
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
            // Exact integers, vectorised: the same result as the per-pixel loop.
            var n = PixelCount;
            fixed (int* below = BelowLow, above = AboveHigh, max = Max, min = Min, oBelow = other.BelowLow, oAbove = other.AboveHigh, oMax = other.Max, oMin = other.Min)
            fixed (long* sum = Sum, oSum = other.Sum)
            fixed (UInt128* sq = SumSquares, oSq = other.SumSquares)
            {
                Widen.Ints(below, (byte*)oBelow, 4, n, copy: false, Widen.Op.Add);
                Widen.Ints(above, (byte*)oAbove, 4, n, copy: false, Widen.Op.Add);
                Widen.Longs(sum, (byte*)oSum, 8, n, copy: false);
                Widen.Squares(sq, (byte*)oSq, 16, n, copy: false);
                Widen.Ints(max, (byte*)oMax, 4, n, copy: false, Widen.Op.Max);
                Widen.Ints(min, (byte*)oMin, 4, n, copy: false, Widen.Op.Min);
            }
        }
        Events += other.Events;
    }

    /// <summary>The per-pixel event counters are 32-bit: refuse to go past them instead of wrapping.</summary>
    internal void CheckEventBudget(long more)
    {
        if (Events + more > int.MaxValue)
            throw new InvalidOperationException($"more than {int.MaxValue} events in one accumulator; split the run and merge summaries instead.");
    }
}
