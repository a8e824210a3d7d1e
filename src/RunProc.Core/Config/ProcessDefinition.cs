namespace RunProc.Config;

/// <summary>One process under <c>Processes.&lt;name&gt;</c>: what to run for each run and where.</summary>
public sealed class ProcessDefinition
{
    /// <summary>The default command of the built-in pixel_status process: Invoke-PixelStatus for the run,
    /// run by the same pwsh and module as the submitting session ({runproc} expands to that argv prefix).</summary>
    public static readonly IReadOnlyList<string> PixelStatusCommand = new[]
    {
        "{runproc}", "Invoke-PixelStatus", "-Experiment", "{exp}", "-Run", "{run}",
        "-OutputDirectory", "{workdir}", "-Deploy", "-ConfigPath", "{config}", "-JobName", "{jobname}",
    };

    public required string Name { get; init; }

    /// <summary>argv template; placeholders {exp} {run} {run4} {dsname} {ins} {workdir} {logfile} {config} {runproc} {process}.</summary>
    public required IReadOnlyList<string> Command { get; init; }

    public SchedulerKind Scheduler { get; init; } = SchedulerKind.Local;

    /// <summary>Batch queue / partition; empty means the scheduler's default.</summary>
    public string Queue { get; init; } = "";

    /// <summary>Most jobs of this process active at once (the old tool's njobs, default 2).</summary>
    public int MaxJobs { get; init; } = 2;

    /// <summary>Seconds between status polls in Watch-ProcJob (old proc_control -t, default 60).</summary>
    public int PollSeconds { get; init; } = 60;

    /// <summary>Submissions per run before it stays Failed.</summary>
    public int Attempts { get; init; } = 3;

    public int TimeLimitMinutes { get; init; } = 60;

    /// <summary>Folder of the HTML run report Invoke-ProcCycle refreshes after each cycle; empty = none.</summary>
    public string ReportPath { get; init; } = "";

    /// <summary>argv run when a run's job ends Failed, TimedOut or Lost with no attempts left ({exp} {run} {state} {logfile}); empty = none.</summary>
    public IReadOnlyList<string> OnFailure { get; init; } = Array.Empty<string>();

    /// <summary>Any further keys of the process table, kept for the process itself (e.g. Detectors).</summary>
    public IReadOnlyDictionary<string, object?> Extra { get; init; } = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
}
