using System.Globalization;
using System.Security.Cryptography;
using RunProc.Config;
using RunProc.IO;

namespace RunProc.Batch;

/// <summary>What Submit decided for one run.</summary>
public enum SubmitDecision
{
    /// <summary>A job was submitted (or, for a plan, would be).</summary>
    Submitted,
    /// <summary>Nothing to do for this run (active, done, exhausted, recorded by the old tool); see the message.</summary>
    Skipped,
    /// <summary>MaxJobs is reached: the run stays pending for the next cycle.</summary>
    Deferred,
    /// <summary>The submission failed; the run will be tried again (see the message).</summary>
    Failed,
}

/// <summary>The result of submitting (or planning to submit) one run.</summary>
public sealed class SubmitOutcome
{
    public required string Experiment { get; init; }
    public required int Run { get; init; }
    public required SubmitDecision Decision { get; init; }
    public string Message { get; init; } = "";
    public ProcJob? Job { get; init; }
    public int Attempt { get; init; }

    /// <summary>The exact scheduler argv (also for a plan: what -WhatIf shows). For a split run: the parts' submission.</summary>
    public IReadOnlyList<string> Argv { get; init; } = Array.Empty<string>();

    /// <summary>The scheduler job name; a plan's is the one its submission uses.</summary>
    public string JobName { get; init; } = "";

    /// <summary>The job log; a plan's is the one its submission creates.</summary>
    public string LogFile { get; init; } = "";

    /// <summary>A plan's whole job (name, command, log, wrapper): what <see cref="BatchController.Submit(SubmitOutcome, int?, CancellationToken)"/> submits.</summary>
    internal JobSpec? Spec { get; init; }

    internal bool Force { get; init; }

    /// <summary>A split run's merge submission (empty for an unsplit run).</summary>
    public IReadOnlyList<string> MergeArgv { get; init; } = Array.Empty<string>();

    /// <summary>Set for a failed submission.</summary>
    public Exception? Error { get; init; }

    /// <summary>Reprocessing parameters of the plan (Submit-ProcJob -Parameter), recorded with the job.</summary>
    public IReadOnlyDictionary<string, string>? Parameters { get; init; }
}

/// <summary>What one reconciliation pass saw and changed.</summary>
public sealed class ReconcileResult
{
    /// <summary>Jobs looked at (active before the pass), as they are after it.</summary>
    public List<ProcJob> Jobs { get; } = new();

    /// <summary>Jobs that reached a final state in this pass.</summary>
    public List<ProcJob> Finished { get; } = new();

    /// <summary>Warnings: failed queries, unresolved intents (nothing was changed for those).</summary>
    public List<string> Problems { get; } = new();

    /// <summary>Scheduler commands run for status (one batched query per scheduler and pass).</summary>
    public int QueryCommands { get; set; }
}

/// <summary>The summary of one cron cycle (Invoke-ProcCycle).</summary>
public sealed class ProcCycleSummary
{
    public required string Process { get; init; }
    public SchedulerKind Scheduler { get; init; }
    public DateTime Started { get; init; }
    public double Seconds { get; set; }

    /// <summary>False when another cycle of the process held the lock and this one did nothing.</summary>
    public bool Ran { get; set; }

    public int Active { get; set; }
    public int Finished { get; set; }
    public int Done { get; set; }
    public int Failed { get; set; }
    public int Submitted { get; set; }
    public int Retried { get; set; }

    /// <summary>Runs left for the next cycle because MaxJobs was reached.</summary>
    public int Deferred { get; set; }

    public int Errors { get; set; }
    public List<string> Problems { get; } = new();
    public List<ProcJob> Jobs { get; } = new();
}

/// <summary>
/// Submits runs of one process, reconciles its jobs with the scheduler and runs a cron cycle,
/// exactly once per attempt. The protocol: under the DB write lock, record an intent (job name,
/// log, attempt) in the journal, append the run to -proc-runs.txt, submit, record the job id. The
/// lock is held from intent to id, so an intent without an id seen by a later lock holder belongs
/// to a dead controller; it is resolved by asking the scheduler for the job name (found: tracked;
/// not found: void, and the run is submitted again). Failed, timed-out and lost jobs are retried
/// up to the process's Attempts.
/// </summary>
public sealed partial class BatchController
{
    private readonly RunProcConfig _config;
    private readonly ProcessDefinition _process;
    private readonly IRunLedger _ledger;
    private readonly BatchEnvironment _env;
    private readonly Func<SchedulerKind, IScheduler> _schedulers;
    private readonly Dictionary<SchedulerKind, IScheduler> _schedulerCache = new();
    private readonly Dictionary<string, JobJournal> _journals = new(StringComparer.Ordinal);

    public BatchController(RunProcConfig config, ProcessDefinition process, IRunLedger ledger, BatchEnvironment env, Func<SchedulerKind, IScheduler>? schedulers = null)
    {
        _config = config;
        _process = process;
        _ledger = ledger;
        _env = env;
        _schedulers = schedulers ?? (k => SchedulerFactory.Create(k, config, process.Name));
        SafeFile.GuardTree(config.DbRoot);
    }

    public ProcessDefinition Process => _process;

    /// <summary>How long to wait for the DB write lock.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Called between the steps of a submission (tests simulate a kill there by throwing).</summary>
    public Action<string>? StepHook { get; set; }

    public IScheduler Scheduler(SchedulerKind kind)
    {
        if (!_schedulerCache.TryGetValue(kind, out var s))
            _schedulerCache[kind] = s = _schedulers(kind);
        return s;
    }

