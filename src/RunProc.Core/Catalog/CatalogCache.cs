using System.Security.Cryptography;
using System.Text;
using RunProc.Config;
using RunProc.IO;

namespace RunProc.Catalog;

/// <summary>
/// The incremental scan cache: the last listing of every experiment's run directory, one file per
/// instrument under <c>&lt;DbRoot&gt;/.catalog-cache/</c>. A listing is reused only when the
/// directory's mtime is unchanged AND the listing began more than <see cref="TimestampGranularity"/>
/// after that mtime (otherwise a change in the same timestamp tick would be invisible). Runs that
/// are not ready are re-stat'ed on every use. Files are written atomically and carry a SHA-256;
/// a missing, foreign or corrupt file is ignored (everything is listed again).
/// </summary>
public sealed class CatalogCache
{
    private const uint Magic = 0x43435052; // "RPCC"
    private const int Version = 1;

    private readonly Dictionary<string, InstrumentEntries> _instruments = new(StringComparer.Ordinal);
    private readonly int _fileMode;
    private readonly int _directoryMode;

    public CatalogCache(string directory, int fileMode = 0x1B4, int directoryMode = 0x5FD)
    {
        Directory = directory;
        _fileMode = fileMode;
        _directoryMode = directoryMode;
    }

    /// <summary>The cache of a configuration's DB tree: <c>&lt;DbRoot&gt;/.catalog-cache</c>.</summary>
    public static CatalogCache ForConfig(RunProcConfig config) =>
        new(Path.Join(config.DbRoot, ".catalog-cache"), config.FileMode, config.DirectoryMode);

    public string Directory { get; }

