using System.Text.RegularExpressions;

namespace RunProc.Db;

/// <summary>
/// Which experiments a scan covers (for pending runs or for counts, see <see cref="RunScan"/>). <see cref="Experiments"/> given: those experiments (names, or
/// wildcards matched against every experiment on disk and under control). Else <see cref="All"/>:
/// every experiment of every configured instrument (old mode ALL). Else: the experiments in
/// experiments.txt (old mode LIST). <see cref="Instruments"/> narrows any of these.
/// </summary>
public sealed class RunScanQuery
{
    public bool All { get; init; }
    public IReadOnlyList<string>? Instruments { get; init; }
    public IReadOnlyList<string>? Experiments { get; init; }

    /// <summary>Also return runs that are not ready yet (with <see cref="Catalog.RunInfo.NotReadyReason"/>).</summary>
    public bool IncludeNotReady { get; init; }

    /// <summary>"Now" for readiness (default: the time of the query).</summary>
    public DateTime? NowUtc { get; init; }

    /// <summary>Use and update the incremental scan cache (default true).</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>Experiment statistics: stat every run file for sizes (else recorded runs are counted from the listing alone).</summary>
    public bool Sizes { get; init; }

    public CancellationToken Cancel { get; init; }

    /// <summary>
    /// An experiment whose DB files cannot be read (a link, a FIFO, a directory in place of a file):
    /// it is skipped with this message (file and cause) and the query goes on. Without it, the message
    /// is a <see cref="DbWarning"/> of the file.
    /// </summary>
    public Action<string>? Skipped { get; init; }

    /// <summary>Ignored files, cache use and similar detail.</summary>
    public Action<string>? Verbose { get; init; }
}

/// <summary>Scan progress: experiments done of total, and the one being scanned.</summary>
public readonly record struct ScanProgress(string Activity, string? Experiment, int Done, int Total);

/// <summary>Shell-style wildcards (* ? [..]) for experiment and instrument filters.</summary>
public static class Wildcard
{
    public static bool Has(string pattern) => pattern.IndexOfAny(new[] { '*', '?', '[' }) >= 0;

    public static Regex ToRegex(string pattern, bool ignoreCase)
    {
        var sb = new System.Text.StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*': sb.Append(".*"); break;
                case '?': sb.Append('.'); break;
                case '[':
                    var end = pattern.IndexOf(']', i + 1);
                    if (end > i + 1)
                    {
                        sb.Append('[').Append(Regex.Escape(pattern[(i + 1)..end]).Replace("\\-", "-")).Append(']');
                        i = end;
                    }
                    else sb.Append("\\[");
                    break;
                default: sb.Append(Regex.Escape(c.ToString())); break;
            }
        }
        sb.Append('$');
        return new Regex(sb.ToString(), RegexOptions.CultureInvariant | (ignoreCase ? RegexOptions.IgnoreCase : 0));
    }

    public static bool IsMatch(string text, string pattern, bool ignoreCase = true) =>
        Has(pattern) ? ToRegex(pattern, ignoreCase).IsMatch(text)
                     : string.Equals(text, pattern, ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
}
