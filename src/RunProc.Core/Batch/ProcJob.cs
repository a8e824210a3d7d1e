using RunProc.Config;

namespace RunProc.Batch;

/// <summary>
/// One batch job of a process for one run and attempt, as the job journal knows it. Its
/// Process, Experiment, Run and Name bind by property name to Watch-ProcJob, Stop-ProcJob and
/// Submit-ProcJob.
/// </summary>
public sealed class ProcJob
{
    public required string Process { get; init; }
    public required string Experiment { get; init; }
    public required int Run { get; init; }

    /// <summary>1 for the first submission of the run, 2 for the first retry, ...</summary>
    public int Attempt { get; internal set; }

    /// <summary>The unique job name given to the scheduler (rp.&lt;process&gt;.&lt;exp&gt;.r&lt;RRRR&gt;.a&lt;n&gt;.&lt;token&gt;).</summary>
    public required string Name { get; init; }

    /// <summary>The scheduler's job id; empty while the submission is unconfirmed.</summary>
    public string JobId { get; internal set; } = "";

    public SchedulerKind Scheduler { get; internal set; }
    public string Queue { get; internal set; } = "";
    public JobState State { get; internal set; } = JobState.Submitting;

    /// <summary>The scheduler's own word for the state (PENDING, RUN, EXIT, COMPLETED, LOST...).</summary>
    public string SchedulerState { get; internal set; } = "";

    /// <summary>The command's exit code, when known (from the wrapper or the scheduler).</summary>
    public int? ExitCode { get; internal set; }

    /// <summary>Why the job is in its state (scheduler reason, error text).</summary>
    public string? Reason { get; internal set; }

    /// <summary>The last error line of the log of a job that did not end Done (null otherwise).</summary>
    public string? LastError { get; internal set; }

    public string LogFile { get; internal set; } = "";

    /// <summary>The log as a provider path: job objects pipe into Get-Content.</summary>
    public string PSPath => LogFile;
    public string StatusFile { get; internal set; } = "";
    public DateTime Submitted { get; internal set; }
    public DateTime? Started { get; internal set; }
    public DateTime? Ended { get; internal set; }
    public DateTime Updated { get; internal set; }

    /// <summary>Status polls so far (the number on the log's status lines).</summary>
    public int Polls { get; internal set; }

    public bool CancelRequested { get; internal set; }

    /// <summary>Reprocessing parameters given to Submit-ProcJob -Parameter (empty for a plain submission).</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; internal set; } = new Dictionary<string, string>();

    /// <summary>The expanded command the job runs.</summary>
    public IReadOnlyList<string> Command { get; internal set; } = Array.Empty<string>();

    public bool IsActive => State.IsActive();

    /// <summary>The parts the run is split into (1: not split; then <see cref="PartJobs"/> is empty).</summary>
    public int Parts { get; internal set; } = 1;

    /// <summary>Parts that have succeeded (for an unsplit run: 1 when Done).</summary>
    public int PartsDone => Parts > 1 ? PartJobs.Count(p => !p.IsMerge && p.State == JobState.Done) : State == JobState.Done ? 1 : 0;

    /// <summary>A split run's part jobs (index 0 .. Parts-1) and its merge job (index Parts), each with its own state.</summary>
    public IReadOnlyList<ProcJobPart> PartJobs => _parts;

    /// <summary>The merge job of a split run, or null.</summary>
    public ProcJobPart? MergeJob => Parts > 1 ? _parts[Parts] : null;

    /// <summary>Scheduler submissions made for this attempt's parts and merge (names the next one).</summary>
    public int Submissions { get; internal set; }

    private List<ProcJobPart> _parts = new();

    internal void SetParts(int parts)
    {
        Parts = parts;
        _parts = parts > 1 ? Enumerable.Range(0, parts + 1).Select(i => new ProcJobPart { Index = i, IsMerge = i == parts }).ToList() : new();
    }

    public ProcJob Clone()
    {
        var c = (ProcJob)MemberwiseClone();
        c._parts = _parts.Select(p => p.Clone()).ToList();
        return c;
    }

    public override string ToString() => $"{Process} {Experiment} run {Run} attempt {Attempt}: {State}{(JobId.Length > 0 ? " (job " + JobId + ")" : "")}";
}

/// <summary>One part job (or the merge job) of a split run's attempt.</summary>
public sealed class ProcJobPart
{
    /// <summary>0 .. Parts-1 for a part; Parts for the merge.</summary>
    public int Index { get; internal init; }

    public bool IsMerge { get; internal init; }

    /// <summary>The scheduler job name that covers this part now (a job array covers several parts).</summary>
    public string Submission { get; internal set; } = "";

    /// <summary>The scheduler's id of this part: an array task ("1168_2"), a job id, or a local job name; empty until known.</summary>
    public string JobId { get; internal set; } = "";

    /// <summary>NotSubmitted until its first submission.</summary>
    public JobState State { get; internal set; } = JobState.NotSubmitted;

    public string SchedulerState { get; internal set; } = "";
    public int? ExitCode { get; internal set; }

    /// <summary>Submissions of this part within the attempt (a failed part is retried alone up to the process's Attempts).</summary>
    public int Tries { get; internal set; }

    public string StatusFile { get; internal set; } = "";

    public ProcJobPart Clone() => (ProcJobPart)MemberwiseClone();

    public override string ToString() => $"{(IsMerge ? "merge" : "part " + Index)}: {State}{(JobId.Length > 0 ? " (job " + JobId + ")" : "")}";
}
