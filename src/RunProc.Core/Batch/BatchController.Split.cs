using System.Globalization;
using RunProc.Config;

namespace RunProc.Batch;

/// <summary>
/// Split runs (a process with Parts &gt; 1): one attempt of a run is its part jobs and a merge job.
/// Every scheduler submission of parts or of the merge follows the attempt's own exactly-once
/// protocol: under the DB write lock, a "sub-intent" naming the submission is recorded first, then
/// the job is submitted, then its id is recorded; a later lock holder finds an intent without an id
/// by the submission's name (found: tracked; not found: void, submitted again). <see cref="AdvanceSplit"/>
/// is idempotent: from whatever the journal says it submits what is missing (the parts; on Slurm
/// and LSF the merge at once, with afterok on the parts' jobs; elsewhere the merge when every part is
/// Done), retries a failed part alone while it has tries left, and derives the attempt's state.
/// So a controller killed between the array and the merge submission neither loses the merge
/// (the next pass submits it) nor submits it twice (its intent is resolved by name first).
/// </summary>
public sealed partial class BatchController
{
    private bool SplitArrays => _process.Scheduler is SchedulerKind.Slurm or SchedulerKind.Lsf;

    /// <summary>The spec of one submission of an attempt: some parts (a job array on Slurm, one part elsewhere) or the merge.</summary>
    private JobSpec SubSpec(ProcJob job, string subName, IReadOnlyList<int> parts, bool merge, IReadOnlyList<string> afterOk)
    {
        var workDir = _db.WorkDirectory(job.Experiment);
        var array = !merge && SplitArrays;
        var values = new TemplateValues
        {
            Process = _process.Name, Experiment = job.Experiment, Instrument = _config.InstrumentOf(job.Experiment), Run = job.Run, Attempt = job.Attempt, JobName = job.Name,
            WorkDirectory = workDir, LogFile = job.LogFile, ConfigPath = _env.ConfigPath, RunProcArgv = _env.RunProcArgv, JobEntryArgv = _env.JobEntryArgv,
            Part = merge || array ? null : parts[0], Parts = _process.Parts, PartDirectory = RunProc.Db.ProcDbTree.PartDirectory(workDir, job.Name),
        };
        var logBase = job.LogFile.EndsWith(".txt", StringComparison.Ordinal) ? job.LogFile[..^4] : job.LogFile;
        var tag = merge ? "merge" : "p" + (array ? CommandTemplate.PartToken : parts[0].ToString(CultureInfo.InvariantCulture));
        return new JobSpec
        {
            Name = subName,
            Command = WithEnvironment(CommandTemplate.Expand(merge ? _process.MergeCommand : _process.Command, values)),
            LogFile = job.LogFile,
            StatusFile = $"{logBase}-s{(job.Submissions + 1).ToString(CultureInfo.InvariantCulture)}-{tag}.status",
            WorkDirectory = workDir,
            Queue = _process.Queue,
            TimeLimitMinutes = _process.TimeLimitMinutes,
            WrapperScript = _env.WrapperScript,
            PartScript = _env.PartScript,
            Resources = _process.Resources.Expand(values),
            ArrayIndices = array ? IndexList(parts) : null,
            ArrayThrottle = array ? Math.Min(_process.MaxJobs, parts.Count) : 0,
            AfterOk = afterOk,
        };
    }

