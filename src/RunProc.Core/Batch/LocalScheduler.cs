using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using RunProc.Config;
using RunProc.IO;

namespace RunProc.Batch;

/// <summary>
/// The embedded scheduler: each job is a detached process (its own session, so it outlives the
/// submitting pwsh and a closed terminal) running the job wrapper. A later pwsh learns the outcome
/// from a spool record (pid + process start time) and the wrapper's status file (exit code). The
/// command runs in a process group of its own that the wrapper's watchdog ends (time limit, cancel,
/// a dead wrapper); a job is Lost only when its wrapper vanished without an exit code and nothing
/// of its group is left. Concurrency is limited by flock'ed slot
/// files the wrapper waits for (a waiting job is Pending). The job id is the job name.
/// </summary>
public sealed class LocalScheduler : IScheduler
{
    private readonly string _spool;
    private readonly string _slots;
    private readonly int _slotCount;
    private readonly int _fileMode;
    private readonly int _dirMode;

    /// <param name="spoolDirectory">One record per job (&lt;name&gt;.job).</param>
    /// <param name="slotDirectory">Slot lock files, shared by every process of the machine's RunProc.</param>
    /// <param name="slots">Jobs that may run at once on this machine.</param>
    public LocalScheduler(string spoolDirectory, string slotDirectory, int slots, int fileMode = 0x1B4, int directoryMode = 0x5FD)
    {
        _spool = spoolDirectory;
        _slots = slotDirectory;
        _slotCount = Math.Max(1, slots);
        _fileMode = fileMode;
        _dirMode = directoryMode;
    }

    public SchedulerKind Kind => SchedulerKind.Local;

    /// <summary>Jobs that may run at once (the process's MaxJobs); more wait Pending for a slot.</summary>
    public int Slots => _slotCount;

    private static string? SetsidPath => File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid" : File.Exists("/bin/setsid") ? "/bin/setsid" : null;

    public IReadOnlyList<string> SubmitArgv(JobSpec spec)
    {
        var argv = new List<string>();
        if (SetsidPath is { } setsid) argv.Add(setsid);
        // Cpus = n takes n of the machine's slots (at most all of them); memory is not enforced here.
        var slots = Math.Clamp(spec.Resources.Cpus, 1, _slotCount);
        if (slots > 1)
            argv.AddRange(new[] { "/usr/bin/env", "RUNPROC_JOB_SLOTS=" + slots.ToString(CultureInfo.InvariantCulture) });
        argv.AddRange(new[]
        {
            "/bin/sh", spec.WrapperScript, spec.StatusFile, spec.LogFile,
            (spec.TimeLimitMinutes * 60).ToString(CultureInfo.InvariantCulture),
            _slots, _slotCount.ToString(CultureInfo.InvariantCulture), "--",
        });
        argv.AddRange(spec.Command);
        return argv;
    }

    private string SpoolFile(string name) => IsSafeName(name)
        ? Path.Combine(_spool, name + ".job")
        : throw new ArgumentException($"'{Names.Show(name)}' is not a job name RunProc makes.");

    internal static bool IsSafeName(string name) => name.Length is > 0 and < 200 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    public string Submit(JobSpec spec, CancellationToken cancel)
    {
        SafeFile.EnsureDirectory(_spool, _dirMode);
        SafeFile.EnsureDirectory(_slots, _dirMode);
        // The log and the status file are opened here, without following links and only if they are
        // regular files, and the wrapper writes to these descriptors: it never opens a path of the
        // DB tree, so a link planted there after this check redirects nothing (issue 13).
        using var files = JobFiles.OpenForJob(spec, _fileMode);
        var spool = SpoolFile(spec.Name);
        // The spool record exists before the process does, so a controller killed right after the
        // launch still finds the job by name (through the status file the wrapper writes).
        var record = new Dictionary<string, string>
        {
            ["name"] = spec.Name,
            ["status"] = spec.StatusFile,
            ["log"] = spec.LogFile,
            ["created"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["host"] = Environment.MachineName,
        };
        WriteSpool(spool, record);

        var argv = SubmitArgv(spec);
        var psi = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            WorkingDirectory = spec.WorkDirectory,
            // Our ends of these pipes close at once: the job never holds cron's mail pipe or a terminal.
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in argv.Skip(1))
            psi.ArgumentList.Add(a);
        psi.Environment["RUNPROC_KILL_GRACE"] = KillGraceSeconds.ToString(CultureInfo.InvariantCulture);
        psi.Environment["RUNPROC_LOG_FD"] = files.LogFd.ToString(CultureInfo.InvariantCulture);
        psi.Environment["RUNPROC_STATUS_FD"] = files.StatusFd.ToString(CultureInfo.InvariantCulture);
        try
        {
            using var p = Process.Start(psi) ?? throw new SchedulerException("the job process did not start.", transient: false);
            files.Dispose(); // the job has its copies; ours close at once
            record["pid"] = p.Id.ToString(CultureInfo.InvariantCulture);
            if (ProcStat(p.Id) is { } st)
                record["start"] = st.StartTicks.ToString(CultureInfo.InvariantCulture);
            p.StandardInput.Close();
            p.StandardOutput.Close();
            p.StandardError.Close();
        }
        catch (Win32Exception ex)
        {
            TryDelete(spool);
            throw new SchedulerException($"cannot start the job wrapper '{argv[0]}': {ex.Message}.", transient: false, ex);
        }
        WriteSpool(spool, record);
        return spec.Name;
    }

