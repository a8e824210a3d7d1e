using System.Runtime.CompilerServices;
using RunProc.IO;

namespace RunProc.Db;

/// <summary>
/// The record files (-proc-runs.txt, -arch-runs.txt, the old -proc-arch.txt) of the experiments one
/// scan covers. Each DB instrument directory is opened once (checked: no link on the way, see
/// <see cref="DbDirectory"/>) and listed once, so a record file that does not exist costs no call
/// at all, one that exists costs one statx to stamp it or one openat + fstat + read to read it.
/// A directory that cannot be used (a link, a directory that is not one) fails every experiment
/// under it with the same error, each skipped alone. Thread-safe; disposed at the end of the scan.
/// </summary>
internal sealed class RecordFileSet : IDisposable
{
    private readonly ProcDb _db;
    // Read without a lock by every scan thread; each directory (by instrument) is opened and listed once (Lazy).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<Entry>> _dirs = new(StringComparer.Ordinal);

    private sealed record Entry(DbDirectory? Directory, HashSet<string>? Names, Exception? Error);

    public RecordFileSet(ProcDb db) => _db = db;

    /// <summary>The file names of an experiment's records: processed, archive, the old archive name.</summary>
    public static string[] NamesOf(string experiment) =>
        [experiment + "-proc-runs.txt", experiment + "-arch-runs.txt", experiment + "-proc-arch.txt"];

    private (DbDirectory? Directory, HashSet<string>? Names) Directory(string experiment)
    {
        // By the DB instrument (the config remembers each experiment's): the path is built only for an instrument's first experiment.
        var ins = _db.Config.InstrumentOf(experiment);
        var e = (_dirs.TryGetValue(ins, out var known) ? known : _dirs.GetOrAdd(ins, new Lazy<Entry>(() => OpenEntry(_db.InstrumentDirectory(experiment))))).Value;
        // A fresh exception per experiment (they are thrown on several scan threads).
        if (e.Error is { } error)
            throw error switch
            {
                DbFileException d => new DbFileException(d.FilePath, d.Message),
                UnauthorizedAccessException => new UnauthorizedAccessException(error.Message, error),
                _ => new IOException(error.Message, error),
            };
        return (e.Directory, e.Names);
    }

    private static Entry OpenEntry(string path)
    {
        try
        {
            var dir = DbDirectory.Open(path);
            return new Entry(dir, dir?.Names(), null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new Entry(null, null, ex);
        }
    }

    /// <summary>The stamps of the three record files (one statx for each that exists, none for the others).</summary>
    public FileStamp[] Stamps(string experiment)
    {
        var (dir, names) = Directory(experiment);
        var files = NamesOf(experiment);
        var stamps = new FileStamp[files.Length];
        if (dir is null)
            return stamps;
        for (var i = 0; i < files.Length; i++)
            if (names!.Contains(files[i]))
                stamps[i] = dir.Stamp(files[i]);
        return stamps;
    }

    /// <summary>
    /// Appends the run numbers of the record files <paramref name="first"/>..<paramref name="last"/>
    /// (indexes into <see cref="NamesOf"/>) to <paramref name="runs"/>; their stamps as of the open
    /// go to <paramref name="stamps"/>. Warnings name the file as the DB does.
    /// </summary>
    public void Read(string experiment, int first, int last, List<int> runs, FileStamp[] stamps, Action<DbWarning>? warn)
    {
        var (dir, names) = Directory(experiment);
        if (dir is null)
            return;
        var files = NamesOf(experiment);
        for (var i = first; i <= last; i++)
        {
            if (!names!.Contains(files[i]) || !dir.TryRead(files[i], out var content, out stamps[i]))
                continue;
            RecordRunNumbers.Parse(content, Path.Join(_db.InstrumentDirectory(experiment), files[i]), runs, warn);
        }
    }

    /// <summary>Sorted distinct run numbers recorded as processed or archived, with the stamps they were read with.</summary>
    public int[] ReadDone(string experiment, Action<DbWarning>? warn, out FileStamp[] stamps)
    {
        stamps = new FileStamp[3];
        var runs = new List<int>(256);
        Read(experiment, 0, 2, runs, stamps, warn);
        return RecordRunNumbers.SortedDistinct(runs);
    }

    public void Dispose()
    {
        foreach (var e in _dirs.Values)
            if (e.IsValueCreated)
                e.Value.Directory?.Dispose();
        _dirs.Clear();
    }
}
