using RunProc.Config;

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
