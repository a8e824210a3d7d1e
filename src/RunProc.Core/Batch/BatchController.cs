using System.Globalization;
using System.Security.Cryptography;
using RunProc.Config;
using RunProc.Db;
using RunProc.IO;

namespace RunProc.Batch;

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
    private readonly ProcDb _db;
    private readonly ProcDbTree _tree;
    private readonly BatchEnvironment _env;
    private readonly Func<SchedulerKind, IScheduler> _schedulers;
    private readonly Dictionary<SchedulerKind, IScheduler> _schedulerCache = new();
    private readonly Dictionary<string, JobJournal> _journals = new(StringComparer.Ordinal);

    /// <param name="db">The DB tree of <paramref name="process"/> (records, journals, logs, locks).</param>
    /// <param name="process">The process's definition.</param>
    /// <param name="env">How jobs start (wrapper, {runproc}, config).</param>
    /// <param name="schedulers">The scheduler of each kind (tests pass doubles); default the real ones.</param>
    public BatchController(ProcDb db, ProcessDefinition process, BatchEnvironment env, Func<SchedulerKind, IScheduler>? schedulers = null)
    {
        if (!string.Equals(db.Process, process.Name, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"the DB tree of {db.Process} is not the tree of process {process.Name}.", nameof(db));
        _db = db;
        _tree = db.Tree;
        _config = db.Config;
        _process = process;
        Policy = new BatchPolicy(process.Attempts, process.NoRetryExitCodes);
        _env = env;
        _schedulers = schedulers ?? (k => SchedulerFactory.Create(k, _config, process.Name));
        SafeFile.GuardTree(_config.DbRoot);
    }

    /// <summary>The rules (eligibility, retries, free slots) this controller applies to its journals.</summary>
    public BatchPolicy Policy { get; }

    /// <summary>Which experiments a cycle scans for ready pending runs (default: experiments.txt, the old LIST mode).</summary>
    public Func<CancellationToken, RunScanQuery> PendingScan { get; init; } = c => new RunScanQuery { Cancel = c };

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


    // ---------------------------------------------------------------- journals

    private JobJournal Journal(string experiment)
    {
        if (!_journals.TryGetValue(experiment, out var j))
            _journals[experiment] = j = new JobJournal(_tree.JournalFile(experiment), _process.Name, experiment, _config.FileMode, _config.DirectoryMode);
        return j;
    }

    /// <summary>Finds every journal of the process on disk and reads what is new.</summary>
    private IReadOnlyCollection<JobJournal> RefreshAll()
    {
        foreach (var exp in _tree.JournalExperiments())
            Journal(exp);
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
    public int ActiveCount() => BatchPolicy.ActiveCount(RefreshAll().SelectMany(j => j.Jobs));

    // ---------------------------------------------------------------- submit

    private Eligibility Decide(JobJournal journal, int run, bool force) =>
        Policy.Decide(journal.Experiment, run, journal.Jobs.Where(j => j.Run == run).ToList(), force,
            () => _db.ReadDoneRuns(journal.Experiment).Contains(run));

    private static string NewJobName(string process, string exp, int run, int attempt) =>
        $"rp.{process}.{exp}.r{run:0000}.a{attempt}.{Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant()}";

    private JobSpec BuildSpec(string exp, int run, int attempt, string name, string logFile, string workDir, IReadOnlyDictionary<string, string>? parameters = null)
    {
        var values = new TemplateValues
        {
            Process = _process.Name, Experiment = exp, Instrument = _config.InstrumentOf(exp), Run = run, Attempt = attempt, JobName = name,
            WorkDirectory = workDir, LogFile = logFile, ConfigPath = _env.ConfigPath, RunProcArgv = _env.RunProcArgv, JobEntryArgv = _env.JobEntryArgv,
            Parts = _process.Parts, PartDirectory = ProcDbTree.PartDirectory(workDir, name),
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
            StatusFile = JobLog.StatusFileFor(logFile),
            WorkDirectory = workDir,
            Queue = _process.Queue,
            TimeLimitMinutes = _process.TimeLimitMinutes,
            WrapperScript = _env.WrapperScript,
            Resources = _process.Resources.Expand(values),
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
        Names.ValidateRun(run);
        var journal = Journal(exp);
        journal.Refresh();
        var e = Decide(journal, run, force);
        if (!e.Ok)
            return new SubmitOutcome { Experiment = exp, Run = run, Decision = SubmitDecision.Skipped, Message = e.Message };
        var limit = maxJobs ?? _process.MaxJobs;
        var dir = _tree.ExperimentDirectory(exp);
        var log = Path.Combine(dir, JobLog.FreeName(dir, exp, run, _env.Now()));
        var spec = BuildSpec(exp, run, e.Attempt, NewJobName(_process.Name, exp, run, e.Attempt), log, _tree.WorkDirectory(exp), parameters);
        var argv = Scheduler(_process.Scheduler).SubmitArgv(spec);
        IReadOnlyList<string> mergeArgv = Array.Empty<string>();
        if (_process.Parts > 1)
            (argv, mergeArgv) = PlanSplit(exp, run, e.Attempt, spec.Name, log);
        var active = ActiveCount() + alreadyPlanned;
        var decision = BatchPolicy.FreeSlots(limit, active) == 0 ? SubmitDecision.Deferred : SubmitDecision.Submitted;
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
        Names.ValidateRun(run);
        using var _ = _db.BeginWrite(LockTimeout, cancel);
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
        using var _ = _db.BeginWrite(LockTimeout, cancel);
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
        if (BatchPolicy.FreeSlots(limit, active) == 0)
            return new SubmitOutcome { Experiment = exp, Run = run, Decision = SubmitDecision.Deferred, Attempt = e.Attempt, Message = $"{active} job(s) of {_process.Name} active, MaxJobs {limit}" };

        _env.EnsureModule?.Invoke();
        var scheduler = Scheduler(_process.Scheduler);
        var expDir = _db.ExperimentDirectory(exp);
        var workDir = _db.WorkDirectory(exp);
        var now = _env.Now();
        JobSpec spec;
        if (plan?.Spec is { } planned)
        {
            if (!JobLog.TryCreate(planned.LogFile, _config.FileMode))
                return Stale(plan, $"its log {planned.LogFile} exists now");
            SafeFile.EnsureDirectory(planned.WorkDirectory, _config.DirectoryMode);
            spec = planned;
        }
        else
            spec = BuildSpec(exp, run, e.Attempt, NewJobName(_process.Name, exp, run, e.Attempt), JobLog.Create(expDir, exp, run, ref now, _config.FileMode), workDir);
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
        _db.Writing.AppendProcessed(exp, new[] { run }, _env.RecordCommand, now);
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
                    Ended = DateTime.UtcNow, Log = JobLog.RenameWithStatus(job.LogFile, "REFUSED"),
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

    private void Step(string step) => StepHook?.Invoke(step);
}
