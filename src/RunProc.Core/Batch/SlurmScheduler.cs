using System.Globalization;
using RunProc.Config;

namespace RunProc.Batch;

/// <summary>
/// Slurm: <c>sbatch --parsable</c> to submit, one <c>squeue -h -t all -j id,id,...</c> per pass for
/// every active job, <c>sacct -c</c> (the job-completion file, works without slurmdbd) for jobs that
/// left the queue, <c>scancel</c> to cancel. A job unknown to both is Lost, never Done.
/// </summary>
public sealed class SlurmScheduler : IScheduler
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);
    // One command per pass: 10,000 ids of up to 7 digits stay under Linux's 128 KiB limit for one argument.
    private const int IdsPerCommand = 10000;
    private readonly ICommandRunner _runner;
    private readonly int _fileMode;

    /// <param name="fileMode">Mode of the status files created before a submission.</param>
    public SlurmScheduler(ICommandRunner? runner = null, int fileMode = 0x1B4)
    {
        _runner = runner ?? ProcessCommandRunner.Instance;
        _fileMode = fileMode;
    }

    public SchedulerKind Kind => SchedulerKind.Slurm;

    public IReadOnlyList<string> SubmitArgv(JobSpec spec)
    {
        var argv = new List<string>
        {
            "sbatch", "--parsable", "-J", spec.Name, "-o", spec.LogFile,
            // Append: RunProc writes the log's header and status lines around the job's own output.
            "--open-mode=append", "-D", spec.WorkDirectory,
            "-t", spec.TimeLimitMinutes.ToString(CultureInfo.InvariantCulture),
            // A requeued job would run again under the same log and attempt: RunProc retries instead.
            "--no-requeue",
        };
        if (spec.Queue.Length > 0)
            argv.AddRange(new[] { "-p", spec.Queue });
        argv.AddRange(spec.Resources.SlurmOptions());
        if (spec.AfterOk.Count > 0)
            argv.Add("--dependency=afterok:" + string.Join(":", spec.AfterOk));
        if (spec.ArrayIndices is not null)
        {
            argv.Add("--array=" + spec.ArrayIndices + (spec.ArrayThrottle > 0 ? "%" + spec.ArrayThrottle.ToString(CultureInfo.InvariantCulture) : ""));
            // The task's index goes into its status file's name and its command before the wrapper starts.
            argv.AddRange(new[] { spec.PartScript, "--", "/bin/sh" });
        }
        // Slurm sends output to the log and enforces the time limit: the wrapper does neither.
        argv.AddRange(new[] { spec.WrapperScript, spec.StatusFile, "-", "0", "-", "0", "--" });
        argv.AddRange(spec.Command);
        return argv;
    }

    public string Submit(JobSpec spec, CancellationToken cancel)
    {
        // The wrapper appends only to status files RunProc created (every task's, for an array): no link is followed.
        JobFiles.Create(spec, _fileMode);
        var r = _runner.Run(SubmitArgv(spec), CommandTimeout, cancel);
        var id = r.ExitCode == 0 ? SlurmOutput.ParseSbatch(r.StdOut) : null;
        if (id is not null)
            return id;
        var msg = FirstLine(r.StdErr) ?? FirstLine(r.StdOut) ?? $"exit code {r.ExitCode}";
        var transient = msg.Contains("temporarily", StringComparison.OrdinalIgnoreCase) || msg.Contains("timed out", StringComparison.OrdinalIgnoreCase)
            || msg.Contains("Unable to contact", StringComparison.OrdinalIgnoreCase) || r.ExitCode == 0;
        throw new SchedulerException($"sbatch failed for job '{spec.Name}': {msg}", transient);
    }

    public SchedulerQuery Query(IReadOnlyCollection<string> jobIds, CancellationToken cancel)
    {
        var known = new Dictionary<string, SchedulerJobStatus>(StringComparer.Ordinal);
        var unanswered = new HashSet<string>(StringComparer.Ordinal);
        var arrays = new HashSet<string>(StringComparer.Ordinal);
        string? problem = null;
        var commands = 0;
        var ids = jobIds.Distinct().ToList();
        foreach (var chunk in ids.Chunk(IdsPerCommand))
        {
            commands++;
            // -r: one line per array task (else pending tasks are folded into one "7_[0-3%2]" line).
            var r = _runner.Run(new[] { "squeue", "-h", "-r", "-t", "all", "-j", string.Join(",", chunk), "-o", "%i %T %r" }, CommandTimeout, cancel);
            if (r.ExitCode != 0 && !SlurmOutput.IsInvalidJobId(r.StdErr))
            {
                problem = $"squeue failed: {FirstLine(r.StdErr) ?? "exit code " + r.ExitCode}";
                unanswered.UnionWith(chunk);
                continue;
            }
            foreach (var s in SlurmOutput.ParseSqueue(r.StdOut))
            {
                known[s.JobId] = s;
                if (s.JobId.IndexOf('_') is > 0 and var u)
                    arrays.Add(s.JobId[..u]);
            }
        }
        // An array asked for by its id answers with its tasks; sacct -c does not know tasks, so it is not asked.
        var gone = ids.Where(i => !known.ContainsKey(i) && !unanswered.Contains(i) && !arrays.Contains(i)).ToList();
        foreach (var chunk in gone.Chunk(IdsPerCommand))
        {
            commands++;
            var r = _runner.Run(new[] { "sacct", "-c", "-n", "-P", "-j", string.Join(",", chunk), "-o", "JobID,State,ExitCode" }, CommandTimeout, cancel);
            if (r.ExitCode != 0)
            {
                // Without the completion file nothing proves the job is gone: keep it as it was.
                problem = $"sacct -c failed: {FirstLine(r.StdErr) ?? "exit code " + r.ExitCode}";
                unanswered.UnionWith(chunk);
                continue;
            }
            foreach (var s in SlurmOutput.ParseSacct(r.StdOut))
                if (chunk.Contains(s.JobId))
                    known[s.JobId] = s;
        }
        return new SchedulerQuery { Known = known, Unanswered = unanswered, Problem = problem, Commands = commands };
    }

    public IReadOnlyList<SchedulerJobStatus> FindByName(string name, CancellationToken cancel)
    {
        var r = _runner.Run(new[] { "squeue", "-h", "-r", "-t", "all", "--name=" + name, "-o", "%i %T %r" }, CommandTimeout, cancel);
        if (r.ExitCode != 0)
            throw new SchedulerException($"squeue --name={name} failed: {FirstLine(r.StdErr) ?? "exit code " + r.ExitCode}", transient: true);
        var found = SlurmOutput.ParseSqueue(r.StdOut).Select(s => s with { Name = name }).ToList();
        if (found.Count > 0)
            return found;
        // sacct -c ignores --name: read the completion records and filter by name here.
        r = _runner.Run(new[] { "sacct", "-c", "-n", "-P", "-o", "JobID,State,ExitCode,JobName" }, CommandTimeout, cancel);
        if (r.ExitCode != 0)
            throw new SchedulerException($"sacct -c failed: {FirstLine(r.StdErr) ?? "exit code " + r.ExitCode}", transient: true);
        return SlurmOutput.ParseSacct(r.StdOut).Where(s => s.Name == name).ToList();
    }

    public void Cancel(string jobId, CancellationToken cancel)
    {
        var r = _runner.Run(new[] { "scancel", jobId }, CommandTimeout, cancel);
        if (r.ExitCode != 0)
            throw new SchedulerException($"scancel {jobId} failed: {FirstLine(r.StdErr) ?? "exit code " + r.ExitCode}", transient: false);
    }

    internal static string? FirstLine(string text) =>
        text.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0);
}
