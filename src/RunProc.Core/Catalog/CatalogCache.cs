using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Numerics;
using System.Text;
using RunProc.Config;
using RunProc.IO;

namespace RunProc.Catalog;

/// <summary>
/// The incremental scan cache: the last listing of every experiment's run directory, in one file
/// (<see cref="FileName"/>) under <c>&lt;DbRoot&gt;/.catalog-cache/</c>, each listing decoded only when used. A listing is reused only when the
/// directory's mtime is unchanged AND the listing began more than <see cref="TimestampGranularity"/>
/// after that mtime (otherwise a change in the same timestamp tick would be invisible). Runs that
/// are not ready are re-stat'ed on every use. Files are written atomically and carry a checksum;
/// a missing, foreign or corrupt file is ignored (everything is listed again). A save that changed
/// only some listings appends them to the file's journal (<see cref="CacheJournal"/>) instead,
/// until the journal has grown to a quarter of the file; then the file is written again.
/// </summary>
public sealed class CatalogCache
{
    private const uint Magic = 0x43435052; // "RPCC"
    private const int Version = 10; // 10: with a journal (CacheJournal); 9: one file for every instrument (8: one an instrument); each listing length-prefixed (decoded on first use, written back as loaded)

    private readonly Dictionary<string, ShardEntries> _shards = new(StringComparer.Ordinal);
    private readonly int _fileMode;
    private readonly int _directoryMode;

    public CatalogCache(string directory, int fileMode = 0x1B4, int directoryMode = 0x5FD)
    {
        Directory = directory;
        _fileMode = fileMode;
        _directoryMode = directoryMode;
    }

    /// <summary>The cache of a configuration's DB tree: <c>&lt;DbRoot&gt;/.catalog-cache</c>.</summary>
    public static CatalogCache ForConfig(RunProcConfig config)
    {
        SafeFile.GuardTree(config.DbRoot);
        return new(RunProc.Db.ProcDbTree.CatalogCacheDirectory(config), config.FileMode, config.DirectoryMode);
    }

    public string Directory { get; }

    /// <summary>
    /// The coarsest directory timestamp granularity expected (2 s covers FAT and 1 s file systems;
    /// Linux local file systems tick at a few ms).
    /// </summary>
    public TimeSpan TimestampGranularity { get; set; } = DefaultTimestampGranularity;

    public static readonly TimeSpan DefaultTimestampGranularity = TimeSpan.FromSeconds(2);

    private int _hits, _misses;

    /// <summary>Experiments served from the cache / listed, since this object was created.</summary>
    public int Hits => Volatile.Read(ref _hits);
    public int Misses => Volatile.Read(ref _misses);

    /// <summary>Cache files taken as this process's last scan left them (<see cref="WarmCacheFiles"/>), not read again.</summary>
    public int WarmLoads { get; private set; }

    internal void CountHit() => Interlocked.Increment(ref _hits);
    internal void CountMiss() => Interlocked.Increment(ref _misses);

    // Experiments are scanned concurrently: one lock over the shard table (held only for lookups and a shard's first load).
    private readonly object _gate = new();

    /// <summary>Problems met while loading (corrupt or unreadable cache files), for a verbose message.</summary>
    public List<string> LoadMessages { get; } = new();

