using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using RunProc.IO;

namespace RunProc.Catalog;

/// <summary>Binary encoding shared by the scan caches: little-endian writer/reader, checksum, atomic write.</summary>
internal static class CacheCodec
{
    /// <summary>A fast 64-bit checksum (multiply-rotate over 8-byte words): detects damage, not tampering.</summary>
    internal static ulong Checksum(ReadOnlySpan<byte> data)
    {
        const ulong P1 = 0x9E3779B185EBCA87UL, P2 = 0xC2B2AE3D27D4EB4FUL;
        ulong h1 = 0x27D4EB2F165667C5UL ^ (ulong)data.Length, h2 = P1;
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(data);
        var i = 0;
        for (; i + 1 < words.Length; i += 2)
        {
            h1 = BitOperations.RotateLeft(h1 + words[i] * P2, 31) * P1;
            h2 = BitOperations.RotateLeft(h2 + words[i + 1] * P2, 31) * P1;
        }
        if (i < words.Length)
            h1 = BitOperations.RotateLeft(h1 + words[i] * P2, 31) * P1;
        for (var b = words.Length * 8; b < data.Length; b++)
            h2 = BitOperations.RotateLeft(h2 ^ (data[b] * P1), 11) * P2;
        var h = h1 ^ BitOperations.RotateLeft(h2, 17);
        h ^= h >> 33; h *= P2; h ^= h >> 29;
        return h;
    }

    private const byte SameFiles = 8, HasTimes = 16;

    /// <summary>One experiment listing: names, times, pattern table, then the runs (see below).</summary>
    public static void WriteScan(CacheWriter w, ExperimentScan s)
    {
        w.Str(s.Experiment);
        w.Str(s.Instrument);
        w.Str(s.Directory);
        w.I64(s.DirectoryMtimeTicks);
        w.I64(s.ListedAtTicks);
        // Prefixes other than the experiment's own name (old eNNN files): a small string table.
        var prefixes = s.Patterns.Select(p => p.Prefix).Where(p => p != s.Experiment).Distinct(StringComparer.Ordinal).ToList();
        w.I32(prefixes.Count);
        foreach (var p in prefixes)
            w.Str(p);
        w.I32(s.Patterns.Length);
        foreach (var n in s.Patterns)
        {
            w.U16((ushort)(n.Prefix == s.Experiment ? 0 : prefixes.IndexOf(n.Prefix) + 1));
            w.U8((byte)n.Kind);
            w.U8(n.InProgress ? (byte)1 : (byte)0);
            w.U8(n.RunWidth);
            w.U8(n.StreamWidth);
            w.U8(n.ChunkWidth);
            w.U16((ushort)n.Stream);
            w.U16((ushort)n.Chunk);
        }
        // Runs compactly: most are recorded runs listed by name only (no size or time) with the
        // same files as the run before, so a run is a run-number delta and a flag byte (a full
        // catalog's cache is some 1 MB instead of 10, and writing it was a third of a full scan).
        w.I32(s.Runs.Length);
        var previous = -1;
        var last = 0;
        foreach (ref readonly var run in s.Runs.AsSpan())
        {
            var files = s.FileIndex.AsSpan(run.FileStart, run.FileCount);
            var same = previous >= 0 && files.SequenceEqual(s.FileIndex.AsSpan(s.Runs[previous].FileStart, s.Runs[previous].FileCount));
            var times = run.Bytes != 0 || run.NewestTicks != 0 || run.NewestFile != 0;
            w.Var((uint)(run.Run - last));
            w.U8((byte)(run.InProgress | (run.Settled << 1) | (same ? SameFiles : 0) | (times ? HasTimes : 0)));
            if (!same)
            {
                w.Var((uint)run.FileCount);
                foreach (var f in files)
                    w.Var((uint)f);
            }
            if (times)
            {
                w.I64(run.Bytes);
                w.I64(run.NewestTicks);
                w.Var((uint)run.NewestFile);
            }
            last = run.Run;
            previous++;
        }
    }

    /// <summary>Whether a block <see cref="WriteScan"/> wrote is the listing of <paramref name="experiment"/> (without decoding it).</summary>
    public static bool IsScanOf(ReadOnlySpan<byte> scan, string experiment)
    {
        if (scan.Length < 4)
            return false;
        var n = BinaryPrimitives.ReadInt32LittleEndian(scan);
        return n == experiment.Length && scan.Length >= 4 + n && Encoding.UTF8.GetByteCount(experiment) == n
            && Ascii.Equals(scan.Slice(4, n), experiment);
    }

