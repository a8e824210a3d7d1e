using System.Buffers.Binary;
using RunProc.Catalog;
using RunProc.IO;

namespace RunProc.Db;

/// <summary>
/// Remembers, per experiment, the processed+archived run numbers together with the size and mtime
/// of the three record files they were read from, so an incremental Get-PendingRun stats those files
/// instead of reading them; and the runs that were not done then, with their files, so an
/// experiment whose run directory and records are both unchanged costs two stats and no listing or
/// catalog cache load at all. Stored in <c>&lt;DbRoot&gt;/&lt;proc&gt;/.done-cache/records.cache</c>: one
/// file for every instrument (a cycle that changed something rewrites it; entries it did not use are
/// copied as loaded, see <see cref="Entry"/>). Which
/// record files exist comes from one listing of the DB instrument directory per scan
/// (<see cref="RecordFileSet"/>), so only existing record files are stat'ed.
/// An entry is used only when every stamp is unchanged and the files were last written more than
/// the timestamp granularity before they were read (a same-size rewrite in the same tick would
/// otherwise be missed). Files with malformed lines are never cached, so their warnings repeat.
/// A corrupt cache file is ignored. A save that changed only some entries appends them to the
/// file's journal (<see cref="CacheJournal"/>) until it has grown to a quarter of the file.
/// </summary>
internal sealed class DoneRunCache : IDisposable
{
    private const uint Magic = 0x43445052; // "RPDC"
    private const int Version = 11; // 11: with a journal (CacheJournal); 10: one file for every instrument; 9: done runs kept as ranges, pending scans length-prefixed (decoded on first use)
    private const int HeaderSize = 16;
    // Entries are small (runs as ranges, pending runs copied as loaded: some 24 bytes an experiment
    // and 20 a pending run), so one file for all: every file written is a new inode (temp file,
    // then rename; 0.1-0.6 ms on ext4 here), and with one an instrument the 10 experiments a cycle
    // typically finds changed were in 6 or 7 files.
    private const string FileKey = "records";

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

    /// <summary>Cache files taken as this process's last scan left them (<see cref="WarmCacheFiles"/>), not read again.</summary>
    public int WarmLoads { get; private set; }

    /// <summary>Corrupt or unreadable cache files met so far (each was ignored).</summary>
    public IReadOnlyList<string> LoadMessages => _loadMessages;

    /// <summary>
    /// One experiment's entry. A loaded entry keeps its done runs as ranges and its pending runs as
    /// the bytes of the cache file, decoded on first use: an incremental scan of an unchanged
    /// experiment needs neither (only the stamps), so loading 1,000 entries costs no per-run work.
    /// </summary>
    private sealed class Entry(FileStamp[] stamps, long readAtTicks)
    {
        private int[]? _runs;
        private int[]? _ranges; // (first, count) pairs, validated at load
        private ExperimentScan? _pending;
        private byte[]? _pendingData; // the cache file's bytes, with the pending scan at _pendingAt
        private int _pendingAt;

        public FileStamp[] Stamps { get; } = stamps;
        public long ReadAtTicks { get; } = readAtTicks;

        public static Entry Of(FileStamp[] stamps, long readAtTicks, int[] sortedRuns) => new(stamps, readAtTicks) { _runs = sortedRuns };

        public static Entry Loaded(FileStamp[] stamps, long readAtTicks, int[] ranges) => new(stamps, readAtTicks) { _ranges = ranges };

        /// <summary>The sorted done runs (expanded from the ranges on first use; a race only expands twice).</summary>
        public int[] Runs => _runs ??= Expand(_ranges!);

        /// <summary>The experiment's runs that were not done, with their files, as of a trusted listing (null: not known).</summary>
        public ExperimentScan? Pending
        {
            get
            {
                if (_pending is null && Volatile.Read(ref _pendingData) is { } data)
                {
                    try
                    {
                        var len = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(_pendingAt - 4));
                        var r = new CacheReader(data, _pendingAt, _pendingAt + len);
                        _pending = CacheCodec.ReadScan(r, null);
                        if (!r.AtEnd)
                            _pending = null;
                    }
                    catch (Exception ex) when (ex is InvalidDataException or OverflowException or ArgumentException)
                    {
                        // The checksum held, so only a writer's bug gets here: the memo is not used.
                        _pending = null;
                        Volatile.Write(ref _pendingData, null);
                    }
                }
                return _pending;
            }
            set
            {
                _pending = value;
                Volatile.Write(ref _pendingData, null);
            }
        }

