using System.Globalization;
using RunProc.Config;
using RunProc.Db;
using RunProc.IO;

namespace RunProc.Batch;

/// <summary>
/// Reconciliation: one batched scheduler query per pass, the journal and the logs brought up to
/// date (status lines, -&lt;STATUS&gt; renames, OnFailure), intents of dead controllers resolved by
/// name; and Stop-ProcJob's cancel.
/// </summary>
public sealed partial class BatchController
{
    /// <summary>
    /// One reconciliation pass: resolves intents left by dead controllers, asks the scheduler about
    /// every active job in one batched query, appends the old status line to each log, renames the
    /// logs of unsuccessful jobs with -&lt;STATUS&gt; and records state changes. A failed query
    /// changes nothing. <paramref name="onlyNames"/> limits the pass to those jobs.
    /// </summary>
    public ReconcileResult Reconcile(CancellationToken cancel, IReadOnlyCollection<string>? onlyNames = null)
    {
        var result = new ReconcileResult();
        using var _ = _db.BeginWrite(LockTimeout, cancel);
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
                    JobLog.AppendLine(job.LogFile, _config.FileMode, $"# {LogTime.Now()} no job was created for {job.Name}; the run will be submitted again");
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
                    NotifyIfFailedForGood(journal, updated, result, cancel);
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
            {
                result.Finished.Add(updated);
                NotifyIfFailedForGood(journal, updated, result, cancel); // a failed split attempt has used every attempt
            }
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
        JobLog.AppendLine(job.LogFile, _config.FileMode, JobLog.StatusLine(polls, job, job.JobId, word));

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
                    e.Log = JobLog.RenameWithStatus(job.LogFile, word);
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

    /// <summary>OnFailure for a job that just ended, if its run has no attempts left (<see cref="BatchPolicy.AttemptsUsed"/>).</summary>
    private void NotifyIfFailedForGood(JobJournal journal, ProcJob ended, ReconcileResult result, CancellationToken cancel)
    {
        if (ended.State.IsRetryable() && Policy.AttemptsUsed(journal.Jobs.Where(j => j.Run == ended.Run)) >= _process.Attempts)
            NotifyFailure(ended, result, cancel);
    }

    /// <summary>Runs the process's OnFailure argv for a run that failed for good; its own failure is a problem, never a job state.</summary>
    private void NotifyFailure(ProcJob job, ReconcileResult result, CancellationToken cancel)
    {
        if (_process.OnFailure.Count == 0)
            return;
        // Each placeholder fills part of one argv element with a validated name: no shell ever sees it.
        var argv = _process.OnFailure.Select(a => a
            .Replace("{exp}", Names.Experiment(job.Experiment), StringComparison.Ordinal)
            .Replace("{run}", Names.ValidateRun(job.Run).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
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

    // ---------------------------------------------------------------- cancel

    /// <summary>Cancels an active job (records the request first, so the end reads as Cancelled).</summary>
    public ProcJob Cancel(string experiment, string name, CancellationToken cancel)
    {
        var exp = Names.Experiment(experiment, _config);
        using var _ = _db.BeginWrite(LockTimeout, cancel);
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
        JobLog.AppendLine(job.LogFile, _config.FileMode, $"# {LogTime.Now()} cancel requested by {Environment.UserName}");
        return journal.Find(name)!.Clone();
    }
}
