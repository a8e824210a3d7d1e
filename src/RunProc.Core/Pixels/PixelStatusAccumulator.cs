using System.Buffers;

namespace RunProc.Pixels;

/// <summary>
/// Per-pixel statistics of a detector over the events seen so far, exactly as the old
/// det_ndarr_data_status accumulates them: events below the low gate and above the high gate,
/// sum and sum of squares of the values inside the gates, and max/min over all events.
/// All integer, so two accumulators over the two halves of a run merge into exactly the
/// accumulator of the whole run (<see cref="Merge"/>).
/// </summary>
/// <remarks>
/// The arrays live in one block of native memory, aligned to 2 MiB and advised onto huge pages
/// before its first write: in this VM every first write of a fresh 4 KiB page is a costly page
/// fault, and managed arrays on the GC heap stayed on 4 KiB pages (~3,240 faults, 47–100 ms for
/// an epix10ka quad's 21.6 MB at load 7–15) where this block takes ~15 faults (~2 ms; measured
/// 2026-12-02, `RunProc.Benchmarks acclab`/`natlab`). The arrays are spans over it: a span must
/// not outlive the accumulator (keep the accumulator referenced while its spans are used).
/// Disposing gives the block back at once, otherwise the finalizer does: it is kept for the next
/// accumulator of its size in this process (<see cref="HugeBlocks"/>: a fresh block's first
/// writes are the kernel zeroing its pages), or freed.
/// </remarks>
public sealed unsafe class PixelStatusAccumulator : IDisposable
{
    private byte* _block;
    private readonly long _bytes;
    private readonly bool _huge;
    private readonly long _sum, _below, _above, _max, _min, _status; // byte offsets of the arrays (SumSquares at 0)

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
        // The widest first: every array starts on a 64-byte line.
        static long Up(long x) => (x + 63) & ~63L;
        long n = pixelCount;
        _sum = Up(16 * n);
        _below = _sum + Up(8 * n);
        _above = _below + Up(4 * n);
        _max = _above + Up(4 * n);
        _min = _max + Up(4 * n);
        _status = _min + Up(4 * n);
        var bytes = _status + Up(4 * n);
        _bytes = HugeBlocks.Rounded(bytes);
        _block = (byte*)HugeBlocks.Rent(_bytes, out _huge);
        GC.AddMemoryPressure(_bytes);
        // A merge's sum starts as a copy of its first part: no fill it would overwrite.
        if (uninitialized)
            return;
        // A large block is filled on all cores, a pixel range each (its first writes are the kernel
        // zeroing fresh huge pages: ~4 ms on one core for an epix10ka quad's 21.6 MB here).
        var huge = RunProc.Formats.MappedPages.HugePage;
        var pieces = _bytes >= 4 * huge ? Math.Min(Environment.ProcessorCount, (int)(_bytes / huge)) : 1;
        if (pieces <= 1)
            Fill(0, 1);
        else
            Parallel.For(0, pieces, new ParallelOptions { MaxDegreeOfParallelism = pieces }, k => Fill(k, pieces));
    }

    /// <summary>Piece <paramref name="k"/> of <paramref name="pieces"/> of the pixels set to the empty state (<see cref="InitRange"/>).</summary>
    private void Fill(int k, int pieces)
    {
        var from = (int)((long)PixelCount * k / pieces & ~63L);
        var to = k == pieces - 1 ? PixelCount : (int)((long)PixelCount * (k + 1) / pieces & ~63L);
        InitRange(from, to - from);
    }

    /// <summary>
    /// Sets pixels [p0, p0 + n) to the empty state (no events: zero counts and sums, max below and
    /// min above every value), as the constructor sets all; for an <see cref="Uninitialized"/>
    /// accumulator filled tile by tile.
    /// </summary>
    internal void InitRange(int p0, int n)
    {
        if (p0 < 0 || n < 0 || p0 > PixelCount - n)
            throw new ArgumentOutOfRangeException(nameof(p0), $"pixels {p0}..{p0 + n} are outside the accumulator's 0..{PixelCount}.");
        SumSquares.Slice(p0, n).Clear();
        Sum.Slice(p0, n).Clear();
        BelowLow.Slice(p0, n).Clear();
        AboveHigh.Slice(p0, n).Clear();
        Max.Slice(p0, n).Fill(int.MinValue);
        Min.Slice(p0, n).Fill(int.MaxValue);
    }

    ~PixelStatusAccumulator() => Free();

    /// <summary>Frees the arrays' memory now (spans taken from them must not be used afterwards).</summary>
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        var b = _block;
        if (b == null)
            return;
        _block = null;
        HugeBlocks.Return(b, _bytes, _huge); // kept for the next accumulator of this size, or freed
        GC.RemoveMemoryPressure(_bytes);
    }

    private T* At<T>(long offset) where T : unmanaged =>
        _block != null ? (T*)(_block + offset) : throw new ObjectDisposedException(nameof(PixelStatusAccumulator));

    private int _statusTaken;

    /// <summary>
    /// The status array of the first summary computed from this accumulator: a region of the
    /// block, on its huge pages (a fresh managed int[] is on 4 KiB pages of the GC heap, and its
    /// first writes cost ~530 page faults, 6–10 ms here, for an epix10ka quad, ~2,100 for a
    /// 2.16 Mpx detector). A later summary of the same accumulator gets an array of its own, so
    /// one summary's status never changes under it. The memory keeps the accumulator alive.
    /// </summary>
    internal Memory<int> TakeStatus() => Interlocked.Exchange(ref _statusTaken, 1) == 0
        ? new StatusRegion(this).Memory
        : GC.AllocateUninitializedArray<int>(PixelCount);

    private StatusInScan? _scanned;

    /// <summary>
    /// The status of the last block's scan, written tile by tile into the status region by the
    /// scanning threads while each tile's sums are still in cache (<see cref="PixelStatusKernel.AccumulatePiece"/>'s
    /// afterTile), instead of a pass of its own over the whole accumulator after the scan. For limits
    /// known before the scan (<see cref="PixelStatusSummary.LimitsWithoutArrays"/>); the summary takes
    /// it when its limits and the event count are the ones it was computed with. Null if the status
    /// region is taken already.
    /// </summary>
    internal StatusInScan? BeginStatusInScan(in PixelStatusSummary.StatusLimits limits) =>
        Volatile.Read(ref _statusTaken) == 0 ? new StatusInScan(this, limits) : null;

    /// <summary>The status region and its counts when a scan computed it with <paramref name="limits"/> over this accumulator's current events (once: it takes the region).</summary>
    internal bool TryTakeScannedStatus(in PixelStatusSummary.StatusLimits limits, out Memory<int> status, out long[] perBit, out long bad)
    {
        if (_scanned is { Done: true } s && s.Limits == limits && s.Events == Events && Interlocked.Exchange(ref _statusTaken, 1) == 0)
        {
            status = new StatusRegion(this).Memory;
            perBit = (long[])s.PerBit.Clone();
            bad = s.Bad;
            return true;
        }
        (status, perBit, bad) = (default, Array.Empty<long>(), 0);
        return false;
    }

    /// <summary>Whether a scan computed the status (tests).</summary>
    internal bool HasScannedStatus => _scanned is { Done: true };

    internal sealed class StatusInScan(PixelStatusAccumulator owner, PixelStatusSummary.StatusLimits limits)
    {
        private readonly object _gate = new();
        public PixelStatusSummary.StatusLimits Limits { get; } = limits;
        public long[] PerBit { get; } = new long[8];
        public long Bad { get; private set; }
        public long Events { get; private set; } = -1;
        public bool Done { get; private set; }

        /// <summary>The status of pixels [p0, p0 + n), final in the accumulator (any thread; tiles do not overlap).</summary>
        public void Tile(int p0, int n)
        {
            Span<long> bits = stackalloc long[8];
            var bad = PixelStatusSummary.StatusRange(owner, new Span<int>(owner.At<int>(owner._status), owner.PixelCount), p0, p0 + n, Limits, bits);
            lock (_gate)
            {
                Bad += bad;
                for (var b = 0; b < 8; b++) PerBit[b] += bits[b];
            }
        }

        /// <summary>Every pixel's tile is done: the summary may take the status (for the accumulator's events now).</summary>
        public void Complete()
        {
            Events = owner.Events;
            Done = true;
            owner._scanned = this;
        }
    }

    /// <summary>The block's status region as Memory (native memory: nothing to pin).</summary>
    private sealed class StatusRegion(PixelStatusAccumulator owner) : MemoryManager<int>
    {
        public override Span<int> GetSpan() => new(owner.At<int>(owner._status), owner.PixelCount);
        public override MemoryHandle Pin(int elementIndex = 0) => new(owner.At<int>(owner._status) + elementIndex);
        public override void Unpin() { }
        protected override void Dispose(bool disposing) { }
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

    public Span<int> BelowLow => new(At<int>(_below), PixelCount);
    public Span<int> AboveHigh => new(At<int>(_above), PixelCount);

    /// <summary>Sum of the values inside the gates (|v| &lt; 2^31, so 2^32 events cannot overflow).</summary>
    public Span<long> Sum => new(At<long>(_sum), PixelCount);

    /// <summary>Sum of squares inside the gates; 128-bit so any value type and any event count stay exact.</summary>
    public Span<UInt128> SumSquares => new(At<UInt128>(0), PixelCount);

    /// <summary>Largest value over all events (int.MinValue before the first event).</summary>
    public Span<int> Max => new(At<int>(_max), PixelCount);

    /// <summary>Smallest value over all events (int.MaxValue before the first event).</summary>
    public Span<int> Min => new(At<int>(_min), PixelCount);

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
