using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RunProc.Pixels;

/// <summary>How the mean and rms limits are found.</summary>
public enum PixelLimitMethod
{
    /// <summary>The original rule: absolute limits, or mean ± n·std of the array when n-sigma &gt; 0, clamped by the absolute ones.</summary>
    Absolute,

    /// <summary>median ± SnrMax·MAD of the array (std where MAD is 0), clamped by the absolute limits (det_pixel_status).</summary>
    Robust,
}

/// <summary>The status bits of the old tool (downstream tools read these values).</summary>
[Flags]
public enum PixelStatusBits
{
    None = 0,
    RmsHigh = 1,
    SaturatedFraction = 2,
    ColdFraction = 4,
    RmsLow = 8,
    MeanHigh = 16,
    MeanLow = 32,
    MaxHigh = 64,
    MinLow = 128,
}

/// <summary>Limits and gates of the pixel-status process, with the original defaults.</summary>
public sealed record PixelStatusOptions
{
    public PixelLimitMethod Method { get; init; } = PixelLimitMethod.Absolute;
    public double IntensityLow { get; init; } = 1;
    public double IntensityHigh { get; init; } = 16000;
    public double RmsLow { get; init; } = 0.1;
    public double RmsHigh { get; init; } = 16000;
    public double FractionLimit { get; init; } = 0.2;
    public double IntensityLowSigma { get; init; }
    public double IntensityHighSigma { get; init; }
    public double RmsLowSigma { get; init; }
    public double RmsHighSigma { get; init; }
    public double SnrMax { get; init; } = 8;

    /// <summary>The integer gates of the accumulation: good = ceil(IntensityLow) &lt;= v &lt;= floor(IntensityHigh).</summary>
    public (int Low, int High) Gates()
    {
        var lo = Math.Ceiling(IntensityLow);
        var hi = Math.Floor(IntensityHigh);
        return ((int)Math.Clamp(lo, int.MinValue, int.MaxValue), (int)Math.Clamp(hi, int.MinValue, int.MaxValue));
    }

    public void Validate()
    {
        if (!(IntensityLow <= IntensityHigh))
            throw new ArgumentException($"IntensityLow {IntensityLow} must not be above IntensityHigh {IntensityHigh}.");
        if (!(RmsLow <= RmsHigh))
            throw new ArgumentException($"RmsLow {RmsLow} must not be above RmsHigh {RmsHigh}.");
        if (!(FractionLimit >= 0 && FractionLimit <= 1))
            throw new ArgumentException($"FractionLimit {FractionLimit} must be between 0 and 1.");
        if (IntensityLowSigma < 0 || IntensityHighSigma < 0 || RmsLowSigma < 0 || RmsHighSigma < 0 || !(SnrMax > 0))
            throw new ArgumentException("the n-sigma parameters must be 0 or more and SnrMax more than 0.");
    }
}

/// <summary>
/// The end-of-run arrays of one detector: mean, rms, fractions, max/min, the 8-bit status and the
/// mask, with the limits used and the count of pixels per bit.
/// </summary>
/// <remarks>
/// Only what every run needs is computed up front: the status and its counts, in one pass that
/// derives each pixel's mean, rms and fractions in registers. The other arrays (Mean, Rms,
/// FractionLow/High, Max, Min, Mask) are computed from the accumulator on first use, by the same
/// code, so they are bit-identical to the values the status was decided on; a run that writes only
/// the status (-ArrayType sta) never allocates them. Where the limits need the arrays (n-sigma or
/// the robust method) Mean and Rms are computed first. The accumulator must not change after
/// <see cref="Compute"/> (a first use after a change is refused).
/// </remarks>
public sealed class PixelStatusSummary
{
    private readonly PixelStatusAccumulator _acc;
    private readonly long _events;
    private double[]? _mean, _rms, _flo, _fhi;
    private int[]? _max, _min, _mask, _statusArray;
    private Memory<int> _status; // set once in Compute

    private PixelStatusSummary(PixelStatusAccumulator acc)
    {
        _acc = acc;
        _events = acc.Events;
    }

    public long Events => _events;

    /// <summary>Pixels of the detector (the length of every per-pixel array).</summary>
    public int PixelCount => _acc.PixelCount;
    public double[] Mean => Lazy(ref _mean, MeanRms);
    public double[] Rms => Lazy(ref _rms, MeanRms);
    public double[] FractionLow => Lazy(ref _flo, Fractions);
    public double[] FractionHigh => Lazy(ref _fhi, Fractions);