    private string ProcessDirectory => Path.Combine(_config.DbRoot, _process.Name);

    // ---------------------------------------------------------------- journals

    private JobJournal Journal(string experiment)
    {
        if (!_journals.TryGetValue(experiment, out var j))
            _journals[experiment] = j = new JobJournal(JobJournal.PathFor(_config, _process.Name, experiment), _process.Name, experiment, _config.FileMode, _config.DirectoryMode);
        return j;
    }

    /// <summary>Finds every journal of the process on disk and reads what is new.</summary>
    private IReadOnlyCollection<JobJournal> RefreshAll()
    {
        if (Directory.Exists(ProcessDirectory))
        {
            foreach (var insDir in Directory.EnumerateDirectories(ProcessDirectory))
            {
                if (!Names.IsInstrument(Path.GetFileName(insDir)))
                    continue;
                foreach (var f in Directory.EnumerateFiles(insDir, "*-jobs.txt"))
                {
                    var exp = Path.GetFileName(f)[..^"-jobs.txt".Length];
                    if (Names.IsExperiment(exp, _config) && _config.TryInstrumentOf(exp, out var ins, out _) && ins == Path.GetFileName(insDir))
                        Journal(exp);
                }
            }
        }
        var readable = new List<JobJournal>(_journals.Count);
        foreach (var j in _journals.Values)
        {
            // One damaged journal (a link, a FIFO, a directory in its place) costs its experiment, not the pass.
            try
            {
                j.Refresh();
                readable.Add(j);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _journalErrors[j.Experiment] = $"{j.Experiment}: {ex.Message} Its jobs are not tracked until this is fixed.";
                continue;
            }
            _journalErrors.Remove(j.Experiment);
        }
        return readable;
    }

    private readonly Dictionary<string, string> _journalErrors = new(StringComparer.Ordinal);
    private readonly Dictionary<JobJournal, Dictionary<string, int>> _unsavedPolls = new();

    /// <summary>Journals that could not be read in the last pass, one message each (file and cause).</summary>
    public IReadOnlyCollection<string> JournalErrors => _journalErrors.Values;

    /// <summary>Every job of the process (or of one experiment), current as of now, as copies.</summary>
    public IReadOnlyList<ProcJob> Jobs(string? experiment = null)
    {
        if (experiment is not null)
        {
            var j = Journal(Names.Experiment(experiment));
            j.Refresh();
            return j.Jobs.Select(x => x.Clone()).ToList();
        }
        return RefreshAll().OrderBy(j => j.Experiment, StringComparer.Ordinal).SelectMany(j => j.Jobs).Select(x => x.Clone()).ToList();
    }

    /// <summary>Jobs of the process that are active (counted against MaxJobs).</summary>
    public int ActiveCount() => RefreshAll().Sum(j => j.Jobs.Count(x => x.State.IsActive()));

    /// <summary>Available submissions under <paramref name="maxJobs"/> given <paramref name="active"/> jobs: never negative.</summary>
    public static int FreeSlots(int maxJobs, int active) => Math.Max(0, maxJobs - Math.Max(0, active));

    // ---------------------------------------------------------------- submit

    private readonly record struct Eligibility(bool Ok, int Attempt, string Message);

    private Eligibility Decide(JobJournal journal, int run, bool force)
    {
        var jobs = journal.Jobs.Where(j => j.Run == run).ToList();
        var active = jobs.FirstOrDefault(j => j.State.IsActive());
        if (active is not null)
            return new(false, 0, $"{journal.Experiment} run {run} already has an active job ({active.State}{(active.JobId.Length > 0 ? ", job " + active.JobId : "")}).");
        var attempts = AttemptsUsed(jobs);
        var attempt = jobs.Count(j => j.State.CountsAsAttempt()) + 1;
        if (force)
            return new(true, attempt, "");
        var done = jobs.LastOrDefault(j => j.State == JobState.Done);
        if (done is not null)
            return new(false, 0, $"{journal.Experiment} run {run} was processed by job {done.JobId} (attempt {done.Attempt}); use -Force to process it again.");
        var last = jobs.LastOrDefault(j => j.State.CountsAsAttempt());
        if (jobs.Count == 0 && _ledger.IsProcessed(journal.Experiment, run))
            return new(false, 0, $"{journal.Experiment} run {run} is recorded in -proc-runs.txt without a RunProc job (processed by the old tool?); use -Force to process it again.");
        if (last is { State: JobState.Cancelled })
            return new(false, 0, $"the last job of {journal.Experiment} run {run} was cancelled; use -Force to submit it again.");
        if (attempts >= _process.Attempts)
            return new(false, 0, $"{journal.Experiment} run {run} failed {attempts} time(s), the configured Attempts ({_process.Attempts}); it stays {last?.State}. Use -Force to try again.");
        return new(true, attempt, "");
    }

    /// <summary>
    /// Attempts a run has used: one per job, except that a split attempt that failed has used them
    /// all (its failed part was already retried alone up to Attempts; running every part again would not help).
    /// </summary>
    private int AttemptsUsed(IEnumerable<ProcJob> jobs)
    {
        var list = jobs.ToList();
        return list.Any(j => j.Parts > 1 && j.State.IsRetryable()) ? Math.Max(_process.Attempts, list.Count(j => j.State.CountsAsAttempt())) : list.Count(j => j.State.CountsAsAttempt());
    }

    private static string NewJobName(string process, string exp, int run, int attempt) =>
        $"rp.{process}.{exp}.r{run:0000}.a{attempt}.{Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant()}";

