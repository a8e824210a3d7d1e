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
    // Experiment names: ^[a-z0-9][a-z0-9_]{1,63}$; instrument names: ^[A-Z][A-Z0-9]{1,15}$ (checked by hand below).
    private static readonly Regex SafeDetector = new("^[A-Za-z0-9_.:-]{1,128}$", RegexOptions.CultureInvariant);
    private static readonly Regex SafeProcess = new("^[A-Za-z][A-Za-z0-9_-]{0,63}$", RegexOptions.CultureInvariant);

    /// <summary>Largest run number: the DB writes runs as at least 4 digits; files use r%04d.</summary>
    public const int MaxRun = 99999;

    public static bool IsExperiment(string? name, RunProcConfig? config = null) =>
        name is not null && IsSafeExperiment(name) && (config is null || config.MatchesExperimentPattern(name));

    /// <summary>
    /// The safe experiment alphabet by hand (a scan checks every name it lists and decodes): the same
    /// alphabet and length, except that a final newline, which the regex's <c>$</c> lets through, is refused.
    /// </summary>
    private static bool IsSafeExperiment(string name)
    {
        if (name.Length is < 2 or > 64 || !(char.IsAsciiLetterLower(name[0]) || char.IsAsciiDigit(name[0])))
            return false;
        for (var i = 1; i < name.Length; i++)
            if (!(char.IsAsciiLetterLower(name[i]) || char.IsAsciiDigit(name[i]) || name[i] == '_'))
                return false;
        return true;
    }

    public static string Experiment(string? name, RunProcConfig? config = null) =>
        IsExperiment(name, config) ? name! : throw new ArgumentException(
            $"'{Show(name)}' is not a valid experiment name: lower-case letters and digits, e.g. xpptut15 or mfx101332224" +
            (config is null ? "." : $", matching ExperimentPattern '{config.ExperimentPattern}' of {config.SourcePath}."), nameof(name));

    public static bool IsInstrument(string? name)
    {
        // SafeInstrument by hand (a final newline refused).
        if (name is null || name.Length is < 2 or > 16 || !char.IsAsciiLetterUpper(name[0]))
            return false;
        for (var i = 1; i < name.Length; i++)
            if (!(char.IsAsciiLetterUpper(name[i]) || char.IsAsciiDigit(name[i])))
                return false;
        return true;
    }

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
