using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace RunProc.Batch;

/// <summary>
/// The user's crontab entry for a process's cycle. The crontab line is the one place a shell reads
/// text RunProc wrote: every argv element is POSIX single-quoted and '%' (a newline to cron) is
/// escaped. Each entry ends with a marker comment naming the process and the config it uses, so
/// Register replaces and Unregister removes exactly that entry and no other line.
/// </summary>
public static class CronTable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>The marker of a process's entry for one config file.</summary>
    public static string Marker(string process, string configPath)
    {
        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(configPath)))[..12].ToLowerInvariant();
        return $"# RunProc:{Names.Process(process)}:{hash}";
    }

    /// <summary>Five cron fields (digits, '*', '/', ',', '-') or an @-word such as @hourly.</summary>
    public static string ValidateSchedule(string schedule)
    {
        var s = Regex.Replace(schedule.Trim(), @"\s+", " ");
        if (Regex.IsMatch(s, @"^@(hourly|daily|weekly|monthly|yearly|annually|midnight|reboot)$")
            || Regex.IsMatch(s, @"^([0-9*/,\-]+ ){4}[0-9*/,\-]+$"))
            return s;
        throw new ArgumentException($"'{Names.Show(schedule)}' is not a cron schedule: five fields such as '0 * * * *' (hourly), or @hourly.");
    }

    /// <summary>One crontab line: schedule, quoted argv, output appended to <paramref name="logFile"/>, marker.</summary>
    public static string BuildLine(string schedule, IReadOnlyList<string> argv, string logFile, string marker) =>
        $"{ValidateSchedule(schedule)} {string.Join(" ", argv.Select(QuoteForCron))} >> {QuoteForCron(logFile)} 2>&1 {marker}";

    private static string QuoteForCron(string s)
    {
        if (s.Contains('\n') || s.Contains('\r'))
            throw new ArgumentException($"'{Names.Show(s)}' cannot go into a crontab line (it holds a line break).");
        return CommandTemplate.Quote(s).Replace("%", "\\%");
    }

    /// <summary>The crontab with the marked entry replaced by (or, if absent, followed by) <paramref name="line"/>; other lines untouched.</summary>
    public static string AddOrReplace(string crontab, string line, string marker)
    {
        var lines = Lines(crontab);
        var at = lines.FindIndex(l => IsMarked(l, marker));
        lines.RemoveAll(l => IsMarked(l, marker));
        lines.Insert(at < 0 ? lines.Count : Math.Min(at, lines.Count), line);
        return string.Join("\n", lines) + "\n";
    }

    /// <summary>The crontab without the marked entry.</summary>
    public static string Remove(string crontab, string marker, out int removed)
    {
        var lines = Lines(crontab);
        removed = lines.RemoveAll(l => IsMarked(l, marker));
        return lines.Count == 0 ? "" : string.Join("\n", lines) + "\n";
    }

    /// <summary>Lines of the crontab that carry the marker.</summary>
    public static IReadOnlyList<string> Find(string crontab, string marker) => Lines(crontab).Where(l => IsMarked(l, marker)).ToList();

    private static bool IsMarked(string line, string marker) => line.TrimEnd().EndsWith(marker, StringComparison.Ordinal);

    private static List<string> Lines(string text)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n').ToList();
        while (lines.Count > 0 && lines[^1].Length == 0)
            lines.RemoveAt(lines.Count - 1);
        return lines;
    }

    /// <summary>The current user's crontab ('' when there is none).</summary>
    public static string Read(CancellationToken cancel = default)
    {
        var r = ProcessCommandRunner.Instance.Run(new[] { "crontab", "-l" }, null, Timeout, cancel);
        if (r.ExitCode == 0)
            return r.StdOut;
        if (r.StdErr.Contains("no crontab", StringComparison.OrdinalIgnoreCase))
            return "";
        throw new SchedulerException($"crontab -l failed: {r.StdErr.Trim()}", transient: false);
    }

    /// <summary>Installs <paramref name="content"/> as the current user's crontab (crontab -).</summary>
    public static void Write(string content, CancellationToken cancel = default)
    {
        var r = ProcessCommandRunner.Instance.Run(new[] { "crontab", "-" }, content, Timeout, cancel);
        if (r.ExitCode != 0)
            throw new SchedulerException($"crontab - failed: {r.StdErr.Trim()}", transient: false);
    }
}

/// <summary>A process's crontab entry (output of Register-ProcSchedule).</summary>
public sealed class ProcSchedule
{
    public required string Process { get; init; }
    public required string Schedule { get; init; }
    public required string ConfigPath { get; init; }
    public required string LogFile { get; init; }

    /// <summary>The exact crontab line.</summary>
    public required string Line { get; init; }

    /// <summary>The RunProc version the entry runs (pinned: upgrades install beside it; -dev.&lt;hash&gt; for a staged development build).</summary>
    public string ModuleVersion { get; init; } = "";

    /// <summary>The module folder the entry loads.</summary>
    public string ModulePath { get; init; } = "";
}
