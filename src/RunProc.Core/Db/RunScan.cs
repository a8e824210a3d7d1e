using RunProc.Catalog;
using RunProc.Config;
using RunProc.IO;
using RunProc.Results;

namespace RunProc.Db;

/// <summary>
/// The catalog scans of one process DB: the pending runs (Get-PendingRun, the work of a cycle) and
/// the per-experiment counts (Get-ProcExperiment), for the experiments a <see cref="RunScanQuery"/>
/// covers. The DB (<see cref="ProcDb"/>) owns the files and their paths; this type combines the
/// records with the run catalog and owns the incremental scan caches (<see cref="CatalogCache"/>
/// for listings, <see cref="DoneRunCache"/> for done-run sets and remembered pending runs).
/// </summary>
public sealed class RunScan
{
    private readonly ProcDb _db;

    public RunScan(ProcDb db) => _db = db ?? throw new ArgumentNullException(nameof(db));

    public ProcDb Db => _db;

    private RunProcConfig Config => _db.Config;
    private string Process => _db.Process;

    // ---------------------------------------------------------------- pending runs

    /// <summary>
    /// Ready runs on disk that are neither processed nor archived, for the experiments of
    /// <paramref name="query"/>, in experiment then run order. Uses the incremental scan cache unless
    /// the query turns it off.
    /// </summary>
    public IReadOnlyList<RunInfo> Pending(RunScanQuery query, Action<DbWarning>? warn = null, IProgress<ScanProgress>? progress = null) =>
        EnumeratePending(query, warn, progress).ToList();

    /// <summary>
    /// As <see cref="Pending"/>, yielding each experiment's runs as soon as it is scanned.
    /// Experiments are scanned <see cref="RunProcConfig.ScanConcurrency"/> at a time; their runs,
    /// warnings and verbose messages still come in experiment order, on the caller's thread.
    /// </summary>
    public IEnumerable<RunInfo> EnumeratePending(RunScanQuery query, Action<DbWarning>? warn = null, IProgress<ScanProgress>? progress = null)
    {
        var now = query.NowUtc ?? DateTime.UtcNow;
        var cache = query.UseCache ? CatalogCache.ForConfig(Config) : null;
        var doneCache = query.UseCache ? new DoneRunCache(_db.DoneCacheDirectory, Config.FileMode, Config.DirectoryMode, cache!.TimestampGranularity) : null;
        var catalog = new RunCatalog(Config, cache);
        var records = new RecordFileSet(_db);
        var memoHits = 0;
        try
        {
            var exps = ResolveExperiments(query, catalog, warn);
            var activity = $"Scanning {Process} runs";
            var i = 0;
            foreach (var scanned in OrderedParallel.Run(exps.Count, Config.ScanConcurrency,
                         k => PendingOrSkipped(exps[k], query, now, catalog, records, doneCache, ref memoHits), query.Cancel))
            {
                query.Cancel.ThrowIfCancellationRequested();
                progress?.Report(new ScanProgress(activity, exps[i].Experiment, i, exps.Count));
                scanned.Messages.Replay(query.Verbose, warn);
                if (scanned.Skipped is { } skipped)
                {
                    if (query.Skipped is { } skip) skip(skipped.Message);
                    else warn?.Invoke(skipped);
                }
                foreach (var run in scanned.Runs)
                    yield return run;
                i++;
            }
            progress?.Report(new ScanProgress(activity, null, exps.Count, exps.Count));
        }
        finally
        {
            records.Dispose();
            doneCache?.Dispose();
            if (cache is not null)
            {
                foreach (var m in cache.LoadMessages)
                    query.Verbose?.Invoke(m);
                foreach (var m in doneCache?.LoadMessages ?? Array.Empty<string>())
                    query.Verbose?.Invoke(m);
                var warm = cache.WarmLoads + (doneCache?.WarmLoads ?? 0);
                query.Verbose?.Invoke($"Scan cache: {memoHits} experiment(s) with unchanged data and records, {cache.Hits} with unchanged data, {cache.Misses} listed."
                    + (warm > 0 ? $" {warm} cache file(s) unchanged since this process's last scan were used as it left them (not read again)." : ""));
                cache.Save(query.Verbose);
                if (Directory.Exists(_db.ProcessDirectory))
                    doneCache?.Save(query.Verbose);
            }
        }
    }

