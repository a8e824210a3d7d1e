using System.Buffers.Binary;
using RunProc.Catalog;
using RunProc.IO;

namespace RunProc.Db;

/// <summary>
/// Remembers, per experiment, the processed+archived run numbers together with the size and mtime
/// of the three record files they were read from, so an incremental Get-PendingRun stats those files
/// instead of reading them; and the runs that were not done then, with their files, so an
/// experiment whose run directory and records are both unchanged costs two stats and no listing or
/// catalog cache load at all. Stored in <c>&lt;DbRoot&gt;/&lt;proc&gt;/.done-cache/</c>: one small file
/// per shard of an instrument's experiments (a cycle rewrites only the shards that changed) and one
/// for the instrument directory sightings.
/// An entry is used only when every stamp is unchanged and the files were last written more than
/// the timestamp granularity before they were read (a same-size rewrite in the same tick would
/// otherwise be missed). Files with malformed lines are never cached, so their warnings repeat.
/// A corrupt cache file is ignored.
/// </summary>
internal sealed class DoneRunCache
{
    private const uint Magic = 0x43445052; // "RPDC"
    private const int Version = 6; // 6: runs listed but not stat'ed (RunRecord.NotStatted)
    private const int HeaderSize = 16;
    // Entries are small (runs as ranges), so few shards: fewer files to open on every scan.
    private const int Shards = 4;
    private const string DirsFile = "dirs.cache";

    private readonly Dictionary<string, Shard> _shards = new(StringComparer.Ordinal);

