using System.Buffers.Binary;
using System.Numerics;
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

    /// <summary>Temp file + rename. No fsync: after a crash a torn or empty cache fails its checksum and is ignored.</summary>
    public static void WriteAtomic(string path, byte[] bytes, int fileMode)
    {
    var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
    var tmp = Path.Join(dir, $".{Path.GetFileName(path)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
    try
    {
        using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            fs.Write(bytes);
        SafeFile.TrySetMode(tmp, fileMode);
        File.Move(tmp, path, overwrite: true);
    }
    catch
    {
        try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        throw;
    }
    }
}

/// <summary>Little-endian writer into a growing buffer.</summary>
internal sealed class CacheWriter
{
    private byte[] _buf = new byte[1 << 16];
    private int _n;

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

    public void Str(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        I32(bytes.Length);
        bytes.CopyTo(Take(bytes.Length));
    }

    public byte[] ToArray() => _buf.AsSpan(0, _n).ToArray();
}

/// <summary>Bounds-checked little-endian reader; running off the end is <see cref="InvalidDataException"/>.</summary>
internal sealed class CacheReader(byte[] data)
{
    private int _p;

    private ReadOnlySpan<byte> Take(int size)
    {
        if (size < 0 || _p + size > data.Length)
            throw new InvalidDataException("truncated");
        var s = data.AsSpan(_p, size);
        _p += size;
        return s;
    }

    public bool AtEnd => _p == data.Length;
    public byte U8() => Take(1)[0];
    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    public int I32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));
    public long I64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public int Count()
    {
        var n = I32();
        if (n < 0 || n > data.Length)
            throw new InvalidDataException("bad count");
        return n;
    }

    public string Str() => Encoding.UTF8.GetString(Take(Count()));

    public ReadOnlySpan<byte> Raw(int size) => Take(size);
}
