using System.Runtime.CompilerServices;

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
    private int[]? _max, _min, _mask;

    private PixelStatusSummary(PixelStatusAccumulator acc, int[] status)
    {
        _acc = acc;
        _events = acc.Events;
        Status = status;
    }

    public long Events => _events;
    public double[] Mean => Lazy(ref _mean, MeanRms);
    public double[] Rms => Lazy(ref _rms, MeanRms);
    public double[] FractionLow => Lazy(ref _flo, Fractions);
    public double[] FractionHigh => Lazy(ref _fhi, Fractions);

    /// <summary>Largest value per pixel (0 where there were no events).</summary>
    public int[] Max => Lazy(ref _max, () => _max = Extremes(_acc.Max));

    /// <summary>Smallest value per pixel (0 where there were no events).</summary>
    public int[] Min => Lazy(ref _min, () => _min = Extremes(_acc.Min));

    public int[] Status { get; }

    /// <summary>
    /// <see cref="Max"/> for the outputs, without its copy: the accumulator's own array when there
    /// were events (the same values; 8.6 MB of fresh pages fewer for a 2.16 Mpx detector, and
    /// fresh pages are dear on this VM). Internal: a caller must not write to it.
    /// </summary>
    internal int[] MaxForOutput => _max ?? (Unchanged() && _events > 0 ? _acc.Max : Max);

    /// <summary><see cref="Min"/> for the outputs, without its copy (as <see cref="MaxForOutput"/>).</summary>
    internal int[] MinForOutput => _min ?? (Unchanged() && _events > 0 ? _acc.Min : Min);

    /// <summary>
    /// <see cref="FractionLow"/> (<paramref name="high"/> false) or <see cref="FractionHigh"/> of the
    /// pixels [first, first + dst.Length) into <paramref name="dst"/>, by the same code: the HDF5
    /// file writes them a block at a time instead of holding 2 × 17 MB of new arrays.
    /// </summary>
    internal void FractionsInto(bool high, int first, Span<double> dst)
    {
        if ((high ? _fhi : _flo) is { } done)
        {
            done.AsSpan(first, dst.Length).CopyTo(dst);
            return;
        }
        Unchanged();
        for (var i = 0; i < dst.Length; i++)
        {
            var (low, hi) = FractionsOf(_acc, first + i);
            dst[i] = high ? hi : low;
        }
    }

    private bool Unchanged() => _acc.Events == _events
        ? true
        : throw new InvalidOperationException($"the accumulator has {_acc.Events} events now, {_events} when the summary was computed: compute the summary again.");

    /// <summary>1 where the status is 0 (a good pixel), else 0.</summary>
    public int[] Mask => Lazy(ref _mask, () =>
    {
        var mask = FreshInt32(Status.Length);
        for (var p = 0; p < mask.Length; p++) mask[p] = Status[p] == 0 ? 1 : 0;
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
        var acc = _acc;
        ForRanges(acc.PixelCount, (a, b) =>
        {
            for (var p = a; p < b; p++)
                Moments(acc, p, out mean[p], out rms[p]);
        });
        _mean = mean;
        _rms = rms;
    }

    private void Fractions()
    {
        var flo = FreshFloat64(_acc.PixelCount);
        var fhi = FreshFloat64(_acc.PixelCount);
        var acc = _acc;
        ForRanges(acc.PixelCount, (a, b) =>
        {
            for (var p = a; p < b; p++)
                (flo[p], fhi[p]) = FractionsOf(acc, p);
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

    private int[] Extremes(int[] values) => _events > 0 ? (int[])values.Clone() : new int[values.Length];

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
        var status = FreshInt32(n);
        var summary = new PixelStatusSummary(acc, status);
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

        // Bits 6/7 flag single events outside the intensity range: with the original rule that is
        // the evaluated mean range (as the reference); with the robust rule a median ± k·MAD band
        // is far too narrow for single events, so there they use the absolute gates.
        var (extLo, extHi) = options.Method == PixelLimitMethod.Absolute ? meanLim : (options.IntensityLow, options.IntensityHigh);
        var perBit = new long[8];
        long bad = 0;
        var any = acc.Events > 0;
        var (rmsLo, rmsHi) = rmsLim;
        var (meanLo, meanHi) = meanLim;
        var frac = options.FractionLimit;
        var max = acc.Max;
        var min = acc.Min;
        var gate = new object();
        ForRanges(n, (a, b) =>
        {
            var localBits = new long[8];
            long localBad = 0;
            for (var p = a; p < b; p++)
            {
                Moments(acc, p, out var mean, out var rms);
                var (flo, fhi) = FractionsOf(acc, p);
                var s = 0;
                if (rms > rmsHi) s |= 1;
                if (fhi > frac) s |= 2;
                if (flo > frac) s |= 4;
                if (rms < rmsLo) s |= 8;
                if (mean > meanHi) s |= 16;
                if (mean < meanLo) s |= 32;
                if (any && max[p] > extHi) s |= 64;
                if (any && min[p] < extLo) s |= 128;
                status[p] = s;
                if (s != 0)
                {
                    localBad++;
                    for (var bit = 0; bit < 8; bit++)
                        localBits[bit] += (s >> bit) & 1;
                }
            }
            lock (gate)
            {
                bad += localBad;
                for (var bit = 0; bit < 8; bit++) perBit[bit] += localBits[bit];
            }
        });
        summary.MeanLimits = meanLim;
        summary.RmsLimits = rmsLim;
        summary.CountPerBit = perBit;
        summary.BadPixels = bad;
        return summary;
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