    // DB instrument directories: mtime and when it was seen, as stored, and as seen by this query.
    private readonly Dictionary<string, (long Mtime, long SeenAt)> _dirs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Mtime, long SeenAt)> _dirsNow = new(StringComparer.Ordinal);
    private readonly string _directory;
    private readonly int _fileMode;
    private readonly int _directoryMode;
    private readonly List<string> _loadMessages = new();
    private bool _dirsDirty;

    // Experiments are scanned concurrently: one lock over the tables (never held across a record file's stat).
    private readonly object _gate = new();

    public DoneRunCache(string directory, int fileMode, int directoryMode, TimeSpan granularity)
    {
        _directory = directory;
        _fileMode = fileMode;
        _directoryMode = directoryMode;
        Granularity = granularity;
        var path = Path.Join(directory, DirsFile);
        try
        {
            if (File.Exists(path))
            {
                var r = Open(File.ReadAllBytes(path));
                var n = r.Count();
                for (var i = 0; i < n; i++)
                    _dirs[r.Str()] = (r.I64(), r.I64());
                if (!r.AtEnd)
                    throw new InvalidDataException("trailing data");
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or OverflowException)
        {
            _dirs.Clear();
            _loadMessages.Add($"Ignoring record cache '{path}': {ex.Message}");
        }
    }

    public TimeSpan Granularity { get; }

    /// <summary>Corrupt or unreadable cache files met so far (each was ignored).</summary>
    public IReadOnlyList<string> LoadMessages => _loadMessages;

    internal readonly record struct Stamp(bool Exists, long Length, long MtimeTicks)
    {
        public static Stamp Of(string path)
        {
            var fi = new FileInfo(path);
            return fi.Exists ? new Stamp(true, fi.Length, fi.LastWriteTimeUtc.Ticks) : default;
        }
    }

    private sealed record Entry(Stamp[] Stamps, long ReadAtTicks, int[] Runs)
    {
        /// <summary>The experiment's runs that were not done, with their files, as of a trusted listing (null: not known).</summary>
        public ExperimentScan? Pending { get; set; }
    }

    private sealed class Shard
    {
        public Dictionary<string, Entry> Entries { get; } = new(StringComparer.Ordinal);
        public bool Dirty { get; set; }
    }

    /// <summary>
    /// The current stamps of an experiment's record files. When their directory is unchanged since
    /// the entry was made (no file created, removed or renamed in it), files that did not exist
    /// then still do not, so only the existing ones are stat'ed.
    /// </summary>
    public Stamp[] StampsOf(string experiment, string directory, string[] files)
    {
        Entry? e;
        bool trusted;
        lock (_gate)
        {
            var unchanged = DirectoryUnchanged(directory, out var dirMtime); // always: records this query's sighting
            e = Find(experiment);
            // The entry's "does not exist" is still true only if it was seen after the directory's last change.
            trusted = unchanged && e is not null && e.Stamps.Length == files.Length && e.ReadAtTicks - dirMtime > Granularity.Ticks;
        }
        var stamps = new Stamp[files.Length];
        for (var i = 0; i < files.Length; i++)
            stamps[i] = trusted && !e!.Stamps[i].Exists ? default : Stamp.Of(files[i]);
        return stamps;
    }

    private bool DirectoryUnchanged(string directory, out long mtime)
    {
        if (!_dirsNow.TryGetValue(directory, out var now))
        {
            var seenAt = DateTime.UtcNow.Ticks;
            var di = new DirectoryInfo(directory);
            _dirsNow[directory] = now = (di.Exists ? di.LastWriteTimeUtc.Ticks : 0, seenAt);
            if (!_dirs.TryGetValue(directory, out var old) || old.Mtime != now.Mtime || !Trusted(old))
                _dirsDirty = true;
        }
        mtime = now.Mtime;
        return now.Mtime != 0 && _dirs.TryGetValue(directory, out var then) && then.Mtime == now.Mtime && Trusted(then);
    }

    private bool Trusted((long Mtime, long SeenAt) d) => d.SeenAt - d.Mtime > Granularity.Ticks;

    /// <summary>The cached sorted run numbers if the files still carry <paramref name="stamps"/> and are old enough.</summary>
    public int[]? TryGet(string experiment, Stamp[] stamps)
    {
        Entry? e;
        lock (_gate)
            e = Find(experiment);
        if (e is null || e.Stamps.Length != stamps.Length)
            return null;
        for (var i = 0; i < stamps.Length; i++)
        {
            if (e.Stamps[i] != stamps[i])
                return null;
            if (stamps[i].Exists && e.ReadAtTicks - stamps[i].MtimeTicks <= Granularity.Ticks)
                return null;
        }
        return e.Runs;
    }

    public void Put(string experiment, Stamp[] stamps, long readAtTicks, int[] sortedRuns)
    {
        lock (_gate)
        {
            var shard = ShardFor(experiment);
            shard.Entries[experiment] = new Entry(stamps, readAtTicks, sortedRuns);
            shard.Dirty = true;
        }
    }

    /// <summary>
    /// The remembered not-done runs of an experiment, valid while its record files keep
    /// <paramref name="stamps"/> (same rules as <see cref="TryGet"/>); the caller still checks the
    /// listing itself (directory mtime, not-ready runs) with <see cref="RunCatalog.Reusable"/>.
    /// </summary>
    public ExperimentScan? TryGetPending(string experiment, Stamp[] stamps)
    {
        if (TryGet(experiment, stamps) is null)
            return null;
        lock (_gate)
            return Find(experiment)!.Pending;
    }

    /// <summary>Remembers the not-done runs next to the done set read with <paramref name="stamps"/>.</summary>
    public void SetPending(string experiment, Stamp[] stamps, ExperimentScan pending)
    {
        lock (_gate)
        {
            var shard = ShardFor(experiment);
            if (shard.Entries.TryGetValue(experiment, out var e) && e.Stamps.AsSpan().SequenceEqual(stamps))
            {
                e.Pending = pending;
                shard.Dirty = true;
            }
        }
    }

    /// <summary>An entry's pending runs were re-checked and changed: save its shard again.</summary>
    public void MarkDirty(string experiment)
    {
        lock (_gate)
            ShardFor(experiment).Dirty = true;
    }

    public void Save(Action<string>? verbose)
    {
        lock (_gate)
            SaveUnderLock(verbose);
    }

    private void SaveUnderLock(Action<string>? verbose)
    {
        foreach (var (dir, now) in _dirsNow)
            if (!_dirs.TryGetValue(dir, out var old) || old.Mtime != now.Mtime || !Trusted(old))
                _dirs[dir] = now;
        try
        {
            if (_dirsDirty || _shards.Values.Any(s => s.Dirty))
            {
                if (File.Exists(_directory))
                    File.Delete(_directory); // the single-file cache of an earlier RunProc version
                SafeFile.EnsureDirectory(_directory, _directoryMode);
            }
            if (_dirsDirty)
            {
                var w = Header();
                w.I32(_dirs.Count);
                foreach (var (dir, d) in _dirs)
                {
                    w.Str(dir);
                    w.I64(d.Mtime);
                    w.I64(d.SeenAt);
                }
                Write(Path.Join(_directory, DirsFile), w);
                _dirsDirty = false;
            }
            foreach (var (key, shard) in _shards)
            {
                if (!shard.Dirty)
                    continue;
                var w = Header();
                w.Str(key);
                w.I32(shard.Entries.Count);
                foreach (var (exp, e) in shard.Entries)
                {
                    w.Str(exp);
                    w.I64(e.ReadAtTicks);
                    w.I32(e.Stamps.Length);
                    foreach (var s in e.Stamps)
                    {
                        w.U8(s.Exists ? (byte)1 : (byte)0);
                        w.I64(s.Length);
                        w.I64(s.MtimeTicks);
                    }
                    WriteRanges(w, e.Runs);
                    w.U8(e.Pending is null ? (byte)0 : (byte)1);
                    if (e.Pending is not null)
                        CacheCodec.WriteScan(w, e.Pending);
                }
                Write(Path.Join(_directory, key + ".cache"), w);
                shard.Dirty = false;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            verbose?.Invoke($"Could not write the record cache in '{_directory}': {ex.Message} (records are read again next time).");
        }
    }

    private static string KeyOf(string experiment)
    {
        var h = 2166136261u;
        foreach (var c in experiment)
            h = (h ^ c) * 16777619u;
        return $"{Names.InstrumentOf(experiment)}-{h % Shards:D2}";
    }

    private Entry? Find(string experiment) => ShardFor(experiment).Entries.GetValueOrDefault(experiment);

    private Shard ShardFor(string experiment)
    {
        var key = KeyOf(experiment);
        if (_shards.TryGetValue(key, out var shard))
            return shard;
        shard = new Shard();
        var path = Path.Join(_directory, key + ".cache");
        try
        {
            if (File.Exists(path))
                Load(File.ReadAllBytes(path), key, shard);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or OverflowException)
        {
            shard.Entries.Clear();
            _loadMessages.Add($"Ignoring record cache '{path}': {ex.Message}");
        }
        _shards[key] = shard;
        return shard;
    }

    private static CacheWriter Header()
    {
        var w = new CacheWriter();
        w.U32(Magic);
        w.I32(Version);
        w.I64(0); // checksum, filled in by Write
        return w;
    }

    private void Write(string path, CacheWriter w)
    {
        var bytes = w.ToArray();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), CacheCodec.Checksum(bytes.AsSpan(HeaderSize)));
        CacheCodec.WriteAtomic(path, bytes, _fileMode);
    }

    private static CacheReader Open(byte[] data)
    {
        var r = new CacheReader(data);
        if (data.Length < HeaderSize || r.U32() != Magic || r.I32() != Version)
            throw new InvalidDataException("not a RunProc record cache of this version");
        if ((ulong)r.I64() != CacheCodec.Checksum(data.AsSpan(HeaderSize)))
            throw new InvalidDataException("checksum mismatch");
        return r;
    }

    /// <summary>Sorted run numbers as (first, count) ranges: processed runs are mostly contiguous.</summary>
    private static void WriteRanges(CacheWriter w, int[] runs)
    {
        var ranges = new List<(int First, int Count)>();
        foreach (var r in runs)
        {
            if (ranges.Count > 0 && ranges[^1].First + ranges[^1].Count == r)
                ranges[^1] = (ranges[^1].First, ranges[^1].Count + 1);
            else
                ranges.Add((r, 1));
        }
        w.I32(ranges.Count);
        foreach (var (first, count) in ranges)
        {
            w.I32(first);
            w.I32(count);
        }
    }

    private static int[] ReadRanges(CacheReader r)
    {
        var n = r.Count();
        var runs = new List<int>();
        var last = -1;
        for (var i = 0; i < n; i++)
        {
            var first = r.I32();
            var count = r.I32();
            if (count < 1 || first <= last || !Names.IsRun(first) || !Names.IsRun(checked(first + count - 1)))
                throw new InvalidDataException("bad run range");
            for (var k = 0; k < count; k++)
                runs.Add(first + k);
            last = first + count - 1;
        }
        return runs.ToArray();
    }

    private static void Load(byte[] data, string key, Shard shard)
    {
        var r = Open(data);
        if (r.Str() != key)
            throw new InvalidDataException("cache of another shard");
        var n = r.Count();
        for (var i = 0; i < n; i++)
        {
            var exp = r.Str();
            if (!Names.IsExperiment(exp) || KeyOf(exp) != key)
                throw new InvalidDataException("bad experiment name");
            var readAt = r.I64();
            var stamps = new Stamp[r.Count()];
            for (var k = 0; k < stamps.Length; k++)
                stamps[k] = new Stamp(r.U8() != 0, r.I64(), r.I64());
            var entry = new Entry(stamps, readAt, ReadRanges(r));
            if (r.U8() != 0)
            {
                entry.Pending = CacheCodec.ReadScan(r, null);
                if (entry.Pending.Experiment != exp)
                    throw new InvalidDataException("pending runs of another experiment");
            }
            shard.Entries[exp] = entry;
        }
        if (!r.AtEnd)
            throw new InvalidDataException("trailing data");
    }
}
