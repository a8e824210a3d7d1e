using System.IO.Enumeration;
using RunProc.Config;

namespace RunProc.Catalog;

/// <summary>
/// Finds experiments and runs on disk under <c>&lt;DataRoot&gt;/&lt;INS&gt;/&lt;exp&gt;/&lt;RunDirectory&gt;/</c>.
/// With a <see cref="CatalogCache"/>, an experiment whose run directory has not changed since the
/// last listing is not listed again (see <see cref="CatalogCache"/> for the rules).
/// </summary>
public sealed class RunCatalog
{
    private readonly RunProcConfig _config;

    public RunCatalog(RunProcConfig config) : this(config, null) { }

    public RunCatalog(RunProcConfig config, CatalogCache? cache)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
        Cache = cache;
    }

    /// <summary>The incremental scan cache, or null for plain listings.</summary>
    public CatalogCache? Cache { get; }

    public RunProcConfig Config => _config;

    /// <summary>Experiment directories under <c>&lt;DataRoot&gt;/&lt;instrument&gt;</c> whose names are valid experiment names, sorted.</summary>
    public IReadOnlyList<string> Experiments(string instrument) => Experiments(instrument, null);

    /// <summary>As <see cref="Experiments(string)"/>; other entries are reported to <paramref name="verbose"/>.</summary>
    public IReadOnlyList<string> Experiments(string instrument, Action<string>? verbose)
    {
        var dir = Path.Join(_config.DataRoot, Names.Instrument(instrument));
        var list = new List<string>();
        if (!Directory.Exists(dir))
        {
            verbose?.Invoke($"Instrument directory '{dir}' does not exist; no experiments for {instrument}.");
            return list;
        }
        foreach (var name in EnumerateNames(dir, directories: true))
        {
            if (Names.IsExperiment(name, _config))
                list.Add(name);
            else
                verbose?.Invoke($"Ignoring '{Path.Join(dir, Names.Show(name))}': not an experiment name (ExperimentPattern '{_config.ExperimentPattern}').");
        }
        list.Sort(StringComparer.Ordinal);
        return list;
    }

    /// <summary>
    /// The configured instrument whose directory holds <paramref name="experiment"/>: the old rule
    /// (first 3 letters upper case) first, then every other configured instrument. If none holds it,
    /// the old rule's instrument.
    /// </summary>
    public string InstrumentOf(string experiment)
    {
        Names.Experiment(experiment, _config);
        var byRule = Names.InstrumentOf(experiment);
        if (Directory.Exists(Path.Join(_config.DataRoot, byRule, experiment)))
            return byRule;
        foreach (var ins in _config.Instruments)
            if (ins != byRule && Directory.Exists(Path.Join(_config.DataRoot, ins, experiment)))
                return ins;
        return byRule;
    }

    /// <summary>True when the experiment's directory exists under some configured instrument (or the old-rule one).</summary>
    public bool ExperimentExists(string experiment) =>
        Directory.Exists(Path.Join(_config.DataRoot, InstrumentOf(experiment), experiment));

    /// <summary>The run directory of an experiment: <c>&lt;DataRoot&gt;/&lt;INS&gt;/&lt;exp&gt;/&lt;RunDirectory&gt;</c>.</summary>
    public string RunDirectoryOf(string instrument, string experiment) =>
        Path.Join(_config.DataRoot, Names.Instrument(instrument), Names.Experiment(experiment, _config), _config.RunDirectory);

    /// <summary>All runs of an experiment, ascending, with readiness as of <paramref name="nowUtc"/> (default now).</summary>
    public IReadOnlyList<RunInfo> Runs(string experiment, DateTime? nowUtc = null, Action<string>? verbose = null) =>
        Runs(InstrumentOf(experiment), experiment, nowUtc, verbose);

    /// <summary>All runs of an experiment found under a given instrument directory.</summary>
    public IReadOnlyList<RunInfo> Runs(string instrument, string experiment, DateTime? nowUtc = null, Action<string>? verbose = null)
    {
        var now = nowUtc ?? DateTime.UtcNow;
        var scan = Scan(instrument, experiment, now, verbose);
        var list = new List<RunInfo>(scan.Runs.Count);
        foreach (var r in scan.Runs)
            list.Add(scan.ToRunInfo(r, now, _config.SettleSeconds));
        return list;
    }

    /// <summary>One run's files (null when the run has no files).</summary>
    public RunInfo? Run(string experiment, int run)
    {
        Names.Run(run);
        var now = DateTime.UtcNow;
        var scan = Scan(InstrumentOf(experiment), experiment, now, null);
        var r = scan.Find(run);
        return r is null ? null : scan.ToRunInfo(r, now, _config.SettleSeconds);
    }

    /// <summary>The listing of one experiment, from the cache when it is still valid.</summary>
    internal ExperimentScan Scan(string instrument, string experiment, DateTime nowUtc, Action<string>? verbose)
    {
        var dir = RunDirectoryOf(instrument, experiment);
        var listedAt = DateTime.UtcNow.Ticks;
        long mtime;
        try
        {
            var info = new DirectoryInfo(dir);
            if (!info.Exists)
            {
                Cache?.Remove(instrument, experiment);
                verbose?.Invoke($"Experiment {experiment}: run directory '{dir}' does not exist; no runs.");
                return new ExperimentScan { Instrument = instrument, Experiment = experiment, Directory = dir, DirectoryExists = false, Runs = new() };
            }
            mtime = info.LastWriteTimeUtc.Ticks;
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new IOException($"Cannot read run directory '{dir}' of experiment {experiment}: {ex.Message} Check its permissions.", ex);
        }

        if (Cache?.TryGet(instrument, experiment, dir) is { } cached
            && cached.DirectoryMtimeTicks == mtime
            && cached.ListedAtTicks - cached.DirectoryMtimeTicks > Cache.TimestampGranularity.Ticks
            && Recheck(cached, nowUtc, instrument))
        {
            cached.FromCache = true;
            Cache.Hits++;
            return cached;
        }

        var scan = List(instrument, experiment, dir, mtime, listedAt, verbose);
        if (Cache is not null)
        {
            Cache.Misses++;
            Cache.Put(instrument, scan);
        }
        return scan;
    }

    /// <summary>
    /// Re-stats the files of runs that are not ready now (they may still grow without the directory
    /// changing). False when a file has gone, so the directory must be listed again.
    /// </summary>
    private bool Recheck(ExperimentScan cached, DateTime nowUtc, string instrument)
    {
        var changed = false;
        foreach (var run in cached.Runs)
        {
            if (run.Readiness(nowUtc, _config.SettleSeconds).Ready)
                continue;
            for (var i = 0; i < run.Files.Length; i++)
            {
                var fi = new FileInfo(Path.Join(cached.Directory, run.Files[i].Name.ToString()));
                if (!fi.Exists)
                    return false;
                if (fi.Length != run.Files[i].Length || fi.LastWriteTimeUtc.Ticks != run.Files[i].MtimeTicks)
                {
                    run.Files[i].Length = fi.Length;
                    run.Files[i].MtimeTicks = fi.LastWriteTimeUtc.Ticks;
                    changed = true;
                }
            }
        }
        if (changed)
            Cache!.MarkDirty(instrument);
        return true;
    }

    private ExperimentScan List(string instrument, string experiment, string dir, long mtime, long listedAt, Action<string>? verbose)
    {
        var byRun = new Dictionary<int, List<ScannedFile>>();
        var options = new EnumerationOptions { RecurseSubdirectories = false, IgnoreInaccessible = true, AttributesToSkip = 0, ReturnSpecialDirectories = false };
        // Parse inside the enumeration so that only run files are stat'ed (the entry stats lazily).
        var entries = new FileSystemEnumerable<Listed>(dir, (ref FileSystemEntry e) =>
        {
            var name = e.FileName.ToString();
            if (e.IsDirectory)
                return new Listed(name, true, default, 0, 0, null);
            if (!RunFileName.TryParse(name, experiment, out var parsed, out var reason))
                return new Listed(name, false, default, 0, 0, reason);
            return new Listed(name, false, parsed, e.Length, e.LastWriteTimeUtc.UtcTicks, null);
        }, options);
        foreach (var l in entries)
        {
            if (l.IsDirectory)
            {
                verbose?.Invoke($"Ignoring directory '{Path.Join(dir, Names.Show(l.Name))}' in the run directory of {experiment}.");
                continue;
            }
            if (l.Reason is not null)
            {
                verbose?.Invoke($"Ignoring '{Path.Join(dir, Names.Show(l.Name))}': {l.Reason}.");
                continue;
            }
            if (!byRun.TryGetValue(l.Parsed.Run, out var files))
                byRun[l.Parsed.Run] = files = new List<ScannedFile>(4);
            files.Add(new ScannedFile { Name = l.Parsed, Length = l.Length, MtimeTicks = l.MtimeTicks });
        }
        var runs = new List<ScannedRun>(byRun.Count);
        foreach (var (run, files) in byRun)
        {
            var arr = files.ToArray();
            Array.Sort(arr, ScannedRun.CompareFiles);
            runs.Add(new ScannedRun { Run = run, Files = arr });
        }
        runs.Sort((a, b) => a.Run.CompareTo(b.Run));
        return new ExperimentScan
        {
            Instrument = instrument, Experiment = experiment, Directory = dir, DirectoryExists = true,
            DirectoryMtimeTicks = mtime, ListedAtTicks = listedAt, Runs = runs,
        };
    }

    private readonly record struct Listed(string Name, bool IsDirectory, RunFileName Parsed, long Length, long MtimeTicks, string? Reason);

    private static IEnumerable<string> EnumerateNames(string dir, bool directories)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = false, IgnoreInaccessible = true, AttributesToSkip = 0 };
        return new FileSystemEnumerable<string>(dir, (ref FileSystemEntry e) => e.FileName.ToString(), options)
        {
            ShouldIncludePredicate = (ref FileSystemEntry e) => e.IsDirectory == directories,
        };
    }
}
