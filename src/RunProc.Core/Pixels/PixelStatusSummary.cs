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
public sealed class PixelStatusSummary
{
    public required long Events { get; init; }
    public required double[] Mean { get; init; }
    public required double[] Rms { get; init; }
    public required double[] FractionLow { get; init; }
    public required double[] FractionHigh { get; init; }
    public required int[] Max { get; init; }
    public required int[] Min { get; init; }
    public required int[] Status { get; init; }
    public required int[] Mask { get; init; }
    public required (double Low, double High) MeanLimits { get; init; }
    public required (double Low, double High) RmsLimits { get; init; }

    /// <summary>Pixels with each bit set, index = bit number 0..7.</summary>
    public required long[] CountPerBit { get; init; }

    /// <summary>Pixels with any bit set.</summary>
    public required long BadPixels { get; init; }

    public static PixelStatusSummary Compute(PixelStatusAccumulator acc, PixelStatusOptions options)
    {
        ArgumentNullException.ThrowIfNull(acc);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var n = acc.PixelCount;
        var mean = new double[n];
        var rms = new double[n];
        var flo = new double[n];
        var fhi = new double[n];
        var events = (double)acc.Events;
        // Per pixel work is independent: split over cores (2M pixels would otherwise cost more than a short run's scan).
        var parts = Math.Max(1, Math.Min(Environment.ProcessorCount, n / 65536));
        Parallel.For(0, parts, t =>
        {
            var a = (int)((long)n * t / parts);
            var b = (int)((long)n * (t + 1) / parts);
            for (var p = a; p < b; p++)
            {
                var good = acc.Good(p);
                if (good > 0)
                {
                    // The old formula in float64: mean = sum/n, rms = sqrt(sumsq/n - mean²);
                    // a rounding-negative variance is taken as 0 (numpy would give nan there).
                    var m = acc.Sum[p] / (double)good;
                    var sq = acc.SumSquares[p];
                    var sqd = sq <= ulong.MaxValue ? (double)(ulong)sq : (double)sq; // UInt128→double is slow; exact either way
                    var v = sqd / good - m * m;
                    mean[p] = m;
                    rms[p] = v > 0 ? Math.Sqrt(v) : 0;
                }
                if (acc.Events > 0)
                {
                    flo[p] = acc.BelowLow[p] / events;
                    fhi[p] = acc.AboveHigh[p] / events;
                }
            }
        });

        (double, double) meanLim, rmsLim;
        if (options.Method == PixelLimitMethod.Absolute)
        {
            meanLim = Evaluate(mean, options.IntensityLowSigma, options.IntensityHighSigma, options.IntensityLow, options.IntensityHigh);
            rmsLim = Evaluate(rms, options.RmsLowSigma, options.RmsHighSigma, options.RmsLow, options.RmsHigh);
        }
        else
        {
            meanLim = Robust(mean, options.SnrMax, options.IntensityLow, options.IntensityHigh);
            rmsLim = Robust(rms, options.SnrMax, options.RmsLow, options.RmsHigh);
        }

        // Bits 6/7 flag single events outside the intensity range: with the original rule that is
        // the evaluated mean range (as the reference); with the robust rule a median ± k·MAD band
        // is far too narrow for single events, so there they use the absolute gates.
        var (extLo, extHi) = options.Method == PixelLimitMethod.Absolute ? meanLim : (options.IntensityLow, options.IntensityHigh);
        var status = new int[n];
        var mask = new int[n];
        var perBit = new long[8];
        long bad = 0;
        var max = (int[])acc.Max.Clone();
        var min = (int[])acc.Min.Clone();
        var any = acc.Events > 0;
        var (rmsLo, rmsHi) = rmsLim;
        var (meanLo, meanHi) = meanLim;
        var frac = options.FractionLimit;
        var gate = new object();
        Parallel.For(0, parts, t =>
        {
            var a = (int)((long)n * t / parts);
            var b = (int)((long)n * (t + 1) / parts);
            var localBits = new long[8];
            long localBad = 0;
            for (var p = a; p < b; p++)
            {
                var s = 0;
                if (rms[p] > rmsHi) s |= 1;
                if (fhi[p] > frac) s |= 2;
                if (flo[p] > frac) s |= 4;
                if (rms[p] < rmsLo) s |= 8;
                if (mean[p] > meanHi) s |= 16;
                if (mean[p] < meanLo) s |= 32;
                if (any && max[p] > extHi) s |= 64;
                if (any && min[p] < extLo) s |= 128;
                status[p] = s;
                mask[p] = s == 0 ? 1 : 0;
                if (s != 0)
                {
                    localBad++;
                    for (var bit = 0; bit < 8; bit++)
                        localBits[bit] += (s >> bit) & 1;
                }
                if (!any) { max[p] = 0; min[p] = 0; }
            }
            lock (gate)
            {
                bad += localBad;
                for (var bit = 0; bit < 8; bit++) perBit[bit] += localBits[bit];
            }
        });
        return new PixelStatusSummary
        {
            Events = acc.Events, Mean = mean, Rms = rms, FractionLow = flo, FractionHigh = fhi, Max = max, Min = min,
            Status = status, Mask = mask, MeanLimits = meanLim, RmsLimits = rmsLim, CountPerBit = perBit, BadPixels = bad,
        };
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