        /// <summary>
        /// The decoded pending scan was changed in place (re-stat'ed runs): it is encoded again at the
        /// save. Until then a decoded scan is written back as the bytes it was loaded from (a cycle
        /// uses every unchanged experiment's memo, and re-encoding them all was most of its save).
        /// </summary>
        public void Changed()
        {
            if (_pending is not null)
                Volatile.Write(ref _pendingData, null);
        }

        public void SetPendingBytes(byte[] data, int at)
        {
            _pendingAt = at;
            Volatile.Write(ref _pendingData, data);
        }

        /// <summary>The ranges to write (from the loaded ones when the runs were never expanded).</summary>
        public int[] Ranges => _runs is null ? _ranges! : ToRanges(_runs);

        /// <summary>The pending scan's bytes as loaded, unless it was set or changed since (then it is encoded again).</summary>
        public ReadOnlySpan<byte> UndecodedPending(out bool has)
        {
            var data = Volatile.Read(ref _pendingData);
            has = data is not null || _pending is not null;
            if (data is null)
                return default;
            var len = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(_pendingAt - 4));
            return data.AsSpan(_pendingAt, len);
        }
    }

    private sealed class Shard : JournaledCacheFile
    {
        // Read by every scan thread without a lock; written by few (under the gate).
        public System.Collections.Concurrent.ConcurrentDictionary<string, Entry> Entries { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>Whether an entry for the experiment exists (else its record files are read without stamping them first).</summary>
    public bool Has(string experiment) => Find(experiment) is not null;

    /// <summary>The cached sorted run numbers if the files still carry <paramref name="stamps"/> and are old enough.</summary>
    public int[]? TryGet(string experiment, FileStamp[] stamps) => Valid(experiment, stamps)?.Runs;

    /// <summary>The entry if the files still carry <paramref name="stamps"/> and are old enough (its runs not yet expanded).</summary>
    private Entry? Valid(string experiment, FileStamp[] stamps)
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
        return e;
    }

    public void Put(string experiment, FileStamp[] stamps, long readAtTicks, int[] sortedRuns)
    {
        lock (_gate)
        {
            var shard = ShardFor(experiment);
            shard.Entries[experiment] = Entry.Of(stamps, readAtTicks, sortedRuns);
            shard.Changed.Add(experiment);
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
        return Valid(experiment, stamps)?.Pending;
    }

    /// <summary>Remembers the not-done runs next to the done set read with <paramref name="stamps"/>.</summary>
    public void SetPending(string experiment, FileStamp[] stamps, ExperimentScan pending)
    {
        // Encoded here, outside the lock (on a full scan's scan threads, not in its serial save):
        // the length, then the scan, as the file holds it.
        var w = t_writer ??= new CacheWriter(4096);
        w.Clear();
        w.I32(0);
        CacheCodec.WriteScan(w, pending);
        w.PatchI32(0, w.Length - 4);
        var bytes = w.Written.ToArray();
        lock (_gate)
        {
            var shard = ShardFor(experiment);
            if (shard.Entries.TryGetValue(experiment, out var e) && e.Stamps.AsSpan().SequenceEqual(stamps))
            {
                e.Pending = pending;
                e.SetPendingBytes(bytes, 4);
                shard.Changed.Add(experiment);
                shard.Dirty = true;
            }
        }
    }

    [ThreadStatic] private static CacheWriter? t_writer;

    /// <summary>An entry's pending runs were re-checked and changed: save its shard again.</summary>
    public void MarkDirty(string experiment)
    {
        lock (_gate)
        {
            var shard = ShardFor(experiment);
            shard.Dirty = true;
            shard.Changed.Add(experiment);
            if (shard.Entries.TryGetValue(experiment, out var e))
                e.Changed();
        }
    }

    public void Save(Action<string>? verbose)
    {
        lock (_gate)
            SaveUnderLock(verbose);
    }

    private void SaveUnderLock(Action<string>? verbose)
    {
        // A shard first asked for after a save opens the (perhaps new) directory again.
        _dir?.Dispose();
        _dir = null;
        _dirOpened = false;
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
                shard.Save(_directory, key + ".cache", Version, _fileMode,
                    exp => shard.Entries.TryGetValue(exp, out var e) ? w => WriteEntry(w, exp, e) : null,
                    () =>
                    {
                        var w = Header();
                        w.Str(key);
                        w.I64((long)shard.Id);
                        w.I32(shard.Entries.Count);
                        foreach (var (exp, e) in shard.Entries)
                            WriteEntry(w, exp, e);
                        return w;
                    },
                    Write);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            verbose?.Invoke($"Could not write the record cache in '{_directory}': {ex.Message} (records are read again next time).");
        }
        // What is on disk now is what these shards hold: the next scan in this process starts from them.
        if (OpenDirectoryOrNull() is { } dir)
            foreach (var (key, shard) in _shards)
                shard.KeepWarm(dir, key + ".cache");
        _dir?.Dispose();
        _dir = null;
        _dirOpened = false;
    }

    internal static string KeyOf(string experiment) => FileKey;

    /// <summary>One entry as the file (and a journal record) holds it.</summary>
    private static void WriteEntry(CacheWriter w, string exp, Entry e)
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
        WriteRanges(w, e.Ranges);
        // The pending scan with its length, so a load can skip it (decoded on first use).
        var undecoded = e.UndecodedPending(out var has);
        w.U8(has ? (byte)1 : (byte)0);
        if (has)
        {
            var lengthAt = w.Length;
            w.I32(0);
            if (!undecoded.IsEmpty)
                w.Raw(undecoded);
            else
                CacheCodec.WriteScan(w, e.Pending!);
            w.PatchI32(lengthAt, w.Length - lengthAt - 4);
        }
    }

    /// <summary>One entry (see <see cref="WriteEntry"/>), checked; its pending scan stays in <paramref name="data"/> until used.</summary>
    private static (string Experiment, Entry Entry) ReadEntry(CacheReader r, byte[] data, string key)
    {
        var exp = r.Str();
        if (!Names.IsExperiment(exp) || KeyOf(exp) != key)
            throw new InvalidDataException("bad experiment name");
        var readAt = r.I64();
        var stamps = new FileStamp[r.Count()];
        for (var k = 0; k < stamps.Length; k++)
            stamps[k] = new FileStamp(r.U8() != 0, r.I64(), r.I64());
        var entry = Entry.Loaded(stamps, readAt, ReadRanges(r));
        if (r.U8() != 0)
        {
            // Skipped now, decoded when an unchanged experiment's memo is used; its experiment checked here.
            var length = r.Count();
            var at = r.Position;
            if (length > r.Remaining || !CacheCodec.IsScanOf(r.Raw(length), exp))
                throw new InvalidDataException("pending runs of another experiment");
            entry.SetPendingBytes(data, at);
        }
        return (exp, entry);
    }

    /// <summary>Applies the journal of the loaded file (its entries replace the file's); a bad one makes the next save write the whole file.</summary>
    private void ApplyJournal(string key, Shard shard)
    {
        byte[]? data;
        try
        {
            data = _dir is not null && _dir.TryRead(key + ".journal", out var content, out _) ? content.AsSpan().ToArray() : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _loadMessages.Add($"Ignoring record cache journal '{Path.Join(_directory, key + ".journal")}': {ex.Message}");
            shard.Rewrite = true;
            return;
        }
        if (data is null)
            return;
        shard.JournalBytes = data.Length;
        var records = CacheJournal.Read(data, Version, shard.Id, out var damaged);
        foreach (var (at, length) in records)
        {
            try
            {
                var r = new CacheReader(data, at, at + length);
                var (exp, entry) = ReadEntry(r, data, key);
                if (!r.AtEnd)
                    throw new InvalidDataException("trailing data");
                shard.Entries[exp] = entry;
            }
            catch (Exception ex) when (ex is InvalidDataException or OverflowException or ArgumentException)
            {
                damaged = true;
                break;
            }
        }
        if (damaged)
            shard.Rewrite = true;
    }

    private Entry? Find(string experiment) => ShardFor(experiment).Entries.GetValueOrDefault(experiment);

    // The shard: one for every experiment (see FileKey), so a scan asking several times per
    // experiment needs no lookup. Read without a lock; loaded (and set) under the gate.
    private Shard? _only;

    private Shard ShardFor(string experiment)
    {
        if (Volatile.Read(ref _only) is { } only)
            return only;
        lock (_gate)
        {
            var shard = ShardByKey(experiment);
            Volatile.Write(ref _only, shard);
            return shard;
        }
    }

    private Shard ShardByKey(string experiment)
    {
        var key = KeyOf(experiment);
        if (_shards.TryGetValue(key, out var shard))
            return shard;
        var path = Path.Join(_directory, key + ".cache");
        // As this process left it after its last scan, if nothing wrote the file or its journal since.
        if (OpenDirectoryOrNull() is { } dir && JournaledCacheFile.TakeWarm<Shard>(dir, key + ".cache") is { } warm)
        {
            WarmLoads++;
            _shards[key] = warm;
            return warm;
        }
        shard = new Shard();
        try
        {
            if (ReadShardFile(key + ".cache") is { } bytes)
            {
                Load(bytes, key, shard);
                shard.Existed = true;
                shard.FileBytes = bytes.Length;
                ApplyJournal(key, shard);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or OverflowException)
        {
            shard.Entries.Clear();
            shard.Id = 0;
            _loadMessages.Add($"Ignoring record cache '{path}': {ex.Message}");
        }
        _shards[key] = shard;
        return shard;
    }

    // The cache directory, opened (checked, no link on the way) once for all its shards: a scan reads
    // 40 of them, and a checked open of each path walked the DB tree again (four opens a file).
    private DbDirectory? _dir;
    private bool _dirOpened;

    /// <summary>The cache directory (opened once); null when it does not exist or cannot be opened. Called under the gate.</summary>
    private DbDirectory? OpenDirectoryOrNull()
    {
        try
        {
            OpenDirectory();
            return _dir;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null; // the read that follows reports it
        }
    }

    private void OpenDirectory()
    {
        if (!_dirOpened)
        {
            _dirOpened = true;
            _dir = DbDirectory.Open(_directory);
        }
    }

    /// <summary>A shard file's bytes, or null when it (or the cache directory) does not exist. Called under the gate.</summary>
    private byte[]? ReadShardFile(string name)
    {
        OpenDirectory();
        return _dir is not null && _dir.TryRead(name, out var content, out _) ? content.AsSpan().ToArray() : null;
    }

    /// <summary>Closes the cache directory (the entries stay usable; a later shard is then opened by path again).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _dir?.Dispose();
            _dir = null;
            _dirOpened = false;
        }
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

    /// <summary>Sorted run numbers as (first, count) pairs: processed runs are mostly contiguous.</summary>
    private static int[] ToRanges(int[] runs)
    {
        var ranges = new List<int>();
        foreach (var r in runs)
        {
            if (ranges.Count > 0 && ranges[^2] + ranges[^1] == r)
                ranges[^1]++;
            else
            {
                ranges.Add(r);
                ranges.Add(1);
            }
        }
        return ranges.ToArray();
    }

    private static void WriteRanges(CacheWriter w, int[] ranges)
    {
        w.I32(ranges.Length / 2);
        foreach (var v in ranges)
            w.I32(v);
    }

    /// <summary>The (first, count) pairs, validated (ascending, disjoint, every run in range); not expanded.</summary>
    private static int[] ReadRanges(CacheReader r)
    {
        var n = r.Count();
        if (n > r.Remaining / 8)
            throw new InvalidDataException("bad run range count");
        var ranges = new int[2 * n];
        var last = -1;
        for (var i = 0; i < n; i++)
        {
            var first = r.I32();
            var count = r.I32();
            if (count < 1 || first <= last || !Names.IsRun(first) || !Names.IsRun(checked(first + count - 1)))
                throw new InvalidDataException("bad run range");
            ranges[2 * i] = first;
            ranges[2 * i + 1] = count;
            last = first + count - 1;
        }
        return ranges;
    }

    private static int[] Expand(int[] ranges)
    {
        var total = 0;
        for (var i = 1; i < ranges.Length; i += 2)
            total += ranges[i];
        var runs = new int[total];
        var k = 0;
        for (var i = 0; i < ranges.Length; i += 2)
            for (var c = 0; c < ranges[i + 1]; c++)
                runs[k++] = ranges[i] + c;
        return runs;
    }

    private static void Load(byte[] data, string key, Shard shard)
    {
        var r = Open(data);
        if (r.Str() != key)
            throw new InvalidDataException("cache of another shard");
        shard.Id = (ulong)r.I64();
        var n = r.Count();
        for (var i = 0; i < n; i++)
        {
            var (exp, entry) = ReadEntry(r, data, key);
            shard.Entries[exp] = entry;
        }
        if (!r.AtEnd)
            throw new InvalidDataException("trailing data");
    }
}
