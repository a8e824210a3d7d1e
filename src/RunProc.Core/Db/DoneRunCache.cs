using System.Buffers.Binary;
using RunProc.Catalog;

namespace RunProc.Db;

/// <summary>
/// Remembers, per experiment, the processed+archived run numbers together with the size and mtime
/// of the three record files they were read from (<c>&lt;DbRoot&gt;/&lt;proc&gt;/.done-cache</c>), so an
/// incremental Get-PendingRun stats those files instead of reading them. An entry is used only when
/// every stamp is unchanged and the files were last written more than the timestamp granularity
/// before they were read (a same-size rewrite in the same tick would otherwise be missed). Files with
/// malformed lines are never cached, so their warnings repeat. A corrupt cache file is ignored.
/// </summary>
internal sealed class DoneRunCache
{
    private const uint Magic = 0x43445052; // "RPDC"
    private const int Version = 2;
    private const int HeaderSize = 16;

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    // DB instrument directories: mtime and when it was seen, as stored, and as seen by this query.
    private readonly Dictionary<string, (long Mtime, long SeenAt)> _dirs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Mtime, long SeenAt)> _dirsNow = new(StringComparer.Ordinal);
    private readonly string _path;
    private readonly int _fileMode;
    private bool _dirty;

    public DoneRunCache(string path, int fileMode, TimeSpan granularity)
    {
        _path = path;
        _fileMode = fileMode;
        Granularity = granularity;
        try
        {
            if (File.Exists(path))
                Load(File.ReadAllBytes(path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            _entries.Clear();
            LoadMessage = $"Ignoring record cache '{path}': {ex.Message}";
        }
    }

    public TimeSpan Granularity { get; }
    public string? LoadMessage { get; }

    internal readonly record struct Stamp(bool Exists, long Length, long MtimeTicks)
    {
        public static Stamp Of(string path)
        {
            var fi = new FileInfo(path);
            return fi.Exists ? new Stamp(true, fi.Length, fi.LastWriteTimeUtc.Ticks) : default;
        }
    }

    private sealed record Entry(Stamp[] Stamps, long ReadAtTicks, int[] Runs);

    /// <summary>
    /// The current stamps of an experiment's record files. When their directory is unchanged since
    /// the cache was written (no file created, removed or renamed in it), files that did not exist
    /// then still do not, so only the existing ones are stat'ed.
    /// </summary>
    public Stamp[] StampsOf(string experiment, string directory, string[] files)
    {
        var unchanged = DirectoryUnchanged(directory, out var dirMtime); // always: records this query's sighting
        _entries.TryGetValue(experiment, out var e);
        // The entry's "does not exist" is still true only if it was seen after the directory's last change.
        var trusted = unchanged && e is not null && e.Stamps.Length == files.Length && e.ReadAtTicks - dirMtime > Granularity.Ticks;
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
                _dirty = true;
        }
        mtime = now.Mtime;
        return now.Mtime != 0 && _dirs.TryGetValue(directory, out var then)
            && then.Mtime == now.Mtime && then.SeenAt - then.Mtime > Granularity.Ticks;
    }

    private bool Trusted((long Mtime, long SeenAt) d) => d.SeenAt - d.Mtime > Granularity.Ticks;

    /// <summary>The cached sorted run numbers if the files still carry <paramref name="stamps"/> and are old enough.</summary>
    public int[]? TryGet(string experiment, Stamp[] stamps)
    {
        if (!_entries.TryGetValue(experiment, out var e) || e.Stamps.Length != stamps.Length)
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
        _entries[experiment] = new Entry(stamps, readAtTicks, sortedRuns);
        _dirty = true;
    }

    public void Save(Action<string>? verbose)
    {
        if (!_dirty)
            return;
        // A directory seen this time replaces the stored one only if it changed (keeping the older
        // sighting keeps it trusted); a directory whose sighting is not trusted is simply re-seen next time.
        foreach (var (dir, now) in _dirsNow)
            if (!_dirs.TryGetValue(dir, out var old) || old.Mtime != now.Mtime || !Trusted(old))
                _dirs[dir] = now;
        try
        {
            var w = new CacheWriter();
            w.U32(Magic);
            w.I32(Version);
            w.I64(0);
            w.I32(_dirs.Count);
            foreach (var (dir, d) in _dirs)
            {
                w.Str(dir);
                w.I64(d.Mtime);
                w.I64(d.SeenAt);
            }
            w.I32(_entries.Count);
            foreach (var (exp, e) in _entries)
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
                w.I32(e.Runs.Length);
                foreach (var r in e.Runs)
                    w.I32(r);
            }
            var bytes = w.ToArray();
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), CacheCodec.Checksum(bytes.AsSpan(HeaderSize)));
            CacheCodec.WriteAtomic(_path, bytes, _fileMode);
            _dirty = false;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            verbose?.Invoke($"Could not write the record cache '{_path}': {ex.Message} (records are read again next time).");
        }
    }

    private void Load(byte[] data)
    {
        var r = new CacheReader(data);
        if (data.Length < HeaderSize || r.U32() != Magic || r.I32() != Version)
            throw new InvalidDataException("not a RunProc record cache of this version");
        if ((ulong)r.I64() != CacheCodec.Checksum(data.AsSpan(HeaderSize)))
            throw new InvalidDataException("checksum mismatch");
        var nd = r.Count();
        for (var i = 0; i < nd; i++)
            _dirs[r.Str()] = (r.I64(), r.I64());
        var n = r.Count();
        for (var i = 0; i < n; i++)
        {
            var exp = r.Str();
            if (!Names.IsExperiment(exp))
                throw new InvalidDataException("bad experiment name");
            var readAt = r.I64();
            var stamps = new Stamp[r.Count()];
            for (var k = 0; k < stamps.Length; k++)
                stamps[k] = new Stamp(r.U8() != 0, r.I64(), r.I64());
            var runs = new int[r.Count()];
            for (var k = 0; k < runs.Length; k++)
            {
                runs[k] = r.I32();
                if (!Names.IsRun(runs[k]) || (k > 0 && runs[k] <= runs[k - 1]))
                    throw new InvalidDataException("bad run list");
            }
            _entries[exp] = new Entry(stamps, readAt, runs);
        }
        if (!r.AtEnd)
            throw new InvalidDataException("trailing data");
    }
}