    private sealed class ShardEntries : JournaledCacheFile
    {
        public Dictionary<string, Slot> Scans { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>
    /// One experiment's listing: decoded, or (as loaded) the bytes of its block in the shard file,
    /// decoded on first use; or both, the bytes then being the listing's encoding (a new listing is
    /// encoded on the scan thread that made it, so the save only copies blocks). A scan that needs a few experiments of a shard decodes only those, and
    /// its save copies the others' blocks as they were.
    /// </summary>
    private sealed class Slot
    {
        public ExperimentScan? Scan;
        public byte[]? Data;
        public int At, Length;

        public ReadOnlySpan<byte> Block => Data.AsSpan(At, Length);
    }

    /// <summary>The slot's listing (decoded now if needed; a block that does not decode is dropped: the experiment is listed again).</summary>
    private ExperimentScan? Decoded(ShardEntries e, string experiment, Slot slot, string instrument)
    {
        if (slot.Scan is null && slot.Data is { } data)
        {
            try
            {
                var r = new CacheReader(data, slot.At, slot.At + slot.Length);
                var scan = CacheCodec.ReadScan(r, instrument);
                if (!r.AtEnd || scan.Experiment != experiment)
                    throw new InvalidDataException("bad listing block");
                slot.Scan = scan; // the block stays: it is the listing's encoding until MarkDirty

            }
            catch (Exception ex) when (ex is InvalidDataException or OverflowException or ArgumentException or FormatException)
            {
                e.Scans.Remove(SlotKey(instrument, experiment));
                e.Dirty = true;
                e.Rewrite = true;
                LoadMessages.Add($"Ignoring the scan cache's listing of {experiment}: {ex.Message}");
                return null;
            }
        }
        return slot.Scan;
    }

    /// <summary>
    /// The one cache file (its name without <c>.cache</c>). One file for all instruments: a listing
    /// that was not used is copied as loaded, so rewriting the file costs a copy of some 60 KB an
    /// instrument, while every file written is a new inode (temp file, then rename), which on ext4
    /// costs 0.1 to 0.6 ms here. With one file an instrument, the 10 experiments a cycle typically
    /// finds changed were in 6 or 7 files, and their creation was a large part of the cycle.
    /// </summary>
    public const string FileName = "listings";

    /// <summary>The cache file holding an experiment's listing (the same file for every experiment).</summary>
    public string FileOf(string instrument, string experiment) => Path.Join(Directory, ShardOf(instrument, experiment) + ".cache");

    private static string ShardOf(string instrument, string experiment) => FileName;

    // Listings are keyed by instrument and experiment: an experiment's directory may be found under
    // another configured instrument than the one it was listed under.
    private static string SlotKey(string instrument, string experiment) => instrument + "/" + experiment;

    internal ExperimentScan? TryGet(string instrument, string experiment, string runDirectory)
    {
        lock (_gate)
        {
            var e = Entries(instrument, experiment);
            return e.Scans.TryGetValue(SlotKey(instrument, experiment), out var slot) && Decoded(e, experiment, slot, instrument) is { } s && s.Directory == runDirectory ? s : null;
        }
    }

    internal void Put(string instrument, ExperimentScan scan)
    {
        // Encoded here, outside the lock: on the scan threads of a full scan, not in its serial save.
        var w = t_writer ??= new CacheWriter(4096);
        w.Clear();
        CacheCodec.WriteScan(w, scan);
        var block = w.Written.ToArray();
        lock (_gate)
        {
            var e = Entries(instrument, scan.Experiment);
            var key = SlotKey(instrument, scan.Experiment);
            e.Scans[key] = new Slot { Scan = scan, Data = block, Length = block.Length };
            e.Changed.Add(key);
            e.Dirty = true;
        }
    }

    internal void Remove(string instrument, string experiment)
    {
        lock (_gate)
        {
            var e = Entries(instrument, experiment);
            if (e.Scans.Remove(SlotKey(instrument, experiment)))
            {
                e.Dirty = true;
                e.Rewrite = true; // the journal has no removals
            }
        }
    }

    internal void MarkDirty(string instrument, string experiment)
    {
        lock (_gate)
        {
            var e = Entries(instrument, experiment);
            var key = SlotKey(instrument, experiment);
            e.Dirty = true;
            e.Changed.Add(key);
            // Changed in place: encoded again at the save.
            if (e.Scans.TryGetValue(key, out var slot) && slot.Scan is not null)
                slot.Data = null;
        }
    }

    /// <summary>
    /// Writes every changed instrument file (atomically). A failure to write (read-only DB tree) is
    /// reported to <paramref name="verbose"/> and otherwise ignored: the cache only saves time.
    /// </summary>
    public void Save(Action<string>? verbose = null)
    {
        // A read-only query must not create a missing DB root (that would hide a wrong DbRoot).
        var dbRoot = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(Directory)));
        if (dbRoot is not null && !System.IO.Directory.Exists(dbRoot))
            return;
        lock (_gate)
            SaveUnderLock(verbose);
    }

