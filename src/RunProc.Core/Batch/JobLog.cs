using System.Text;
using System.Text.RegularExpressions;

namespace RunProc.Batch;

/// <summary>
/// A job's log in its experiment's log folder: the old tool's name (log-&lt;exp&gt;-r&lt;RRRR&gt;-&lt;time&gt;.txt),
/// creating it exactly once, the wrapper's status file beside it, the status lines appended to it,
/// the -&lt;STATUS&gt; rename of an unsuccessful job's log, and the line that says why it failed.
/// </summary>
public static partial class JobLog
{
    /// <summary>The wrapper's status file next to a log: log-&lt;exp&gt;-r&lt;RRRR&gt;-&lt;time&gt;.status.</summary>
    public static string StatusFileFor(string logFile) =>
        logFile.EndsWith(".txt", StringComparison.Ordinal) ? logFile[..^4] + ".status" : logFile + ".status";

    private static string Name(string exp, int run, DateTime t) =>
        $"log-{exp}-r{run:0000}-{t.ToString("yyyy-MM-ddTHH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)}.txt";

    // Log names have one-second resolution: a later attempt within the same second (or one whose
    // earlier log was renamed -<STATUS>, or whose status file exists) takes the next free second.
    private static bool Taken(string path) =>
        File.Exists(path) || File.Exists(StatusFileFor(path)) || Directory.EnumerateFiles(Path.GetDirectoryName(path)!, Path.GetFileName(path) + "-*").Any();

    /// <summary>The first free log name from <paramref name="now"/> on (nothing is created: for a plan).</summary>
    public static string FreeName(string expDir, string exp, int run, DateTime now)
    {
        for (var i = 0; i < 1000 && Directory.Exists(expDir); i++, now = now.AddSeconds(1))
            if (!Taken(Path.Combine(expDir, Name(exp, run, now))))
                return Name(exp, run, now);
        return Name(exp, run, now);
    }

    /// <summary>Creates a new (empty) log at the first free name from <paramref name="now"/> on, which it advances.</summary>
    public static string Create(string expDir, string exp, int run, ref DateTime now, int mode)
    {
        for (var i = 0; i < 1000; i++, now = now.AddSeconds(1))
        {
            var path = Path.Combine(expDir, Name(exp, run, now));
            if (TryCreate(path, mode))
                return path;
        }
        throw new IOException($"cannot create a new log for {exp} run {run} in {expDir}: 1000 names taken.");
    }

    /// <summary>Creates the (empty) log, unless that name is taken.</summary>
    public static bool TryCreate(string path, int mode) =>
        // O_EXCL without following links: anything already there, a planted link included, takes the name.
        !Taken(path) && RunProc.IO.SafeFile.TryCreateNew(path, mode);

    /// <summary>Appends one line (a status poll, a '#' note) to a job's log; a log that cannot be written is left as it is.</summary>
    public static void AppendLine(string logFile, int mode, string line)
    {
        if (logFile.Length == 0)
            return;
        // One write on an O_APPEND descriptor, like the job's own output; no fsync: a status line in a
        // log is not a DB record, and 1,000 fsyncs would dominate a reconciliation pass.
        try { RunProc.IO.SafeFile.AppendText(logFile, line + "\n", mode); }
        catch (IOException) { } // a log that cannot be written must not stop the accounting
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>The old tool's status line: poll number, time, queue, job id and the scheduler's word for its state.</summary>
    public static string StatusLine(int poll, ProcJob job, string jobId, string word) =>
        string.Format(System.Globalization.CultureInfo.InvariantCulture, "{0,4} {1} {2} job {3} status {4}", poll, LogTime.Now(), QueueWord(job), jobId, word);

    private static string QueueWord(ProcJob job) => job.Queue.Length > 0 ? job.Queue : job.Scheduler == RunProc.Config.SchedulerKind.Local ? "local" : "default";

    /// <summary>The old tool's rule: a log of a job that did not end DONE gets -&lt;STATUS&gt; appended. Returns the log's path now.</summary>
    public static string RenameWithStatus(string log, string status)
    {
        if (log.Length == 0 || !File.Exists(log))
            return log;
        var target = log + "-" + status;
        try
        {
            if (!File.Exists(target))
            {
                File.Move(log, target);
                return target;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return log;
    }

    // Words a failing command (pwsh, .NET, Python, shell tools) puts on the line that says why.
    [GeneratedRegex(@"\b(error|errors|exception|failed|fails|failure|cannot|can't|could not|unable|denied|not found|no such|fatal|traceback|killed|refused|invalid)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ErrorWords();

    // Lines RunProc itself adds to a log (status polls, '#' notes, the wrapper's start/end): not the command's voice.
    [GeneratedRegex(@"^(#|\s*\d+ \d{4}-\d\d-\d\dT\S+ \S+ job \S* status |runproc-job: )", RegexOptions.CultureInvariant)]
    private static partial Regex OwnLines();

    [GeneratedRegex(@"\x1B\[[0-9;?]*[A-Za-z]", RegexOptions.CultureInvariant)]
    private static partial Regex AnsiEscapes();

    /// <summary>
    /// The last line of the command's output in <paramref name="logFile"/> that reads like an
    /// error (the last 64 KiB are searched), or null. A log renamed -&lt;STATE&gt; is found too.
    /// </summary>
    public static string? LastErrorLine(string logFile)
    {
        var path = Existing(logFile);
        if (path is null)
            return null;
        string text;
        try
        {
            // A regular file only, no link followed, never blocking (a FIFO planted in the DB tree).
            using var fs = RunProc.IO.SafeFile.OpenRead(path);
            if (fs is null)
                return null;
            var take = (int)Math.Min(fs.Length, 64 * 1024);
            fs.Seek(-take, SeekOrigin.End);
            var buf = new byte[take];
            fs.ReadExactly(buf);
            text = Encoding.UTF8.GetString(buf);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var lines = text.Split('\n');
        for (var i = lines.Length - 1; i >= 0; i--)
        {
            var line = AnsiEscapes().Replace(lines[i], "").Trim();
            if (line.Length == 0 || OwnLines().IsMatch(line) || !ErrorWords().IsMatch(line))
                continue;
            return line.Length > 500 ? line[..500] + "..." : line;
        }
        return null;
    }

    /// <summary>The log as it is now: the recorded path, or the one the end-of-job rename gave it.</summary>
    public static string? Existing(string logFile)
    {
        if (logFile.Length == 0)
            return null;
        if (File.Exists(logFile))
            return logFile;
        var dir = Path.GetDirectoryName(logFile);
        if (dir is null || !Directory.Exists(dir))
            return null;
        return Directory.EnumerateFiles(dir, Path.GetFileName(logFile) + "-*").Order(StringComparer.Ordinal).FirstOrDefault();
    }
}