    /// <summary>Largest value per pixel (0 where there were no events), as an array of its own (a copy; the writers read <see cref="MaxValues"/>).</summary>
    public int[] Max => Lazy(ref _max, () => _max = Extremes(_acc.Max));

    /// <summary>Smallest value per pixel (0 where there were no events), as an array of its own (a copy; the writers read <see cref="MinValues"/>).</summary>
    public int[] Min => Lazy(ref _min, () => _min = Extremes(_acc.Min));

    /// <summary>
    /// <see cref="Max"/> without the copy: the accumulator's own array (or zeros without events).
    /// A copy is 8.6 MB of fresh memory for a 2.16 Mpx detector, and on this VM the first touch of
    /// memory is what the outputs pay for. Valid while the accumulator is referenced and unchanged
    /// (checked when taken, as the lazy arrays are).
    /// </summary>
    public ReadOnlyMemory<int> MaxValues => ExtremeValues(max: true);

    /// <summary><see cref="Min"/> without the copy (as <see cref="MaxValues"/>).</summary>
    public ReadOnlyMemory<int> MinValues => ExtremeValues(max: false);

    private int[]? _zeros;

    private ReadOnlyMemory<int> ExtremeValues(bool max)
    {
        if (Volatile.Read(ref max ? ref _max : ref _min) is { } copied)
            return copied;
        Unchanged();
        if (_events == 0)
            return Lazy(ref _zeros, () => _zeros = new int[_acc.PixelCount]);
        return new AccumulatorInts(_acc, max).Memory;
    }

    /// <summary>The accumulator's max or min array as Memory (native memory: nothing to pin; the manager keeps the accumulator alive).</summary>
    private sealed unsafe class AccumulatorInts(PixelStatusAccumulator acc, bool max) : System.Buffers.MemoryManager<int>
    {
        public override Span<int> GetSpan() => max ? acc.Max : acc.Min;

