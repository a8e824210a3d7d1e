namespace RunProc.Config;

/// <summary>One process under <c>Processes.&lt;name&gt;</c>: what to run for each run and where.</summary>
public sealed class ProcessDefinition
{
    /// <summary>The name of the built-in process, and the default of every cmdlet's -Process.</summary>
    public const string PixelStatus = "pixel_status";

    /// <summary>The default command of the built-in pixel_status process: Invoke-PixelStatus for the run,
    /// run by the same pwsh and module as the submitting session ({runproc} expands to that argv prefix).</summary>
    public static readonly IReadOnlyList<string> PixelStatusCommand = new[]
    {
        "{runproc}", "Invoke-PixelStatus", "-Experiment", "{exp}", "-Run", "{run}",
        "-OutputDirectory", "{workdir}", "-Deploy", "-ConfigPath", "{config}", "-JobName", "{jobname}",
    };

    /// <summary>The part jobs of a split pixel_status run: the default command for one part, writing a partial accumulator file per detector into {partdir}.</summary>
    public static readonly IReadOnlyList<string> PixelStatusPartCommand = new[]
    {
        "{runproc}", "Invoke-PixelStatus", "-Experiment", "{exp}", "-Run", "{run}",
        "-Part", "{part}", "-PartCount", "{parts}", "-PartDirectory", "{partdir}", "-ConfigPath", "{config}",
    };

    /// <summary>The merge job of a split pixel_status run: the outputs and deployment of the unsplit run.</summary>
    public static readonly IReadOnlyList<string> PixelStatusMergeCommand = new[]
    {
        "{runproc}", "Merge-PixelStatus", "-Experiment", "{exp}", "-Run", "{run}", "-PartCount", "{parts}",
        "-PartDirectory", "{partdir}", "-OutputDirectory", "{workdir}", "-Deploy", "-ConfigPath", "{config}",
    };

    public required string Name { get; init; }

    /// <summary>argv template; placeholders {exp} {run} {run4} {dsname} {ins} {workdir} {logfile} {config} {runproc} {process}, and {part} {parts} {partdir} for a split run.</summary>
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

    /// <summary>
    /// A job that fails with one of these exit codes is not submitted again: the run stays Failed
    /// after that attempt (Submit-ProcJob -Force still runs it). Default 65, sysexits' EX_DATAERR,
    /// which the built-in pixel_status job returns for input it cannot process (a format it does not
    /// read, no detector frames in the run); a site's own command can return it too. @() retries every failure.
    /// </summary>
    public IReadOnlyList<int> NoRetryExitCodes { get; init; } = DefaultNoRetryExitCodes;

    /// <summary>sysexits.h's EX_DATAERR: the exit code of a job whose input cannot be processed.</summary>
    public const int DataErrorExitCode = 65;

    public static readonly IReadOnlyList<int> DefaultNoRetryExitCodes = new[] { DataErrorExitCode };

    public int TimeLimitMinutes { get; init; } = 60;

    /// <summary>Folder of the HTML run report Invoke-ProcCycle refreshes after each cycle; empty = none.</summary>
    public string ReportPath { get; init; } = "";

    /// <summary>argv run when a run's job ends Failed, TimedOut or Lost with no attempts left ({exp} {run} {state} {logfile}); empty = none.</summary>
    public IReadOnlyList<string> OnFailure { get; init; } = Array.Empty<string>();

    // ------------------------------------------------------------ batch resources (issue 15)

    /// <summary>
    /// What each job asks the batch system for (Account, Qos, Cpus, MemoryGB, Gpus, Constraint,
    /// Reservation, Nodes, SchedulerArguments), as configured: placeholders unexpanded until
    /// <see cref="RunProc.Batch.BatchResources.Expand"/> fills them for one run.
    /// </summary>
    public RunProc.Batch.BatchResources Resources { get; init; } = RunProc.Batch.BatchResources.None;

    /// <summary>Variables set for the job's command (through /usr/bin/env, after the scheduler's own).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    // ------------------------------------------------------------ split runs (issue 15)

    /// <summary>Each run is split into at most this many parts, merged by <see cref="MergeCommand"/>; 1 = not split.</summary>
    public int Parts { get; init; } = 1;

    /// <summary>argv template of the merge job of a split run (same placeholders as Command, with {parts}).</summary>
    public IReadOnlyList<string> MergeCommand { get; init; } = Array.Empty<string>();

    /// <summary>
    /// The keys a process table may have: the ONE list both the config check and the help use
    /// (extend it here when a key is added). Any other key is an error naming the nearest one.
    /// </summary>
    public static readonly IReadOnlyList<string> Keys = new[]
    {
        "Command", "Scheduler", "Queue", "MaxJobs", "PollSeconds", "Attempts", "NoRetryExitCodes", "TimeLimitMinutes",
        "Account", "Qos", "Cpus", "MemoryGB", "Gpus", "Constraint", "Reservation", "Nodes",
        "SchedulerArguments", "Environment", "Parts", "MergeCommand", "ReportPath", "OnFailure",
    };
}
