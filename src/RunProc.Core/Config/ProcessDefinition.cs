namespace RunProc.Config;

/// <summary>One process under <c>Processes.&lt;name&gt;</c>: what to run for each run and where.</summary>
public sealed class ProcessDefinition
{
    /// <summary>The default command of the built-in pixel_status process: Invoke-PixelStatus for the run,
    /// run by the same pwsh and module as the submitting session ({runproc} expands to that argv prefix).</summary>
    public static readonly IReadOnlyList<string> PixelStatusCommand = new[]
    {
        "{runproc}", "Invoke-PixelStatus", "-Experiment", "{exp}", "-Run", "{run}",
        "-OutputDirectory", "{workdir}", "-Deploy", "-ConfigPath", "{config}",
    };

    /// <summary>The keys of a process table (Processes.&lt;name&gt;); anything else is an error naming the nearest of these.</summary>
    public static readonly IReadOnlyList<string> Keys = new[]
    {
        "Command", "Scheduler", "Queue", "MaxJobs", "PollSeconds", "Attempts", "TimeLimitMinutes",
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
}
