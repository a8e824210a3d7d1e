using System.Globalization;

namespace RunProc.Db;

/// <summary>Which DB file a record came from.</summary>
public enum RecordState
{
    /// <summary><c>&lt;exp&gt;-proc-runs.txt</c>: processed.</summary>
    Processed,
    /// <summary><c>&lt;exp&gt;-arch-runs.txt</c> (or the old <c>-proc-arch.txt</c>): processed, data since removed.</summary>
    Archived,
}

/// <summary>
/// One line of a processed/archived runs file:
/// <c>&lt;RRRR&gt; &lt;YYYY-MM-DDTHH:MM:SS&gt; &lt;login&gt; &lt;host&gt; cwd:&lt;dir&gt; cmd:&lt;program&gt;</c>.
/// Only the run is required (the old tool parsed only that); other fields are null when absent.
/// </summary>
public sealed class ProcRecord
{
    public required int Run { get; init; }

    /// <summary>Record time as written (local time of the writer), null if absent or unparsable.</summary>
    public DateTime? Time { get; init; }

    public string? Login { get; init; }
    public string? Host { get; init; }
    public string? Cwd { get; init; }
    public string? Command { get; init; }

    /// <summary>The line exactly as in the file (without the line end).</summary>
    public required string Line { get; init; }

    public required string File { get; init; }

    /// <summary>1-based line number in <see cref="File"/>.</summary>
    public required int LineNumber { get; init; }

    public RecordState State { get; init; }

    public const string TimeFormat = "yyyy-MM-ddTHH:mm:ss";

    /// <summary>Formats a record exactly as the old tool wrote it (4-digit zero-padded run, local time).</summary>
    public static string Format(int run, DateTime localTime, string login, string host, string cwd, string command) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{Names.ValidateRun(run):D4} {localTime.ToString(TimeFormat, CultureInfo.InvariantCulture)} {Field(login)} {Field(host)} cwd:{OneLine(cwd)} cmd:{OneLine(command)}");

    /// <summary>
    /// Parses one line. Blank lines give null with no problem; a line whose first field is not a
    /// run number gives null and a problem text.
    /// </summary>
    public static ProcRecord? TryParse(string line, string file, int lineNumber, RecordState state, out string? problem)
    {
        problem = null;
        var text = line.TrimEnd('\r');
        var span = text.AsSpan().Trim();
        if (span.IsEmpty)
            return null;
        var fields = text.Split((char[]?)null, 5, StringSplitOptions.RemoveEmptyEntries);
        var first = fields[0];
        if (first.Length > 6 || !first.All(char.IsAsciiDigit)
            || !int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var run) || !Names.IsRun(run))
        {
            problem = $"the first field '{Names.Show(first.Length > 40 ? first[..40] : first)}' is not a run number";
            return null;
        }
        DateTime? time = null;
        if (fields.Length > 1 && DateTime.TryParseExact(fields[1], TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var t))
            time = t;
        string? cwd = null, cmd = null;
        var ci = text.IndexOf(" cwd:", StringComparison.Ordinal);
        var mi = text.IndexOf(" cmd:", StringComparison.Ordinal);
        if (ci >= 0)
            cwd = mi > ci ? text[(ci + 5)..mi] : text[(ci + 5)..].Trim();
        if (mi >= 0)
            cmd = text[(mi + 5)..].Trim();
        string? login = fields.Length > 2 && !fields[2].StartsWith("cwd:", StringComparison.Ordinal) ? fields[2] : null;
        string? host = fields.Length > 3 && login is not null && !fields[3].StartsWith("cwd:", StringComparison.Ordinal) ? fields[3] : null;
        return new ProcRecord
        {
            Run = run, Time = time, Login = login, Host = host, Cwd = cwd, Command = cmd,
            Line = text, File = file, LineNumber = lineNumber, State = state,
        };
    }

    // Login and host are single fields of the record, which the parser splits on any white space
    // (not only ' '), so every white-space character becomes '_'.
    private static string Field(string s)
    {
        var one = OneLine(s).Trim();
        var t = string.Create(one.Length, one, (dst, src) =>
        {
            for (var i = 0; i < src.Length; i++)
                dst[i] = char.IsWhiteSpace(src[i]) ? '_' : src[i];
        });
        return t.Length == 0 ? "-" : t;
    }

    private static string OneLine(string s) =>
        string.Create(s.Length, s, (dst, src) =>
        {
            for (var i = 0; i < src.Length; i++)
                dst[i] = char.IsControl(src[i]) ? ' ' : src[i];
        });

    public override string ToString() => Line;
}

/// <summary>A line of a DB file that could not be used: reported with file and line number, then skipped (never dropped by a rewrite).</summary>
public sealed class DbWarning
{
    public DbWarning(string file, int line, string message, string? text = null)
    {
        File = file;
        Line = line;
        Message = message;
        Text = text;
    }

    public string File { get; }

    /// <summary>1-based line number; 0 when the warning is about the whole file.</summary>
    public int Line { get; }

    public string Message { get; }

    /// <summary>The offending line's text, if any.</summary>
    public string? Text { get; }

    public override string ToString() => Line > 0 ? $"{File}:{Line}: {Message}" : $"{File}: {Message}";
}