    /// <summary>
    /// <see cref="PendingOf"/>, except that an experiment whose DB files cannot be read (a link, a
    /// FIFO, a directory in place of a file) is skipped with the reason: the others are still served.
    /// </summary>
    private (List<RunInfo> Runs, ScanMessages Messages, DbWarning? Skipped) PendingOrSkipped(ExperimentRef e, RunScanQuery query, DateTime now, RunCatalog catalog,
        RecordFileSet records, DoneRunCache? doneCache, ref int memoHits)
    {
        try
        {
            var (runs, messages) = PendingOf(e, query, now, catalog, records, doneCache, ref memoHits);
            return (runs, messages, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (new List<RunInfo>(), new ScanMessages(), new DbWarning(ex is DbFileException d ? d.FilePath : _db.ProcessedFile(e.Experiment), 0, $"{e.Experiment} skipped: {ex.Message}"));
        }
    }

    /// <summary>One experiment's pending runs (runs on a scan thread: messages are collected, not written).</summary>
    private (List<RunInfo> Runs, ScanMessages Messages) PendingOf(ExperimentRef e, RunScanQuery query, DateTime now, RunCatalog catalog,
        RecordFileSet records, DoneRunCache? doneCache, ref int memoHits)
    {
        var messages = new ScanMessages();
        var runs = new List<RunInfo>();
        // Stamps only when there is a remembered entry to compare them with (a first scan reads the files and stamps them at the open).
        var stamps = doneCache is not null && doneCache.Has(e.Experiment) ? records.Stamps(e.Experiment) : null;

        // Run directory and records both unchanged: the remembered not-done runs are the answer.
        if (stamps is not null && doneCache!.TryGetPending(e.Experiment, stamps) is { } memo
            && memo.Instrument == e.Instrument && memo.Directory == catalog.RunDirectoryOfValid(e.Instrument, e.Experiment)
            && catalog.Reusable(memo, now, out var changed))
        {
            if (changed)
                doneCache.MarkDirty(e.Experiment);
            Interlocked.Increment(ref memoHits);
            foreach (var run in memo.Runs)
                if (query.IncludeNotReady || ExperimentScan.IsReady(run, now, Config.SettleSeconds))
                    runs.Add(memo.ToRunInfo(run, now, Config.SettleSeconds, Process));
            return (runs, messages);
        }

        // The records first: a recorded run is listed by name only (its readiness does not matter).
        var done = new DoneRuns(e.Experiment, records, doneCache, stamps, messages);
        var scan = catalog.Scan(e.Instrument, e.Experiment, now, query.Verbose is null ? null : messages.Verbose, done.NotDone);
        if (!scan.DirectoryExists)
            return (runs, messages);
        var doneRuns = done.Runs;
        if (doneCache is not null && done.Cached && scan.ListedAtTicks - scan.DirectoryMtimeTicks > catalog.TimestampGranularity.Ticks)
            doneCache.SetPending(e.Experiment, done.Stamps!, scan.Subset(r => !RecordRunNumbers.Contains(doneRuns, r.Run)));
        for (var k = 0; k < scan.Runs.Length; k++)
        {
            if (RecordRunNumbers.Contains(doneRuns, scan.Runs[k].Run))
                continue;
            if (!query.IncludeNotReady && !ExperimentScan.IsReady(scan.Runs[k], now, Config.SettleSeconds))
                continue;
            runs.Add(scan.ToRunInfo(scan.Runs[k], now, Config.SettleSeconds, Process));
        }
        return (runs, messages);
    }

    /// <summary>
    /// An experiment's done runs (processed or archived), read when first needed: from the cache
    /// when the record files still carry its stamps, else from the files (and then remembered,
    /// unless a line was malformed: its warning must repeat).
    /// </summary>
    private sealed class DoneRuns(string experiment, RecordFileSet records, DoneRunCache? cache, FileStamp[]? stamps, ScanMessages messages)
    {
        private int[]? _runs;

        /// <summary>The stamps the runs are valid for (after <see cref="Runs"/>).</summary>
        public FileStamp[]? Stamps { get; private set; } = stamps;

        /// <summary>The runs are in the cache, so pending runs may be remembered with them.</summary>
        public bool Cached { get; private set; }

        public int[] Runs => _runs ??= Read();

        public bool NotDone(int run) => !RecordRunNumbers.Contains(Runs, run);

        private int[] Read()
        {
            var readAt = DateTime.UtcNow.Ticks;
            if (cache is not null && Stamps is not null && cache.TryGet(experiment, Stamps) is { } hit)
            {
                Cached = true;
                return hit;
            }
            var warned = false;
            var runs = records.ReadDone(experiment, w => { warned = true; messages.Warn(w); }, out var read);
            Stamps = read;
            if (cache is not null && !warned)
            {
                cache.Put(experiment, read, readAt, runs);
                Cached = true;
            }
            return runs;
        }
    }

    /// <summary>The experiments a query covers (see <see cref="RunScanQuery"/>), each with the instrument directory it is under.</summary>
    public IReadOnlyList<ExperimentRef> ResolveExperiments(RunScanQuery query, RunCatalog catalog, Action<DbWarning>? warn = null)
    {
        var listed = _db.ReadExperimentEntries(warn);
        var underControl = listed.Select(l => l.Name).ToHashSet(StringComparer.Ordinal);
        var instruments = Config.Instruments.ToList();
        if (query.Instruments is { Count: > 0 } insFilter)
        {
            var extra = insFilter.Where(f => !Wildcard.Has(f) && Names.IsInstrument(f.ToUpperInvariant()))
                                 .Select(f => f.ToUpperInvariant());
            instruments = instruments.Concat(extra).Distinct(StringComparer.Ordinal)
                .Where(i => insFilter.Any(f => Wildcard.IsMatch(i, f))).ToList();
            // A literal instrument with no directory is most likely a typo: said, not just found empty.
            foreach (var f in insFilter.Where(f => !Wildcard.Has(f)))
            {
                var dir = Path.Join(Config.DataRoot, f.ToUpperInvariant());
                if (!Names.IsInstrument(f.ToUpperInvariant()) || !Directory.Exists(dir))
                    warn?.Invoke(new DbWarning(dir, 0, $"instrument {Names.Show(f)} has no directory under {Config.DataRoot} (configured instruments: {string.Join(", ", Config.Instruments)}); check the name."));
            }
        }
        bool InstrumentOk(string ins) => query.Instruments is not { Count: > 0 } f || f.Any(p => Wildcard.IsMatch(ins, p));

        var result = new List<ExperimentRef>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string ins, string exp)
        {
            // An experiment outside the instrument rule is never served: its jobs could not be tracked.
            if (!Config.TryInstrumentOf(exp, out _, out var unmapped))
            {
                if (seen.Add("!" + exp))
                    warn?.Invoke(new DbWarning(Path.Join(Config.DataRoot, ins, exp), 0, unmapped + " It is skipped."));
                return;
            }
            if (InstrumentOk(ins) && seen.Add(ins + "/" + exp))
                result.Add(new ExperimentRef(ins, exp, underControl.Contains(exp)));
        }

        if (query.Experiments is { Count: > 0 } names)
        {
            List<(string Ins, string Exp)>? onDisk = null;
            foreach (var n in names)
            {
                if (Wildcard.Has(n))
                {
                    onDisk ??= instruments.SelectMany(ins => catalog.Experiments(ins, query.Verbose).Select(x => (ins, x))).ToList();
                    var re = Wildcard.ToRegex(n, ignoreCase: true);
                    foreach (var (ins, exp) in onDisk)
                        if (re.IsMatch(exp)) Add(ins, exp);
                    foreach (var (exp, _) in listed)
                        if (re.IsMatch(exp)) Add(catalog.InstrumentOf(exp), exp);
                }
                else
                {
                    var exp = Names.Experiment(n, Config);
                    var ins = catalog.InstrumentOf(exp);
                    // Named, with no directory and no records: most likely a typo (it is still served: its records may say more).
                    if (InstrumentOk(ins) && !Directory.Exists(Path.Join(Config.DataRoot, ins, exp)) && !underControl.Contains(exp) && !_db.HasRecords(exp))
                    {
                        // The likeliest meant name among those on disk (only on this path: a typo is rare).
                        onDisk ??= instruments.SelectMany(i => catalog.Experiments(i, query.Verbose).Select(x => (i, x))).ToList();
                        var nearest = ConfigKeys.Nearest(exp, onDisk.Select(d => d.Exp).ToList());
                        warn?.Invoke(new DbWarning(Path.Join(Config.DataRoot, ins, exp), 0,
                            $"experiment {exp} has no directory under {Config.DataRoot} (instruments {string.Join(", ", Config.Instruments)}) and no records; check the name"
                            + (nearest is null ? "" : $" (did you mean {nearest}?)") + " (Get-ProcExperiment lists the experiments on disk)."));
                    }
                    Add(ins, exp);
                }
            }
            result.Sort((a, b) => string.CompareOrdinal(a.Experiment, b.Experiment));
        }
        else if (query.All)
        {
            foreach (var ins in instruments)
                foreach (var exp in catalog.Experiments(ins, query.Verbose))
                    Add(ins, exp);
        }
        else
        {
            foreach (var (exp, line) in listed)
            {
                var ins = catalog.InstrumentOf(exp);
                if (InstrumentOk(ins) && !Directory.Exists(Path.Join(Config.DataRoot, ins, exp)))
                    warn?.Invoke(new DbWarning(_db.ExperimentListFile, line,
                        $"experiment {exp} is under control but has no directory under {Config.DataRoot} (instruments {string.Join(", ", Config.Instruments)}); remove it with Remove-ProcExperiment if it is gone"));
                Add(ins, exp);
            }
        }
        return result;
    }

