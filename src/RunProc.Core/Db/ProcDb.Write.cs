using RunProc.IO;

namespace RunProc.Db;

public sealed partial class ProcDb
{
    private WriteScope? _openWrite;

    /// <summary>
    /// Takes the process tree's write lock (an flock, released by the kernel if the holder dies) and
    /// returns the scope through which every write goes; disposing it releases the lock. One scope at
    /// a time per ProcDb: flock is not re-entrant across descriptors, so a second one would wait for itself.
    /// </summary>
    public WriteScope BeginWrite(TimeSpan timeout, CancellationToken cancel = default)
    {
        if (_openWrite is not null)
            throw new InvalidOperationException($"the DB write lock of {ProcessDirectory} is already held by this process tree's open write scope; write through it.");
        Tree.Ensure(ProcessDirectory);
        return _openWrite = new WriteScope(this, FileLock.Acquire(LockFile, timeout, cancel, Config.FileMode));
    }

    /// <summary>The open write scope (a caller inside <see cref="BeginWrite"/>), else an error.</summary>
    public WriteScope Writing => _openWrite ?? throw new InvalidOperationException($"a write to {ProcessDirectory} outside ProcDb.BeginWrite.");

    /// <summary>The writes of the DB tree, made while its write lock is held; from <see cref="BeginWrite"/>.</summary>
    public sealed class WriteScope : IDisposable
    {
        private readonly ProcDb _db;
        private IDisposable? _lock;

        internal WriteScope(ProcDb db, IDisposable @lock)
        {
            _db = db;
            _lock = @lock;
        }

        public void Dispose()
        {
            if (_lock is null)
                return;
            _db._openWrite = null;
            _lock.Dispose();
            _lock = null;
        }

        /// <summary>Adds experiments to experiments.txt (appended, one a line; others and comments untouched). Returns those added.</summary>
        public IReadOnlyList<string> AddExperiments(IEnumerable<string> experiments, Action<DbWarning>? warn = null)
        {
            var wanted = experiments.Select(_db.Exp).Distinct(StringComparer.Ordinal).ToList();
            var present = _db.ReadExperimentEntries(warn).Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
            var added = wanted.Where(e => !present.Contains(e)).ToList();
            SafeFile.AppendLines(_db.ExperimentListFile, added, _db.Config.FileMode);
            return added;
        }

        /// <summary>Removes experiments from experiments.txt (atomic rewrite keeping every other line as is). Returns those removed.</summary>
        public IReadOnlyList<string> RemoveExperiments(IEnumerable<string> experiments)
        {
            var wanted = experiments.Select(_db.Exp).ToHashSet(StringComparer.Ordinal);
            var lines = DbLines.Read(_db.ExperimentListFile);
            if (lines is null)
                return Array.Empty<string>();
            // Kept lines are copied as bytes: a rewrite never alters a line it does not remove.
            var keep = new List<byte[]>(lines.Count);
            var removed = new List<string>();
            for (var i = 0; i < lines.Count; i++)
            {
                var name = _db.ParseExperimentLine(lines.Text[i], out var problem);
                if (problem is null && name is not null && wanted.Contains(name))
                {
                    if (!removed.Contains(name)) removed.Add(name);
                    continue;
                }
                keep.Add(lines.Raw(i).ToArray());
            }
            if (removed.Count > 0)
                SafeFile.WriteAllBytesAtomic(_db.ExperimentListFile, DbLines.Join(keep), _db.Config.FileMode);
            return removed;
        }

        /// <summary>
        /// Records runs as processed, one line each in the original format, local time. Runs already
        /// recorded (processed or archived) are skipped. Returns the runs appended.
        /// </summary>
        public IReadOnlyList<int> AppendProcessed(string experiment, IEnumerable<int> runs, string command, DateTime? time = null, string? cwd = null)
        {
            _db.Exp(experiment);
            var list = runs.Select(Names.ValidateRun).Distinct().ToList();
            var local = time is { } t ? (t.Kind == DateTimeKind.Utc ? t.ToLocalTime() : t) : DateTime.Now;
            var login = Environment.UserName;
            var host = Environment.MachineName;
            var dir = cwd ?? Environment.CurrentDirectory;
            var done = _db.ReadDoneRuns(experiment);
            var add = list.Where(r => !done.Contains(r)).ToList();
            if (add.Count == 0)
                return add;
            SafeFile.EnsureDirectory(_db.InstrumentDirectory(experiment), _db.Config.DirectoryMode);
            SafeFile.AppendLines(_db.ProcessedFile(experiment), add.Select(r => ProcRecord.Format(r, local, login, host, dir, command)), _db.Config.FileMode);
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
            var set = runs.Select(Names.ValidateRun).ToHashSet();
            var file = _db.ProcessedFile(experiment);
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
            var archive = _db.ArchiveFile(experiment);
            var old = DbLines.Read(archive);
            var existing = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < (old?.Count ?? 0); i++)
                existing.Add(Convert.ToBase64String(WithoutCr(old!.Raw(i))));
            SafeFile.AppendLines(archive, movedRaw.Where(r => existing.Add(Convert.ToBase64String(r))), _db.Config.FileMode);
            SafeFile.WriteAllBytesAtomic(file, DbLines.Join(keep), _db.Config.FileMode);
            return moved.Select(m => new ProcRecord
            {
                Run = m.Run, Time = m.Time, Login = m.Login, Host = m.Host, Cwd = m.Cwd, Command = m.Command,
                Line = m.Line, File = archive, LineNumber = 0, State = RecordState.Archived,
            }).ToList();
        }
    }
}