    private void SaveUnderLock(Action<string>? verbose)
    {
        // A shard first asked for after a save looks for the directory again.
        _dirExists = null;
        foreach (var (shard, e) in _shards)
        {
            if (!e.Dirty)
                continue;
            var path = Path.Join(Directory, shard + ".cache");
            try
            {
                SafeFile.EnsureDirectory(Directory, _directoryMode);
                e.Save(Directory, shard + ".cache", Version, _fileMode,
                    key => e.Scans.TryGetValue(key, out var slot) ? w => WriteBlock(w, slot) : null,
                    () => Serialize(shard, e), (p, w) => CacheCodec.WriteAtomic(p, w.Written, _fileMode));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                verbose?.Invoke($"Could not write the scan cache '{path}': {ex.Message} (the next scan lists everything again).");
            }
        }
        // What is on disk now is what these shards hold: the next scan in this process starts from them.
        // Kept as blocks, not as listings: a full scan decoded (or made) all of them, and kept
        // decoded they were some 30 MB of objects for every later collection to trace; the next
        // scan decodes only the few it needs, as it would after a load.
        using var dir = OpenDirectory();
        if (dir is null)
            return;
        foreach (var (shard, e) in _shards)
        {
            if (e.Dirty)
                continue;
            foreach (var slot in e.Scans.Values)
                if (slot.Data is not null)
                    slot.Scan = null;
            e.KeepWarm(dir, shard + ".cache");
        }
    }