        public override System.Buffers.MemoryHandle Pin(int elementIndex = 0) =>
            new((int*)Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(GetSpan())) + elementIndex, default, this);

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }

    /// <summary>
    /// The 8-bit status per pixel (bits 0..7 as <see cref="CountPerBit"/>), as an array of its own,
    /// copied on first use from <see cref="StatusValues"/> (the writers read that, without a copy).
    /// </summary>
    public int[] Status
    {
        get
        {
            if (Volatile.Read(ref _statusArray) is { } done)
                return done;
            var array = System.Runtime.InteropServices.MemoryMarshal.TryGetArray<int>(_status, out var seg) && seg.Offset == 0 && seg.Count == seg.Array!.Length
                ? seg.Array : _status.ToArray();
            Interlocked.CompareExchange(ref _statusArray, array, null);
            return _statusArray!;
        }
    }

    /// <summary>The status where the summary computed it (in the accumulator's memory: valid while the summary is referenced).</summary>
    public ReadOnlyMemory<int> StatusValues => _status;

    /// <summary>
    /// <see cref="FractionLow"/> (<paramref name="high"/> false) or <see cref="FractionHigh"/> of the
    /// pixels [first, first + dst.Length) into <paramref name="dst"/>, by the same code: the HDF5
    /// file writes them a block at a time instead of holding 2 × 17 MB of new arrays.
    /// </summary>
    internal unsafe void FractionsInto(bool high, int first, Span<double> dst)
    {
        if ((high ? _fhi : _flo) is { } done)
        {
            done.AsSpan(first, dst.Length).CopyTo(dst);
            return;
        }
        Unchanged();
        var counts = (high ? _acc.AboveHigh : _acc.BelowLow).Slice(first, dst.Length);
        fixed (int* c = counts)
        fixed (double* d = dst)
            FractionRange(c, d, dst.Length, _acc.Events);
    }

    /// <summary>count / events per pixel (0 without events): <see cref="FractionsOf"/>'s arithmetic over pointers, 8 lanes at a time where AVX-512 is.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void FractionRange(int* counts, double* dst, int n, long events)
    {
        if (events <= 0)
        {
            new Span<double>(dst, n).Clear();
            return;
        }
        var e = (double)events;
        var p = 0;
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            var ve = Vector512.Create(e);
            for (; p + 8 <= n; p += 8)
                (Avx512F.ConvertToVector512Double(Vector256.Load(counts + p)) / ve).Store(dst + p);
        }
        for (; p < n; p++)
            dst[p] = counts[p] / e;
    }

    /// <summary>
    /// <see cref="Mean"/> and/or <see cref="Rms"/> of the pixels [first, first + length) into the
    /// given spans (either may be empty: not asked; else both the same length), by the same
    /// arithmetic, without the 2 × 17 MB arrays: the text arrays, the HDF5 file and the pictures
    /// make them a block at a time from the accumulator (fresh memory is what is dear here, and
    /// reading the accumulator again is cheap).
    /// </summary>
    internal unsafe void MomentsInto(int first, Span<double> mean, Span<double> rms)
    {
        var n = Math.Max(mean.Length, rms.Length);
        if (mean.Length != 0 && rms.Length != 0 && mean.Length != rms.Length)
            throw new ArgumentException("mean and rms spans of different lengths.");
        if (_mean is { } m && _rms is { } r)
        {
            m.AsSpan(first, mean.Length).CopyTo(mean);
            r.AsSpan(first, rms.Length).CopyTo(rms);
            return;
        }
        Unchanged();
        if ((uint)first > (uint)_acc.PixelCount || n > _acc.PixelCount - first)
            throw new ArgumentOutOfRangeException(nameof(first), first, $"pixels {first}..{first + n} outside the detector's {_acc.PixelCount}.");
        var acc = _acc;
        fixed (int* below = acc.BelowLow, above = acc.AboveHigh)
        fixed (long* sum = acc.Sum)
        fixed (UInt128* sqs = acc.SumSquares)
        fixed (double* mp = mean, rp = rms)
            MomentsRange(acc.Events, below + first, above + first, sum + first, sqs + first, mean.Length == 0 ? null : mp, rms.Length == 0 ? null : rp, n);
    }

    /// <summary>
    /// <see cref="Moments"/> over pointers for n pixels (mean or rms null: not written). The
    /// AVX-512 lanes do the scalar formula's operations in the same order (correctly rounded
    /// conversions, divisions and square root, no fused multiply-add), so the same doubles; a
    /// group with a square sum at or past 2^64 goes through the scalar formula (as the status pass).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MomentsRange(long events, int* below, int* above, long* sum, UInt128* sqs, double* mean, double* rms, int n)
    {
        var sq64 = (ulong*)sqs; // little-endian UInt128: the low half, then the high half
        var p = 0;
        if (VectorStatus && Avx512DQ.IsSupported)
        {
            var vEvents = Vector512.Create(events);
            for (; p + 8 <= n; p += 8)
            {
                if (!Moments8(p, vEvents, below, above, sum, sq64, rms != null, out _, out _, out var m, out var r))
                    break; // the scalar loop takes it from here (UInt128 -> double)
                if (mean != null)
                    m.Store(mean + p);
                if (rms != null)
                    r.Store(rms + p);
            }
        }
        for (; p < n; p++)
        {
            MomentOf(events, below, above, sum, sqs, p, out var mv, out var rv);
            if (mean != null) mean[p] = mv;
            if (rms != null) rms[p] = rv;
        }
    }

    /// <summary><see cref="Moments"/> of pixel p over pointers (the scalar lane of <see cref="MomentsRange"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void MomentOf(long events, int* below, int* above, long* sum, UInt128* sqs, long p, out double mean, out double rms)
    {
        var good = events - below[p] - above[p];
        mean = 0;
        rms = 0;
        if (good > 0)
        {
            var m = sum[p] / (double)good;
            var sq64 = (ulong*)sqs;
            var high = sq64[2 * p + 1];
            var sqd = high == 0 ? (double)sq64[2 * p] : (double)sqs[p];
            var v = sqd / good - m * m;
            mean = m;
            rms = v > 0 ? Math.Sqrt(v) : 0;
        }
    }

    /// <summary>Mean and rms of every <paramref name="stride"/>-th pixel from 0 (mean.Length of them), e.g. a sample for quantiles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal unsafe void MomentsSample(int stride, Span<double> mean, Span<double> rms)
    {
        if (stride < 1 || rms.Length != mean.Length || (long)(mean.Length - 1) * stride >= _acc.PixelCount)
            throw new ArgumentOutOfRangeException(nameof(stride), stride, $"{mean.Length} samples {stride} pixels apart do not fit {_acc.PixelCount} pixels.");
        if (_mean is { } ma && _rms is { } ra)
        {
            for (var j = 0; j < mean.Length; j++)
                (mean[j], rms[j]) = (ma[j * stride], ra[j * stride]);
            return;
        }
        Unchanged();
        var acc = _acc;
        fixed (int* below = acc.BelowLow, above = acc.AboveHigh)
        fixed (long* sum = acc.Sum)
        fixed (UInt128* sqs = acc.SumSquares)
        fixed (double* mp = mean, rp = rms)
            for (var j = 0; j < mean.Length; j++)
                MomentOf(acc.Events, below, above, sum, sqs, (long)j * stride, out mp[j], out rp[j]);
    }

    private bool Unchanged() => _acc.Events == _events
        ? true
        : throw new InvalidOperationException($"the accumulator has {_acc.Events} events now, {_events} when the summary was computed: compute the summary again.");

    /// <summary>1 where the status is 0 (a good pixel), else 0.</summary>
    public int[] Mask => Lazy(ref _mask, () =>
    {
        var status = _status.Span;
        var mask = FreshInt32(status.Length);
        for (var p = 0; p < mask.Length; p++) mask[p] = status[p] == 0 ? 1 : 0;
        _mask = mask;
    });

    public (double Low, double High) MeanLimits { get; private set; }
    public (double Low, double High) RmsLimits { get; private set; }

    /// <summary>Pixels with each bit set, index = bit number 0..7.</summary>
    public long[] CountPerBit { get; private set; } = new long[8];

    /// <summary>Pixels with any bit set.</summary>
    public long BadPixels { get; private set; }

    private readonly object _gate = new();

    private T[] Lazy<T>(ref T[]? field, Action compute)
    {
        if (Volatile.Read(ref field) is { } done)
            return done;
        lock (_gate)
        {
            if (field is null)
            {
                if (_acc.Events != _events)
                    throw new InvalidOperationException($"the accumulator has {_acc.Events} events now, {_events} when the summary was computed: compute the summary again.");
                compute();
            }
            return field!;
        }
    }

    private void MeanRms()
    {
        var mean = FreshFloat64(_acc.PixelCount);
        var rms = FreshFloat64(_acc.PixelCount);
        ForRanges(_acc.PixelCount, (a, b) => MomentsInto(a, mean.AsSpan(a, b - a), rms.AsSpan(a, b - a)));
        _mean = mean;
        _rms = rms;
    }

    private void Fractions()
    {
        var flo = FreshFloat64(_acc.PixelCount);
        var fhi = FreshFloat64(_acc.PixelCount);
        ForRanges(_acc.PixelCount, (a, b) =>
        {
            FractionsInto(false, a, flo.AsSpan(a, b - a));
            FractionsInto(true, a, fhi.AsSpan(a, b - a));
        });
        _flo = flo;
        _fhi = fhi;
    }

    /// <summary>
    /// A new per-pixel array, unzeroed and advised onto 2 MiB pages before its first write (as the
    /// accumulator's): the summary's arrays are fresh memory, and on this VM the first touch of
    /// each 4 KiB page is what costs (~4,200 faults for a 2.16 Mpx float64 array, a few on 2 MiB pages).
    /// Non-generic: ReadyToRun does not precompile RunProc's generics over the runtime's types.
    /// </summary>
    private static unsafe int[] FreshInt32(int length)
    {
        var array = GC.AllocateUninitializedArray<int>(length);
        fixed (int* p = array)
            AdviseHugePages(p, (long)length * sizeof(int));
        return array;
    }

    private static unsafe double[] FreshFloat64(int length)
    {
        var array = GC.AllocateUninitializedArray<double>(length);
        fixed (double* p = array)
            AdviseHugePages(p, (long)length * sizeof(double));
        return array;
    }

    private static unsafe void AdviseHugePages(void* p, long bytes)
    {
        if (bytes >= RunProc.Formats.MappedPages.HugePage)
            RunProc.Formats.MappedPages.AdviseHugePages(p, bytes);
    }

    private int[] Extremes(ReadOnlySpan<int> values) => _events > 0 ? values.ToArray() : new int[values.Length];

    /// <summary>
    /// The old formula in float64: mean = sum/n, rms = sqrt(sumsq/n - mean²) over the n events
    /// inside the gates; a rounding-negative variance is taken as 0 (numpy would give nan there);
    /// 0 and 0 where no event was inside the gates. The one place these are computed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Moments(PixelStatusAccumulator acc, int p, out double mean, out double rms)
    {
        var good = acc.Events - acc.BelowLow[p] - acc.AboveHigh[p];
        if (good > 0)
        {
            var m = acc.Sum[p] / (double)good;
            var sq = acc.SumSquares[p];
            var sqd = sq <= ulong.MaxValue ? (double)(ulong)sq : (double)sq; // UInt128→double is slow; exact either way
            var v = sqd / good - m * m;
            mean = m;
            rms = v > 0 ? Math.Sqrt(v) : 0;
        }
        else
        {
            mean = 0;
            rms = 0;
        }
    }

    /// <summary>The fractions of events below the low and above the high gate (0 and 0 without events).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (double Low, double High) FractionsOf(PixelStatusAccumulator acc, int p)
    {
        if (acc.Events <= 0)
            return (0, 0);
        var events = (double)acc.Events;
        return (acc.BelowLow[p] / events, acc.AboveHigh[p] / events);
    }

    /// <summary>Per-pixel work split over the cores in contiguous ranges (2M pixels would otherwise cost more than a short run's scan).</summary>
    private static void ForRanges(int n, Action<int, int> range)
    {
        var parts = Math.Max(1, Math.Min(Environment.ProcessorCount, n / 65536));
        if (parts == 1)
        {
            range(0, n);
            return;
        }
        Parallel.For(0, parts, t => range((int)((long)n * t / parts), (int)((long)n * (t + 1) / parts)));
    }

    public static PixelStatusSummary Compute(PixelStatusAccumulator acc, PixelStatusOptions options)
    {
        ArgumentNullException.ThrowIfNull(acc);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var n = acc.PixelCount;
        var summary = new PixelStatusSummary(acc);
        (double, double) meanLim, rmsLim;
        if (options.Method == PixelLimitMethod.Absolute)
        {
            // Limits from the arrays only with n-sigma; otherwise the arrays are not needed here.
            meanLim = Evaluate(options.IntensityLowSigma > 0 || options.IntensityHighSigma > 0 ? summary.Mean : Array.Empty<double>(),
                options.IntensityLowSigma, options.IntensityHighSigma, options.IntensityLow, options.IntensityHigh);
            rmsLim = Evaluate(options.RmsLowSigma > 0 || options.RmsHighSigma > 0 ? summary.Rms : Array.Empty<double>(),
                options.RmsLowSigma, options.RmsHighSigma, options.RmsLow, options.RmsHigh);
        }
        else
        {
            meanLim = Robust(summary.Mean, options.SnrMax, options.IntensityLow, options.IntensityHigh);
            rmsLim = Robust(summary.Rms, options.SnrMax, options.RmsLow, options.RmsHigh);
        }

        var limits = LimitsOf(options, meanLim, rmsLim, acc.Events);
        summary.MeanLimits = meanLim;
        summary.RmsLimits = rmsLim;
        // The status the last block's scan computed with these limits (the default options), else a pass of its own.
        if (acc.TryTakeScannedStatus(limits, out var scanned, out var scannedBits, out var scannedBad))
        {
            summary._status = scanned;
            summary.CountPerBit = scannedBits;
            summary.BadPixels = scannedBad;
            return summary;
        }
        var status = summary._status = acc.TakeStatus();
        var perBit = new long[8];
        long bad = 0;
        var gate = new object();
        ForRanges(n, (a, b) =>
        {
            Span<long> localBits = stackalloc long[8];
            var localBad = StatusRange(acc, status.Span, a, b, limits, localBits);
            lock (gate)
            {
                bad += localBad;
                for (var bit = 0; bit < 8; bit++) perBit[bit] += localBits[bit];
            }
        });
        summary.CountPerBit = perBit;
        summary.BadPixels = bad;
        return summary;
    }

    /// <summary>
    /// Bits 6/7 flag single events outside the intensity range: with the original rule that is
    /// the evaluated mean range (as the reference); with the robust rule a median ± k·MAD band
    /// is far too narrow for single events, so there they use the absolute gates.
    /// </summary>
    private static StatusLimits LimitsOf(PixelStatusOptions options, (double Low, double High) meanLim, (double Low, double High) rmsLim, long events)
    {
        var (extLo, extHi) = options.Method == PixelLimitMethod.Absolute ? meanLim : (options.IntensityLow, options.IntensityHigh);
        return new StatusLimits(rmsLim.Low, rmsLim.High, meanLim.Low, meanLim.High, options.FractionLimit,
            events > 0 ? extLo : double.NegativeInfinity, events > 0 ? extHi : double.PositiveInfinity);
    }

    /// <summary>
    /// The limits <see cref="Compute"/> decides on for <paramref name="events"/> events when they need
    /// none of the arrays (the absolute method without n-sigma: the default options), so the status
    /// can be computed during the scan; null otherwise.
    /// </summary>
    internal static StatusLimits? LimitsWithoutArrays(PixelStatusOptions options, long events)
    {
        if (options.Method != PixelLimitMethod.Absolute || options.IntensityLowSigma > 0 || options.IntensityHighSigma > 0 || options.RmsLowSigma > 0 || options.RmsHighSigma > 0)
            return null;
        return LimitsOf(options, Evaluate(Array.Empty<double>(), 0, 0, options.IntensityLow, options.IntensityHigh),
            Evaluate(Array.Empty<double>(), 0, 0, options.RmsLow, options.RmsHigh), events);
    }

    /// <summary>The limits a pixel's status is decided on; the extremes' limits are infinite without events (bits 6/7 never set then).</summary>
    internal readonly record struct StatusLimits(double RmsLow, double RmsHigh, double MeanLow, double MeanHigh, double Fraction, double ExtremeLow, double ExtremeHigh);

    /// <summary>
    /// The status of pixels [a, b) and their count per bit: the arithmetic of <see cref="Moments"/>
    /// and <see cref="FractionsOf"/> in the same order (so the same doubles), over raw pointers and
    /// optimised from the first call (the per-pixel loop ran at Tier0/OSR in every job before:
    /// 12.8 ms CPU for an epix10ka quad, 540,672 px; measured 2026-12-02).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe long StatusRange(PixelStatusAccumulator acc, Span<int> status, int a, int b, in StatusLimits lim, Span<long> bits)
    {
        var events = acc.Events;
        var eventsD = (double)events;
        var withEvents = events > 0;
        long bad = 0;
        long b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0, b7 = 0;
        double rmsLo = lim.RmsLow, rmsHi = lim.RmsHigh, meanLo = lim.MeanLow, meanHi = lim.MeanHigh, frac = lim.Fraction, extLo = lim.ExtremeLow, extHi = lim.ExtremeHigh;
        fixed (int* below = acc.BelowLow, above = acc.AboveHigh, max = acc.Max, min = acc.Min, st = status)
        fixed (long* sum = acc.Sum)
        fixed (UInt128* sqs = acc.SumSquares)
        {
            var sq64 = (ulong*)sqs; // little-endian UInt128: the low half, then the high half
            var p = a;
            if (VectorStatus && Avx512DQ.IsSupported)
                p = StatusVector512(a, b, events, below, above, sum, sq64, max, min, st, lim, ref bad, ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7);
            for (; p < b; p++)
            {
                int lo = below[p], hi = above[p];
                var good = events - lo - hi;
                double mean = 0, rms = 0;
                if (good > 0)
                {
                    var m = sum[p] / (double)good;
                    var high = sq64[2 * p + 1];
                    var sqd = high == 0 ? (double)sq64[2 * p] : (double)sqs[p];
                    var v = sqd / good - m * m;
                    mean = m;
                    rms = v > 0 ? Math.Sqrt(v) : 0;
                }
                double flo = 0, fhi = 0;
                if (withEvents)
                {
                    flo = lo / eventsD;
                    fhi = hi / eventsD;
                }
                var s = 0;
                if (rms > rmsHi) { s |= 1; b0++; }
                if (fhi > frac) { s |= 2; b1++; }
                if (flo > frac) { s |= 4; b2++; }
                if (rms < rmsLo) { s |= 8; b3++; }
                if (mean > meanHi) { s |= 16; b4++; }
                if (mean < meanLo) { s |= 32; b5++; }
                if (max[p] > extHi) { s |= 64; b6++; }
                if (min[p] < extLo) { s |= 128; b7++; }
                st[p] = s;
                if (s != 0) bad++;
            }
        }
        bits[0] = b0; bits[1] = b1; bits[2] = b2; bits[3] = b3; bits[4] = b4; bits[5] = b5; bits[6] = b6; bits[7] = b7;
        return bad;
    }

    private static readonly Lazy<Task> WarmUp = new(() => Task.Run(() =>
    {
        // Not precompiled (AggressiveOptimization, AVX-512): compiled on first call, on the job's
        // critical path (the status pass right after the last frame, then the outputs) unless here.
        foreach (var name in new[] { nameof(StatusRange), nameof(StatusVector512), nameof(MomentsRange), nameof(FractionRange), nameof(MomentsSample) })
            foreach (var m in typeof(PixelStatusSummary).GetMethods(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic))
                if (m.Name == name)
                {
                    try { RuntimeHelpers.PrepareMethod(m.MethodHandle); }
                    catch (Exception ex) when (ex is not OutOfMemoryException) { } // only a head start
                }
    }));

    /// <summary>Compiles the summary's and the outputs' optimised loops on a background thread (once per process), while the job opens and reads its files.</summary>
    public static void StartWarmUp() => _ = WarmUp.Value;

    /// <summary>Whether the status pass may use its AVX-512 loop (false: the scalar loop only; the tests compare both).</summary>
    internal static bool VectorStatus = true;

    /// <summary>
    /// The status of 8 pixels at a time with AVX-512 doubles, from <paramref name="a"/> up to the
    /// last whole group of 8 before <paramref name="b"/>; returns where the scalar loop goes on.
    /// The scalar loop's arithmetic lane by lane: the same correctly rounded conversions
    /// (vcvtqq2pd/vcvtuqq2pd as the scalar vcvtsi2sd/vcvtusi2sd), divisions and square root, no
    /// fused multiply-add, so the same doubles and the same bits. A group with a square sum at
    /// or past 2^64 goes through the scalar formula. The divisions bound the scalar loop (~4 ms
    /// for an epix10ka quad on one thread).
    /// </summary>
    /// <summary>
    /// Mean and rms of pixels p..p+7 as <see cref="Moments"/> computes them (the same operations in
    /// the same order, so the same doubles), with their gate counts widened; false when a square sum
    /// of the group is at or past 2^64 (the caller's scalar loop takes it). rms only <paramref name="withRms"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe bool Moments8(int p, Vector512<long> vEvents, int* below, int* above, long* sum, ulong* sq64, bool withRms,
        out Vector512<long> lo, out Vector512<long> hi, out Vector512<double> mean, out Vector512<double> rms)
    {
        // vpermt2q indices: the low (even) and high (odd) words of 8 UInt128s in two vectors.
        var q0 = Vector512.Load(sq64 + 2 * p);
        var q1 = Vector512.Load(sq64 + 2 * p + 8);
        lo = hi = default;
        mean = rms = default;
        if (Avx512F.PermuteVar8x64x2(q0, Vector512.Create(1UL, 3, 5, 7, 9, 11, 13, 15), q1) != Vector512<ulong>.Zero)
            return false;
        lo = Avx512F.ConvertToVector512Int64(Vector256.Load(below + p));
        hi = Avx512F.ConvertToVector512Int64(Vector256.Load(above + p));
        var goodL = vEvents - lo - hi;
        var good = Vector512.ConvertToDouble(goodL);
        var hasGood = Vector512.GreaterThan(goodL, Vector512<long>.Zero).AsDouble();
        var m = Vector512.ConvertToDouble(Vector512.Load(sum + p)) / good;
        mean = hasGood & m;
        if (withRms)
        {
            var v = Vector512.ConvertToDouble(Avx512F.PermuteVar8x64x2(q0, Vector512.Create(0UL, 2, 4, 6, 8, 10, 12, 14), q1)) / good - m * m;
            rms = hasGood & Vector512.GreaterThan(v, Vector512<double>.Zero) & Vector512.Sqrt(v);
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int StatusVector512(int a, int b, long events, int* below, int* above, long* sum, ulong* sq64, int* max, int* min, int* st, in StatusLimits lim,
        ref long bad, ref long b0, ref long b1, ref long b2, ref long b3, ref long b4, ref long b5, ref long b6, ref long b7)
    {
        var vEvents = Vector512.Create(events);
        var eventsD = Vector512.Create((double)events);
        var withEvents = events > 0 ? Vector512<double>.AllBitsSet : Vector512<double>.Zero;
        var rmsLo = Vector512.Create(lim.RmsLow); var rmsHi = Vector512.Create(lim.RmsHigh);
        var meanLo = Vector512.Create(lim.MeanLow); var meanHi = Vector512.Create(lim.MeanHigh);
        var frac = Vector512.Create(lim.Fraction); var extLo = Vector512.Create(lim.ExtremeLow); var extHi = Vector512.Create(lim.ExtremeHigh);
        Vector512<long> bit0 = Vector512.Create(1L), bit1 = Vector512.Create(2L), bit2 = Vector512.Create(4L), bit3 = Vector512.Create(8L),
            bit4 = Vector512.Create(16L), bit5 = Vector512.Create(32L), bit6 = Vector512.Create(64L), bit7 = Vector512.Create(128L);
        var p = a;
        for (; p + 8 <= b; p += 8)
        {
            if (!Moments8(p, vEvents, below, above, sum, sq64, withRms: true, out var lo, out var hi, out var mean, out var rms))
                break; // the scalar loop takes it from here (UInt128 → double)
            // Fractions: 0 / events is +0 exactly, so a group with no gated values (the normal
            // case) needs neither division.
            Vector512<double> flo, fhi;
            if ((lo | hi) == Vector512<long>.Zero)
                flo = fhi = Vector512<double>.Zero;
            else
            {
                flo = withEvents & (Vector512.ConvertToDouble(lo) / eventsD);
                fhi = withEvents & (Vector512.ConvertToDouble(hi) / eventsD);
            }
            var mx = Avx512F.ConvertToVector512Double(Vector256.Load(max + p));
            var mn = Avx512F.ConvertToVector512Double(Vector256.Load(min + p));
            var c0 = Vector512.GreaterThan(rms, rmsHi).AsInt64();
            var c1 = Vector512.GreaterThan(fhi, frac).AsInt64();
            var c2 = Vector512.GreaterThan(flo, frac).AsInt64();
            var c3 = Vector512.LessThan(rms, rmsLo).AsInt64();
            var c4 = Vector512.GreaterThan(mean, meanHi).AsInt64();
            var c5 = Vector512.LessThan(mean, meanLo).AsInt64();
            var c6 = Vector512.GreaterThan(mx, extHi).AsInt64();
            var c7 = Vector512.LessThan(mn, extLo).AsInt64();
            // The status word of each lane from the compares (all ones or zero) and their bits.
            var word = (c0 & bit0) | (c1 & bit1) | (c2 & bit2) | (c3 & bit3) | (c4 & bit4) | (c5 & bit5) | (c6 & bit6) | (c7 & bit7);
            Avx512F.ConvertToVector256Int32(word).Store(st + p);
            if (word == Vector512<long>.Zero)
                continue; // no bit set in the group: no counts to add
            b0 += BitOperations.PopCount(c0.ExtractMostSignificantBits()); b1 += BitOperations.PopCount(c1.ExtractMostSignificantBits());
            b2 += BitOperations.PopCount(c2.ExtractMostSignificantBits()); b3 += BitOperations.PopCount(c3.ExtractMostSignificantBits());
            b4 += BitOperations.PopCount(c4.ExtractMostSignificantBits()); b5 += BitOperations.PopCount(c5.ExtractMostSignificantBits());
            b6 += BitOperations.PopCount(c6.ExtractMostSignificantBits()); b7 += BitOperations.PopCount(c7.ExtractMostSignificantBits());
            bad += BitOperations.PopCount(Vector512.GreaterThan(word, Vector512<long>.Zero).ExtractMostSignificantBits());
        }
        return p;
    }

    /// <summary>The original evaluate(): n-sigma limits around the array mean where asked, clamped by the absolute ones.</summary>
    public static (double Low, double High) Evaluate(double[] arr, double nsigLow, double nsigHigh, double absLow, double absHigh)
    {
        double lo = absLow, hi = absHigh;
        if (nsigLow > 0 || nsigHigh > 0)
        {
            var (m, s) = MeanStd(arr);
            if (nsigLow > 0) lo = m - nsigLow * s;
            if (nsigHigh > 0) hi = m + nsigHigh * s;
        }
        return (Math.Max(lo, absLow), Math.Min(hi, absHigh));
    }

    /// <summary>median ± k·MAD (std where MAD is 0), clamped by the absolute limits.</summary>
    public static (double Low, double High) Robust(double[] arr, double k, double absLow, double absHigh)
    {
        var sorted = (double[])arr.Clone();
        Array.Sort(sorted);
        var med = Median(sorted);
        for (var i = 0; i < sorted.Length; i++)
            sorted[i] = Math.Abs(arr[i] - med);
        Array.Sort(sorted);
        var mad = Median(sorted);
        if (mad == 0)
            mad = MeanStd(arr).Std;
        return (Math.Max(med - k * mad, absLow), Math.Min(med + k * mad, absHigh));
    }

    private static double Median(double[] sorted)
    {
        var n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static (double Mean, double Std) MeanStd(double[] arr)
    {
        double sum = 0;
        foreach (var x in arr) sum += x;
        var m = sum / arr.Length;
        double ss = 0;
        foreach (var x in arr) ss += (x - m) * (x - m);
        return (m, Math.Sqrt(ss / arr.Length));
    }
}