    // ---------------------------------------------------------------- counts

    /// <summary>
    /// One experiment's counts (runs on a scan thread: messages are collected, not written). Recorded
    /// runs are counted from the listing alone; their files are stat'ed only for
    /// <see cref="RunScanQuery.Sizes"/> (or come from the scan cache): sizes and the newest write time
    /// are given only when every run's are known.
    /// </summary>
    private (ExperimentStatus, ScanMessages) StatusOf(ExperimentRef e, RunScanQuery query, DateTime now, RunCatalog catalog, RecordFileSet records)
    {
        var messages = new ScanMessages();
        // Run numbers only (the fast reader: bytes, no record objects); same runs and warnings as ReadProcessed/ReadArchived.
        var stamps = new FileStamp[3];
        var list = new List<int>(256);
        records.Read(e.Experiment, 0, 0, list, stamps, messages.Warn);
        var processed = RecordRunNumbers.SortedDistinct(list);
        list.Clear();
        records.Read(e.Experiment, 1, 2, list, stamps, messages.Warn);
        var archived = RecordRunNumbers.SortedDistinct(list);
        var failed = RunJobHistory.Read(Config, Process, e.Experiment).Values.Count(j => j.FailedForGood);
        bool Recorded(int run) => RecordRunNumbers.Contains(processed, run) || RecordRunNumbers.Contains(archived, run);
        var scan = catalog.Scan(e.Instrument, e.Experiment, now, query.Verbose is null ? null : messages.Verbose,
            query.Sizes ? null : run => !Recorded(run));
        int pending = 0, notReady = 0;
        long bytes = 0, newest = 0;
        var sized = true;
        foreach (ref readonly var run in scan.Runs.AsSpan())
        {
            sized &= run.Statted;
            bytes += run.Bytes;
            newest = Math.Max(newest, run.NewestTicks);
            if (Recorded(run.Run))
                continue;
            if (ExperimentScan.IsReady(run, now, Config.SettleSeconds)) pending++; else notReady++;
        }
        var status = new ExperimentStatus
        {
            Process = Process, Instrument = e.Instrument, Experiment = e.Experiment, UnderControl = e.UnderControl,
            Runs = scan.Runs.Length, Processed = processed.Length, Failed = failed, Pending = pending, NotReady = notReady,
            Archived = archived.Length, DataMissing = processed.Count(r => scan.Find(r) < 0),
            Bytes = sized ? bytes : null,
            LastWriteTime = !sized || newest == 0 ? null : new DateTime(newest, DateTimeKind.Utc).ToLocalTime(),
        };
        return (status, messages);
    }