    private JobSpec BuildSpec(string exp, int run, int attempt, string name, string logFile, string workDir, IReadOnlyDictionary<string, string>? parameters = null)
    {
        var values = new TemplateValues
        {
            Process = _process.Name, Experiment = exp, Instrument = _config.InstrumentOf(exp), Run = run, Attempt = attempt, JobName = name,
            WorkDirectory = workDir, LogFile = logFile, ConfigPath = _env.ConfigPath, RunProcArgv = _env.RunProcArgv, JobEntryArgv = _env.JobEntryArgv,
            Parts = _process.Parts, PartDirectory = PartDirectoryFor(workDir, name),
        };
        var command = CommandTemplate.Expand(_process.Command, values);
        // Reprocessing parameters (validated by the caller) follow the command as '-Name value' pairs.
        if (parameters is { Count: > 0 })
            command = command.Concat(parameters.OrderBy(p => p.Key, StringComparer.Ordinal).SelectMany(p => new[] { "-" + p.Key, p.Value })).ToList();
        return new JobSpec
        {
            Name = name,
            Command = WithEnvironment(command),
            LogFile = logFile,
            StatusFile = StatusFileFor(logFile),
            WorkDirectory = workDir,
            Queue = _process.Queue,
            TimeLimitMinutes = _process.TimeLimitMinutes,
            WrapperScript = _env.WrapperScript,
            Resources = BatchResources.For(_process, values),
        };
    }