    /// <summary>Reads what <see cref="WriteScan"/> wrote, validating every field (a bad value is <see cref="InvalidDataException"/>).</summary>
    public static ExperimentScan ReadScan(CacheReader r, string? expectedInstrument)
    {
        if (!BitConverter.IsLittleEndian)
            throw new InvalidDataException("the cache format is little-endian only");
        var exp = r.Str();
        if (!Names.IsExperiment(exp))
            throw new InvalidDataException("bad experiment name");
        var instrument = r.Str();
        if (!Names.IsInstrument(instrument) || (expectedInstrument is not null && instrument != expectedInstrument))
            throw new InvalidDataException("bad instrument");
        var dir = r.Str();
        var mtime = r.I64();
        var listed = r.I64();
        var prefixes = new string[r.Count() + 1];
        prefixes[0] = exp;
        for (var p = 1; p < prefixes.Length; p++)
            prefixes[p] = r.Str();
        var patterns = new RunFileName[r.Count()];
        for (var p = 0; p < patterns.Length; p++)
        {
            var pi = r.U16();
            if (pi >= prefixes.Length)
                throw new InvalidDataException("bad prefix index");
            var prefix = prefixes[pi];
            var kind = (RunFileKind)r.U8();
            if (kind is not (RunFileKind.Xtc or RunFileKind.Xtc2 or RunFileKind.H5))
                throw new InvalidDataException("bad file kind");
            var inProgress = r.U8() != 0;
            byte rw = r.U8(), sw = r.U8(), cw = r.U8();
            patterns[p] = new RunFileName(prefix, 0, r.U16(), r.U16(), kind, inProgress, rw, sw, cw);
        }
        var runs = new RunRecord[r.Count()];
        var index = new List<int>(runs.Length * 3);
        var last = 0;
        for (var k = 0; k < runs.Length; k++)
        {
            var run = checked(last + (int)r.Var());
            var flags = r.U8();
            if (!Names.IsRun(run) || run <= last && k > 0 || (flags & ~(1 | 6 | SameFiles | HasTimes)) != 0 || (flags >> 1 & 3) > RunRecord.NotStatted
                || (flags & SameFiles) != 0 && k == 0)
                throw new InvalidDataException("bad run entry");
            var start = index.Count;
            int count;
            if ((flags & SameFiles) != 0)
            {
                count = runs[k - 1].FileCount;
                for (var f = 0; f < count; f++)
                    index.Add(index[runs[k - 1].FileStart + f]);
            }
            else
            {
                count = (int)r.Var();
                if (count < 1 || count > r.Remaining)
                    throw new InvalidDataException("bad run entry");
                for (var f = 0; f < count; f++)
                {
                    var p = r.Var();
                    if (p >= (uint)patterns.Length)
                        throw new InvalidDataException("bad file entry");
                    index.Add((int)p);
                }
            }
            runs[k] = new RunRecord { Run = run, FileStart = start, FileCount = count, InProgress = (byte)(flags & 1), Settled = (byte)(flags >> 1 & 3) };
            if ((flags & HasTimes) != 0)
            {
                runs[k].Bytes = r.I64();
                runs[k].NewestTicks = r.I64();
                var newest = r.Var();
                if (newest >= (uint)count)
                    throw new InvalidDataException("bad run entry");
                runs[k].NewestFile = (int)newest;
            }
            last = run;
        }
        return new ExperimentScan
        {
            Instrument = instrument, Experiment = exp, Directory = dir, DirectoryExists = true,
            DirectoryMtimeTicks = mtime, ListedAtTicks = listed, Patterns = patterns, FileIndex = index.ToArray(), Runs = runs,
        };
    }

    /// <summary>
    /// Temp file + rename in the checked directory, like every DB rewrite (no link followed or
    /// replaced; see <see cref="NoFollow.WriteAtomic"/>), but without fsync: after a crash a torn or
    /// empty cache fails its checksum and is ignored.
    /// </summary>
    public static void WriteAtomic(string path, ReadOnlySpan<byte> bytes, int fileMode) =>
        NoFollow.WriteAtomic(path, bytes, fileMode, null, durable: false);

