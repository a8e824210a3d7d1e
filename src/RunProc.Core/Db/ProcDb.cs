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

    /// <summary>Whether any record file (processed or archived) of the experiment exists.</summary>
    public bool HasRecords(string experiment) =>
        RecordFileSet.NamesOf(experiment).Any(n => File.Exists(Path.Join(InstrumentDirectory(experiment), n)));

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