    private ShardEntries Entries(string instrument, string experiment)
    {
        var shard = ShardOf(instrument, experiment);
        if (_shards.TryGetValue(shard, out var e))
            return e;
        var path = Path.Join(Directory, shard + ".cache");
        // As this process left it after its last scan, if nothing wrote the file or its journal since.
        using (var dir = OpenDirectory())
        {
            if (dir is not null && JournaledCacheFile.TakeWarm<ShardEntries>(dir, shard + ".cache") is { } warm)
            {
                WarmLoads++;
                _shards[shard] = warm;
                return warm;
            }
        }
        e = new ShardEntries();
        try
        {
            // Like every DB file (issue 13): no link followed, a regular file only, a non-blocking open.
            if (ReadShardFile(shard + ".cache") is { } bytes)
            {
                Deserialize(bytes, shard, e);
                e.Existed = true;
                e.FileBytes = bytes.Length;
                ApplyJournal(path, shard, e);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException
                                       or EndOfStreamException or ArgumentException or FormatException or OverflowException)
        {
            // A corrupt or unreadable cache only costs a full listing.
            e.Scans.Clear();
            e.Id = 0;
            LoadMessages.Add($"Ignoring scan cache '{path}': {ex.Message}");
        }
        _shards[shard] = e;
        return e;
    }

    // Whether the cache directory exists, checked once: a first (or cleared) full scan asks for 160
    // shards, and a checked open of each path walked the DB tree again under the lock that every
    // scan thread waits on. A directory made later (by this cache's save) is seen by the next cache.
    private bool? _dirExists;

    /// <summary>The cache directory, opened (checked, no link on the way); null when it does not exist or cannot be opened. Called under the gate.</summary>
    private RunProc.IO.DbDirectory? OpenDirectory()
    {
        if (_dirExists == false)
            return null;
        try
        {
            var dir = RunProc.IO.DbDirectory.Open(Directory);
            _dirExists = dir is not null;
            return dir;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null; // the read that follows reports it
        }
    }

    /// <summary>A shard file's bytes, or null when it (or the cache directory) does not exist. Called under the gate.</summary>
    private byte[]? ReadShardFile(string name)
    {
        if (_dirExists is null)
        {
            using var dir = RunProc.IO.DbDirectory.Open(Directory);
            _dirExists = dir is not null;
        }
        return _dirExists == true ? SafeFile.ReadAllBytes(Path.Join(Directory, name)) : null;
    }

    /// <summary>
    /// Applies the journal of the loaded file: its listings replace the file's. A journal of another
    /// file, or with a bad record, makes the next save write the whole file (its good records are used).
    /// </summary>
    private void ApplyJournal(string path, string shard, ShardEntries e)
    {
        var journal = CacheJournal.PathOf(path);
        byte[]? data;
        try
        {
            data = SafeFile.ReadAllBytes(journal);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LoadMessages.Add($"Ignoring scan cache journal '{journal}': {ex.Message}");
            e.Rewrite = true;
            return;
        }
        if (data is null)
            return;
        e.JournalBytes = data.Length;
        var records = CacheJournal.Read(data, Version, e.Id, out var damaged);
        foreach (var (at, length) in records)
        {
            if (!TryBlock(data, at, length, shard, out var key))
            {
                e.Rewrite = true;
                break;
            }
            e.Scans[key] = new Slot { Data = data, At = at, Length = length };
        }
        if (damaged)
            e.Rewrite = true;
    }

    /// <summary>A listing block's key, checked as far as a load checks it (the rest is checked when it is decoded).</summary>
    private static bool TryBlock(byte[] data, int at, int length, string shard, out string key)
    {
        key = "";
        try
        {
            var head = new CacheReader(data, at, at + length);
            var exp = head.Str();
            var ins = head.Str();
            if (!Names.IsExperiment(exp) || !Names.IsInstrument(ins) || !CacheCodec.IsScanOf(data.AsSpan(at, length), exp) || ShardOf(ins, exp) != shard)
                return false;
            key = SlotKey(ins, exp);
            return true;
        }
        catch (Exception ex) when (ex is InvalidDataException or ArgumentException or DecoderFallbackException)
        {
            return false;
        }
    }

    /// <summary>One listing block: encoded, or copied as loaded when it was never decoded.</summary>
    [ThreadStatic] private static CacheWriter? t_writer;

    private static void WriteBlock(CacheWriter w, Slot slot)
    {
        if (slot.Data is not null)
            w.Raw(slot.Block);
        else
            CacheCodec.WriteScan(w, slot.Scan!);
    }

    private static CacheWriter Serialize(string shard, ShardEntries e)
    {
        // Sized up front: the runs and file index blocks dominate (a shard of a full catalog is some 100 KB).
        long size = 64 + shard.Length;
        foreach (var slot in e.Scans.Values)
            size += slot.Data is null && slot.Scan is { } sc ? 256 + sc.Directory.Length * 3L + sc.Patterns.Length * 16L + sc.Runs.Length * 4L + sc.FileIndex.Length : 4 + slot.Length;
        var w = new CacheWriter((int)Math.Min(size, Array.MaxLength));
        w.U32(Magic);
        w.I32(Version);
        w.I64(0); // checksum placeholder
        w.Str(shard);
        w.I64((long)e.Id);
        w.I32(e.Scans.Count);
        foreach (var slot in e.Scans.Values)
        {
            // Each listing length-prefixed, so a load can skip it; one never decoded is copied as it was.
            if (slot.Data is not null)
            {
                w.I32(slot.Length);
                w.Raw(slot.Block);
                continue;
            }
            var lengthAt = w.Length;
            w.I32(0);
            CacheCodec.WriteScan(w, slot.Scan ?? throw new InvalidOperationException("a listing cache slot holds neither a block nor a listing"));
            w.PatchI32(lengthAt, w.Length - lengthAt - 4);
        }
        w.SealChecksum(8, HeaderSize);
        return w;
    }

    private const int HeaderSize = 16;

    private static void Deserialize(byte[] data, string shard, ShardEntries e)
    {
        var r = new CacheReader(data);
        if (!BitConverter.IsLittleEndian)
            throw new InvalidDataException("the cache format is little-endian only");
        if (data.Length < HeaderSize || r.U32() != Magic || r.I32() != Version)
            throw new InvalidDataException("not a RunProc scan cache of this version");
        if ((ulong)r.I64() != CacheCodec.Checksum(data.AsSpan(HeaderSize)))
            throw new InvalidDataException("checksum mismatch");
        if (r.Str() != shard)
            throw new InvalidDataException("cache of another instrument or shard");
        e.Id = (ulong)r.I64();
        var count = r.Count();
        for (var i = 0; i < count; i++)
        {
            var length = r.Count();
            var at = r.Position;
            if (length > r.Remaining)
                throw new InvalidDataException("truncated listing");
            var block = r.Raw(length);
            // The experiment's and the instrument's names lead the block (see CacheCodec.WriteScan); the rest is decoded on use.
            var head = new CacheReader(data, at, at + length);
            var exp = head.Str();
            var ins = head.Str();
            if (!Names.IsExperiment(exp) || !Names.IsInstrument(ins) || !CacheCodec.IsScanOf(block, exp) || ShardOf(ins, exp) != shard)
                throw new InvalidDataException("bad experiment name");
            e.Scans[SlotKey(ins, exp)] = new Slot { Data = data, At = at, Length = length };
        }
        if (!r.AtEnd)
            throw new InvalidDataException("trailing data");
    }
}
