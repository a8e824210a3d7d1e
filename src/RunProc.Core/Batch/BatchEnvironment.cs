using RunProc.Config;

namespace RunProc.Batch;

/// <summary>How jobs are started from this installation: the wrapper script, the argv for {runproc}, the config path.</summary>
public sealed class BatchEnvironment
{
    /// <summary>scripts/runproc-job.sh of the installed module.</summary>
    public required string WrapperScript { get; init; }

    /// <summary>The argv prefix that runs a RunProc cmdlet with the same pwsh and module ({runproc}).</summary>
    public IReadOnlyList<string> RunProcArgv { get; init; } = Array.Empty<string>();

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
            Path.Combine(config.DbRoot, Names.Process(process), ".local-jobs"),
            // Slots are per host (a DbRoot shared over NFS serves several) and per process: MaxJobs of them.
            Path.Combine(config.DbRoot, ".local-slots", SafeHost(), Names.Process(process)),
            config.GetProcess(process).MaxJobs, config.FileMode, config.DirectoryMode),
        SchedulerKind.Slurm => new SlurmScheduler(),
        SchedulerKind.Lsf => new LsfScheduler(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown scheduler"),
    };

    private static string SafeHost()
    {
        var h = Environment.MachineName;
        return LocalScheduler.IsSafeName(h) ? h : "localhost";
    }
}
