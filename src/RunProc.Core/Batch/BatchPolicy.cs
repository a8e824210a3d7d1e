namespace RunProc.Batch;

/// <summary>Whether a run may be submitted, and as which attempt; else why not.</summary>
public readonly record struct Eligibility(bool Ok, int Attempt, string Message);

/// <summary>
/// The rules of the batch use cases on job lists alone, with no file and no scheduler: whether a
/// run may be submitted and as which attempt, the attempts a run has used, which runs a cycle
/// retries, and how many submissions MaxJobs leaves. <see cref="BatchController"/> applies them to
/// the journals.
/// </summary>
public sealed class BatchPolicy
{
    /// <param name="attempts">Submissions per run before it stays Failed (the process's Attempts).</param>
    /// <param name="noRetryExitCodes">Exit codes of a failed job that end its run's attempts at once (the process's NoRetryExitCodes).</param>
    public BatchPolicy(int attempts, IReadOnlyCollection<int>? noRetryExitCodes = null)
    {
        Attempts = attempts;
        NoRetryExitCodes = noRetryExitCodes ?? Array.Empty<int>();
    }

    public int Attempts { get; }

    /// <summary>A job that failed with one of these exit codes said that running it again will not help (the input cannot be processed).</summary>
    public IReadOnlyCollection<int> NoRetryExitCodes { get; }

    /// <summary>A job (or part) that failed with one of <see cref="NoRetryExitCodes"/>.</summary>
    public bool IsFinalFailure(JobState state, int? exitCode) =>
        state == JobState.Failed && exitCode is { } code && NoRetryExitCodes.Contains(code);

    /// <summary>
    /// Whether <paramref name="run"/> of <paramref name="experiment"/> may be submitted, given its jobs
    /// (every attempt, in submission order). <paramref name="recordedWithoutJob"/> is asked only for a
    /// run without jobs: whether -proc-runs.txt already records it (the old tool processed it).
    /// </summary>
    public Eligibility Decide(string experiment, int run, IReadOnlyList<ProcJob> jobs, bool force, Func<bool> recordedWithoutJob)
    {
        var active = jobs.FirstOrDefault(j => j.State.IsActive());
        if (active is not null)
            return new(false, 0, $"{experiment} run {run} already has an active job ({active.State}{(active.JobId.Length > 0 ? ", job " + active.JobId : "")}).");
        var attempts = AttemptsUsed(jobs);
        var attempt = jobs.Count(j => j.State.CountsAsAttempt()) + 1;
        if (force)
            return new(true, attempt, "");
        var done = jobs.LastOrDefault(j => j.State == JobState.Done);
        if (done is not null)
            return new(false, 0, $"{experiment} run {run} was processed by job {done.JobId} (attempt {done.Attempt}); use -Force to process it again.");
        var last = jobs.LastOrDefault(j => j.State.CountsAsAttempt());
        if (jobs.Count == 0 && recordedWithoutJob())
            return new(false, 0, $"{experiment} run {run} is recorded in -proc-runs.txt without a RunProc job (processed by the old tool?); use -Force to process it again.");
        if (last is { State: JobState.Cancelled })
            return new(false, 0, $"the last job of {experiment} run {run} was cancelled; use -Force to submit it again.");
        if (last is not null && IsFinalFailure(last.State, last.ExitCode))
            return new(false, 0, $"{experiment} run {run} failed with exit code {last.ExitCode}, which the process's NoRetryExitCodes mark as not worth retrying (the job found input it cannot process; see its log {last.LogFile}); it stays Failed. Use -Force to try again.");
        if (attempts >= Attempts)
            return new(false, 0, $"{experiment} run {run} failed {attempts} time(s), the configured Attempts ({Attempts}); it stays {last?.State}. Use -Force to try again.");
        return new(true, attempt, "");
    }

    /// <summary>
    /// Attempts a run has used: one per job, except that a split attempt that failed has used them
    /// all (its failed part was already retried alone up to Attempts; running every part again would
    /// not help), and so has a last attempt that failed with one of <see cref="NoRetryExitCodes"/>.
    /// </summary>
    public int AttemptsUsed(IEnumerable<ProcJob> jobs)
    {
        var list = jobs as IReadOnlyCollection<ProcJob> ?? jobs.ToList();
        var counted = list.Count(j => j.State.CountsAsAttempt());
        var last = list.LastOrDefault(j => j.State.CountsAsAttempt());
        return list.Any(j => j.Parts > 1 && j.State.IsRetryable()) || last is not null && IsFinalFailure(last.State, last.ExitCode)
            ? Math.Max(Attempts, counted) : counted;
    }

    /// <summary>
    /// Runs whose last attempt failed, timed out, was lost or never became a job, with attempts left,
    /// in experiment then run order; <paramref name="jobs"/> are the jobs of every experiment.
    /// </summary>
    public IReadOnlyList<(string Experiment, int Run)> RetryCandidates(IEnumerable<ProcJob> jobs)
    {
        var list = new List<(string, int)>();
        foreach (var g in jobs.GroupBy(j => (j.Experiment, j.Run)).OrderBy(g => g.Key.Experiment, StringComparer.Ordinal).ThenBy(g => g.Key.Run))
        {
            if (g.Any(j => j.State.IsActive() || j.State == JobState.Done))
                continue;
            var last = g.Last();
            if ((last.State.IsRetryable() || last.State == JobState.NotSubmitted) && AttemptsUsed(g) < Attempts)
                list.Add(g.Key);
        }
        return list;
    }

    /// <summary>Jobs counted against MaxJobs.</summary>
    public static int ActiveCount(IEnumerable<ProcJob> jobs) => jobs.Count(j => j.State.IsActive());

    /// <summary>Available submissions under <paramref name="maxJobs"/> given <paramref name="active"/> jobs: never negative.</summary>
    public static int FreeSlots(int maxJobs, int active) => Math.Max(0, maxJobs - Math.Max(0, active));
}