    public SchedulerQuery Query(IReadOnlyCollection<string> jobIds, CancellationToken cancel)
    {
        var result = new Dictionary<string, SchedulerJobStatus>(StringComparer.Ordinal);
        var elsewhere = new HashSet<string>(StringComparer.Ordinal);
        string? problem = null;
        foreach (var id in jobIds)
        {
            cancel.ThrowIfCancellationRequested();
            if (StatusOf(id, out var host) is { } s)
                result[id] = s;
            else if (host is not null)
            {
                elsewhere.Add(id);
                problem = $"local job '{id}' runs on host {host}; only a RunProc on {host} can see whether it is alive.";
            }
        }
        return new SchedulerQuery { Known = result, Unanswered = elsewhere, Problem = problem };
    }

    public IReadOnlyList<SchedulerJobStatus> FindByName(string name, CancellationToken cancel)
    {
        if (!IsSafeName(name))
            return Array.Empty<SchedulerJobStatus>();
        var s = StatusOf(name, out var host);
        if (s is null && host is not null)
            throw new SchedulerException($"local job '{name}' was started on host {host}; resolve it there.", transient: true);
        if (s is null)
            return Array.Empty<SchedulerJobStatus>();
        if (s.State == JobState.NotSubmitted)
            return Array.Empty<SchedulerJobStatus>();
        return new[] { s };
    }

    public void Cancel(string jobId, CancellationToken cancel)
    {
        var spool = ReadSpool(SpoolFile(jobId)) ?? throw new SchedulerException($"local job '{jobId}' is unknown (no spool record in {_spool}).", transient: false);
        var statusPath = spool.GetValueOrDefault("status") ?? "";
        var ws = WrapperStatus.TryRead(statusPath);
        var pid = LivePid(spool, ws, statusPath);
        // Record the request first: the wrapper's 'end signal TERM' then reads as Cancelled, not Failed.
        SafeFile.AppendLines(statusPath, new[] { $"cancel {LogTime.Now()} by {Environment.UserName}" }, _fileMode);
        if (pid is not null)
        {
            // The wrapper ends the command's group (TERM, then KILL after the grace) before it records its end.
            if (kill(-pid.Value, 15) != 0)
                kill(pid.Value, 15);
        }
        else if (ws is { HasEnded: false, Group: { } group } && GroupAlive(group))
            EndOrphanedGroup(statusPath, ws, group); // the wrapper is gone but its command is not
    }

    /// <summary>Seconds between TERM and KILL when a job's process group is ended (the wrapper's RUNPROC_KILL_GRACE).</summary>
    public int KillGraceSeconds { get; init; } = 10;

    private static bool GroupAlive(int group) => kill(-group, 0) == 0;

    /// <summary>
    /// The wrapper died without recording an end while its command's group lives on (its watchdog
    /// died too, or is about to act): TERM the group now, KILL it once the grace has passed since
    /// the first 'orphan' line. Called on every status query, so it never blocks.
    /// </summary>
    private void EndOrphanedGroup(string statusPath, WrapperStatus ws, int group)
    {
        if (!ws.Orphaned)
        {
            SafeFile.AppendLines(statusPath, new[] { $"orphan {LogTime.Now()} wrapper gone: the scheduler ends process group {group}" }, _fileMode);
            kill(-group, 15);
            return;
        }
        var since = File.GetLastWriteTimeUtc(statusPath);
        kill(-group, DateTime.UtcNow - since > TimeSpan.FromSeconds(KillGraceSeconds) ? 9 : 15);
    }

