namespace RunProc.Demo;

/// <summary>
/// The injected bad-pixel classes: how each one's value is synthesized per event, and the status word
/// the ORIGINAL pixel-status rule with its default limits must give it
/// (gates lo=1 hi=16000, rms limits 0.1/16000, fraclm 0.2, all n-sigma 0).
/// </summary>
/// <remarks>
/// Status bits (original-system.md): 1 rms&gt;rms_hi, 2 frac_hi&gt;fraclm, 4 frac_lo&gt;fraclm,
/// 8 rms&lt;rms_lo, 16 mean&gt;mean_hi, 32 mean&lt;mean_lo, 64 max&gt;hi, 128 min&lt;lo.
/// With absolute default limits bits 1 and 16 cannot be set: mean and rms are taken over good
/// events only (1 ≤ raw ≤ 16000), so mean ≤ 16000 and rms ≤ 8000. The classes are therefore
/// recognised by their gate fractions and extremes, as the original tool recognised them.
/// </remarks>
public static class DemoBadPixels
{
    public const int RmsHigh = 1, FractionHigh = 2, FractionLow = 4, RmsLow = 8, MeanHigh = 16, MeanLow = 32, MaxHigh = 64, MinLow = 128;

    /// <summary>The 14-bit ADC maximum.</summary>
    public const ushort AdcMax = 16383;

    /// <summary>
    /// Dead, constant 0: no good event, so mean = rms = 0 (mean &lt; 1: 32; rms &lt; 0.1: 8);
    /// every event below lo (frac_lo = 1 &gt; 0.2: 4); min 0 &lt; 1 (128). Status 172.
    /// </summary>
    public const int DeadStatus = FractionLow | RmsLow | MeanLow | MinLow;

    /// <summary>
    /// Saturating, constant 16383: no good event, so mean = rms = 0 (32, 8); every event above hi
    /// (frac_hi = 1: 2); max 16383 &gt; 16000 (64). Status 106.
    /// </summary>
    public const int SaturatingStatus = FractionHigh | RmsLow | MeanLow | MaxHigh;

    /// <summary>
    /// Hot: a dark level of ~12000 that reads ~16300 in every other event: frac_hi ≈ 0.5 (2),
    /// max &gt; 16000 (64); the good events have mean ~12000 and rms ~6, inside the limits. Status 66.
    /// </summary>
    public const int HotStatus = FractionHigh | MaxHigh;

    /// <summary>
    /// Noisy: a 10-event cycle of 0, 0, 0, 16383, 2000, 4000, ... 12000: frac_lo ≈ 0.3 (4),
    /// frac_hi ≈ 0.1 (not above 0.2), max 16383 (64), min 0 (128); good events have mean ~7000 and
    /// rms ~3400, inside the limits. Status 196.
    /// </summary>
    public const int NoisyStatus = FractionLow | MaxHigh | MinLow;

    /// <summary>The status word the original rule gives a pixel of <paramref name="c"/> (default limits, ≥ 10 events).</summary>
    public static int ExpectedStatus(BadPixelClass c) => c switch
    {
        BadPixelClass.Dead => DeadStatus,
        BadPixelClass.Hot => HotStatus,
        BadPixelClass.Noisy => NoisyStatus,
        BadPixelClass.Saturating => SaturatingStatus,
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };

    /// <summary>The raw value of a bad pixel of class <paramref name="c"/> in run event <paramref name="evt"/>; <paramref name="noise"/> is within ±30.</summary>
    public static ushort Value(BadPixelClass c, int evt, int noise) => c switch
    {
        BadPixelClass.Dead => 0,
        BadPixelClass.Saturating => AdcMax,
        BadPixelClass.Hot => (ushort)((evt & 1) == 0 ? 16300 + noise : 12000 + noise),
        BadPixelClass.Noisy => (evt % 10) switch
        {
            0 or 1 or 2 => 0,
            3 => AdcMax,
            var k => (ushort)(2000 * (k - 3) + noise),
        },
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };
}