    /// <summary>Slurm's --array list: "0-7", or "2,5" for parts retried alone.</summary>
    internal static string IndexList(IReadOnlyList<int> parts)
    {
        var sorted = parts.Order().ToList();
        if (sorted.Count > 1 && sorted[^1] - sorted[0] == sorted.Count - 1)
            return $"{sorted[0].ToString(CultureInfo.InvariantCulture)}-{sorted[^1].ToString(CultureInfo.InvariantCulture)}";
        return string.Join(",", sorted.Select(i => i.ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>For -WhatIf: the first submission of a split attempt (the array, or part 0 elsewhere) and the merge.</summary>
    private (IReadOnlyList<string> Parts, IReadOnlyList<string> Merge) PlanSplit(string exp, int run, int attempt, string name, string log)
    {
        var job = new ProcJob { Process = _process.Name, Experiment = exp, Run = run, Name = name, Attempt = attempt, LogFile = log };
        job.SetParts(_process.Parts);
        var all = Enumerable.Range(0, _process.Parts).ToList();
        var scheduler = Scheduler(_process.Scheduler);
        var parts = scheduler.SubmitArgv(SubSpec(job, SubName(job, false), SplitArrays ? all : new[] { 0 }, false, Array.Empty<string>()));
        var merge = scheduler.SubmitArgv(SubSpec(job, SubName(job, true), Array.Empty<int>(), true, SplitArrays ? new[] { "<parts job id>" } : Array.Empty<string>()));
        return (parts, merge);
    }

    private static string SubName(ProcJob job, bool merge) =>
        $"{job.Name}.{(merge ? "m" : "p")}{(job.Submissions + 1).ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Records the intent of one submission, submits it and records its id (the exactly-once protocol, for parts or the merge).</summary>
    private void SubmitSub(JobJournal journal, ProcJob job, IReadOnlyList<int> indices, bool merge, IReadOnlyList<string> afterOk, ReconcileResult? result, CancellationToken cancel)
    {
        var scheduler = Scheduler(_process.Scheduler);
        var subName = SubName(job, merge);
        var spec = SubSpec(job, subName, merge ? new[] { job.Parts } : indices, merge, afterOk);
        var array = spec.ArrayIndices is not null;
        journal.Append(new JournalEvent
        {
            Event = "sub-intent", Name = job.Name, Submission = subName, Indices = (merge ? new[] { job.Parts } : indices).ToArray(),
            Status = spec.StatusFile, Argv = spec.Command.ToArray(), Array = array ? true : null,
        });
        Step(merge ? "merge-intent" : "parts-intent");
        JobLog.AppendLine(job.LogFile, _config.FileMode, $"# {LogTime.Now()} submit {(merge ? "the merge" : (indices.Count == job.Parts ? "the parts" : "part(s) " + string.Join(",", indices)))} as {subName}: {CommandTemplate.Display(scheduler.SubmitArgv(spec))}");
        string id;
        try
        {
            id = scheduler.Submit(spec, cancel);
        }
        catch (SchedulerException ex)
        {
            // As for an attempt: the job may exist nevertheless; the next pass asks for it by name.
            result?.Problems.Add($"{job.Experiment} run {job.Run}: {ex.Message}");
            if (ex.Transient)
                return;
            try
            {
                var found = ex.CommandNotRun ? Array.Empty<SchedulerJobStatus>() : scheduler.FindByName(subName, cancel);
                if (found.Count > 0)
                {
                    journal.Append(new JournalEvent { Event = "sub-submitted", Name = job.Name, Submission = subName, JobId = BaseId(found[0].JobId), Array = array ? true : null });
                    return;
                }
            }
            catch (SchedulerException) { return; } // cannot tell: the next pass asks by name
            // Refused for good (bad account, limits): a try used, so a broken setup is not resubmitted forever.
            foreach (var i in merge ? new[] { job.Parts } : indices)
                journal.Append(new JournalEvent { Event = "part-state", Name = job.Name, Indices = new[] { i }, State = JobState.Failed.ToString(), SchedulerState = "REFUSED" });
            return;
        }
        journal.Append(new JournalEvent { Event = "sub-submitted", Name = job.Name, Submission = subName, JobId = id, Array = array ? true : null });
        Step(merge ? "merge-submitted" : "parts-submitted");
    }

    /// <summary>The ids a status query needs for a split attempt: each array once (its tasks come with it), each single job.</summary>
    private static IEnumerable<string> QueryIds(ProcJob job) =>
        job.PartJobs.Where(p => p.State.IsActive() && p.JobId.Length > 0).Select(p => BaseId(p.JobId)).Distinct();

    /// <summary>The array's id of a Slurm array task ("1168_2" → "1168"); any other id as it is (local job names hold '_').</summary>
    private static string BaseId(string id)
    {
        var u = id.IndexOf('_');
        return u > 0 && IsArrayTask(id) ? id[..u] : id;
    }

    private static bool IsArrayTask(string id) => System.Text.RegularExpressions.Regex.IsMatch(id, @"^\d+_\d+$");

    /// <summary>
    /// Moves a split attempt on: resolves its unconfirmed submissions, applies the status answer to
    /// every part, submits what is missing or retries what failed, and records the attempt's state.
    /// The caller holds the DB write lock. <paramref name="answer"/> is null right after submitting.
    /// </summary>
    private ProcJob AdvanceSplit(JobJournal journal, ProcJob job, SchedulerQuery? answer, ReconcileResult? result, CancellationToken cancel)
    {
        var scheduler = Scheduler(job.Scheduler);

        // 1. Submissions whose id was never recorded: their controller died; ask by name.
        foreach (var sub in job.PartJobs.Where(p => p.State == JobState.Submitting && p.JobId.Length == 0).Select(p => p.Submission).Distinct().ToList())
        {
            try
            {
                var found = scheduler.FindByName(sub, cancel);
                var array = found.Any(f => IsArrayTask(f.JobId));
                journal.Append(found.Count > 0
                    ? new JournalEvent { Event = "sub-submitted", Name = job.Name, Submission = sub, JobId = BaseId(found[0].JobId), Array = array || (SplitArrays && !job.PartJobs.Any(p => p.IsMerge && p.Submission == sub)) ? true : null }
                    : new JournalEvent { Event = "sub-void", Name = job.Name, Submission = sub });
            }
            catch (SchedulerException ex)
            {
                result?.Problems.Add($"cannot resolve the unconfirmed submission {sub} of {job.Experiment} run {job.Run}: {ex.Message}");
                return journal.Find(job.Name)!.Clone(); // nothing more until it is known
            }
        }
        job = journal.Find(job.Name)!;

        // 2. The parts' states from the one batched query of this pass.
        if (answer is not null)
        {
            foreach (var p in job.PartJobs.Where(p => p.State.IsActive() && p.JobId.Length > 0).ToList())
            {
                if (answer.Unanswered.Contains(BaseId(p.JobId)))
                    continue;
                JobState state;
                string word;
                int? exit;
                if (answer.Known.TryGetValue(p.JobId, out var s))
                {
                    (state, word, exit) = (s.State, s.SchedulerState, s.ExitCode);
                    if (state.IsFinal())
                        exit ??= WrapperStatus.TryRead(p.StatusFile)?.ExitCode;
                }
                else if (WrapperStatus.TryRead(p.StatusFile) is { } ws && ws.Outcome() is { } o)
                    (state, word, exit) = (o, o == JobState.Done ? "DONE" : o.ToString().ToUpperInvariant(), ws.ExitCode);
                else
                    (state, word, exit) = (JobState.Lost, "LOST", null);
                if (job.CancelRequested && state == JobState.Failed)
                    state = JobState.Cancelled;
                if (state == p.State && word == p.SchedulerState)
                    continue;
                journal.Append(new JournalEvent { Event = "part-state", Name = job.Name, Indices = new[] { p.Index }, State = state.ToString(), SchedulerState = word, ExitCode = exit });
                JobLog.AppendLine(job.LogFile, _config.FileMode, JobLog.StatusLine(job.Polls + 1, job, p.JobId + (p.IsMerge ? " (merge)" : $" (part {p.Index})"), word));
            }
            job = journal.Find(job.Name)!;
        }

        // 3. What to do next.
        var parts = job.PartJobs.Where(p => !p.IsMerge).ToList();
        var merge = job.MergeJob!;
        if (job.CancelRequested)
        {
            CancelActive(job, cancel, result);
        }
        else if (job.PartJobs.FirstOrDefault(IsDead) is { } dead)
        {
            // A part (or the merge) failed past its retries: the attempt has failed; stop what is left.
            CancelActive(job, cancel, result);
        }
        else if (job.PartJobs.FirstOrDefault(p => p.State == JobState.Cancelled) is not null)
        {
            CancelActive(job, cancel, result); // cancelled by an operator: the attempt ends Cancelled
        }
        else
        {
            var todo = parts.Where(p => p.State == JobState.NotSubmitted || p.State.IsRetryable()).Select(p => p.Index).ToList();
            // A controller killed between the intent and the old tool's record: the record first, as Submit does.
            if (job.Submissions == 0)
                _db.Writing.AppendProcessed(job.Experiment, new[] { job.Run }, _env.RecordCommand, _env.Now());
            if (todo.Count > 0)
            {
                // A merge waiting on jobs that will never all succeed: replaced by one that waits on the retries.
                if (SplitArrays && merge.State.IsActive() && merge.JobId.Length > 0)
                {
                    TryCancel(merge.JobId, cancel, result);
                    journal.Append(new JournalEvent { Event = "part-state", Name = job.Name, Indices = new[] { merge.Index }, State = JobState.NotSubmitted.ToString(), SchedulerState = "SUPERSEDED", JobId = "", Untry = true });
                    job = journal.Find(job.Name)!;
                }
                if (SplitArrays)
                    SubmitSub(journal, job, todo, merge: false, Array.Empty<string>(), result, cancel);
                else
                    foreach (var k in todo)
                    {
                        SubmitSub(journal, job, new[] { k }, merge: false, Array.Empty<string>(), result, cancel);
                        job = journal.Find(job.Name)!;
                    }
                job = journal.Find(job.Name)!;
                parts = job.PartJobs.Where(p => !p.IsMerge).ToList();
                merge = job.MergeJob!;
            }
            var partsKnown = parts.All(p => p.State == JobState.Done || p.State.IsActive() && p.JobId.Length > 0);
            var mergeDue = merge.State == JobState.NotSubmitted || merge.State.IsRetryable();
            if (mergeDue && partsKnown && (SplitArrays || parts.All(p => p.State == JobState.Done)))
            {
                // Slurm starts it when every part job has succeeded; elsewhere every part is Done already.
                var after = SplitArrays ? AfterOk(parts) : new List<string>();
                SubmitSub(journal, job, Array.Empty<int>(), merge: true, after, result, cancel);
            }
        }
        job = journal.Find(job.Name)!;

        // 4. The attempt's state, from its parts and merge.
        var (attemptState, attemptWord, attemptExit) = SplitState(job);
        if (attemptState != job.State || attemptWord != job.SchedulerState)
        {
            var e = new JournalEvent { Event = "state", Name = job.Name, State = attemptState.ToString(), SchedulerState = attemptWord, ExitCode = attemptExit, Polls = job.Polls + 1 };
            if (attemptState == JobState.Running && job.Started is null) e.Started = DateTime.UtcNow;
            if (attemptState.IsFinal())
            {
                e.Ended = DateTime.UtcNow;
                if (attemptState != JobState.Done)
                    e.Log = JobLog.RenameWithStatus(job.LogFile, attemptWord.Split(' ')[0]);
            }
            journal.Append(e);
        }
        return journal.Find(job.Name)!.Clone();
    }

    /// <summary>A part (or the merge) that failed past its tries, or with a NoRetryExitCodes code: the attempt has failed.</summary>
    private bool IsDead(ProcJobPart p) => p.State.IsRetryable() && (p.Tries >= _process.Attempts || Policy.IsFinalFailure(p.State, p.ExitCode));

    /// <summary>
    /// The jobs the merge must wait for: the array itself while it still holds every part (one short
    /// dependency even for 1,000 tasks), else the single tasks still to succeed (an array with a
    /// failed task never satisfies afterok on the array; the failed part's retry is another job).
    /// </summary>
    private static List<string> AfterOk(List<ProcJobPart> parts)
    {
        var after = new List<string>();
        foreach (var g in parts.Where(p => p.JobId.Length > 0 && p.State != JobState.Done).GroupBy(p => BaseId(p.JobId)))
        {
            var whole = parts.All(p => BaseId(p.JobId) == g.Key) || !IsArrayTask(g.First().JobId);
            if (whole) after.Add(g.Key);
            else after.AddRange(g.Select(p => p.JobId));
        }
        return after;
    }

    /// <summary>
    /// The attempt's state: Done only when the merge is Done; Failed when a part or the merge failed
    /// past its tries; Cancelled once cancelled and nothing is active; otherwise active (Running
    /// while any part or the merge runs).
    /// </summary>
    internal (JobState State, string Word, int? Exit) SplitState(ProcJob job)
    {
        var merge = job.MergeJob!;
        var parts = job.PartJobs.Where(p => !p.IsMerge).ToList();
        var done = parts.Count(p => p.State == JobState.Done);
        var anyActive = job.PartJobs.Any(p => p.State.IsActive());
        var progress = $"{done}/{job.Parts}";
        if (merge.State == JobState.Done)
            return (JobState.Done, "DONE", merge.ExitCode ?? 0);
        var dead = job.PartJobs.FirstOrDefault(IsDead);
        if (!anyActive && dead is not null)
            return (dead.State == JobState.TimedOut ? JobState.TimedOut : dead.State == JobState.Lost ? JobState.Lost : JobState.Failed,
                $"{(dead.State == JobState.TimedOut ? "TIMEOUT" : dead.State == JobState.Lost ? "LOST" : "EXIT")} {(dead.IsMerge ? "merge" : "part " + dead.Index)}", dead.ExitCode);
        if (!anyActive && (job.CancelRequested || job.PartJobs.Any(p => p.State == JobState.Cancelled)))
            return (JobState.Cancelled, "CANCELLED", null);
        if (job.PartJobs.Any(p => p.State == JobState.Running))
            return (JobState.Running, merge.State == JobState.Running ? "MERGING" : $"RUN {progress}", null);
        if (!anyActive && job.PartJobs.All(p => p.State == JobState.NotSubmitted))
            return (JobState.Submitting, "SUBMITTING", null);
        return (JobState.Pending, $"PEND {progress}", null);
    }

    private void CancelActive(ProcJob job, CancellationToken cancel, ReconcileResult? result)
    {
        foreach (var id in QueryIds(job).ToList())
            TryCancel(id, cancel, result);
    }

    private void TryCancel(string id, CancellationToken cancel, ReconcileResult? result)
    {
        try { Scheduler(_process.Scheduler).Cancel(id, cancel); }
        catch (SchedulerException ex) { result?.Problems.Add($"cancel of job {id} failed: {ex.Message}"); }
    }
}