    /// <summary>
    /// The coarsest directory timestamp granularity expected (2 s covers FAT and 1 s file systems;
    /// Linux local file systems tick at a few ms).
    /// </summary>
    public TimeSpan TimestampGranularity { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Experiments served from the cache / listed, since this object was created.</summary>
    public int Hits { get; internal set; }
    public int Misses { get; internal set; }

    /// <summary>Problems met while loading (corrupt or unreadable cache files), for a verbose message.</summary>
    public List<string> LoadMessages { get; } = new();

    private sealed class InstrumentEntries
    {
        public Dictionary<string, ExperimentScan> Scans { get; } = new(StringComparer.Ordinal);
        public bool Dirty { get; set; }
    }

    public string FileOf(string instrument) => Path.Join(Directory, Names.Instrument(instrument) + ".cache");

    internal ExperimentScan? TryGet(string instrument, string experiment, string runDirectory)
    {
        var e = Entries(instrument);
        return e.Scans.TryGetValue(experiment, out var s) && s.Directory == runDirectory ? s : null;
    }

    internal void Put(string instrument, ExperimentScan scan)
    {
        var e = Entries(instrument);
        e.Scans[scan.Experiment] = scan;
        e.Dirty = true;
    }

    internal void Remove(string instrument, string experiment)
    {
        var e = Entries(instrument);
        if (e.Scans.Remove(experiment))
            e.Dirty = true;
    }

    internal void MarkDirty(string instrument) => Entries(instrument).Dirty = true;

    /// <summary>
    /// Writes every changed instrument file (atomically). A failure to write (read-only DB tree) is
    /// reported to <paramref name="verbose"/> and otherwise ignored: the cache only saves time.
    /// </summary>
    public void Save(Action<string>? verbose = null)
    {
        foreach (var (ins, e) in _instruments)
        {
            if (!e.Dirty)
                continue;
            var path = FileOf(ins);
            try
            {
                SafeFile.EnsureDirectory(Directory, _directoryMode);
                var bytes = Serialize(ins, e);
                WriteAtomic(path, bytes);
                e.Dirty = false;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                verbose?.Invoke($"Could not write the scan cache '{path}': {ex.Message} (the next scan lists everything again).");
            }
        }
    }

    private InstrumentEntries Entries(string instrument)
    {
        if (_instruments.TryGetValue(instrument, out var e))
            return e;
        e = new InstrumentEntries();
        var path = FileOf(instrument);
        try
        {
            if (File.Exists(path))
                Deserialize(File.ReadAllBytes(path), instrument, e);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException
                                       or EndOfStreamException or ArgumentException or FormatException or OverflowException)
        {
            // A corrupt or unreadable cache only costs a full listing.
            e.Scans.Clear();
            LoadMessages.Add($"Ignoring scan cache '{path}': {ex.Message}");
        }
        _instruments[instrument] = e;
        return e;
    }

    private static byte[] Serialize(string instrument, InstrumentEntries e)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            w.Write(instrument);
            w.Write(e.Scans.Count);
            foreach (var s in e.Scans.Values)
            {
                w.Write(s.Experiment);
                w.Write(s.Directory);
                w.Write(s.DirectoryMtimeTicks);
                w.Write(s.ListedAtTicks);
                // Prefixes other than the experiment's own name (old eNNN files): a small string table.
                var prefixes = new List<string>();
                foreach (var r in s.Runs)
                    foreach (var f in r.Files)
                        if (!ReferenceEquals(f.Name.Prefix, s.Experiment) && f.Name.Prefix != s.Experiment && !prefixes.Contains(f.Name.Prefix))
                            prefixes.Add(f.Name.Prefix);
                w.Write(prefixes.Count);
                foreach (var p in prefixes)
                    w.Write(p);
                w.Write(s.Runs.Count);
                foreach (var r in s.Runs)
                {
                    w.Write(r.Run);
                    w.Write(r.Files.Length);
                    foreach (var f in r.Files)
                    {
                        var n = f.Name;
                        w.Write((ushort)(n.Prefix == s.Experiment ? 0 : prefixes.IndexOf(n.Prefix) + 1));
                        w.Write((byte)n.Kind);
                        w.Write(n.InProgress);
                        w.Write(n.RunWidth);
                        w.Write(n.StreamWidth);
                        w.Write(n.ChunkWidth);
                        w.Write((ushort)n.Stream);
                        w.Write((ushort)n.Chunk);
                        w.Write(f.Length);
                        w.Write(f.MtimeTicks);
                    }
                }
            }
        }
        var payload = ms.ToArray();
        var hash = SHA256.HashData(payload);
        var all = new byte[payload.Length + hash.Length];
        payload.CopyTo(all, 0);
        hash.CopyTo(all, payload.Length);
        return all;
    }

    private static void Deserialize(byte[] data, string instrument, InstrumentEntries e)
    {
        if (data.Length < 32 + 8)
            throw new InvalidDataException("too short");
        var payload = data.AsSpan(0, data.Length - 32);
        if (!SHA256.HashData(payload).AsSpan().SequenceEqual(data.AsSpan(data.Length - 32)))
            throw new InvalidDataException("checksum mismatch");
        using var r = new BinaryReader(new MemoryStream(data, 0, data.Length - 32, writable: false), Encoding.UTF8);
        if (r.ReadUInt32() != Magic || r.ReadInt32() != Version)
            throw new InvalidDataException("not a RunProc scan cache of this version");
        if (r.ReadString() != instrument)
            throw new InvalidDataException("cache of another instrument");
        var count = Count(r);
        for (var i = 0; i < count; i++)
        {
            var exp = r.ReadString();
            var dir = r.ReadString();
            var mtime = r.ReadInt64();
            var listed = r.ReadInt64();
            var prefixes = new string[Count(r) + 1];
            prefixes[0] = exp;
            for (var p = 1; p < prefixes.Length; p++)
                prefixes[p] = r.ReadString();
            var runCount = Count(r);
            var runs = new List<ScannedRun>(runCount);
            var last = -1;
            for (var k = 0; k < runCount; k++)
            {
                var run = r.ReadInt32();
                if (!Names.IsRun(run) || run <= last)
                    throw new InvalidDataException("bad run entry");
                last = run;
                var files = new ScannedFile[Count(r)];
                for (var f = 0; f < files.Length; f++)
                {
                    var prefix = prefixes[r.ReadUInt16()];
                    var kind = (RunFileKind)r.ReadByte();
                    if (!Enum.IsDefined(kind))
                        throw new InvalidDataException("bad file kind");
                    var inProgress = r.ReadBoolean();
                    var rw = r.ReadByte();
                    var sw = r.ReadByte();
                    var cw = r.ReadByte();
                    var stream = r.ReadUInt16();
                    var chunk = r.ReadUInt16();
                    files[f] = new ScannedFile
                    {
                        Name = new RunFileName(prefix, run, stream, chunk, kind, inProgress, rw, sw, cw),
                        Length = r.ReadInt64(),
                        MtimeTicks = r.ReadInt64(),
                    };
                }
                runs.Add(new ScannedRun { Run = run, Files = files });
            }
            if (!Names.IsExperiment(exp))
                throw new InvalidDataException("bad experiment name");
            e.Scans[exp] = new ExperimentScan
            {
                Instrument = instrument, Experiment = exp, Directory = dir, DirectoryExists = true,
                DirectoryMtimeTicks = mtime, ListedAtTicks = listed, Runs = runs,
            };
        }
        if (r.BaseStream.Position != r.BaseStream.Length)
            throw new InvalidDataException("trailing data");
    }

    private static int Count(BinaryReader r)
    {
        var n = r.ReadInt32();
        if (n < 0 || n > 10_000_000)
            throw new InvalidDataException("bad count");
        return n;
    }

    private void WriteAtomic(string path, byte[] bytes)
    {
        var tmp = Path.Join(Directory, $".{Path.GetFileName(path)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                fs.Write(bytes);
                fs.Flush(true);
            }
            SafeFile.TrySetMode(tmp, _fileMode);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
