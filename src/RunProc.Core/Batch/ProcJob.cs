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

    public ProcJob Clone() => (ProcJob)MemberwiseClone();

    public override string ToString() => $"{Process} {Experiment} run {Run} attempt {Attempt}: {State}{(JobId.Length > 0 ? " (job " + JobId + ")" : "")}";
}
