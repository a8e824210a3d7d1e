using System.Runtime.CompilerServices;
using System.Buffers;
using System.IO.Enumeration;
using System.Text;
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
    /// The configured instrument whose directory holds <paramref name="experiment"/>: the
    /// instrument rule's (<see cref="RunProcConfig.InstrumentOf"/>; an experiment outside it is
    /// rejected) first, then every other configured instrument. If none holds it, the rule's instrument.
    /// </summary>
    public string InstrumentOf(string experiment)
    {
        var byRule = _config.InstrumentOf(experiment);
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

    /// <summary>As <see cref="RunDirectoryOf"/> for names already validated (hot path of incremental scans).</summary>
    internal string RunDirectoryOfValid(string instrument, string experiment) =>
        Path.Join(_config.DataRoot, instrument, experiment, _config.RunDirectory);

    /// <summary>All runs of an experiment, ascending, with readiness as of <paramref name="nowUtc"/> (default now).</summary>
    public IReadOnlyList<RunInfo> Runs(string experiment, DateTime? nowUtc = null, Action<string>? verbose = null) =>
        Runs(InstrumentOf(experiment), experiment, nowUtc, verbose);

    /// <summary>All runs of an experiment found under a given instrument directory.</summary>
    public IReadOnlyList<RunInfo> Runs(string instrument, string experiment, DateTime? nowUtc = null, Action<string>? verbose = null)
    {
        var now = nowUtc ?? DateTime.UtcNow;
        var scan = Scan(instrument, experiment, now, verbose);
        var list = new List<RunInfo>(scan.Runs.Length);
        foreach (ref readonly var r in scan.Runs.AsSpan())
            list.Add(scan.ToRunInfo(r, now, _config.SettleSeconds));
        return list;
    }

    /// <summary>One run's files (null when the run has no files).</summary>
    public RunInfo? Run(string experiment, int run)
    {
        Names.ValidateRun(run);
        var now = DateTime.UtcNow;
        var scan = Scan(InstrumentOf(experiment), experiment, now, null);
        var i = scan.Find(run);
        return i < 0 ? null : scan.ToRunInfo(scan.Runs[i], now, _config.SettleSeconds);
    }

    /// <summary>The granularity rule's width: the cache's, or the default 2 s.</summary>
    internal TimeSpan TimestampGranularity => Cache?.TimestampGranularity ?? CatalogCache.DefaultTimestampGranularity;

    /// <summary>
    /// The listing of one experiment, from the cache when it is still valid. <paramref name="needsStat"/>
    /// says which runs need their sizes and times (false: e.g. a recorded run, whose readiness does
    /// not matter; it is listed by name only, <see cref="RunRecord.NotStatted"/>); null: every run.
    /// </summary>
    internal ExperimentScan Scan(string instrument, string experiment, DateTime nowUtc, Action<string>? verbose, Func<int, bool>? needsStat = null)
    {
        var dir = RunDirectoryOf(instrument, experiment);
        var listedAt = DateTime.UtcNow.Ticks;
        if (!StatDirectory(dir, experiment, out var mtime))
        {
            Cache?.Remove(instrument, experiment);
            verbose?.Invoke($"Experiment {experiment}: run directory '{dir}' does not exist; no runs.");
            return ExperimentScan.Missing(instrument, experiment, dir);
        }

        var previous = Cache?.TryGet(instrument, experiment, dir);
        if (previous is not null && StillValid(previous, mtime, nowUtc, needsStat, verbose, out var changed))
        {
            if (changed)
                Cache!.MarkDirty(instrument, experiment);
            previous.FromCache = true;
            Cache!.CountHit();
            return previous;
        }

        var scan = List(instrument, experiment, dir, mtime, listedAt, nowUtc, previous, needsStat, verbose);
        if (Cache is not null)
        {
            Cache.CountMiss();
            Cache.Put(instrument, scan);
        }
        return scan;
    }

    /// <summary>
    /// A remembered listing (or part of one) that is still valid now: its directory exists with the
    /// same mtime, it was listed more than the timestamp granularity after that mtime, and its
    /// not-ready runs, re-stat'ed, still have all their files. <paramref name="changed"/>: a re-stat
    /// changed sizes or times (the memo should be saved again).
    /// </summary>
    internal bool Reusable(ExperimentScan memo, DateTime nowUtc, out bool changed)
    {
        changed = false;
        return StatDirectory(memo.Directory, memo.Experiment, out var mtime) && StillValid(memo, mtime, nowUtc, null, null, out changed);
    }

    private bool StillValid(ExperimentScan cached, long mtime, DateTime nowUtc, Func<int, bool>? needsStat, Action<string>? verbose, out bool changed)
    {
        changed = false;
        return cached.DirectoryMtimeTicks == mtime
            && cached.ListedAtTicks - cached.DirectoryMtimeTicks > TimestampGranularity.Ticks
            && Recheck(cached, nowUtc, needsStat, verbose, out changed);
    }

    /// <summary>The run directory's mtime (UTC ticks); false if it does not exist.</summary>
    private static bool StatDirectory(string dir, string experiment, out long mtime)
    {
        try
        {
            return RunFileStat.DirectoryMtime(dir, out mtime);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new IOException($"Cannot read run directory '{dir}' of experiment {experiment}: {ex.Message} Check its permissions.", ex);
        }
    }

    /// <summary>
    /// Re-stats the files of runs that are not ready now (they may still grow without the directory
    /// changing), and of runs listed by name only that are needed now. False when a file has gone
    /// (or is no longer a run file), so the directory must be listed again.
    /// </summary>
    private bool Recheck(ExperimentScan cached, DateTime nowUtc, Func<int, bool>? needsStat, Action<string>? verbose, out bool changed)
    {
        changed = false;
        for (var k = 0; k < cached.Runs.Length; k++)
        {
            ref var run = ref cached.Runs[k];
            if (!run.Statted)
            {
                if (needsStat is not null && !needsStat(run.Run))
                    continue;
            }
            else if (run.Settled != 0 && ExperimentScan.IsReady(run, nowUtc, _config.SettleSeconds))
                continue;
            long bytes = 0, newest = long.MinValue;
            var newestFile = 0;
            for (var i = 0; i < run.FileCount; i++)
            {
                if (StatRunFile(cached.FilePath(run, i), cached.Experiment, verbose) is not { } st)
                    return false;
                bytes += st.Length;
                if (st.MtimeTicks > newest) { newest = st.MtimeTicks; newestFile = i; }
            }
            var settled = ExperimentScan.IsReady(run with { NewestTicks = newest }, nowUtc, _config.SettleSeconds) ? (byte)1 : (byte)0;
            if (bytes != run.Bytes || newest != run.NewestTicks || settled != run.Settled)
            {
                run.Bytes = bytes;
                run.NewestTicks = newest;
                run.NewestFile = newestFile;
                run.Settled = settled;
                changed = true;
            }
        }
        return true;
    }

    /// <summary>A run file's size and time (following links), or null with a verbose word when it is skipped.</summary>
    private static (long Length, long MtimeTicks)? StatRunFile(string path, string experiment, Action<string>? verbose)
    {
        var st = RunFileStat.Of(path, out var skipped);
        if (skipped is not null)
            verbose?.Invoke($"Ignoring run file '{Names.Show(Path.GetFileName(path))}' of {experiment} in '{Path.GetDirectoryName(path)}': {skipped}.");
        return st;
    }

    /// <summary>
    /// Lists a run directory. Files of runs that were ready in <paramref name="previous"/> and still
    /// have exactly the same names are not stat'ed again (a settled run file is not rewritten in
    /// place; the same rule lets an unchanged directory be skipped altogether); every other file is.
    /// </summary>
    // Runs once per experiment and process: ReadyToRun code (see DirectoryListing).
    private ExperimentScan List(string instrument, string experiment, string dir, long mtime, long listedAt, DateTime nowUtc,
        ExperimentScan? previous, Func<int, bool>? needsStat, Action<string>? verbose)
    {
        // Names of the experiment's own prefix (nearly all) as packed keys; any other run file name
        // (the old eNNN prefix) in the general list, which then takes all of them. Per-thread scratch:
        // a full scan lists 1,000 directories of 600 names, and a new list each was most of its
        // 100 MB of garbage and its 40 collections.
        var names = t_names ??= new List<RunFileName>(64);
        names.Clear();
        var keys = t_keys ??= new List<ulong>(1024);
        keys.Clear();
        var chars = t_chars ??= new char[256];
        var own = Encoding.UTF8.GetBytes(experiment);
        // Names and d_type only: no stat here.
        DirectoryListing.List(dir, (name, kind) =>
        {
            if (kind == DirectoryListing.EntryKind.Directory)
            {
                verbose?.Invoke($"Ignoring directory '{Path.Join(dir, Names.Show(Encoding.UTF8.GetString(name)))}' in the run directory of {experiment}.");
                return;
            }
            // The common case straight from the bytes; anything else through the general parser, which says why.
            if (RunFileName.TryParseOwn(name, experiment, own, out var own1))
            {
                keys.Add(RunFileKey.Pack(own1));
                return;
            }
            // Run file names are ASCII: widen without allocating (anything else is not a run file).
            string? reason;
            if (name.Length < chars.Length && Ascii.ToUtf16(name, chars, out var length) == OperationStatus.Done)
            {
                if (RunFileName.TryParse(chars.AsSpan(0, length), experiment, out var parsed, out reason))
                {
                    names.Add(parsed);
                    return;
                }
            }
            else
                reason = "not a run file name (<exp>-rNNNN-sNN-cNN.xtc/.xtc2/.h5)";
            verbose?.Invoke($"Ignoring '{Path.Join(dir, Names.Show(Encoding.UTF8.GetString(name)))}': {reason}.");
        });
        try
        {
            if (names.Count == 0)
                return BuildOwn(instrument, experiment, dir, mtime, listedAt, nowUtc, previous, needsStat, verbose, keys);
            foreach (var k in keys)
                names.Add(RunFileKey.Unpack(k, experiment));
            return BuildGeneral(instrument, experiment, dir, mtime, listedAt, nowUtc, previous, needsStat, verbose, names);
        }
        finally
        {
            // Drop a huge directory's scratch rather than keep it for the thread's life.
            if (names.Capacity > 1 << 16) t_names = null; else names.Clear();
            if (keys.Capacity > 1 << 16) t_keys = null; else keys.Clear();
        }
    }

    private ExperimentScan BuildOwn(string instrument, string experiment, string dir, long mtime, long listedAt, DateTime nowUtc,
        ExperimentScan? previous, Func<int, bool>? needsStat, Action<string>? verbose, List<ulong> keys)
    {
        RunFileKey.Sort(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(keys));
        Func<int, int, RunRecord?>? reuse = previous is null ? null : (start, end) =>
        {
            var i = previous.Find(RunFileKey.Run(keys[start]));
            return i >= 0 && previous.Runs[i].Settled == 1 && ExperimentScan.IsReady(previous.Runs[i], nowUtc, _config.SettleSeconds)
                && previous.SameFiles(i, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(keys), start, end)
                ? previous.Runs[i]
                : null;
        };
        return ExperimentScan.BuildOwn(instrument, experiment, dir, mtime, listedAt, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(keys),
            n => StatRunFile(Path.Join(dir, n.ToString()), experiment, verbose), nowUtc, _config.SettleSeconds, reuse, needsStat);
    }

    private ExperimentScan BuildGeneral(string instrument, string experiment, string dir, long mtime, long listedAt, DateTime nowUtc,
        ExperimentScan? previous, Func<int, bool>? needsStat, Action<string>? verbose, List<RunFileName> names)
    {
        ExperimentScan.SortNames(names);
        Func<int, int, RunRecord?>? reuse = previous is null ? null : (start, end) =>
        {
            var i = previous.Find(names[start].Run);
            return i >= 0 && previous.Runs[i].Settled == 1 && ExperimentScan.IsReady(previous.Runs[i], nowUtc, _config.SettleSeconds)
                && previous.SameFiles(i, names, start, end)
                ? previous.Runs[i]
                : null;
        };
        return ExperimentScan.Build(instrument, experiment, dir, mtime, listedAt, names,
            n => StatRunFile(Path.Join(dir, n.ToString()), experiment, verbose), nowUtc, _config.SettleSeconds, reuse, needsStat);
    }

    [ThreadStatic] private static List<RunFileName>? t_names;
    [ThreadStatic] private static List<ulong>? t_keys;
    [ThreadStatic] private static char[]? t_chars;

    private static IEnumerable<string> EnumerateNames(string dir, bool directories)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = false, IgnoreInaccessible = true, AttributesToSkip = 0 };
        return new FileSystemEnumerable<string>(dir, (ref FileSystemEntry e) => e.FileName.ToString(), options)
        {
            ShouldIncludePredicate = (ref FileSystemEntry e) => e.IsDirectory == directories,
        };
    }
}
