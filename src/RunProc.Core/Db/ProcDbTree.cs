using RunProc.Config;
using RunProc.IO;

namespace RunProc.Db;

/// <summary>
/// The layout of the DB tree: the one place that builds a path under <c>&lt;DbRoot&gt;/&lt;process&gt;</c>
/// (experiments.txt, the record files, job journals, logs, work and part folders, the lock files,
/// the local scheduler's state, the done-run cache, cycle.log) and beside it under DbRoot (the
/// catalog cache, per-host local slots, staged modules), and that enumerates the experiments of a
/// process tree. Names are validated before they reach a path; nothing here creates anything
/// except <see cref="Ensure"/>.
/// </summary>
public sealed class ProcDbTree
{
    /// <summary>The DB write lock inside the process directory (hidden).</summary>
    public const string LockFileName = ".runproc-db.lock";

    public const string ExperimentListName = "experiments.txt";

    private const string ProcessedSuffix = "-proc-runs.txt";
    private const string ArchiveSuffix = "-arch-runs.txt";
    private const string LegacyArchiveSuffix = "-proc-arch.txt";
    private const string JournalSuffix = "-jobs.txt";

    /// <summary>The file name endings of the files that hold an experiment's run records.</summary>
    public static readonly IReadOnlyList<string> RecordSuffixes = new[] { ProcessedSuffix, ArchiveSuffix, LegacyArchiveSuffix };

    public ProcDbTree(RunProcConfig config, string process)
    {
        Config = config ?? throw new ArgumentNullException(nameof(config));
        Process = Names.Process(process);
        ProcessDirectory = Path.Join(config.DbRoot, Process);
    }

    public RunProcConfig Config { get; }
    public string Process { get; }

    /// <summary><c>&lt;DbRoot&gt;/&lt;proc&gt;</c>.</summary>
    public string ProcessDirectory { get; }

    public string ExperimentListFile => Path.Join(ProcessDirectory, ExperimentListName);

    /// <summary>The DB write lock: writers of the record files, experiments.txt and the job journals hold it.</summary>
    public string LockFile => Path.Join(ProcessDirectory, LockFileName);

    /// <summary>Held by a running Invoke-ProcCycle, so two cycles of a process never overlap.</summary>
    public string CycleLockFile => Path.Join(ProcessDirectory, ".cycle.lock");

    /// <summary>Where the cron entry appends the cycle's output by default.</summary>
    public string CycleLog => Path.Join(ProcessDirectory, "cycle.log");

    /// <summary>The done-run cache (DoneRunCache).</summary>
    public string DoneCacheDirectory => Path.Join(ProcessDirectory, ".done-cache");

    /// <summary>The local scheduler's job state of this process.</summary>
    public string LocalJobsDirectory => Path.Join(ProcessDirectory, ".local-jobs");

    /// <summary>The local scheduler's slots: per host (a DbRoot shared over NFS serves several) and per process.</summary>
    public string LocalSlotsDirectory(string host) => Path.Join(LocalSlotsRoot(Config), host, Process);

    /// <summary><c>&lt;DbRoot&gt;/&lt;proc&gt;/&lt;INS&gt;</c>, INS by the config's instrument rule.</summary>
    public string InstrumentDirectory(string experiment) => Path.Join(ProcessDirectory, Config.InstrumentOf(Names.Experiment(experiment, Config)));

    public string ProcessedFile(string experiment) => Path.Join(InstrumentDirectory(experiment), experiment + ProcessedSuffix);

    /// <summary>The archive file RunProc writes (the note's name).</summary>
    public string ArchiveFile(string experiment) => Path.Join(InstrumentDirectory(experiment), experiment + ArchiveSuffix);

    /// <summary>The archive file name the old code used; read, never written.</summary>
    public string LegacyArchiveFile(string experiment) => Path.Join(InstrumentDirectory(experiment), experiment + LegacyArchiveSuffix);

    /// <summary>The job journal of an experiment: beside its -proc-runs.txt.</summary>
    public string JournalFile(string experiment) => Path.Join(InstrumentDirectory(experiment), experiment + JournalSuffix);

    /// <summary>The journal path by the old instrument rule alone (tools and tests without a config).</summary>
    public static string JournalFile(string dbRoot, string process, string experiment) =>
        Path.Join(dbRoot, Names.Process(process), Names.InstrumentOf(experiment), Names.Experiment(experiment) + JournalSuffix);

