using RunProc.Config;

namespace RunProc.Batch;

/// <summary>What the scheduler says about one job.</summary>
/// <param name="JobId">The scheduler's job id.</param>
/// <param name="State">The RunProc state it maps to.</param>
/// <param name="SchedulerState">The scheduler's own state word (PENDING, RUN, EXIT...).</param>
/// <param name="Reason">Slurm's reason, or null.</param>
/// <param name="ExitCode">The job's exit code where the scheduler reports it.</param>
/// <param name="Name">The job name, where reported.</param>
public sealed record SchedulerJobStatus(string JobId, JobState State, string SchedulerState, string? Reason = null, int? ExitCode = null, string? Name = null);

/// <summary>
/// The answer of one batched status query. An id in neither <see cref="Known"/> nor
/// <see cref="Unanswered"/> is unknown to the scheduler (it has forgotten the job).
/// </summary>
public sealed class SchedulerQuery
{
    public IReadOnlyDictionary<string, SchedulerJobStatus> Known { get; init; } = new Dictionary<string, SchedulerJobStatus>();

    /// <summary>Ids the query could not answer (the command failed): their state must stay as it was.</summary>
    public IReadOnlySet<string> Unanswered { get; init; } = new HashSet<string>();

    /// <summary>What went wrong, for a warning; null when everything was answered.</summary>
    public string? Problem { get; init; }

    /// <summary>Scheduler commands run for this answer (the benchmark checks it stays at one or two per pass).</summary>
    public int Commands { get; init; }
}

/// <summary>One job to submit: the wrapped command and where its files go.</summary>
public sealed class JobSpec
{
    /// <summary>Unique job name; lets a controller that died before recording the id find the job again.</summary>
    public required string Name { get; init; }

    /// <summary>The expanded process command (argv).</summary>
    public required IReadOnlyList<string> Command { get; init; }

    public required string LogFile { get; init; }

    /// <summary>The wrapper's record of start, end and exit code, next to the log.</summary>
    public required string StatusFile { get; init; }

    public required string WorkDirectory { get; init; }

    public string Queue { get; init; } = "";

    public int TimeLimitMinutes { get; init; } = 60;

    /// <summary>The job wrapper script (scripts/runproc-job.sh).</summary>
    public required string WrapperScript { get; init; }

    /// <summary>What the job asks the batch system for (Account, Cpus, MemoryGB, ...).</summary>
    public BatchResources Resources { get; init; } = BatchResources.None;

    /// <summary>
    /// A job array: the task indices ("0-3", or "2" for one part again), submitted as one job
    /// whose tasks run scripts/runproc-part.sh first (it puts the task's index where the command
    /// has <see cref="CommandTemplate.PartToken"/>); null = a single job.
    /// </summary>
    public string? ArrayIndices { get; init; }

    /// <summary>Most array tasks running at once (Slurm's and LSF's '%'); 0 = no limit.</summary>
    public int ArrayThrottle { get; init; }

    /// <summary>scripts/runproc-part.sh, for an array job.</summary>
    public string PartScript { get; init; } = "";

    /// <summary>Start only after every task of these jobs has succeeded (Slurm afterok, LSF done()); ids as RunProc writes them (an array task: &lt;id&gt;_&lt;part&gt;).</summary>
    public IReadOnlyList<string> AfterOk { get; init; } = Array.Empty<string>();
}

/// <summary>
/// A batch system. Implementations: <see cref="LocalScheduler"/>, <see cref="SlurmScheduler"/>,
/// <see cref="LsfScheduler"/>. Query is batched: one call per reconciliation pass, not one per job.
/// </summary>
public interface IScheduler
{
    SchedulerKind Kind { get; }

    /// <summary>The exact argv <see cref="Submit"/> runs (shown by -WhatIf).</summary>
    IReadOnlyList<string> SubmitArgv(JobSpec spec);

    /// <summary>Submits; returns the job id. Throws <see cref="SchedulerException"/>; after a failure the job may still exist (look it up by name).</summary>
    string Submit(JobSpec spec, CancellationToken cancel);

    /// <summary>States of the given jobs in one batched query (never one call per job). Never throws for a failed query: the ids it could not answer are in <see cref="SchedulerQuery.Unanswered"/>.</summary>
    SchedulerQuery Query(IReadOnlyCollection<string> jobIds, CancellationToken cancel);

    /// <summary>Jobs with this exact name (normally zero or one).</summary>
    IReadOnlyList<SchedulerJobStatus> FindByName(string name, CancellationToken cancel);

    /// <summary>Asks the scheduler to cancel the job.</summary>
    void Cancel(string jobId, CancellationToken cancel);
}
