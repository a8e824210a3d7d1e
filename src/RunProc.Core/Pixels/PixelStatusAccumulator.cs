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
    public PixelStatusAccumulator(int pixelCount, int gateLow, int gateHigh)
    {
        if (pixelCount <= 0)
            throw new ArgumentOutOfRangeException(nameof(pixelCount), pixelCount, "a detector has at least one pixel.");
        if (gateLow > gateHigh)
            throw new ArgumentException($"the low gate {gateLow} is above the high gate {gateHigh}.", nameof(gateLow));
        PixelCount = pixelCount;
        GateLow = gateLow;
        GateHigh = gateHigh;
        BelowLow = new int[pixelCount];
        AboveHigh = new int[pixelCount];
        Sum = new long[pixelCount];
        SumSquares = new UInt128[pixelCount];
        Max = new int[pixelCount];
        Min = new int[pixelCount];
        Array.Fill(Max, int.MinValue);
        Array.Fill(Min, int.MaxValue);
    }

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
        for (var p = 0; p < PixelCount; p++)
        {
            BelowLow[p] += other.BelowLow[p];
            AboveHigh[p] += other.AboveHigh[p];
            Sum[p] += other.Sum[p];
            SumSquares[p] += other.SumSquares[p];
            if (other.Max[p] > Max[p]) Max[p] = other.Max[p];
            if (other.Min[p] < Min[p]) Min[p] = other.Min[p];
        }
        Events += other.Events;
    }

    /// <summary>
    /// Writes every per-pixel array once, so the OS maps their pages now, on one thread, rather
    /// than in the kernel's first fold, where two threads faulting on one address space contend
    /// (measured: a fresh 2-thread pass was slower than a 1-thread one).
    /// </summary>
    internal void Touch()
    {
        BelowLow.AsSpan().Clear();
        AboveHigh.AsSpan().Clear();
        Sum.AsSpan().Clear();
        SumSquares.AsSpan().Clear();
    }

    /// <summary>The per-pixel event counters are 32-bit: refuse to go past them instead of wrapping.</summary>
    internal void CheckEventBudget(long more)
    {
        if (Events + more > int.MaxValue)
            throw new InvalidOperationException($"more than {int.MaxValue} events in one accumulator; split the run and merge summaries instead.");
    }
}