    /// <summary><c>&lt;DbRoot&gt;/&lt;proc&gt;/&lt;INS&gt;/&lt;exp&gt;</c>: the job logs.</summary>
    public string ExperimentDirectory(string experiment) => Path.Join(InstrumentDirectory(experiment), experiment);

    /// <summary><c>&lt;DbRoot&gt;/&lt;proc&gt;/&lt;INS&gt;/&lt;exp&gt;/work</c>: the jobs' outputs.</summary>
    public string WorkDirectory(string experiment) => Path.Join(ExperimentDirectory(experiment), "work");

    /// <summary>Where the parts of one split attempt leave their results for the merge: &lt;workdir&gt;/parts/&lt;job name&gt;.</summary>
    public static string PartDirectory(string workDir, string jobName) => Path.Combine(workDir, "parts", jobName);

    /// <summary>Creates <paramref name="directory"/> (a path of this tree) with the configured DirectoryMode if missing.</summary>
    public string Ensure(string directory)
    {
        SafeFile.EnsureDirectory(directory, Config.DirectoryMode);
        return directory;
    }

    /// <summary>The catalog cache, shared by every process of a DbRoot.</summary>
    public static string CatalogCacheDirectory(RunProcConfig config) => Path.Join(config.DbRoot, ".catalog-cache");

    /// <summary>The local scheduler's slots of every host and process.</summary>
    public static string LocalSlotsRoot(RunProcConfig config) => Path.Join(config.DbRoot, ".local-slots");

    /// <summary>Staged copies of development builds that jobs and cron load (beside the DB, which every job host sees).</summary>
    public static string ModulesDirectory(RunProcConfig config) => Path.Join(config.DbRoot, ".modules");

    /// <summary>Whether the process has a DB tree (a process no longer configured may still have records).</summary>
    public bool Exists => Directory.Exists(ProcessDirectory);

    /// <summary>The processes that have a DB tree under DbRoot (valid process names only).</summary>
    public static IReadOnlyList<string> Processes(RunProcConfig config) =>
        Directory.Exists(config.DbRoot)
            ? Directory.EnumerateDirectories(config.DbRoot).Select(d => Path.GetFileName(d)).Where(Names.IsProcess).Order(StringComparer.Ordinal).ToList()
            : Array.Empty<string>();

    /// <summary>Experiments that have a run record file (processed or archive) in this tree, sorted.</summary>
    public IReadOnlyList<string> RecordedExperiments() => ExperimentsWith(RecordSuffixes);

    /// <summary>Experiments that have a job journal in this tree, sorted.</summary>
    public IReadOnlyList<string> JournalExperiments() => ExperimentsWith(new[] { JournalSuffix });

    /// <summary>
    /// Every job journal file in this tree's instrument folders with the experiment its name gives,
    /// also those the config's rules would no longer map there (for a check that must see every job).
    /// </summary>
    public IReadOnlyList<(string Experiment, string File)> AllJournalFiles()
    {
        var result = new List<(string, string)>();
        if (!Directory.Exists(ProcessDirectory))
            return result;
        foreach (var insDir in Directory.EnumerateDirectories(ProcessDirectory).Where(d => Names.IsInstrument(Path.GetFileName(d))))
            foreach (var f in Directory.EnumerateFiles(insDir, "*" + JournalSuffix))
                result.Add((Path.GetFileName(f)[..^JournalSuffix.Length], f));
        return result;
    }

    /// <summary>
    /// Experiments with a file ending in one of <paramref name="suffixes"/> in their instrument folder:
    /// only valid names whose instrument by the config's rule is the folder they are in.
    /// </summary>
    private IReadOnlyList<string> ExperimentsWith(IReadOnlyList<string> suffixes)
    {
        var result = new SortedSet<string>(StringComparer.Ordinal);
        if (!Directory.Exists(ProcessDirectory))
            return result.ToList();
        foreach (var insDir in Directory.EnumerateDirectories(ProcessDirectory))
        {
            var folder = Path.GetFileName(insDir);
            if (!Names.IsInstrument(folder))
                continue;
            foreach (var f in Directory.EnumerateFiles(insDir, "*.txt"))
            {
                var name = Path.GetFileName(f);
                foreach (var suffix in suffixes)
                    if (name.EndsWith(suffix, StringComparison.Ordinal))
                    {
                        var exp = name[..^suffix.Length];
                        if (Names.IsExperiment(exp, Config) && Config.TryInstrumentOf(exp, out var ins, out _) && ins == folder)
                            result.Add(exp);
                    }
            }
        }
        return result.ToList();
    }
}
