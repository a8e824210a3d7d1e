using System.Text.RegularExpressions;
using RunProc.Config;

namespace RunProc;

/// <summary>
/// Validation of every name that reaches a path or a command line. Whatever the configured
/// experiment pattern allows, a name must also be in a fixed safe alphabet, so no pattern can let
/// '/', '..', spaces or shell characters through.
/// </summary>
public static class Names
{
    private static readonly Regex SafeExperiment = new("^[a-z0-9][a-z0-9_]{1,63}$", RegexOptions.CultureInvariant);
    private static readonly Regex SafeInstrument = new("^[A-Z][A-Z0-9]{1,15}$", RegexOptions.CultureInvariant);
    private static readonly Regex SafeDetector = new("^[A-Za-z0-9_.:-]{1,128}$", RegexOptions.CultureInvariant);
    private static readonly Regex SafeProcess = new("^[A-Za-z][A-Za-z0-9_-]{0,63}$", RegexOptions.CultureInvariant);

    /// <summary>Largest run number: the DB writes runs as at least 4 digits; files use r%04d.</summary>
    public const int MaxRun = 99999;

    public static bool IsExperiment(string? name, RunProcConfig? config = null) =>
        name is not null && SafeExperiment.IsMatch(name) && (config is null || config.ExperimentRegex.IsMatch(name));

    public static string Experiment(string? name, RunProcConfig? config = null) =>
        IsExperiment(name, config) ? name! : throw new ArgumentException(
            $"'{Show(name)}' is not a valid experiment name: lower-case letters and digits, e.g. xpptut15 or mfx101332224" +
            (config is null ? "." : $", matching ExperimentPattern '{config.ExperimentPattern}' of {config.SourcePath}."), nameof(name));

    public static bool IsInstrument(string? name) => name is not null && SafeInstrument.IsMatch(name);

    public static string Instrument(string? name) =>
        IsInstrument(name) ? name! : throw new ArgumentException($"'{Show(name)}' is not a valid instrument name (upper case, e.g. CXI).", nameof(name));

    /// <summary>
    /// The instrument of an experiment. With a config, its one rule (<see cref="RunProcConfig.InstrumentOf"/>:
    /// InstrumentMap, else the first 3 letters upper-cased, and it must be a configured instrument).
    /// Without one, the old tool's rule, and the result must at least be an instrument name ('x_yz' is refused).
    /// </summary>
    public static string InstrumentOf(string experiment, RunProcConfig? config = null)
    {
        if (config is not null)
            return config.InstrumentOf(experiment);
        var ins = Experiment(experiment)[..3].ToUpperInvariant();
        return IsInstrument(ins) ? ins : throw new ArgumentException(
            $"experiment '{Show(experiment)}' maps to no instrument: its first 3 letters give '{Show(ins)}'; map it with InstrumentMap in the config.", nameof(experiment));
    }

    public static bool IsDetector(string? name) => name is not null && SafeDetector.IsMatch(name) && !name.Contains("..");

    public static string Detector(string? name) =>
        IsDetector(name) ? name! : throw new ArgumentException($"'{Show(name)}' is not a valid detector name (letters, digits, '_', '.', ':', '-').", nameof(name));

    public static bool IsProcess(string? name) => name is not null && SafeProcess.IsMatch(name);

    public static string Process(string? name) =>
        IsProcess(name) ? name! : throw new ArgumentException($"'{Show(name)}' is not a valid process name (letters, digits, '_', '-').", nameof(name));

    public static bool IsRun(int run) => run is >= 0 and <= MaxRun;

    /// <summary>The run number if it is in range 0..<see cref="MaxRun"/>; else an error naming it.</summary>
    public static int ValidateRun(int run) =>
        IsRun(run) ? run : throw new ArgumentOutOfRangeException(nameof(run), run, $"run number {run} is out of range 0..{MaxRun}.");

    /// <summary>A name shown in an error: control characters escaped, long names cut.</summary>
    public static string Show(string? name)
    {
        if (name is null) return "<null>";
        var s = Regex.Replace(name, @"\p{C}", m => $"\\u{(int)m.Value[0]:x4}");
        return s.Length > 80 ? s[..77] + "..." : s;
    }
}
