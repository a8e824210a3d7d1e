namespace RunProc.Batch;

/// <summary>
/// RunProc's own job state, onto which every scheduler's states map (the scheduler's own string is
/// kept beside it in <see cref="ProcJob.SchedulerState"/>).
/// </summary>
public enum JobState
{
    /// <summary>Intent recorded, job id not yet known (a controller may have died while submitting).</summary>
    Submitting,
    Pending,
    Running,
    /// <summary>Held or suspended by the scheduler or an operator; still active.</summary>
    Suspended,
    Done,
    /// <summary>The command ended unsuccessfully (non-zero exit code, launch or node failure).</summary>
    Failed,
    Cancelled,
    TimedOut,
    /// <summary>Neither the scheduler nor the job's own status file knows how it ended.</summary>
    Lost,
    /// <summary>An intent that provably never became a job (the submission failed or never ran).</summary>
    NotSubmitted,
}

/// <summary>Classification helpers for <see cref="JobState"/>.</summary>
public static class JobStates
{
    /// <summary>The job still occupies (or may occupy) a slot: counted against MaxJobs.</summary>
    public static bool IsActive(this JobState s) => s is JobState.Submitting or JobState.Pending or JobState.Running or JobState.Suspended;

    public static bool IsFinal(this JobState s) => !s.IsActive();

    /// <summary>Ended in a way that the automatic retry covers. Cancelled is a deliberate act and is not retried.</summary>
    public static bool IsRetryable(this JobState s) => s is JobState.Failed or JobState.TimedOut or JobState.Lost;

    /// <summary>Whether an ended job counts as a used attempt (an intent that never became a job does not).</summary>
    public static bool CountsAsAttempt(this JobState s) => s != JobState.NotSubmitted;
}
