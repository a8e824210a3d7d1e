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
/// per shard of an instrument's experiments (a cycle rewrites only the shards that changed). Which
/// record files exist comes from one listing of the DB instrument directory per scan
/// (<see cref="RecordFileSet"/>), so only existing record files are stat'ed.
/// An entry is used only when every stamp is unchanged and the files were last written more than
/// the timestamp granularity before they were read (a same-size rewrite in the same tick would
/// otherwise be missed). Files with malformed lines are never cached, so their warnings repeat.
/// A corrupt cache file is ignored.
/// </summary>
internal sealed class DoneRunCache
{
    private const uint Magic = 0x43445052; // "RPDC"
    private const int Version = 8; // 8: stamps from the DB directory's listing and statx (no directory sightings); compact runs
    private const int HeaderSize = 16;
    // Entries are small (runs as ranges), so few shards: fewer files to open on every scan.
    private const int Shards = 4;

    private readonly Dictionary<string, Shard> _shards = new(StringComparer.Ordinal);

    private readonly string _directory;
    private readonly int _fileMode;
    private readonly int _directoryMode;
    private readonly List<string> _loadMessages = new();

    // Experiments are scanned concurrently: one lock over the tables (never held across a record file's stat).
    private readonly object _gate = new();

    public DoneRunCache(string directory, int fileMode, int directoryMode, TimeSpan granularity)
    {
        _directory = directory;
        _fileMode = fileMode;
        _directoryMode = directoryMode;
        Granularity = granularity;
    }

    public TimeSpan Granularity { get; }

    /// <summary>Corrupt or unreadable cache files met so far (each was ignored).</summary>
    public IReadOnlyList<string> LoadMessages => _loadMessages;

    private sealed record Entry(FileStamp[] Stamps, long ReadAtTicks, int[] Runs)
    {
        /// <summary>The experiment's runs that were not done, with their files, as of a trusted listing (null: not known).</summary>
        public ExperimentScan? Pending { get; set; }
    }

    private sealed class Shard
    {
        // Read by every scan thread without a lock; written by few (under the gate).
        public System.Collections.Concurrent.ConcurrentDictionary<string, Entry> Entries { get; } = new(StringComparer.Ordinal);
        public volatile bool Dirty;
    }

    /// <summary>Whether an entry for the experiment exists (else its record files are read without stamping them first).</summary>
    public bool Has(string experiment) => Find(experiment) is not null;

    /// <summary>The cached sorted run numbers if the files still carry <paramref name="stamps"/> and are old enough.</summary>
    public int[]? TryGet(string experiment, FileStamp[] stamps)
    {
        var e = Find(experiment);
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

    public void Put(string experiment, FileStamp[] stamps, long readAtTicks, int[] sortedRuns)
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
    public ExperimentScan? TryGetPending(string experiment, FileStamp[] stamps)
    {
        return TryGet(experiment, stamps) is null ? null : Find(experiment)!.Pending;
    }

    /// <summary>Remembers the not-done runs next to the done set read with <paramref name="stamps"/>.</summary>
    public void SetPending(string experiment, FileStamp[] stamps, ExperimentScan pending)
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
        try
        {
            if (_shards.Values.Any(s => s.Dirty))
            {
                if (File.Exists(_directory))
                    File.Delete(_directory); // the single-file cache of an earlier RunProc version
                SafeFile.EnsureDirectory(_directory, _directoryMode);
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

    // Experiment -> its shard: a scan asks several times per experiment, the key is computed once.
    // Looked up without a lock; a shard is loaded (and the map written) under the gate.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Shard> _shardOf = new(StringComparer.Ordinal);

    private Shard ShardFor(string experiment)
    {
        if (_shardOf.TryGetValue(experiment, out var known))
            return known;
        lock (_gate)
        {
            if (_shardOf.TryGetValue(experiment, out known))
                return known;
            var shard = ShardByKey(experiment);
            _shardOf[experiment] = shard;
            return shard;
        }
    }

    private Shard ShardByKey(string experiment)
    {
        var key = KeyOf(experiment);
        if (_shards.TryGetValue(key, out var shard))
            return shard;
        shard = new Shard();
        var path = Path.Join(_directory, key + ".cache");
        try
        {
            if (SafeFile.ReadAllBytes(path) is { } bytes)
                Load(bytes, key, shard);
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
        w.SealChecksum(8, HeaderSize);
        CacheCodec.WriteAtomic(path, w.Written, _fileMode);
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
            var stamps = new FileStamp[r.Count()];
            for (var k = 0; k < stamps.Length; k++)
                stamps[k] = new FileStamp(r.U8() != 0, r.I64(), r.I64());
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