    /// <summary>
    /// Deletes the <c>*.cache</c> files of a cache directory other than <paramref name="keep"/>: the
    /// per-instrument files of an earlier RunProc version, which nothing reads any more. Called after
    /// the first write of a cache file; a file that cannot be deleted is left (it is never read).
    /// </summary>
    public static void RemoveOtherCacheFiles(string directory, string keep)
    {
        try
        {
            foreach (var f in System.IO.Directory.EnumerateFiles(directory, "*.cache"))
                if (!string.Equals(Path.GetFileName(f), keep, StringComparison.Ordinal))
                    File.Delete(f);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>Little-endian writer into a growing buffer.</summary>
internal sealed class CacheWriter(int capacity = 1 << 16)
{
    private byte[] _buf = new byte[Math.Max(capacity, 64)];
    private int _n;

    /// <summary>Bytes written so far.</summary>
    public int Length => _n;

    /// <summary>Starts again at the beginning (the buffer is kept).</summary>
    public void Clear() => _n = 0;

    /// <summary>Overwrites the 4 bytes at <paramref name="at"/> (a length known only after the block).</summary>
    public void PatchI32(int at, int v) => BinaryPrimitives.WriteInt32LittleEndian(_buf.AsSpan(at, 4), v);

    /// <summary>What was written so far (no copy; valid until the next write).</summary>
    public Span<byte> Written => _buf.AsSpan(0, _n);

    /// <summary>Writes the checksum of everything after the <paramref name="headerSize"/>-byte header at <paramref name="at"/>.</summary>
    public void SealChecksum(int at, int headerSize) =>
        BinaryPrimitives.WriteUInt64LittleEndian(Written[at..], CacheCodec.Checksum(Written[headerSize..]));

    private Span<byte> Take(int size)
    {
        if (_n + size > _buf.Length)
            Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _n + size));
        var s = _buf.AsSpan(_n, size);
        _n += size;
        return s;
    }

    public void U8(byte v) => Take(1)[0] = v;
    public void U16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), v);
    public void U32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), v);
    public void I32(int v) => BinaryPrimitives.WriteInt32LittleEndian(Take(4), v);
    public void I64(long v) => BinaryPrimitives.WriteInt64LittleEndian(Take(8), v);

    public void Raw(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Take(bytes.Length));

    /// <summary>An unsigned LEB128 number (1 byte below 128).</summary>
    public void Var(uint v)
    {
        while (v >= 0x80)
        {
            U8((byte)(v | 0x80));
            v >>= 7;
        }
        U8((byte)v);
    }

    public void Str(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        I32(bytes.Length);
        bytes.CopyTo(Take(bytes.Length));
    }

}

/// <summary>Bounds-checked little-endian reader; running off the end is <see cref="InvalidDataException"/>.</summary>
internal sealed class CacheReader
{
    private readonly byte[] data;
    private readonly int _end;
    private int _p;

    public CacheReader(byte[] data) : this(data, 0, data.Length) { }

    /// <summary>Reads <paramref name="data"/>[<paramref name="start"/>..<paramref name="end"/>) (one block of a larger file).</summary>
    public CacheReader(byte[] data, int start, int end)
    {
        if ((uint)start > (uint)end || (uint)end > (uint)data.Length)
            throw new InvalidDataException("bad block bounds");
        this.data = data;
        _p = start;
        _end = end;
    }

    private ReadOnlySpan<byte> Take(int size)
    {
        if (size < 0 || size > _end - _p)
            throw new InvalidDataException("truncated");
        var s = data.AsSpan(_p, size);
        _p += size;
        return s;
    }

    /// <summary>Offset of the next byte in the array.</summary>
    public int Position => _p;

    public bool AtEnd => _p == _end;
    public byte U8() => Take(1)[0];
    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    public int I32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
    public long I64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public int Count()
    {
        var n = I32();
        if (n < 0 || n > _end)
            throw new InvalidDataException("bad count");
        return n;
    }

    public string Str() => Encoding.UTF8.GetString(Take(Count()));

    public ReadOnlySpan<byte> Raw(int size) => Take(size);

    public int Remaining => _end - _p;

    /// <summary>What <see cref="CacheWriter.Var"/> wrote (at most 5 bytes).</summary>
    public uint Var()
    {
        uint v = 0;
        for (var shift = 0; shift < 35; shift += 7)
        {
            var b = U8();
            v |= (uint)(b & 0x7F) << shift;
            if (b < 0x80)
                return shift == 28 && b > 0x0F ? throw new InvalidDataException("bad number") : v;
        }
        throw new InvalidDataException("bad number");
    }
}
