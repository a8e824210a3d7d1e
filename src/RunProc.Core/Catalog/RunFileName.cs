using System.Globalization;
using System.Text.RegularExpressions;

namespace RunProc.Catalog;

/// <summary>The kind of a run data file, from its extension.</summary>
public enum RunFileKind : byte
{
    /// <summary>LCLS-I <c>.xtc</c>.</summary>
    Xtc = 1,
    /// <summary>LCLS-II <c>.xtc2</c>.</summary>
    Xtc2 = 2,
    /// <summary>HDF5 run file <c>.h5</c>.</summary>
    H5 = 3,
}

/// <summary>
/// A parsed run file name: <c>&lt;exp&gt;-rRRRR-sSS-cCC.xtc</c> (LCLS-I, also the old <c>eNNN-</c>
/// prefix), <c>...-sSSS-cCCC.xtc2</c> (LCLS-II) and <c>.h5</c> files named the same way, each
/// optionally ending in <c>.inprogress</c> while the DAQ still writes it.
/// </summary>
public readonly record struct RunFileName(
    string Prefix, int Run, int Stream, int Chunk, RunFileKind Kind, bool InProgress,
    byte RunWidth, byte StreamWidth, byte ChunkWidth)
{
    // Digits widths are kept so the name can be rebuilt exactly (the scan cache stores no strings).
    private static readonly Regex Pattern = new(
        @"^(?<prefix>[a-z0-9][a-z0-9_]{0,63})-r(?<run>[0-9]{4,5})-s(?<s>[0-9]{2,3})-c(?<c>[0-9]{2,3})\.(?<ext>xtc2|xtc|h5)(?<ip>\.inprogress)?\z",
        RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture);

    private static readonly Regex OldPrefix = new("^e[0-9]{1,6}$", RegexOptions.CultureInvariant);

    /// <summary>
    /// Parses <paramref name="fileName"/> (no directory). The prefix must be the experiment's name or
    /// the old <c>eNNN</c> form; anything else is not a run file of this experiment.
    /// </summary>
    /// <param name="reason">Why the name was rejected, for a verbose message.</param>
    public static bool TryParse(string fileName, string experiment, out RunFileName name, out string? reason)
    {
        name = default;
        var m = Pattern.Match(fileName);
        if (!m.Success)
        {
            reason = "not a run file name (<exp>-rNNNN-sNN-cNN.xtc/.xtc2/.h5)";
            return false;
        }
        var prefix = m.Groups["prefix"].Value;
        if (prefix != experiment && !OldPrefix.IsMatch(prefix))
        {
            reason = $"belongs to '{prefix}', not to experiment '{experiment}'";
            return false;
        }
        var run = int.Parse(m.Groups["run"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture);
        if (!Names.IsRun(run))
        {
            reason = $"run number {run} is out of range";
            return false;
        }
        var ext = m.Groups["ext"].Value;
        name = new RunFileName(
            prefix == experiment ? experiment : prefix,
            run,
            int.Parse(m.Groups["s"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture),
            int.Parse(m.Groups["c"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture),
            ext switch { "xtc" => RunFileKind.Xtc, "xtc2" => RunFileKind.Xtc2, _ => RunFileKind.H5 },
            m.Groups["ip"].Success,
            (byte)m.Groups["run"].Length, (byte)m.Groups["s"].Length, (byte)m.Groups["c"].Length);
        reason = null;
        return true;
    }

    /// <summary>The file name this was parsed from.</summary>
    public override string ToString()
    {
        var ext = Kind switch { RunFileKind.Xtc => "xtc", RunFileKind.Xtc2 => "xtc2", _ => "h5" };
        return string.Create(CultureInfo.InvariantCulture,
            $"{Prefix}-r{Run.ToString(new string('0', RunWidth), CultureInfo.InvariantCulture)}-s{Stream.ToString(new string('0', StreamWidth), CultureInfo.InvariantCulture)}-c{Chunk.ToString(new string('0', ChunkWidth), CultureInfo.InvariantCulture)}.{ext}{(InProgress ? ".inprogress" : "")}");
    }
}
