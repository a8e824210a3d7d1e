using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using RunProc.IO;

namespace RunProc.Batch;

/// <summary>
/// A job's own files in the DB tree (its log and the wrapper's status file), made safe before the
/// job starts (issue 13): the DB tree is group-writable, so anyone of the group may plant a link
/// where a job will write. The submitting side creates or opens them through <see cref="NoFollow"/>
/// (no link followed, regular files only). A local job gets the open descriptors; a Slurm or LSF
/// job finds its status files created, and the wrapper appends only to a file that is still that
/// regular file (see scripts/runproc-job.sh).
/// </summary>
public static class JobFiles
{
    /// <summary>
    /// Creates the status file of every task of <paramref name="spec"/> where missing (one per
    /// part for a job array, the part token replaced), keeping what is there; a link or anything
    /// but a regular file there is refused. Throws <see cref="SchedulerException"/> naming the
    /// file: nothing was submitted.
    /// </summary>
    public static void Create(JobSpec spec, int fileMode)
    {
        foreach (var status in StatusFiles(spec))
            Create(status, fileMode);
    }

    /// <summary>Creates one of a job's files where missing (a regular file only, no link followed), or throws <see cref="SchedulerException"/> naming it.</summary>
    public static void Create(string path, int fileMode) => Guard(path, () => SafeFile.Touch(path, fileMode));

    /// <summary>The status files of a submission: one per part of an array, else the one.</summary>
    public static IEnumerable<string> StatusFiles(JobSpec spec) => spec.ArrayIndices is { } list
        ? Parts(list).Select(k => spec.StatusFile.Replace(CommandTemplate.PartToken, k.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal))
        : new[] { spec.StatusFile };

    /// <summary>Parts of an index list as RunProc writes it ("0-3", "2,5"), in order.</summary>
    public static IReadOnlyList<int> Parts(string list)
    {
        var parts = new List<int>();
        foreach (var element in list.Split(','))
        {
            var range = element.Split('-');
            if (range.Length is < 1 or > 2 || !range.All(r => int.TryParse(r, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                throw new ArgumentException($"'{Names.Show(list)}' is not a list of parts (e.g. '0-3' or '2,5').", nameof(list));
            var from = int.Parse(range[0], NumberStyles.None, CultureInfo.InvariantCulture);
            var to = int.Parse(range[^1], NumberStyles.None, CultureInfo.InvariantCulture);
            for (var k = from; k <= to; k++)
                parts.Add(k);
        }
        return parts;
    }

    /// <summary>
    /// Opens a local job's log and status file (created where missing) for appending, without
    /// following links, and gives descriptors the job process inherits (numbered 10 and up: the
    /// wrapper's shell keeps 3-9 for its slots). Dispose once the job has started.
    /// </summary>
    public static OpenJobFiles OpenForJob(JobSpec spec, int fileMode)
    {
        SafeFileHandle? log = null, status = null;
        try
        {
            log = Guarded(spec.LogFile, () => NoFollow.Open(spec.LogFile, NoFollow.Access.Append, fileMode, null, out _)!);
            status = Guarded(spec.StatusFile, () => NoFollow.Open(spec.StatusFile, NoFollow.Access.Append, fileMode, null, out _)!);
            return new OpenJobFiles(log, status);
        }
        catch
        {
            log?.Dispose();
            status?.Dispose();
            throw;
        }
    }

    /// <summary>Runs <paramref name="act"/> on one of a job's files; an I/O failure becomes a <see cref="SchedulerException"/> naming the file (nothing submitted).</summary>
    internal static void Guard(string path, Action act) => Guarded(path, () => { act(); return 0; });

    private static T Guarded<T>(string path, Func<T> act)
    {
        try
        {
            return act();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SchedulerException($"the job's file '{path}' cannot be used: {ex.Message} Nothing was submitted.", transient: false, ex) { CommandNotRun = true };
        }
    }
}

/// <summary>A local job's log and status file, open, with inheritable copies for the job process.</summary>
public sealed class OpenJobFiles : IDisposable
{
    private readonly SafeFileHandle _log, _status;
    private bool _closed;

    internal OpenJobFiles(SafeFileHandle log, SafeFileHandle status)
    {
        _log = log;
        _status = status;
        try
        {
            LogFd = Inheritable(log);
            StatusFd = Inheritable(status);
        }
        catch
        {
            if (LogFd > 0) close(LogFd);
            throw;
        }
    }

    /// <summary>The descriptor of the log the job process inherits.</summary>
    public int LogFd { get; }

    /// <summary>The descriptor of the status file the job process inherits.</summary>
    public int StatusFd { get; }

    // F_DUPFD: a copy numbered 10 or more, without close-on-exec (RunProc's own descriptors all have it).
    private static int Inheritable(SafeFileHandle h)
    {
        var fd = fcntl((int)h.DangerousGetHandle(), 0 /* F_DUPFD */, 10);
        return fd >= 0 ? fd : throw new IOException($"cannot pass a job's file to its process (errno {Marshal.GetLastPInvokeError()}).");
    }

    public void Dispose()
    {
        if (_closed)
            return;
        _closed = true;
        close(LogFd);
        close(StatusFd);
        _log.Dispose();
        _status.Dispose();
    }

    [DllImport("libc", SetLastError = true)] private static extern int fcntl(int fd, int cmd, int arg);
    [DllImport("libc", SetLastError = true)] private static extern int close(int fd);
}