    /// <summary>Counts per experiment for the experiments of <paramref name="query"/> (plus, in ALL mode, experiments with records but no data).</summary>
    public IEnumerable<ExperimentStatus> Counts(RunScanQuery query, Action<DbWarning>? warn = null, IProgress<ScanProgress>? progress = null)
    {
        var now = query.NowUtc ?? DateTime.UtcNow;
        var cache = query.UseCache ? CatalogCache.ForConfig(Config) : null;
        var catalog = new RunCatalog(Config, cache);
        var records = new RecordFileSet(_db);
        try
        {
            var exps = ResolveExperiments(query, catalog, warn).ToList();
            if (query.All && query.Experiments is not { Count: > 0 })
            {
                var known = exps.Select(e => e.Experiment).ToHashSet(StringComparer.Ordinal);
                var listed = _db.ReadExperimentList().ToHashSet(StringComparer.Ordinal);
                foreach (var exp in _db.RecordedExperiments())
                {
                    if (known.Contains(exp) || !Names.IsExperiment(exp, Config))
                        continue;
                    var ins = catalog.InstrumentOf(exp);
                    if (query.Instruments is not { Count: > 0 } f || f.Any(p => Wildcard.IsMatch(ins, p)))
                        exps.Add(new ExperimentRef(ins, exp, listed.Contains(exp)));
                }
            }
            var i = 0;
            foreach (var (status, messages) in OrderedParallel.Run(exps.Count, Config.ScanConcurrency,
                         k => StatusOf(exps[k], query, now, catalog, records), query.Cancel))
            {
                query.Cancel.ThrowIfCancellationRequested();
                progress?.Report(new ScanProgress($"Counting {Process} runs", exps[i].Experiment, i, exps.Count));
                messages.Replay(query.Verbose, warn);
                yield return status;
                i++;
            }
            progress?.Report(new ScanProgress($"Counting {Process} runs", null, exps.Count, exps.Count));
        }
        finally
        {
            records.Dispose();
            cache?.Save(query.Verbose);
        }
    }
}
