using System.Runtime.CompilerServices;
using System.Globalization;
using System.Text;
using RunProc.Catalog;
using RunProc.Config;
using RunProc.IO;

namespace RunProc.Db;

/// <summary>One experiment a query covers: where its data was found and whether it is in experiments.txt.</summary>
public readonly record struct ExperimentRef(string Instrument, string Experiment, bool UnderControl);

/// <summary>
/// The flat-file processing DB of one process, <c>&lt;DbRoot&gt;/&lt;proc&gt;/</c>, in the old tool's
/// format: experiments.txt, <c>&lt;INS&gt;/&lt;exp&gt;-proc-runs.txt</c>, <c>&lt;INS&gt;/&lt;exp&gt;-arch-runs.txt</c>
/// (the old <c>-proc-arch.txt</c> is read too), <c>&lt;INS&gt;/&lt;exp&gt;/</c> for logs and <c>work/</c>.
/// Writers serialize on one lock file per process tree; appends are whole lines; rewrites are
/// atomic; malformed lines are reported (file:line), skipped, and kept by every rewrite.
/// </summary>
public sealed partial class ProcDb
{
    /// <summary>The lock file name inside the process directory (hidden).</summary>
    public const string LockFileName = ProcDbTree.LockFileName;

    public const string ExperimentListName = ProcDbTree.ExperimentListName;

    /// <summary>Default wait for the write lock in the methods that take it themselves.</summary>
    public static TimeSpan DefaultLockTimeout { get; set; } = TimeSpan.FromSeconds(60);

    public ProcDb(RunProcConfig config, string process)
    {
        Tree = new ProcDbTree(config ?? throw new ArgumentNullException(nameof(config)), process);
        SafeFile.GuardTree(config.DbRoot);
    }

    /// <summary>Every path of this process tree.</summary>
    public ProcDbTree Tree { get; }

    public RunProcConfig Config => Tree.Config;
    public string Process => Tree.Process;

    /// <summary><c>&lt;DbRoot&gt;/&lt;proc&gt;</c>.</summary>
    public string ProcessDirectory => Tree.ProcessDirectory;

    public string ExperimentListFile => Tree.ExperimentListFile;

    public string LockFile => Tree.LockFile;

    public string InstrumentDirectory(string experiment) => Tree.InstrumentDirectory(experiment);

    public string ProcessedFile(string experiment) => Tree.ProcessedFile(experiment);

    public string ArchiveFile(string experiment) => Tree.ArchiveFile(experiment);

    public string LegacyArchiveFile(string experiment) => Tree.LegacyArchiveFile(experiment);

    /// <summary>The experiment's log folder (<see cref="ProcDbTree.ExperimentDirectory"/>), created with DirectoryMode if missing.</summary>
    public string ExperimentDirectory(string experiment) => Tree.Ensure(Tree.ExperimentDirectory(experiment));

    /// <summary>The experiment's work folder, created if missing.</summary>
    public string WorkDirectory(string experiment)
    {
        ExperimentDirectory(experiment);
        return Tree.Ensure(Tree.WorkDirectory(experiment));
    }

    // ---------------------------------------------------------------- experiments.txt

    /// <summary>Experiments under control (experiments.txt): blank and '#' lines ignored; invalid names are warnings.</summary>
    public IReadOnlyList<string> ReadExperimentList(Action<DbWarning>? warn = null) =>
        ReadExperimentEntries(warn).Select(e => e.Name).ToList();