    /// <summary>The process's Environment set for the command: /usr/bin/env -- NAME=value ... command (no shell).</summary>
    private IReadOnlyList<string> WithEnvironment(IReadOnlyList<string> command)
    {
        if (_process.Environment.Count == 0)
            return command;
        if (command[0].Contains('='))
            throw new ArgumentException($"the command's program '{Names.Show(command[0])}' contains '=', which env would take for a variable; give its path without '='.");
        var argv = new List<string> { "/usr/bin/env", "--" };
        argv.AddRange(_process.Environment.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => e.Key + "=" + e.Value));
        argv.AddRange(command);
        return argv;
    }

    /// <summary>The wrapper's status file next to a log: log-&lt;exp&gt;-r&lt;RRRR&gt;-&lt;time&gt;.status.</summary>
    public static string StatusFileFor(string logFile) =>
        logFile.EndsWith(".txt", StringComparison.Ordinal) ? logFile[..^4] + ".status" : logFile + ".status";

    private static string LogName(string exp, int run, DateTime t) =>
        $"log-{exp}-r{run:0000}-{t.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture)}.txt";

    /// <summary>
    /// Why a run named by hand (not from the catalog) cannot be submitted now: it has no data files
    /// (Missing) or is still being written or settling (NotReady, with the reason); null when it is ready.
    /// </summary>
    public (bool Missing, string Message)? CheckOnDisk(string experiment, int run)
    {
        var catalog = new RunProc.Catalog.RunCatalog(_config);
        var exp = Names.Experiment(experiment, _config);
        var info = catalog.Run(exp, run);
        if (info is null)
            return (true, $"{exp} run {run} has no data files in {catalog.RunDirectoryOf(catalog.InstrumentOf(exp), exp)}: there is nothing to process.");
        if (!info.Ready)
            return (false, $"{exp} run {run} is not ready ({info.NotReadyReason}).");
        return null;
    }

    /// <summary>
    /// What submitting the run would do, without doing it: decision, attempt, job name, log and the
    /// exact argv. A plan that decided Submitted is submitted as it is by <see cref="Submit(SubmitOutcome, int?, CancellationToken)"/>.
    /// </summary>
    public SubmitOutcome PlanSubmit(string experiment, int run, bool force, int? maxJobs = null) => PlanSubmit(experiment, run, force, maxJobs, 0);

    /// <param name="parameters">Reprocessing parameters (validated by the caller): appended to the command as -Name value and recorded with the job.</param>
    public SubmitOutcome PlanSubmit(string experiment, int run, bool force, int? maxJobs, IReadOnlyDictionary<string, string>? parameters) => PlanSubmit(experiment, run, force, maxJobs, 0, parameters);

    /// <param name="alreadyPlanned">Plans of the same pipeline shown by -WhatIf before this one (a real pipeline would have submitted them).</param>
    internal SubmitOutcome PlanSubmit(string experiment, int run, bool force, int? maxJobs, int alreadyPlanned, IReadOnlyDictionary<string, string>? parameters = null)
    {
        var exp = Names.Experiment(experiment, _config);
        _config.InstrumentOf(exp); // an experiment outside the instrument rule is never submitted
        Names.Run(run);
        var journal = Journal(exp);
        journal.Refresh();
        var e = Decide(journal, run, force);
        if (!e.Ok)
            return new SubmitOutcome { Experiment = exp, Run = run, Decision = SubmitDecision.Skipped, Message = e.Message };
        var limit = maxJobs ?? _process.MaxJobs;
        var dir = Path.Combine(_config.DbRoot, _process.Name, _config.InstrumentOf(exp), exp);
        var log = Path.Combine(dir, FreeLogName(dir, exp, run, _env.Now()));
        var spec = BuildSpec(exp, run, e.Attempt, NewJobName(_process.Name, exp, run, e.Attempt), log, Path.Combine(dir, "work"), parameters);
        var argv = Scheduler(_process.Scheduler).SubmitArgv(spec);
        IReadOnlyList<string> mergeArgv = Array.Empty<string>();
        if (_process.Parts > 1)
            (argv, mergeArgv) = PlanSplit(exp, run, e.Attempt, spec.Name, log);
        var active = ActiveCount() + alreadyPlanned;
        var decision = FreeSlots(limit, active) == 0 ? SubmitDecision.Deferred : SubmitDecision.Submitted;
        return new SubmitOutcome
        {
            Experiment = exp, Run = run, Decision = decision, Attempt = e.Attempt, Argv = argv, MergeArgv = mergeArgv, JobName = spec.Name, LogFile = log, Spec = spec, Force = force,
            Parameters = parameters,
            Message = decision == SubmitDecision.Deferred ? $"{active} job(s) of {_process.Name} active, MaxJobs {limit}" : "",
        };
    }

    /// <summary>
    /// Submits one run exactly once: see the class summary for the protocol. Returns Skipped with
    /// the reason when the run needs nothing, Deferred when <paramref name="maxJobs"/> active jobs
    /// exist, Failed when the scheduler refused (the run is retried later).
    /// </summary>
    public SubmitOutcome Submit(string experiment, int run, bool force, int? maxJobs, CancellationToken cancel)
    {
        var exp = Names.Experiment(experiment, _config);
        _config.InstrumentOf(exp); // an experiment outside the instrument rule is never submitted
        Names.Run(run);
        using var _ = _ledger.AcquireWriteLock(LockTimeout, cancel);
        Step("locked");
        return SubmitLocked(exp, run, force, maxJobs, null, cancel);
    }

    /// <summary>
    /// Submits exactly the job of a plan from <see cref="PlanSubmit(string, int, bool, int?)"/> (its
    /// job name, log and argv: what -WhatIf and -Confirm showed). If the run changed since (another
    /// attempt, an active job, its log name taken) nothing is submitted and the outcome says why.
    /// </summary>
    public SubmitOutcome Submit(SubmitOutcome plan, int? maxJobs, CancellationToken cancel)
    {
        if (plan.Spec is null || plan.Decision != SubmitDecision.Submitted)
            throw new ArgumentException($"{plan.Experiment} run {plan.Run}: only a plan that decided Submitted can be submitted (this one: {plan.Decision}).", nameof(plan));
        using var _ = _ledger.AcquireWriteLock(LockTimeout, cancel);
        Step("locked");
        return SubmitLocked(plan.Experiment, plan.Run, plan.Force, maxJobs, plan, cancel);
    }

    private SubmitOutcome SubmitLocked(string exp, int run, bool force, int? maxJobs, SubmitOutcome? plan, CancellationToken cancel)
    {
        var limit = maxJobs ?? _process.MaxJobs;
        var journal = Journal(exp);
        journal.Refresh();
        var e = Decide(journal, run, force);
        if (!e.Ok)
            return new SubmitOutcome { Experiment = exp, Run = run, Decision = SubmitDecision.Skipped, Message = e.Message };
        if (plan is not null && e.Attempt != plan.Attempt)
            return Stale(plan, $"it would now be attempt {e.Attempt}");
        var active = ActiveCount();
        if (FreeSlots(limit, active) == 0)
            return new SubmitOutcome { Experiment = exp, Run = run, Decision = SubmitDecision.Deferred, Attempt = e.Attempt, Message = $"{active} job(s) of {_process.Name} active, MaxJobs {limit}" };

        _env.EnsureModule?.Invoke();
        var scheduler = Scheduler(_process.Scheduler);
        var expDir = _ledger.ExperimentDirectory(exp);
        var workDir = _ledger.WorkDirectory(exp);
        var now = _env.Now();
        JobSpec spec;
        if (plan?.Spec is { } planned)
        {
            if (!TryCreateLog(planned.LogFile))
                return Stale(plan, $"its log {planned.LogFile} exists now");
            SafeFile.EnsureDirectory(planned.WorkDirectory, _config.DirectoryMode);
            spec = planned;
        }
        else
            spec = BuildSpec(exp, run, e.Attempt, NewJobName(_process.Name, exp, run, e.Attempt), CreateLog(expDir, exp, run, ref now), workDir);
        var name = spec.Name;
        var log = spec.LogFile;
        var argv = scheduler.SubmitArgv(spec);
        // Created here with the DB's (group-writable) mode; the wrapper only appends to it.
        SafeFile.Touch(spec.StatusFile, _config.FileMode);
        SafeFile.AppendText(log,
            $"# RunProc {_process.Name}: {exp} run {run} attempt {e.Attempt}, job name {name}, scheduler {scheduler.Kind}\n" +
            (_env.Module.Length > 0 ? $"# module: {_env.Module}\n" : "") +
            $"# command: {CommandTemplate.Display(spec.Command)}\n", _config.FileMode);
        Step("log");

        journal.Append(new JournalEvent
        {
            Event = "intent", Name = name, Run = run, Attempt = e.Attempt, Scheduler = scheduler.Kind.ToString(),
            Queue = _process.Queue, Log = log, Status = spec.StatusFile, Argv = spec.Command.ToArray(), Submitted = now.ToUniversalTime(),
            Parts = _process.Parts > 1 ? _process.Parts : null,
            Parameters = plan?.Parameters is { Count: > 0 } p ? new Dictionary<string, string>(p) : null,
        });
        Step("intent");

        // The old tool's record ("mark as processed in any case"): old readers see the run as taken.
        if (!_ledger.IsProcessed(exp, run))
            _ledger.AppendProcessed(exp, run, _env.RecordCommand, now);
        Step("proc-runs");

        if (_process.Parts > 1)
        {
            var problems = new ReconcileResult();
            var split = AdvanceSplit(journal, journal.Find(name)!, null, problems, cancel);
            var submitted = split.PartJobs.Any(p => p.JobId.Length > 0);
            return new SubmitOutcome
            {
                Experiment = exp, Run = run, Decision = submitted ? SubmitDecision.Submitted : SubmitDecision.Failed, Attempt = e.Attempt, Argv = argv, Job = split,
                Message = string.Join(" ", problems.Problems), Error = submitted ? null : new SchedulerException(string.Join(" ", problems.Problems), transient: true),
            };
        }

        string id;
        try
        {
            id = scheduler.Submit(spec, cancel);
            Step("submit");
        }
        catch (SchedulerException ex)
        {
            return ResolveFailedSubmit(journal, name, exp, run, e.Attempt, argv, ex, cancel);
        }
        journal.Append(new JournalEvent { Event = "submitted", Name = name, JobId = id });
        Step("submitted");
        return new SubmitOutcome { Experiment = exp, Run = run, Decision = SubmitDecision.Submitted, Attempt = e.Attempt, Argv = argv, JobName = name, LogFile = log, Job = journal.Find(name)!.Clone() };
    }

    private static SubmitOutcome Stale(SubmitOutcome plan, string why) => new()
    {
        Experiment = plan.Experiment, Run = plan.Run, Decision = SubmitDecision.Skipped,
        Message = $"{plan.Experiment} run {plan.Run} changed since its job {plan.JobName} was planned ({why}); nothing was submitted. Plan it again.",
    };

    private SubmitOutcome ResolveFailedSubmit(JobJournal journal, string name, string exp, int run, int attempt, IReadOnlyList<string> argv, SchedulerException ex, CancellationToken cancel)
    {
        // A failed submit may still have created the job: never submit again before asking by name.
        if (!ex.Transient)
        {
            try
            {
                var found = ex.CommandNotRun ? Array.Empty<SchedulerJobStatus>() : Scheduler(_process.Scheduler).FindByName(name, cancel);
                if (found.Count > 0)
                {
                    journal.Append(new JournalEvent { Event = "submitted", Name = name, JobId = found[0].JobId });
                    return new SubmitOutcome { Experiment = exp, Run = run, Decision = SubmitDecision.Submitted, Attempt = attempt, Argv = argv, Job = journal.Find(name)!.Clone(), Message = ex.Message };
                }
                // Refused for good (bad queue, limits): an attempt used, so a broken setup is not resubmitted forever.
                var job = journal.Find(name)!;
                journal.Append(new JournalEvent
                {
                    Event = "state", Name = name, State = JobState.Failed.ToString(), SchedulerState = "REFUSED", Reason = ex.Message,
                    Ended = DateTime.UtcNow, Log = RenameLog(job.LogFile, "REFUSED"),
                });
                var left = _process.Attempts - attempt;
                return new SubmitOutcome
                {
                    Experiment = exp, Run = run, Decision = SubmitDecision.Failed, Attempt = attempt, Argv = argv, Job = journal.Find(name)!.Clone(), Error = ex,
                    Message = ex.Message + (left > 0 ? $" The next cycle tries again ({left} attempt(s) left)." : " No attempts left: fix the process settings, then Submit-ProcJob -Force."),
                };
            }
            catch (SchedulerException) { /* cannot tell: leave the intent for the next pass */ }
        }
        journal.Append(new JournalEvent { Event = "state", Name = name, Reason = ex.Message });
        return new SubmitOutcome
        {
            Experiment = exp, Run = run, Decision = SubmitDecision.Failed, Attempt = attempt, Argv = argv, Job = journal.Find(name)!.Clone(), Error = ex,
            Message = ex.Message + " The job may exist nevertheless; the next reconciliation asks the scheduler for it by name before submitting again.",
        };
    }

    // Log names have one-second resolution: a later attempt within the same second (or one whose
    // earlier log was renamed -<STATUS>, or whose status file exists) takes the next free second.
    private static bool LogNameTaken(string path) =>
        File.Exists(path) || File.Exists(StatusFileFor(path)) || Directory.EnumerateFiles(Path.GetDirectoryName(path)!, Path.GetFileName(path) + "-*").Any();

    /// <summary>The first free log name from <paramref name="now"/> on (nothing is created: for a plan).</summary>
    private static string FreeLogName(string expDir, string exp, int run, DateTime now)
    {
        for (var i = 0; i < 1000 && Directory.Exists(expDir); i++, now = now.AddSeconds(1))
            if (!LogNameTaken(Path.Combine(expDir, LogName(exp, run, now))))
                return LogName(exp, run, now);
        return LogName(exp, run, now);
    }

    private string CreateLog(string expDir, string exp, int run, ref DateTime now)
    {
        for (var i = 0; i < 1000; i++, now = now.AddSeconds(1))
        {
            var path = Path.Combine(expDir, LogName(exp, run, now));
            if (!LogNameTaken(path) && TryCreateLog(path))
                return path;
        }
        throw new IOException($"cannot create a new log for {exp} run {run} in {expDir}: 1000 names taken.");
    }

    /// <summary>Creates the (empty) log, unless that name is taken.</summary>
    private bool TryCreateLog(string path)
    {
        // O_EXCL without following links: anything already there, a planted link included, takes the name.
        return !LogNameTaken(path) && SafeFile.TryCreateNew(path, _config.FileMode);
    }

    private void Step(string step) => StepHook?.Invoke(step);

    // ---------------------------------------------------------------- reconcile

    /// <summary>
    /// One reconciliation pass: resolves intents left by dead controllers, asks the scheduler about
    /// every active job in one batched query, appends the old status line to each log, renames the
    /// logs of unsuccessful jobs with -&lt;STATUS&gt; and records state changes. A failed query
    /// changes nothing. <paramref name="onlyNames"/> limits the pass to those jobs.
    /// </summary>
    public ReconcileResult Reconcile(CancellationToken cancel, IReadOnlyCollection<string>? onlyNames = null)
    {
        var result = new ReconcileResult();
        using var _ = _ledger.AcquireWriteLock(LockTimeout, cancel);
        var journals = RefreshAll();
        result.Problems.AddRange(JournalErrors);
        var active = journals.SelectMany(j => j.Jobs.Where(x => x.State.IsActive()).Select(x => (Journal: j, Job: x)))
            .Where(p => onlyNames is null || onlyNames.Contains(p.Job.Name)).ToList();

        // 1. Intents without a job id: the controller that wrote them died (we hold the lock it held).
        foreach (var (journal, job) in active.Where(p => p.Job.JobId.Length == 0 && p.Job.Parts == 1))
        {
            cancel.ThrowIfCancellationRequested();
            try
            {
                var found = Scheduler(job.Scheduler).FindByName(job.Name, cancel);
                if (found.Count > 0)
                {
                    journal.Append(new JournalEvent { Event = "submitted", Name = job.Name, JobId = found[0].JobId });
                    // Stop-ProcJob was asked while the id was unknown: deliver the cancel now.
                    if (job.CancelRequested)
                        Scheduler(job.Scheduler).Cancel(found[0].JobId, cancel);
                }
                else
                {
                    journal.Append(new JournalEvent { Event = "void", Name = job.Name, Reason = "the submission did not create a job (controller stopped or scheduler refused); the run will be submitted again" });
                    AppendLogLine(job, $"# {Stamp()} no job was created for {job.Name}; the run will be submitted again");
                    result.Finished.Add(journal.Find(job.Name)!.Clone());
                }
            }
            catch (SchedulerException ex)
            {
                result.Problems.Add($"cannot resolve the unconfirmed submission {job.Name} of {job.Experiment} run {job.Run}: {ex.Message}");
                result.Jobs.Add(job.Clone()); // still active: watchers keep waiting for it
            }
        }

        // 2. One batched status query per scheduler for every job with an id.
        var withId = active.Select(p => (p.Journal, Job: p.Journal.Find(p.Job.Name)!)).Where(p => p.Job.JobId.Length > 0 && p.Job.State.IsActive() && p.Job.Parts == 1).ToList();
        // Split runs: their part and merge jobs go into the same one query per scheduler.
        var splits = active.Where(p => p.Job.Parts > 1).ToList();
        var answers = new Dictionary<SchedulerKind, SchedulerQuery>();
        var kinds = withId.Select(p => p.Job.Scheduler).Concat(splits.Select(p => p.Job.Scheduler)).Distinct().ToList();
        foreach (var kind in kinds)
        {
            cancel.ThrowIfCancellationRequested();
            var group = withId.Where(p => p.Job.Scheduler == kind).ToList();
            var ids = group.Select(p => p.Job.JobId).Concat(splits.Where(p => p.Job.Scheduler == kind).SelectMany(p => QueryIds(p.Job))).Distinct().ToList();
            if (ids.Count == 0)
                continue;
            var scheduler = Scheduler(kind);
            var answer = scheduler.Query(ids, cancel);
            answers[kind] = answer;
            result.QueryCommands += answer.Commands;
            if (answer.Problem is not null)
                result.Problems.Add($"{kind}: {answer.Problem} (those jobs keep their state).");
            var now = DateTime.UtcNow;
            foreach (var (journal, job) in group)
            {
                if (answer.Unanswered.Contains(job.JobId))
                {
                    result.Jobs.Add(job.Clone());
                    continue;
                }
                var updated = Apply(journal, job, answer.Known.GetValueOrDefault(job.JobId), now);
                result.Jobs.Add(updated);
                if (updated.State.IsFinal())
                {
                    result.Finished.Add(updated);
                    if (updated.State.IsRetryable() && journal.Jobs.Count(j => j.Run == updated.Run && j.State.CountsAsAttempt()) >= _process.Attempts)
                        NotifyFailure(updated, result, cancel);
                }
            }
        }
        foreach (var (j, counts) in _unsavedPolls)
            j.AppendPollCounts(counts);
        _unsavedPolls.Clear();
        foreach (var (journal, job) in splits)
        {
            cancel.ThrowIfCancellationRequested();
            var updated = AdvanceSplit(journal, journal.Find(job.Name)!, answers.GetValueOrDefault(job.Scheduler) ?? new SchedulerQuery(), result, cancel);
            result.Jobs.Add(updated);
            if (updated.State.IsFinal())
                result.Finished.Add(updated);
        }
        foreach (var j in journals.Where(j => j.NeedsCompaction || j.BadLines > 0))
        {
            // Unreadable lines (a write torn by a crash, a hand edit) are dropped by rewriting the journal from its state.
            if (j.BadLines > 0)
                result.Problems.Add($"{j.Path}: {j.BadLines} unreadable line(s) skipped; the journal was rewritten from the jobs it describes.");
            j.Compact();
        }
        return result;
    }

    private ProcJob Apply(JobJournal journal, ProcJob job, SchedulerJobStatus? status, DateTime now)
    {
        JobState state;
        string word;
        var exit = status?.ExitCode;
        var reason = status?.Reason;
        WrapperStatus? ws = null;
        if (status is null)
        {
            // Unknown to the scheduler: only the wrapper's own record can say how it ended; otherwise Lost, never Done.
            ws = WrapperStatus.TryRead(job.StatusFile);
            if (ws?.Outcome() is { } o)
            {
                state = o;
                word = o switch { JobState.Done => "DONE", JobState.TimedOut => "TIMEOUT", JobState.Cancelled => "CANCELLED", _ => "EXIT" };
                exit = ws.ExitCode;
                reason = "the scheduler no longer knows the job; outcome from the job wrapper";
            }
            else
            {
                state = JobState.Lost;
                word = "LOST";
                reason = "the scheduler no longer knows the job and the job wrapper recorded no end";
            }
        }
        else
        {
            state = status.State;
            word = status.SchedulerState;
            if (job.CancelRequested && state == JobState.Failed)
                state = JobState.Cancelled; // LSF reports a killed job as EXIT
        }
        if (state.IsFinal() || (state == JobState.Running && job.Started is null))
        {
            ws ??= WrapperStatus.TryRead(job.StatusFile);
            exit ??= ws?.ExitCode;
        }

        var polls = job.Polls + 1;
        AppendLogLine(job, string.Format(CultureInfo.InvariantCulture, "{0,4} {1} {2} job {3} status {4}", polls, Stamp(), QueueWord(job), job.JobId, word));

        var e = new JournalEvent { Event = "state", Name = job.Name, Polls = polls };
        var changed = state != job.State || word != job.SchedulerState;
        if (changed)
        {
            e.State = state.ToString();
            e.SchedulerState = word;
            e.Reason = reason ?? "";
            e.ExitCode = exit;
            if (ws?.Started is { } st) e.Started = st;
            else if (state == JobState.Running && job.Started is null) e.Started = now;
            if (state.IsFinal())
            {
                e.Ended = ws?.Ended ?? now;
                if (state != JobState.Done)
                {
                    // The log usually says why: keep its last error line with the job.
                    e.LastError = JobLog.LastErrorLine(job.LogFile);
                    if (string.IsNullOrEmpty(e.Reason) && e.LastError is not null)
                        e.Reason = e.LastError;
                    e.Log = RenameLog(job.LogFile, word);
                }
            }
        }
        // Polls alone are not worth a journal line per job: they go in one "polls" line per journal at the end of the pass.
        if (changed)
            journal.Append(e);
        else
        {
            job.Polls = polls;
            if (!_unsavedPolls.TryGetValue(journal, out var counts))
                _unsavedPolls[journal] = counts = new Dictionary<string, int>(StringComparer.Ordinal);
            counts[job.Name] = polls;
        }
        return journal.Find(job.Name)!.Clone();
    }

    /// <summary>Runs the process's OnFailure argv for a run that failed for good; its own failure is a problem, never a job state.</summary>
    private void NotifyFailure(ProcJob job, ReconcileResult result, CancellationToken cancel)
    {
        if (_process.OnFailure.Count == 0)
            return;
        // Each placeholder fills part of one argv element with a validated name: no shell ever sees it.
        var argv = _process.OnFailure.Select(a => a
            .Replace("{exp}", Names.Experiment(job.Experiment), StringComparison.Ordinal)
            .Replace("{run}", Names.Run(job.Run).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{state}", job.State.ToString(), StringComparison.Ordinal)
            .Replace("{logfile}", job.LogFile, StringComparison.Ordinal)).ToList();
        try
        {
            var r = ProcessCommandRunner.Instance.Run(argv, TimeSpan.FromSeconds(60), cancel);
            if (r.ExitCode != 0)
                result.Problems.Add($"OnFailure for {job.Experiment} run {job.Run} ({CommandTemplate.Display(argv)}) exited {r.ExitCode}: {r.StdErr.Trim()}");
        }
        catch (Exception ex) when (ex is SchedulerException or IOException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            result.Problems.Add($"OnFailure for {job.Experiment} run {job.Run} ({CommandTemplate.Display(argv)}) could not run: {ex.Message}");
        }
    }

    private string QueueWord(ProcJob job) => job.Queue.Length > 0 ? job.Queue : job.Scheduler == SchedulerKind.Local ? "local" : "default";

    private static string Stamp() => LogTime.Now();

    private void AppendLogLine(ProcJob job, string line)
    {
        if (job.LogFile.Length == 0)
            return;
        // One write on an O_APPEND descriptor, like the job's own output; no fsync: a status line in a
        // log is not a DB record, and 1,000 fsyncs would dominate a reconciliation pass.
        try { SafeFile.AppendText(job.LogFile, line + "\n", _config.FileMode); }
        catch (IOException) { } // a log that cannot be written must not stop the accounting
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>The old tool's rule: a log of a job that did not end DONE gets -&lt;STATUS&gt; appended.</summary>
    private static string RenameLog(string log, string status)
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

    // ---------------------------------------------------------------- cancel

    /// <summary>Cancels an active job (records the request first, so the end reads as Cancelled).</summary>
    public ProcJob Cancel(string experiment, string name, CancellationToken cancel)
    {
        var exp = Names.Experiment(experiment, _config);
        using var _ = _ledger.AcquireWriteLock(LockTimeout, cancel);
        var journal = Journal(exp);
        journal.Refresh();
        var job = journal.Find(name) ?? throw new ArgumentException($"{exp} has no job named '{Names.Show(name)}' in {journal.Path}.");
        if (!job.State.IsActive())
            throw new InvalidOperationException($"job {name} of {exp} run {job.Run} has already ended ({job.State}).");
        journal.Append(new JournalEvent { Event = "cancel", Name = name });
        if (job.Parts > 1)
            CancelActive(job, cancel, null); // the parts' array (or jobs) and the merge
        else if (job.JobId.Length > 0)
            Scheduler(job.Scheduler).Cancel(job.JobId, cancel);
        AppendLogLine(job, $"# {Stamp()} cancel requested by {Environment.UserName}");
        return journal.Find(name)!.Clone();
    }

    // ---------------------------------------------------------------- cycle

    /// <summary>Runs whose last attempt failed, timed out, was lost or never became a job, with attempts left.</summary>
    public IReadOnlyList<(string Experiment, int Run)> RetryCandidates()
    {
        var list = new List<(string, int)>();
        foreach (var journal in RefreshAll().OrderBy(j => j.Experiment, StringComparer.Ordinal))
        {
            foreach (var g in journal.Jobs.GroupBy(j => j.Run).OrderBy(g => g.Key))
            {
                if (g.Any(j => j.State.IsActive() || j.State == JobState.Done))
                    continue;
                var last = g.Last();
                var attempts = AttemptsUsed(g);
                if ((last.State.IsRetryable() || last.State == JobState.NotSubmitted) && attempts < _process.Attempts)
                    list.Add((journal.Experiment, g.Key));
            }
        }
        return list;
    }

    /// <summary>A missing DataRoot is an error of the cycle (else it would be a "successful" empty cycle); missing instrument directories are reported.</summary>
    private void CheckDataRoot(ProcCycleSummary summary)
    {
        if (!Directory.Exists(_config.DataRoot))
        {
            summary.Errors++;
            summary.Problems.Add($"DataRoot '{_config.DataRoot}' does not exist (config {_config.SourcePath}): no run can be found; correct DataRoot or mount the data.");
            return;
        }
        var missing = _config.Instruments.Where(i => !Directory.Exists(Path.Combine(_config.DataRoot, i))).ToList();
        if (missing.Count > 0)
            summary.Problems.Add($"instrument director{(missing.Count == 1 ? "y" : "ies")} {string.Join(", ", missing)} missing under DataRoot '{_config.DataRoot}': no runs of {(missing.Count == 1 ? "it" : "them")} can be found (Instruments in {_config.SourcePath}).");
    }

    /// <summary>
    /// One cron cycle: take the process's cycle lock (if another cycle holds it, return at once with
    /// Ran = false), reconcile, then submit retries and ready pending runs within MaxJobs.
    /// </summary>
    public ProcCycleSummary RunCycle(CancellationToken cancel, int? maxJobs = null)
    {
        var summary = new ProcCycleSummary { Process = _process.Name, Scheduler = _process.Scheduler, Started = DateTime.Now };
        var sw = System.Diagnostics.Stopwatch.StartNew();
        SafeFile.EnsureDirectory(ProcessDirectory, _config.DirectoryMode);
        using var cycleLock = FileLock.TryAcquire(Path.Combine(ProcessDirectory, ".cycle.lock"), _config.FileMode);
        if (cycleLock is null)
        {
            summary.Problems.Add($"another cycle of {_process.Name} is running (lock {Path.Combine(ProcessDirectory, ".cycle.lock")}); this one did nothing.");
            summary.Seconds = sw.Elapsed.TotalSeconds;
            return summary;
        }
        summary.Ran = true;
        CheckDataRoot(summary);
        var r = Reconcile(cancel);
        summary.Problems.AddRange(r.Problems);
        summary.Finished = r.Finished.Count;
        summary.Done = r.Finished.Count(j => j.State == JobState.Done);
        summary.Failed = r.Finished.Count(j => j.State is JobState.Failed or JobState.TimedOut or JobState.Lost);

        var limit = maxJobs ?? _process.MaxJobs;
        summary.Errors += JournalErrors.Count;
        var retries = RetryCandidates();
        var retrySet = retries.ToHashSet();
        void Skipped(string message)
        {
            summary.Errors++;
            summary.Problems.Add(message);
        }
        var work = retries.Concat(_ledger.ReadyPendingRuns(cancel, Skipped).Where(p => !retrySet.Contains(p))).ToList();
        var free = FreeSlots(limit, ActiveCount());
        foreach (var (exp, run) in work)
        {
            cancel.ThrowIfCancellationRequested();
            if (free == 0)
            {
                summary.Deferred++;
                continue;
            }
            SubmitOutcome o;
            try
            {
                o = Submit(exp, run, force: false, limit, cancel);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or TimeoutException)
            {
                summary.Errors++;
                summary.Problems.Add($"{exp} run {run}: {ex.Message}");
                continue;
            }
            switch (o.Decision)
            {
                case SubmitDecision.Submitted:
                    summary.Submitted++;
                    if (o.Attempt > 1 || retrySet.Contains((exp, run))) summary.Retried++;
                    summary.Jobs.Add(o.Job!);
                    free--;
                    break;
                case SubmitDecision.Deferred:
                    summary.Deferred++;
                    free = 0;
                    break;
                case SubmitDecision.Failed:
                    summary.Errors++;
                    summary.Problems.Add($"{exp} run {run}: {o.Message}");
                    if (o.Job is not null) summary.Jobs.Add(o.Job);
                    break;
            }
        }
        summary.Active = ActiveCount();
        summary.Seconds = sw.Elapsed.TotalSeconds;
        return summary;
    }
}
