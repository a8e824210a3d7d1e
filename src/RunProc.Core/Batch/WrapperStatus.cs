using System.Globalization;
using RunProc.IO;

namespace RunProc.Batch;

/// <summary>
/// What the job wrapper (scripts/runproc-job.sh) recorded next to the log: queued, started, ended
/// with an exit code or a signal, timed out; plus 'cancel' lines the local scheduler writes before
/// it stops a job (times: local with UTC offset; older files: UTC 'Z'), and 'orphan' lines when the wrapper died and its group is being ended. Lines: <c>&lt;word&gt; &lt;time&gt; &lt;details&gt;</c>.
/// </summary>
public sealed class WrapperStatus
{
    public int? Pid { get; private set; }
    public string? Host { get; private set; }
    public DateTime? Queued { get; private set; }
    public DateTime? Started { get; private set; }
    public DateTime? Ended { get; private set; }
    public int? ExitCode { get; private set; }
    public string? Signal { get; private set; }
    public bool TimedOut { get; private set; }
    public bool CancelRequested { get; private set; }

    /// <summary>The command's own process group (local jobs: the wrapper ends all of it).</summary>
    public int? Group { get; private set; }

    /// <summary>The watchdog that enforces the time limit and ends the group if the wrapper dies.</summary>
    public int? Watchdog { get; private set; }

    /// <summary>Someone (the watchdog or the scheduler) found the wrapper gone and began ending its group.</summary>
    public bool Orphaned { get; private set; }

    /// <summary>The wrapper has written its end line (exit code or signal).</summary>
    public bool HasEnded => Ended is not null;

    /// <summary>Reads the status file; null if it does not exist.</summary>
    public static WrapperStatus? TryRead(string path)
    {
        return SafeFile.ReadAllText(path) is { } text ? Parse(text) : null;
    }

    public static WrapperStatus Parse(string text)
    {
        var s = new WrapperStatus();
        foreach (var raw in text.Split('\n'))
        {
            var f = raw.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 2)
                continue; // a torn last line: ignore
            DateTime? t = DateTime.TryParse(f[1], CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var dt) ? dt : null;
            switch (f[0])
            {
                case "queued":
                case "start":
                    if (f[0] == "queued") s.Queued ??= t; else s.Started ??= t;
                    for (var i = 2; i + 1 < f.Length; i += 2)
                    {
                        if (f[i] == "pid" && int.TryParse(f[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) s.Pid = pid;
                        else if (f[i] == "host") s.Host = f[i + 1];
                    }
                    break;
                case "end":
                    s.Ended ??= t;
                    if (f.Length >= 4 && f[2] == "exit" && int.TryParse(f[3], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var code))
                        s.ExitCode ??= code;
                    else if (f.Length >= 4 && f[2] == "signal")
                        s.Signal ??= f[3];
                    break;
                case "group":
                    for (var i = 2; i + 1 < f.Length; i += 2)
                    {
                        if (!int.TryParse(f[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 1) continue;
                        if (f[i] == "pgid") s.Group = n;
                        else if (f[i] == "watchdog") s.Watchdog = n;
                    }
                    break;
                case "orphan":
                    s.Orphaned = true;
                    break;
                case "timeout":
                    s.TimedOut = true;
                    break;
                case "cancel":
                    s.CancelRequested = true;
                    break;
            }
        }
        return s;
    }

    /// <summary>The outcome the wrapper itself proves, if it ended: Done, Failed (exit code), TimedOut, Cancelled; null while running.</summary>
    public JobState? Outcome()
    {
        // A timeout line comes first and the group's TERM/KILL after it: the job is over only at its end line.
        if (!HasEnded) return null;
        if (TimedOut) return JobState.TimedOut;
        if (CancelRequested && ExitCode is not 0) return JobState.Cancelled;
        if (ExitCode == 0) return JobState.Done;
        return JobState.Failed;
    }
}