    /// <summary>The status of one local job; null when it has no spool record, or (with <paramref name="otherHost"/> set) when it runs on another host and has not ended.</summary>
    private SchedulerJobStatus? StatusOf(string id, out string? otherHost)
    {
        otherHost = null;
        if (!IsSafeName(id))
            return null;
        var spoolPath = SpoolFile(id);
        var spool = ReadSpool(spoolPath);
        if (spool is null)
            return null;
        var statusPath = spool.GetValueOrDefault("status") ?? "";
        var ws = WrapperStatus.TryRead(statusPath);
        if (Ended(id, ws) is { } ended)
            return ended;
        if (spool.GetValueOrDefault("host") is { Length: > 0 } h && !string.Equals(h, Environment.MachineName, StringComparison.OrdinalIgnoreCase))
        {
            otherHost = h;
            return null;
        }
        AfterStatusRead?.Invoke(id);
        var pid = LivePid(spool, ws, statusPath);
        if (pid is not null)
        {
            var running = ws?.Started is not null;
            return new SchedulerJobStatus(id, running ? JobState.Running : JobState.Pending, running ? "RUN" : "PEND", running ? null : "waiting for a local slot", null, id);
        }
        // The wrapper is gone. It records its end and then exits, so it may have ended between the
        // read above and this check: read its status again before judging it (else a job that just
        // finished reads as Lost, and its run is processed twice).
        ws = WrapperStatus.TryRead(statusPath);
        if (Ended(id, ws) is { } late)
            return late;
        // A job is Lost only when nothing of it is left: a command outliving its wrapper still runs (and is being ended).
        if (ws is { Group: { } group } && GroupAlive(group))
        {
            if (ws.Watchdog is not { } dog || kill(dog, 0) != 0)
                EndOrphanedGroup(statusPath, ws, group);
            return new SchedulerJobStatus(id, JobState.Running, "ORPHAN", $"the job wrapper died; its process group {group} is being ended", null, id);
        }
        if (ws?.TimedOut == true)
            return new SchedulerJobStatus(id, JobState.TimedOut, "TIMEOUT", "killed at the time limit; the wrapper died before recording its end", null, id);
        if (ws?.Pid is null && !spool.ContainsKey("pid"))
        {
            // Spool written, nothing launched: the submitter died in between, unless it is launching right now.
            var created = DateTime.TryParse(spool.GetValueOrDefault("created"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var c) ? c : DateTime.MinValue;
            if (DateTime.UtcNow - created.ToUniversalTime() > TimeSpan.FromSeconds(10))
                return new SchedulerJobStatus(id, JobState.NotSubmitted, "NOTSTARTED", "the job process was never started", null, id);
            return new SchedulerJobStatus(id, JobState.Pending, "STARTING", null, null, id);
        }
        if (ws?.CancelRequested == true)
            return new SchedulerJobStatus(id, JobState.Cancelled, "CANCELLED", "process gone after a cancel request", null, id);
        return new SchedulerJobStatus(id, JobState.Lost, "LOST", "the job process vanished without recording an exit code", null, id);
    }

    /// <summary>The final status the wrapper recorded (its end line), else null.</summary>
    private static SchedulerJobStatus? Ended(string id, WrapperStatus? ws)
    {
        if (ws?.Outcome() is not { } o)
            return null;
        var word = o switch { JobState.Done => "DONE", JobState.TimedOut => "TIMEOUT", JobState.Cancelled => "CANCELLED", _ => "EXIT" };
        return new SchedulerJobStatus(id, o, word, ws.Signal is { } sig ? "signal " + sig : null, ws.ExitCode, id);
    }

    /// <summary>Tests: called between the first read of a job's status file and the check whether its wrapper lives.</summary>
    internal Action<string>? AfterStatusRead { get; init; }

    /// <summary>The job's pid if that process is still alive and is the same process (start time or command line match).</summary>
    private static int? LivePid(Dictionary<string, string> spool, WrapperStatus? ws, string statusPath)
    {
        int? pid = int.TryParse(spool.GetValueOrDefault("pid"), NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : ws?.Pid;
        if (pid is null)
            return null;
        var st = ProcStat(pid.Value);
        if (st is null || st.Value.State == 'Z' || st.Value.State == 'X')
            return null;
        if (ulong.TryParse(spool.GetValueOrDefault("start"), NumberStyles.None, CultureInfo.InvariantCulture, out var start))
            return st.Value.StartTicks == start ? pid : null;
        // No recorded start time (the submitter died right after the launch): the pid must be our wrapper for this status file.
        try
        {
            var cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
            return cmdline.Split('\0').Contains(statusPath) ? pid : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    internal readonly record struct ProcInfo(char State, ulong StartTicks);

    /// <summary>State and start time (clock ticks after boot) from /proc/&lt;pid&gt;/stat; null if there is no such process.</summary>
    internal static ProcInfo? ProcStat(int pid)
    {
        string text;
        try { text = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        // The command name (field 2) may hold spaces and parentheses: fields restart after the last ')'.
        var close = text.LastIndexOf(')');
        if (close < 0) return null;
        var f = text[(close + 2)..].Split(' ');
        // f[0] is field 3 (state); field 22 (starttime) is f[19].
        if (f.Length < 20 || f[0].Length == 0) return null;
        return new ProcInfo(f[0][0], ulong.TryParse(f[19], NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : 0);
    }

    private void WriteSpool(string path, Dictionary<string, string> record) =>
        SafeFile.WriteAllLinesAtomic(path, record.Select(kv => kv.Key + "=" + kv.Value), _fileMode);

    private static Dictionary<string, string>? ReadSpool(string path)
    {
        if (SafeFile.ReadAllText(path) is not { } text)
            return null;
        var lines = text.Split('\n');
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var l in lines)
        {
            var eq = l.IndexOf('=');
            if (eq > 0) d[l[..eq]] = l[(eq + 1)..];
        }
        return d;
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