    internal List<(string Name, int Line)> ReadExperimentEntries(Action<DbWarning>? warn)
    {
        var result = new List<(string, int)>();
        var lines = ReadLines(ExperimentListFile);
        if (lines is null)
            return result;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < lines.Length; i++)
        {
            var name = ParseExperimentLine(lines[i], out var problem);
            if (problem is not null)
            {
                warn?.Invoke(new DbWarning(ExperimentListFile, i + 1, problem, lines[i]));
                continue;
            }
            if (name is not null && seen.Add(name))
                result.Add((name, i + 1));
        }
        return result;
    }

    /// <summary>The experiment on a line of experiments.txt (null for blank and comment lines).</summary>
    private string? ParseExperimentLine(string line, out string? problem)
    {
        problem = null;
        var t = line.Trim();
        if (t.Length == 0 || t[0] == '#')
            return null;
        var parts = t.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length > 1 && !parts[1].StartsWith('#'))
        {
            problem = $"'{Names.Show(t)}' is not one experiment name (one name a line; comments start with '#')";
            return null;
        }
        if (!Names.IsExperiment(parts[0], Config))
        {
            problem = $"'{Names.Show(parts[0])}' is not a valid experiment name (ExperimentPattern '{Config.ExperimentPattern}')";
            return null;
        }
        return parts[0];
    }

    /// <summary>Adds experiments to experiments.txt under the write lock (<see cref="WriteScope.AddExperiments"/>).</summary>
    public IReadOnlyList<string> AddExperiments(IEnumerable<string> experiments, Action<DbWarning>? warn = null)
    {
        var valid = experiments.Select(Exp).ToList(); // names are checked before anything is created
        using var w = BeginWrite(DefaultLockTimeout);
        return w.AddExperiments(valid, warn);
    }

    /// <summary>Removes experiments from experiments.txt under the write lock (<see cref="WriteScope.RemoveExperiments"/>).</summary>
    public IReadOnlyList<string> RemoveExperiments(IEnumerable<string> experiments)
    {
        var valid = experiments.Select(Exp).ToList();
        using var w = BeginWrite(DefaultLockTimeout);
        return w.RemoveExperiments(valid);
    }

    // ---------------------------------------------------------------- run records

    /// <summary>Processed runs of an experiment (first record of each run); malformed lines are warnings.</summary>
    public IReadOnlyDictionary<int, ProcRecord> ReadProcessed(string experiment, Action<DbWarning>? warn = null) =>
        ToMap(ReadRecordFile(ProcessedFile(experiment), RecordState.Processed, warn));

    /// <summary>Archived runs of an experiment (-arch-runs.txt and the old -proc-arch.txt).</summary>
    public IReadOnlyDictionary<int, ProcRecord> ReadArchived(string experiment, Action<DbWarning>? warn = null) =>
        ToMap(ReadRecordFile(ArchiveFile(experiment), RecordState.Archived, warn)
            .Concat(ReadRecordFile(LegacyArchiveFile(experiment), RecordState.Archived, warn)));

    /// <summary>Every record of an experiment, processed then archived, in file order (duplicates included).</summary>
    public IReadOnlyList<ProcRecord> ReadRecords(string experiment, Action<DbWarning>? warn = null) =>
        ReadRecordFile(ProcessedFile(experiment), RecordState.Processed, warn)
            .Concat(ReadRecordFile(ArchiveFile(experiment), RecordState.Archived, warn))
            .Concat(ReadRecordFile(LegacyArchiveFile(experiment), RecordState.Archived, warn))
            .ToList();

    /// <summary>Run numbers recorded as processed or archived: the runs that are not pending.</summary>
    public HashSet<int> ReadDoneRuns(string experiment, Action<DbWarning>? warn = null)
    {
        var set = new HashSet<int>();
        AddRunNumbers(ProcessedFile(experiment), set, warn);
        AddRunNumbers(ArchiveFile(experiment), set, warn);
        AddRunNumbers(LegacyArchiveFile(experiment), set, warn);
        return set;
    }

    /// <summary>The hidden cache of done-run sets and pending runs (see <see cref="DoneRunCache"/>).</summary>
    public string DoneCacheDirectory => Tree.DoneCacheDirectory;

    /// <summary>Sorted done runs (processed or archived), from <paramref name="cache"/> when the record files are unchanged.</summary>
    internal int[] ReadDoneRunsSorted(string experiment, Action<DbWarning>? warn, DoneRunCache? cache) =>
        ReadDoneRunsSorted(experiment, warn, cache, cache is null ? null : DoneStamps(experiment, cache), out _);

    /// <summary>The run numbers of an experiment's processed (or archived) records, read with the fast reader.</summary>
    internal HashSet<int> RunNumbers(string experiment, bool archived, Action<DbWarning>? warn)
    {
        var set = new HashSet<int>();
        if (archived)
        {
            AddRunNumbers(ArchiveFile(experiment), set, warn);
            AddRunNumbers(LegacyArchiveFile(experiment), set, warn);
        }
        else
            AddRunNumbers(ProcessedFile(experiment), set, warn);
        return set;
    }

    private string[] RecordFiles(string experiment) => new[] { ProcessedFile(experiment), ArchiveFile(experiment), LegacyArchiveFile(experiment) };

    internal DoneRunCache.Stamp[] DoneStamps(string experiment, DoneRunCache cache) =>
        cache.StampsOf(experiment, InstrumentDirectory(experiment), RecordFiles(experiment));

    /// <param name="stamps">The record files' stamps taken before reading (required with a cache).</param>
    /// <param name="cached">The result is in the cache (no malformed lines), so pending runs may be remembered with it.</param>
    internal int[] ReadDoneRunsSorted(string experiment, Action<DbWarning>? warn, DoneRunCache? cache, DoneRunCache.Stamp[]? stamps, out bool cached)
    {
        cached = false;
        var readAt = DateTime.UtcNow.Ticks;
        if (cache is not null && cache.TryGet(experiment, stamps!) is { } hit)
        {
            cached = true;
            return hit;
        }
        var set = new HashSet<int>();
        var warned = false;
        void Warn(DbWarning w) { warned = true; warn?.Invoke(w); }
        foreach (var f in RecordFiles(experiment))
            AddRunNumbers(f, set, Warn);
        var sorted = set.ToArray();
        Array.Sort(sorted);
        if (cache is not null && !warned)
        {
            cache.Put(experiment, stamps!, readAt, sorted);
            cached = true;
        }
        return sorted;
    }

    /// <summary>Records runs as processed under the write lock (<see cref="WriteScope.AppendProcessed"/>).</summary>
    public IReadOnlyList<int> AppendProcessed(string experiment, IEnumerable<int> runs, string command, DateTime? time = null, string? cwd = null)
    {
        Exp(experiment);
        using var w = BeginWrite(DefaultLockTimeout);
        return w.AppendProcessed(experiment, runs, command, time, cwd);
    }

    /// <summary>Moves processed records to the archive file under the write lock (<see cref="WriteScope.MoveToArchive"/>).</summary>
    public IReadOnlyList<ProcRecord> MoveToArchive(string experiment, IEnumerable<int> runs, Action<DbWarning>? warn = null)
    {
        var valid = runs.Select(Names.ValidateRun).ToList();
        using var w = BeginWrite(DefaultLockTimeout);
        return w.MoveToArchive(experiment, valid, warn);
    }

    /// <summary>Experiments that have a processed or archive file in this process tree, sorted.</summary>
    public IReadOnlyList<string> RecordedExperiments() => Tree.RecordedExperiments();

    // ---------------------------------------------------------------- pending runs

    /// <summary>
    /// Ready runs on disk that are neither processed nor archived, for the experiments of
    /// <paramref name="query"/>, in experiment then run order. Uses the incremental scan cache unless
    /// the query turns it off.
    /// </summary>
    public IReadOnlyList<RunInfo> PendingRuns(PendingQuery query, Action<DbWarning>? warn = null, IProgress<ScanProgress>? progress = null) =>
        EnumeratePendingRuns(query, warn, progress).ToList();

    /// <summary>
    /// As <see cref="PendingRuns"/>, yielding each experiment's runs as soon as it is scanned.
    /// Experiments are scanned <see cref="RunProcConfig.ScanConcurrency"/> at a time; their runs,
    /// warnings and verbose messages still come in experiment order, on the caller's thread.
    /// </summary>
    public IEnumerable<RunInfo> EnumeratePendingRuns(PendingQuery query, Action<DbWarning>? warn = null, IProgress<ScanProgress>? progress = null)
    {
        var now = query.NowUtc ?? DateTime.UtcNow;
        var cache = query.UseCache ? CatalogCache.ForConfig(Config) : null;
        var doneCache = query.UseCache ? new DoneRunCache(DoneCacheDirectory, Config.FileMode, Config.DirectoryMode, cache!.TimestampGranularity) : null;
        var catalog = new RunCatalog(Config, cache);
        var memoHits = 0;
        try
        {
            var exps = ResolveExperiments(query, catalog, warn);
            var i = 0;
            foreach (var scanned in OrderedParallel.Run(exps.Count, Config.ScanConcurrency,
                         k => PendingOrSkipped(exps[k], query, now, catalog, doneCache, ref memoHits), query.Cancel))
            {
                query.Cancel.ThrowIfCancellationRequested();
                progress?.Report(new ScanProgress($"Scanning {Process} runs", exps[i].Experiment, i, exps.Count));
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
            progress?.Report(new ScanProgress($"Scanning {Process} runs", null, exps.Count, exps.Count));
        }
        finally
        {
            if (cache is not null)
            {
                foreach (var m in cache.LoadMessages)
                    query.Verbose?.Invoke(m);
                foreach (var m in doneCache?.LoadMessages ?? Array.Empty<string>())
                    query.Verbose?.Invoke(m);
                query.Verbose?.Invoke($"Scan cache: {memoHits} experiment(s) with unchanged data and records, {cache.Hits} with unchanged data, {cache.Misses} listed.");
                cache.Save(query.Verbose);
                if (Directory.Exists(ProcessDirectory))
                    doneCache?.Save(query.Verbose);
            }
        }
    }

    /// <summary>
    /// <see cref="PendingOf"/>, except that an experiment whose DB files cannot be read (a link, a
    /// FIFO, a directory in place of a file) is skipped with the reason: the others are still served.
    /// </summary>
    private (List<RunInfo> Runs, ScanMessages Messages, DbWarning? Skipped) PendingOrSkipped(ExperimentRef e, PendingQuery query, DateTime now, RunCatalog catalog,
        DoneRunCache? doneCache, ref int memoHits)
    {
        try
        {
            var (runs, messages) = PendingOf(e, query, now, catalog, doneCache, ref memoHits);
            return (runs, messages, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (new List<RunInfo>(), new ScanMessages(), new DbWarning(ex is DbFileException d ? d.FilePath : ProcessedFile(e.Experiment), 0, $"{e.Experiment} skipped: {ex.Message}"));
        }
    }

    /// <summary>One experiment's pending runs (runs on a scan thread: messages are collected, not written).</summary>
    private (List<RunInfo> Runs, ScanMessages Messages) PendingOf(ExperimentRef e, PendingQuery query, DateTime now, RunCatalog catalog,
        DoneRunCache? doneCache, ref int memoHits)
    {
        var messages = new ScanMessages();
        var runs = new List<RunInfo>();
        var stamps = doneCache is null ? null : DoneStamps(e.Experiment, doneCache);

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
        int[]? done = null;
        var cachedDone = false;
        int[] Done() => done ??= ReadDoneRunsSorted(e.Experiment, messages.Warn, doneCache, stamps, out cachedDone);
        var scan = catalog.Scan(e.Instrument, e.Experiment, now, query.Verbose is null ? null : messages.Verbose,
            run => Array.BinarySearch(Done(), run) < 0);
        if (!scan.DirectoryExists)
            return (runs, messages);
        Done();
        if (doneCache is not null && cachedDone && scan.ListedAtTicks - scan.DirectoryMtimeTicks > catalog.TimestampGranularity.Ticks)
            doneCache.SetPending(e.Experiment, stamps!, scan.Subset(r => Array.BinarySearch(done!, r.Run) < 0));
        for (var k = 0; k < scan.Runs.Length; k++)
        {
            if (Array.BinarySearch(done!, scan.Runs[k].Run) >= 0)
                continue;
            if (!query.IncludeNotReady && !ExperimentScan.IsReady(scan.Runs[k], now, Config.SettleSeconds))
                continue;
            runs.Add(scan.ToRunInfo(scan.Runs[k], now, Config.SettleSeconds, Process));
        }
        return (runs, messages);
    }

    /// <summary>The experiments a query covers (see <see cref="PendingQuery"/>), each with the instrument directory it is under.</summary>
    public IReadOnlyList<ExperimentRef> ResolveExperiments(PendingQuery query, RunCatalog catalog, Action<DbWarning>? warn = null)
    {
        var listed = ReadExperimentEntries(warn);
        var underControl = listed.Select(l => l.Name).ToHashSet(StringComparer.Ordinal);
        var instruments = Config.Instruments.ToList();
        if (query.Instruments is { Count: > 0 } insFilter)
        {
            var extra = insFilter.Where(f => !Wildcard.Has(f) && Names.IsInstrument(f.ToUpperInvariant()))
                                 .Select(f => f.ToUpperInvariant());
            instruments = instruments.Concat(extra).Distinct(StringComparer.Ordinal)
                .Where(i => insFilter.Any(f => Wildcard.IsMatch(i, f))).ToList();
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
                    Add(catalog.InstrumentOf(exp), exp);
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
                    warn?.Invoke(new DbWarning(ExperimentListFile, line,
                        $"experiment {exp} is under control but has no directory under {Config.DataRoot} (instruments {string.Join(", ", Config.Instruments)}); remove it with Remove-ProcExperiment if it is gone"));
                Add(ins, exp);
            }
        }
        return result;
    }

    // ---------------------------------------------------------------- file helpers

    private string Exp(string experiment) => Names.Experiment(experiment, Config);

    private static IReadOnlyDictionary<int, ProcRecord> ToMap(IEnumerable<ProcRecord> records)
    {
        var map = new Dictionary<int, ProcRecord>();
        foreach (var r in records)
            map.TryAdd(r.Run, r);
        return map;
    }

    private static List<ProcRecord> ReadRecordFile(string file, RecordState state, Action<DbWarning>? warn)
    {
        var list = new List<ProcRecord>();
        var lines = ReadLines(file);
        if (lines is null)
            return list;
        for (var i = 0; i < lines.Length; i++)
        {
            var rec = ProcRecord.TryParse(lines[i], file, i + 1, state, out var problem);
            if (problem is not null)
                warn?.Invoke(new DbWarning(file, i + 1, problem + "; line skipped", lines[i]));
            if (rec is not null)
                list.Add(rec);
        }
        return list;
    }

    /// <summary>
    /// The first field of every line as a run number: the fast path for pending runs (bytes, no
    /// strings, except for a malformed line, which is decoded for its warning).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddRunNumbers(string file, HashSet<int> set, Action<DbWarning>? warn)
    {
        if (SafeFile.ReadAllBytes(file) is not { } data)
            return;
        var span = data.AsSpan();
        if (span.StartsWith("\uFEFF"u8))
            span = span[3..];
        var lineNo = 0;
        while (!span.IsEmpty)
        {
            lineNo++;
            var nl = span.IndexOf((byte)'\n');
            var line = nl < 0 ? span : span[..nl];
            span = nl < 0 ? default : span[(nl + 1)..];
            var s = 0;
            while (s < line.Length && line[s] is (byte)' ' or (byte)'\t' or (byte)'\r') s++;
            if (s == line.Length)
                continue; // blank
            var n = s;
            var run = 0;
            while (n < line.Length && n - s < 7 && line[n] is >= (byte)'0' and <= (byte)'9')
                run = run * 10 + (line[n++] - '0');
            if (n > s && n - s <= 6 && (n == line.Length || line[n] is (byte)' ' or (byte)'\t' or (byte)'\r') && Names.IsRun(run))
            {
                set.Add(run);
                continue;
            }
            // Not the common form: the full parser decides, so this path and ReadRecords always agree
            // (a run followed by another white space, e.g. NBSP, is a record; a line of white space is blank).
            var text = Encoding.UTF8.GetString(line).TrimEnd('\r');
            var rec = ProcRecord.TryParse(text, file, lineNo, RecordState.Processed, out var problem);
            if (rec is not null)
                set.Add(rec.Run);
            else if (problem is not null)
                warn?.Invoke(new DbWarning(file, lineNo, problem + "; line skipped", text));
        }
    }

    /// <summary>
    /// A DB file's lines as the old tool wrote them: '\n' separated, '\r' kept for the parser to trim,
    /// no phantom empty line for a final newline, a missing final newline accepted. Null if absent.
    /// </summary>
    internal static string[]? ReadLines(string path) => DbLines.Read(path)?.Text;

    private static ReadOnlySpan<byte> WithoutCr(ReadOnlySpan<byte> line) =>
        line.Length > 0 && line[^1] == (byte)'\r' ? line[..^1] : line;
}
