using System.Globalization;
using System.Text.RegularExpressions;
using RunProc.Config;

namespace RunProc.Batch;

/// <summary>
/// Parsing of LSF command output (as the original tool saw it, shared/reference/original-system.md)
/// and the mapping of the LSF STAT column to <see cref="JobState"/>.
/// </summary>
public static class LsfOutput
{
    /// <summary>PEND RUN DONE EXIT PSUSP USUSP SSUSP UNKWN WAIT ZOMBI -> RunProc state.</summary>
    public static JobState MapState(string stat) => stat.Trim().ToUpperInvariant() switch
    {
        "PEND" or "WAIT" => JobState.Pending,
        "RUN" => JobState.Running,
        "PSUSP" or "USUSP" or "SSUSP" => JobState.Suspended,
        "DONE" => JobState.Done,
        "EXIT" => JobState.Failed,
        // A job killed while its host was unreachable.
        "ZOMBI" => JobState.Cancelled,
        // UNKWN: mbatchd lost contact with the execution host; the job may still run. Keep it active.
        _ => JobState.Running,
    };

    /// <summary><c>bsub</c>: "Job &lt;849160&gt; is submitted to queue &lt;psnehq&gt;." -> (849160, psnehq).</summary>
    public static (string JobId, string? Queue)? ParseBsub(string stdout)
    {
        var m = Regex.Match(stdout, @"Job <(\d+(?:\[\d+\])?)> is submitted to (?:default )?queue <([^>]*)>");
        return m.Success ? (m.Groups[1].Value, m.Groups[2].Value) : null;
    }

    /// <summary>
    /// <c>bjobs [-a] [-w] ids</c>: a header "JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME SUBMIT_TIME",
    /// then one row per job; STAT is the 3rd column (EXEC_HOST is blank for pending jobs, so later
    /// columns shift: only JOBID, USER, STAT and QUEUE are read by position).
    /// </summary>
    public static IReadOnlyList<SchedulerJobStatus> ParseBjobs(string stdout)
    {
        var list = new List<SchedulerJobStatus>();
        foreach (var raw in stdout.Split('\n'))
        {
            var f = raw.Trim().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 3 || !Regex.IsMatch(f[0], @"^\d+(\[\d+\])?$"))
                continue; // header, blank or message line
            list.Add(new SchedulerJobStatus(f[0], MapState(f[2]), f[2].ToUpperInvariant(), null, null, f.Length >= 7 && f[2] != "PEND" ? f[6] : null));
        }
        return list;
    }

    /// <summary>Ids bjobs reports as "Job &lt;123&gt; is not found".</summary>
    public static IReadOnlySet<string> ParseNotFound(string text) =>
        Regex.Matches(text, @"Job <(\d+(?:\[\d+\])?)> is not found").Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);

    /// <summary>"No job found", "No unfinished job found", "No matching job found": an empty answer, not an error.</summary>
    public static bool IsNoJobMessage(string text) => Regex.IsMatch(text, @"No (unfinished |matching )?job found", RegexOptions.IgnoreCase);
}

/// <summary>
/// LSF: <c>bsub -q &lt;queue&gt; -o &lt;log&gt; -J &lt;name&gt; ...</c>, one <c>bjobs -a -w id id ...</c> per pass,
/// <c>bkill</c>. A job that bjobs no longer knows (past CLEAN_PERIOD) is judged by the wrapper's
/// status file, else Lost.
/// </summary>
public sealed class LsfScheduler : IScheduler
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);
    private const int IdsPerCommand = 500;
    private readonly ICommandRunner _runner;

    public LsfScheduler(ICommandRunner? runner = null) => _runner = runner ?? ProcessCommandRunner.Instance;

    public SchedulerKind Kind => SchedulerKind.Lsf;

    public IReadOnlyList<string> SubmitArgv(JobSpec spec)
    {
        var argv = new List<string> { "bsub" };
        if (spec.Queue.Length > 0)
            argv.AddRange(new[] { "-q", spec.Queue });
        argv.AddRange(spec.Resources.LsfOptions());
        argv.AddRange(new[]
        {
            "-o", spec.LogFile, "-J", spec.Name, "-cwd", spec.WorkDirectory,
            "-W", spec.TimeLimitMinutes.ToString(CultureInfo.InvariantCulture),
            "/bin/sh", spec.WrapperScript, spec.StatusFile, "-", "0", "-", "0", "--",
        });
        argv.AddRange(spec.Command);
        return argv;
    }

    public string Submit(JobSpec spec, CancellationToken cancel)
    {
        var r = _runner.Run(SubmitArgv(spec), CommandTimeout, cancel);
        if (LsfOutput.ParseBsub(r.StdOut) is { } ok)
            return ok.JobId;
        var msg = SlurmScheduler.FirstLine(r.StdErr) ?? SlurmScheduler.FirstLine(r.StdOut) ?? $"exit code {r.ExitCode}";
        throw new SchedulerException($"bsub failed for job '{spec.Name}': {msg}", transient: r.ExitCode == 0 || msg.Contains("try again", StringComparison.OrdinalIgnoreCase));
    }

    public SchedulerQuery Query(IReadOnlyCollection<string> jobIds, CancellationToken cancel)
    {
        var known = new Dictionary<string, SchedulerJobStatus>(StringComparer.Ordinal);
        var unanswered = new HashSet<string>(StringComparer.Ordinal);
        string? problem = null;
        var commands = 0;
        foreach (var chunk in jobIds.Distinct().Chunk(IdsPerCommand))
        {
            commands++;
            var argv = new List<string> { "bjobs", "-a", "-w" };
            argv.AddRange(chunk);
            var r = _runner.Run(argv, CommandTimeout, cancel);
            var rows = LsfOutput.ParseBjobs(r.StdOut);
            foreach (var s in rows)
                if (chunk.Contains(s.JobId))
                    known[s.JobId] = s;
            var notFound = LsfOutput.ParseNotFound(r.StdErr + "\n" + r.StdOut);
            if (r.ExitCode != 0 && rows.Count == 0 && notFound.Count == 0 && !LsfOutput.IsNoJobMessage(r.StdErr + r.StdOut))
            {
                problem = $"bjobs failed: {SlurmScheduler.FirstLine(r.StdErr) ?? "exit code " + r.ExitCode}";
                unanswered.UnionWith(chunk.Where(i => !known.ContainsKey(i)));
            }
        }
        return new SchedulerQuery { Known = known, Unanswered = unanswered, Problem = problem, Commands = commands };
    }

    public IReadOnlyList<SchedulerJobStatus> FindByName(string name, CancellationToken cancel)
    {
        var r = _runner.Run(new[] { "bjobs", "-a", "-w", "-J", name }, CommandTimeout, cancel);
        var rows = LsfOutput.ParseBjobs(r.StdOut);
        if (rows.Count == 0 && r.ExitCode != 0 && !LsfOutput.IsNoJobMessage(r.StdErr + r.StdOut))
            throw new SchedulerException($"bjobs -J {name} failed: {SlurmScheduler.FirstLine(r.StdErr) ?? "exit code " + r.ExitCode}", transient: true);
        return rows.Select(s => s with { Name = name }).ToList();
    }

    public void Cancel(string jobId, CancellationToken cancel)
    {
        var r = _runner.Run(new[] { "bkill", jobId }, CommandTimeout, cancel);
        if (r.ExitCode != 0)
            throw new SchedulerException($"bkill {jobId} failed: {SlurmScheduler.FirstLine(r.StdErr) ?? "exit code " + r.ExitCode}", transient: false);
    }
}
