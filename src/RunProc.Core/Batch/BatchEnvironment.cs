using RunProc.Config;

namespace RunProc.Batch;

/// <summary>How jobs are started from this installation: the wrapper script, the argv for {runproc}, the config path.</summary>
public sealed class BatchEnvironment
{
    /// <summary>scripts/runproc-job.sh of the module folder jobs load (the pinned one).</summary>
    public required string WrapperScript { get; init; }

    /// <summary>scripts/runproc-part.sh (a job array's batch script), beside the wrapper unless given.</summary>
    public string PartScript
    {
        get => _partScript ?? Path.Combine(Path.GetDirectoryName(WrapperScript) ?? "", "runproc-part.sh");
        init => _partScript = value;
    }

    private readonly string? _partScript;

    /// <summary>The argv prefix that runs a RunProc cmdlet with the same pwsh and module ({runproc}).</summary>
    public IReadOnlyList<string> RunProcArgv { get; init; } = Array.Empty<string>();

    /// <summary>Cmdlets with a job entry of their own (no pwsh start-up): {runproc} before such a cmdlet's name expands to this argv instead.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> JobEntryArgv { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>Which module jobs load ("RunProc 0.1.0 (&lt;folder&gt;)"), for the job log's header; '' if not known.</summary>
    public string Module { get; init; } = "";

    /// <summary>Makes sure the module folder jobs load exists (stages a development build); called before each submission, never for a plan.</summary>
    public Action? EnsureModule { get; init; }

    /// <summary>The config file jobs get as {config}.</summary>
    public required string ConfigPath { get; init; }

    /// <summary>The cmd: field of -proc-runs.txt records (the old tool wrote its program name).</summary>
    public string RecordCommand { get; init; } = "Submit-ProcJob";

    /// <summary>The clock (tests pin it).</summary>
    public Func<DateTime> Now { get; init; } = () => DateTime.Now;
}

/// <summary>Creates the scheduler a process is configured for.</summary>
public static class SchedulerFactory
{
    public static IScheduler Create(SchedulerKind kind, RunProcConfig config, string process) => kind switch
    {
        SchedulerKind.Local => new LocalScheduler(
            new RunProc.Db.ProcDbTree(config, process).LocalJobsDirectory,
            // MaxJobs slots per host and process.
            new RunProc.Db.ProcDbTree(config, process).LocalSlotsDirectory(SafeHost()),
            config.GetProcess(process).MaxJobs, config.FileMode, config.DirectoryMode),
        SchedulerKind.Slurm => new SlurmScheduler(fileMode: config.FileMode),
        SchedulerKind.Lsf => new LsfScheduler(fileMode: config.FileMode),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown scheduler"),
    };

    private static string SafeHost()
    {
        var h = Environment.MachineName;
        return LocalScheduler.IsSafeName(h) ? h : "localhost";
    }
}
