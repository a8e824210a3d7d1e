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
    public const string LockFileName = ".runproc-db.lock";

    public const string ExperimentListName = "experiments.txt";

    /// <summary>Default wait for the write lock in the methods that take it themselves.</summary>
    public static TimeSpan DefaultLockTimeout { get; set; } = TimeSpan.FromSeconds(60);

    public ProcDb(RunProcConfig config, string process)
    {
        Config = config ?? throw new ArgumentNullException(nameof(config));
        Process = Names.Process(process);
        ProcessDirectory = Path.Join(config.DbRoot, Process);
        SafeFile.GuardTree(config.DbRoot);
    }

    public RunProcConfig Config { get; }
    public string Process { get; }

    /// <summary><c>&lt;DbRoot&gt;/&lt;proc&gt;</c>.</summary>
    public string ProcessDirectory { get; }

    public string ExperimentListFile => Path.Join(ProcessDirectory, ExperimentListName);

    public string LockFile => Path.Join(ProcessDirectory, LockFileName);

    /// <summary><c>&lt;DbRoot&gt;/&lt;proc&gt;/&lt;INS&gt;</c> with INS = first 3 letters of the experiment, upper case (the old rule).</summary>
    public string InstrumentDirectory(string experiment) => Path.Join(ProcessDirectory, Config.InstrumentOf(Exp(experiment)));

    public string ProcessedFile(string experiment) => Path.Join(InstrumentDirectory(experiment), experiment + "-proc-runs.txt");

    /// <summary>The archive file RunProc writes (the note's name).</summary>
    public string ArchiveFile(string experiment) => Path.Join(InstrumentDirectory(experiment), experiment + "-arch-runs.txt");

    /// <summary>The archive file name the old code used; read, never written.</summary>
    public string LegacyArchiveFile(string experiment) => Path.Join(InstrumentDirectory(experiment), experiment + "-proc-arch.txt");

    /// <summary><c>&lt;DbRoot&gt;/&lt;proc&gt;/&lt;INS&gt;/&lt;exp&gt;/</c> for logs; created (with DirectoryMode) if missing.</summary>
    public string ExperimentDirectory(string experiment)
    {
        var dir = Path.Join(InstrumentDirectory(experiment), experiment);
        SafeFile.EnsureDirectory(dir, Config.DirectoryMode);
        return dir;
    }

    /// <summary><c>&lt;DbRoot&gt;/&lt;proc&gt;/&lt;INS&gt;/&lt;exp&gt;/work/</c>; created if missing.</summary>
    public string WorkDirectory(string experiment)
    {
        var dir = Path.Join(ExperimentDirectory(experiment), "work");
        SafeFile.EnsureDirectory(dir, Config.DirectoryMode);
        return dir;
    }

    /// <summary>Takes the process tree's write lock (an flock, released by the kernel if the holder dies).</summary>
    public IDisposable AcquireWriteLock(TimeSpan timeout, CancellationToken cancel = default)
    {
        SafeFile.EnsureDirectory(ProcessDirectory, Config.DirectoryMode);
        return FileLock.Acquire(LockFile, timeout, cancel, Config.FileMode);
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

    /// <summary>Adds experiments to experiments.txt (appended, one a line; others and comments untouched). Returns those added.</summary>
    public IReadOnlyList<string> AddExperiments(IEnumerable<string> experiments, Action<DbWarning>? warn = null)
    {
        var wanted = experiments.Select(Exp).Distinct(StringComparer.Ordinal).ToList();
        using var _ = AcquireWriteLock(DefaultLockTimeout);
        var present = ReadExperimentEntries(warn).Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        var added = wanted.Where(e => !present.Contains(e)).ToList();
        SafeFile.AppendLines(ExperimentListFile, added, Config.FileMode);
        return added;
    }

    /// <summary>Removes experiments from experiments.txt (atomic rewrite keeping every other line as is). Returns those removed.</summary>
    public IReadOnlyList<string> RemoveExperiments(IEnumerable<string> experiments)
    {
        var wanted = experiments.Select(Exp).ToHashSet(StringComparer.Ordinal);
        using var _ = AcquireWriteLock(DefaultLockTimeout);
        var lines = DbLines.Read(ExperimentListFile);
        if (lines is null)
            return Array.Empty<string>();
        // Kept lines are copied as bytes: a rewrite never alters a line it does not remove.
        var keep = new List<byte[]>(lines.Count);
        var removed = new List<string>();
        for (var i = 0; i < lines.Count; i++)
        {
            var name = ParseExperimentLine(lines.Text[i], out var problem);
            if (problem is null && name is not null && wanted.Contains(name))
            {
                if (!removed.Contains(name)) removed.Add(name);
                continue;
            }
            keep.Add(lines.Raw(i).ToArray());
        }
        if (removed.Count > 0)
            SafeFile.WriteAllBytesAtomic(ExperimentListFile, DbLines.Join(keep), Config.FileMode);
        return removed;
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
    public string DoneCacheDirectory => Path.Join(ProcessDirectory, ".done-cache");

    /// <summary>
    /// Records runs as processed (under the write lock), one line each in the original format, local
    /// time. Runs already recorded (processed or archived) are skipped. Returns the runs appended.
    /// </summary>
    public IReadOnlyList<int> AppendProcessed(string experiment, IEnumerable<int> runs, string command, DateTime? time = null, string? cwd = null)
    {
        Exp(experiment);
        using var _ = AcquireWriteLock(DefaultLockTimeout);
        return AppendProcessedUnderLock(experiment, runs, command, time, cwd);
    }

    /// <summary>
    /// As <see cref="AppendProcessed"/> for a caller that already holds <see cref="AcquireWriteLock"/>
    /// (flock is not re-entrant across descriptors, so taking it again would wait for itself).
    /// </summary>
    public IReadOnlyList<int> AppendProcessedUnderLock(string experiment, IEnumerable<int> runs, string command, DateTime? time = null, string? cwd = null)
    {
        Exp(experiment);
        var list = runs.Select(Names.Run).Distinct().ToList();
        var local = time is { } t ? (t.Kind == DateTimeKind.Utc ? t.ToLocalTime() : t) : DateTime.Now;
        var login = Environment.UserName;
        var host = Environment.MachineName;
        var dir = cwd ?? Environment.CurrentDirectory;
        var done = ReadDoneRuns(experiment);
        var add = list.Where(r => !done.Contains(r)).ToList();
        if (add.Count == 0)
            return add;
        SafeFile.EnsureDirectory(InstrumentDirectory(experiment), Config.DirectoryMode);
        SafeFile.AppendLines(ProcessedFile(experiment), add.Select(r => ProcRecord.Format(r, local, login, host, dir, command)), Config.FileMode);
        return add;
    }

    /// <summary>
    /// Moves the processed records of <paramref name="runs"/> to the archive file (code 40), under
    /// the lock: the lines are appended to -arch-runs.txt first (skipping lines already there, so a
    /// crash between the two steps is repaired by running again), then -proc-runs.txt is rewritten
    /// atomically without them. Every other line, malformed ones included, is kept as it was.
    /// Returns the moved records.
    /// </summary>
    public IReadOnlyList<ProcRecord> MoveToArchive(string experiment, IEnumerable<int> runs, Action<DbWarning>? warn = null)
    {
        var set = runs.Select(Names.Run).ToHashSet();
        using var _ = AcquireWriteLock(DefaultLockTimeout);
        var file = ProcessedFile(experiment);
        var lines = DbLines.Read(file);
        if (lines is null || set.Count == 0)
            return Array.Empty<ProcRecord>();
        // Lines are moved and kept as bytes: a rewrite never alters a line (binary garbage included).
        var keep = new List<byte[]>(lines.Count);
        var moved = new List<ProcRecord>();
        var movedRaw = new List<byte[]>();
        for (var i = 0; i < lines.Count; i++)
        {
            var rec = ProcRecord.TryParse(lines.Text[i], file, i + 1, RecordState.Processed, out var problem);
            if (problem is not null)
                warn?.Invoke(new DbWarning(file, i + 1, problem + "; line kept", lines.Text[i]));
            if (rec is not null && set.Contains(rec.Run))
            {
                moved.Add(rec);
                var raw = WithoutCr(lines.Raw(i));
                movedRaw.Add((i == 0 && raw.StartsWith("\uFEFF"u8) ? raw[3..] : raw).ToArray()); // a BOM belongs to the file, not the record
            }
            else
                keep.Add(lines.Raw(i).ToArray());
        }
        if (moved.Count == 0)
            return moved;
        var archive = ArchiveFile(experiment);
        var old = DbLines.Read(archive);
        var existing = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < (old?.Count ?? 0); i++)
            existing.Add(Convert.ToBase64String(WithoutCr(old!.Raw(i))));
        SafeFile.AppendLines(archive, movedRaw.Where(r => existing.Add(Convert.ToBase64String(r))), Config.FileMode);
        SafeFile.WriteAllBytesAtomic(file, DbLines.Join(keep), Config.FileMode);
        return moved.Select(m => new ProcRecord
        {
            Run = m.Run, Time = m.Time, Login = m.Login, Host = m.Host, Cwd = m.Cwd, Command = m.Command,
            Line = m.Line, File = archive, LineNumber = 0, State = RecordState.Archived,
        }).ToList();
    }

    /// <summary>Experiments that have a processed or archive file in this process tree, sorted.</summary>
    public IReadOnlyList<string> RecordedExperiments()
    {
        var result = new SortedSet<string>(StringComparer.Ordinal);
        if (!Directory.Exists(ProcessDirectory))
            return result.ToList();
        foreach (var insDir in Directory.EnumerateDirectories(ProcessDirectory))
        {
            if (!Names.IsInstrument(Path.GetFileName(insDir)))
                continue;
            foreach (var f in Directory.EnumerateFiles(insDir, "*.txt"))
            {
                var name = Path.GetFileName(f);
                foreach (var suffix in new[] { "-proc-runs.txt", "-arch-runs.txt", "-proc-arch.txt" })
                    if (name.EndsWith(suffix, StringComparison.Ordinal))
                    {
                        var exp = name[..^suffix.Length];
                        if (Names.IsExperiment(exp, Config) && Config.TryInstrumentOf(exp, out var ins, out _) && ins == Path.GetFileName(insDir))
                            result.Add(exp);
                    }
            }
        }
        return result.ToList();
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

    /// <summary>The run numbers of a record file (see <see cref="RecordRunNumbers"/>).</summary>
    internal static void AddRunNumbers(string file, HashSet<int> set, Action<DbWarning>? warn)
    {
        if (SafeFile.ReadAllBytes(file) is not { } data)
            return;
        var runs = new List<int>();
        RecordRunNumbers.Parse(data, file, runs, warn);
        set.UnionWith(runs);
    }

    /// <summary>
    /// A DB file's lines as the old tool wrote them: '\n' separated, '\r' kept for the parser to trim,
    /// no phantom empty line for a final newline, a missing final newline accepted. Null if absent.
    /// </summary>
    internal static string[]? ReadLines(string path) => DbLines.Read(path)?.Text;

    private static ReadOnlySpan<byte> WithoutCr(ReadOnlySpan<byte> line) =>
        line.Length > 0 && line[^1] == (byte)'\r' ? line[..^1] : line;
}
