using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace RunProc.Formats;

/// <summary>
/// A minimal HDF5 writer for RunProc's result files: groups with attributes and contiguous,
/// uncompressed datasets of little-endian numbers, nothing else. The layout is the one PureHDF
/// wrote (and HDF5 1.8+ reads): superblock version 2, version-2 object headers with compact
/// links (link info, group info and link messages), attributes in the object header (strings
/// variable-length UTF-8 in one global heap collection), datasets with a version-2 dataspace, a
/// fill value message (never written, allocated early) and a contiguous layout. The data go first,
/// written straight from the caller's arrays, then the metadata, then the superblock; a few KB of
/// metadata, so writing a file costs little more than writing its bytes (PureHDF's writer spent
/// most of a job's output time on its first call).
/// </summary>
internal static class Hdf5Writer
{
    /// <summary>An element type of a dataset or attribute.</summary>
    public enum Number { UInt8, Int32, UInt32, Int64, Float64 }

    /// <summary>Fills <paramref name="dst"/> with the dataset's elements from element <paramref name="first"/> on.</summary>
    public delegate void Generator(long first, Span<byte> dst);

    public sealed class Dataset
    {
        public Dataset(string name, Array data, Number type, ulong[] dims) => (Name, Data, Type, Dims) = (name, data, type, dims);

        /// <summary>A dataset whose elements are made while it is written (a derived array need not be held whole).</summary>
        public Dataset(string name, Generator generate, Number type, ulong[] dims) => (Name, Generate, Type, Dims) = (name, generate, type, dims);

        /// <summary>A dataset of int32 values held elsewhere (e.g. the accumulator's max and min), written without a copy.</summary>
        public Dataset(string name, ReadOnlyMemory<int> ints, Number type, ulong[] dims) => (Name, Ints, Type, Dims) = (name, ints, type, dims);

        public string Name { get; }
        public Array? Data { get; }
        public ReadOnlyMemory<int>? Ints { get; }
        public Generator? Generate { get; }
        public Number Type { get; }
        public ulong[] Dims { get; }

        public long Length => Generate is null ? Bytes.Length : (long)Dims.Aggregate(1UL, (a, b) => a * b) * SizeOf(Type);

        public ReadOnlySpan<byte> Bytes => Ints is { } ints ? MemoryMarshal.AsBytes(ints.Span) : Data switch
        {
            byte[] a => a,
            int[] a => MemoryMarshal.AsBytes(a.AsSpan()),
            uint[] a => MemoryMarshal.AsBytes(a.AsSpan()),
            long[] a => MemoryMarshal.AsBytes(a.AsSpan()),
            double[] a => MemoryMarshal.AsBytes(a.AsSpan()),
            _ => throw new ArgumentException($"dataset '{Name}': {Data?.GetType().Name ?? "a generator"} is not a supported array type."),
        };
    }

    public sealed class Group(string name)
    {
        public string Name { get; } = name;

        /// <summary>string (variable-length UTF-8), int (int32), long (int64), double, or a 1-D array of int, long or double.</summary>
        public List<KeyValuePair<string, object>> Attributes { get; } = new();
        public List<Group> Groups { get; } = new();
        public List<Dataset> Datasets { get; } = new();
    }

    private const ulong Undefined = ulong.MaxValue;

    /// <summary>Bytes of a dataset written (and made) at a time.</summary>
    private const int Piece = 1 << 20;

    /// <summary>Writes the file with root group <paramref name="root"/> (its name is ignored) into an open, empty file.</summary>
    public static void Write(SafeFileHandle handle, Group root)
    {
        const int superblockSize = 48;
        long at = superblockSize;
        // The data, 8-byte aligned, from the caller's arrays: every dataset's place first, then the
        // data in 1 MiB pieces on all cores (made by a dataset's generator where it has one). It is
        // most of the bytes of a job's outputs (97 MB for a 2.16 Mpx detector) and, written in one
        // piece, it was the last of the outputs to finish.
        var addresses = new Dictionary<Dataset, long>();
        var pieces = new List<(Dataset Data, long At, long First, int Bytes)>();
        foreach (var d in AllDatasets(root))
        {
            var expected = d.Dims.Aggregate(1UL, (a, b) => a * b) * (ulong)SizeOf(d.Type);
            if ((ulong)d.Length != expected)
                throw new ArgumentException($"dataset '{d.Name}': {d.Length} bytes of data for dimensions ({string.Join(",", d.Dims)}), {expected} expected.");
            addresses[d] = at;
            var size = SizeOf(d.Type);
            var per = Piece / size;
            var count = d.Length / size;
            for (long first = 0; first < count; first += per)
                pieces.Add((d, at, first, (int)(Math.Min(per, count - first) * size)));
            at = Align8(at + d.Length);
        }
        try
        {
            Parallel.For(0, pieces.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                () => (byte[]?)null,
                (k, _, block) =>
                {
                    var (d, start, first, bytes) = pieces[k];
                    var offset = first * SizeOf(d.Type);
                    if (d.Generate is { } generate)
                    {
                        block ??= System.Buffers.ArrayPool<byte>.Shared.Rent(Piece);
                        generate(first, block.AsSpan(0, bytes));
                        RandomAccess.Write(handle, block.AsSpan(0, bytes), start + offset);
                    }
                    else
                        RandomAccess.Write(handle, d.Bytes.Slice((int)offset, bytes), start + offset);
                    return block;
                },
                block =>
                {
                    if (block is not null)
                        System.Buffers.ArrayPool<byte>.Shared.Return(block);
                });
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count > 0)
        {
            // As itself (an IOException for a full disk): the callers catch those.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex.InnerExceptions[0]);
        }

        // Metadata: the global heap of the strings, then object headers bottom-up (a group needs its children's addresses).
        var meta = new Buffer(at);
        var heap = new GlobalHeap();
        foreach (var g in AllGroups(root))
            foreach (var kv in g.Attributes)
                if (kv.Value is string s)
                    heap.Add(s);
        var heapAddress = heap.Count > 0 ? meta.Position : 0;
        if (heap.Count > 0)
            heap.WriteTo(meta);
        var rootAddress = WriteGroup(meta, root, addresses, heap, heapAddress);
        var end = meta.Position;
        RandomAccess.Write(handle, meta.Span, at);

        // Superblock version 2.
        Span<byte> sb = stackalloc byte[superblockSize];
        ReadOnlySpan<byte> signature = [0x89, (byte)'H', (byte)'D', (byte)'F', 0x0D, 0x0A, 0x1A, 0x0A];
        signature.CopyTo(sb);
        sb[8] = 2;   // version
        sb[9] = 8;   // size of offsets
        sb[10] = 8;  // size of lengths
        sb[11] = 0;  // file consistency flags
        BinaryPrimitives.WriteUInt64LittleEndian(sb[12..], 0);                 // base address
        BinaryPrimitives.WriteUInt64LittleEndian(sb[20..], Undefined);         // superblock extension
        BinaryPrimitives.WriteUInt64LittleEndian(sb[28..], (ulong)end);        // end of file
        BinaryPrimitives.WriteUInt64LittleEndian(sb[36..], (ulong)rootAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[44..], Lookup3(sb[..44]));
        RandomAccess.Write(handle, sb, 0);
    }

    /// <summary>Throws (naming the attribute) for a value <see cref="Write"/> cannot store, before any file is opened.</summary>
    public static void Validate(Group root)
    {
        foreach (var g in AllGroups(root))
            foreach (var (name, value) in g.Attributes)
                if (value is not (string or int or long or double or int[] or long[] or double[]))
                    throw new ArgumentException($"attribute '{name}' of group '{g.Name}': a {value?.GetType().Name ?? "null"} value cannot be written to HDF5 (string, int, long, double or an array of int, long or double).");
    }

    private static long Align8(long v) => (v + 7) & ~7L;

    private static IEnumerable<Group> AllGroups(Group g) => new[] { g }.Concat(g.Groups.SelectMany(AllGroups));

    private static IEnumerable<Dataset> AllDatasets(Group g) => g.Datasets.Concat(g.Groups.SelectMany(AllDatasets));

    private static long WriteGroup(Buffer meta, Group g, Dictionary<Dataset, long> data, GlobalHeap heap, long heapAddress)
    {
        var links = new List<(string Name, long Address)>();
        foreach (var d in g.Datasets)
            links.Add((d.Name, WriteDataset(meta, d, data[d])));
        foreach (var c in g.Groups)
            links.Add((c.Name, WriteGroup(meta, c, data, heap, heapAddress)));
        var header = new ObjectHeader();
        // Link info (version 0, no creation order, no dense storage) and group info: a "new-style" compact group.
        var li = header.Message(0x02, 18);
        li[0] = 0; li[1] = 0;
        BinaryPrimitives.WriteUInt64LittleEndian(li[2..], Undefined);
        BinaryPrimitives.WriteUInt64LittleEndian(li[10..], Undefined);
        header.Message(0x0A, 2);
        foreach (var kv in g.Attributes)
            WriteAttribute(header, kv.Key, kv.Value, heap, heapAddress);
        foreach (var (name, address) in links)
        {
            var utf8 = Encoding.UTF8.GetBytes(name);
            if (utf8.Length == 0)
                throw new ArgumentException("an HDF5 link name cannot be empty.");
            var lengthSize = utf8.Length < 256 ? 1 : utf8.Length < 65536 ? 2 : 4;
            var m = header.Message(0x06, 3 + lengthSize + utf8.Length + 8);
            m[0] = 1;                                                       // version
            m[1] = (byte)(0x10 | (lengthSize == 1 ? 0 : lengthSize == 2 ? 1 : 2)); // charset present, size of the name length
            m[2] = 1;                                                       // UTF-8
            var p = 3;
            if (lengthSize == 1) m[p] = (byte)utf8.Length;
            else if (lengthSize == 2) BinaryPrimitives.WriteUInt16LittleEndian(m[p..], (ushort)utf8.Length);
            else BinaryPrimitives.WriteUInt32LittleEndian(m[p..], (uint)utf8.Length);
            p += lengthSize;
            utf8.CopyTo(m[p..]);
            BinaryPrimitives.WriteUInt64LittleEndian(m[(p + utf8.Length)..], (ulong)address);  // hard link
        }
        return header.WriteTo(meta);
    }

    private static long WriteDataset(Buffer meta, Dataset d, long address)
    {
        var header = new ObjectHeader();
        WriteDatatype(header.Message(0x03, DatatypeSize(d.Type)), d.Type);
        WriteDataspace(header.Message(0x01, 4 + 8 * d.Dims.Length), d.Dims);
        var layout = header.Message(0x08, 18);
        layout[0] = 3;  // version
        layout[1] = 1;  // contiguous
        BinaryPrimitives.WriteUInt64LittleEndian(layout[2..], (ulong)address);
        BinaryPrimitives.WriteUInt64LittleEndian(layout[10..], (ulong)d.Length);
        var fill = header.Message(0x05, 2);
        fill[0] = 3;     // version
        fill[1] = 0x15;  // allocated early, fill value never written, fill value undefined
        return header.WriteTo(meta);
    }

    private static void WriteAttribute(ObjectHeader header, string name, object value, GlobalHeap heap, long heapAddress)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name + "\0");
        int dtSize, count;
        bool scalar;
        Number type = default;
        switch (value)
        {
            case string: dtSize = 20; count = 1; scalar = true; break;
            case int: type = Number.Int32; dtSize = DatatypeSize(type); count = 1; scalar = true; break;
            case long: type = Number.Int64; dtSize = DatatypeSize(type); count = 1; scalar = true; break;
            case double: type = Number.Float64; dtSize = DatatypeSize(type); count = 1; scalar = true; break;
            case int[] a: type = Number.Int32; dtSize = DatatypeSize(type); count = a.Length; scalar = false; break;
            case long[] a: type = Number.Int64; dtSize = DatatypeSize(type); count = a.Length; scalar = false; break;
            case double[] a: type = Number.Float64; dtSize = DatatypeSize(type); count = a.Length; scalar = false; break;
            default:
                throw new ArgumentException($"attribute '{name}': a {value?.GetType().Name ?? "null"} value cannot be written to HDF5 (string, int, long, double or an array of int, long or double).");
        }
        var dsSize = scalar ? 4 : 12;
        var dataSize = value is string ? 16 : count * SizeOf(type);
        var m = header.Message(0x0C, 9 + nameBytes.Length + dtSize + dsSize + dataSize);
        m[0] = 3;  // version
        m[1] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(m[2..], (ushort)nameBytes.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(m[4..], (ushort)dtSize);
        BinaryPrimitives.WriteUInt16LittleEndian(m[6..], (ushort)dsSize);
        m[8] = 1;  // name in UTF-8
        var p = 9;
        nameBytes.CopyTo(m[p..]);
        p += nameBytes.Length;
        var dt = m.Slice(p, dtSize);
        if (value is string s)
        {
            // Variable-length string, null-padded, UTF-8; base type an unsigned byte.
            dt[0] = 0x19; dt[1] = 0x11; dt[2] = 0x01; dt[3] = 0;
            BinaryPrimitives.WriteUInt32LittleEndian(dt[4..], 16);
            WriteDatatype(dt[8..], Number.UInt8);
        }
        else
            WriteDatatype(dt, type);
        p += dtSize;
        if (scalar)
        {
            m[p] = 2; m[p + 1] = 0; m[p + 2] = 0; m[p + 3] = 0;  // version 2, scalar
        }
        else
            WriteDataspace(m.Slice(p, 12), new[] { (ulong)count });
        p += dsSize;
        var data = m[p..];
        switch (value)
        {
            case string str:
                var (length, index) = heap.Find(str);
                BinaryPrimitives.WriteUInt32LittleEndian(data, (uint)length);
                BinaryPrimitives.WriteUInt64LittleEndian(data[4..], length == 0 ? 0 : (ulong)heapAddress);
                BinaryPrimitives.WriteUInt32LittleEndian(data[12..], length == 0 ? 0u : (uint)index);
                break;
            case int v: BinaryPrimitives.WriteInt32LittleEndian(data, v); break;
            case long v: BinaryPrimitives.WriteInt64LittleEndian(data, v); break;
            case double v: BinaryPrimitives.WriteDoubleLittleEndian(data, v); break;
            case int[] a: for (var i = 0; i < a.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(data[(4 * i)..], a[i]); break;
            case long[] a: for (var i = 0; i < a.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(data[(8 * i)..], a[i]); break;
            case double[] a: for (var i = 0; i < a.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(data[(8 * i)..], a[i]); break;
        }
    }

    private static int SizeOf(Number t) => t switch
    {
        Number.UInt8 => 1, Number.Int32 or Number.UInt32 => 4, _ => 8,
    };

    private static int DatatypeSize(Number t) => t == Number.Float64 ? 20 : 12;

    /// <summary>A datatype message (version 1): fixed-point or IEEE float, little-endian.</summary>
    private static void WriteDatatype(Span<byte> m, Number t)
    {
        if (t == Number.Float64)
        {
            m[0] = 0x11; m[1] = 0x20; m[2] = 63; m[3] = 0;  // float; mantissa normalised (implied 1), sign at bit 63
            BinaryPrimitives.WriteUInt32LittleEndian(m[4..], 8);
            BinaryPrimitives.WriteUInt16LittleEndian(m[8..], 0);    // bit offset
            BinaryPrimitives.WriteUInt16LittleEndian(m[10..], 64);  // precision
            m[12] = 52; m[13] = 11; m[14] = 0; m[15] = 52;          // exponent at 52, 11 bits; mantissa at 0, 52 bits
            BinaryPrimitives.WriteUInt32LittleEndian(m[16..], 1023);
            return;
        }
        var size = SizeOf(t);
        m[0] = 0x10;
        m[1] = (byte)(t is Number.Int32 or Number.Int64 ? 0x08 : 0);  // signed
        m[2] = 0; m[3] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(m[4..], (uint)size);
        BinaryPrimitives.WriteUInt16LittleEndian(m[8..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(m[10..], (ushort)(8 * size));
    }

    /// <summary>A simple dataspace message (version 2), maximum dimensions equal to the dimensions.</summary>
    private static void WriteDataspace(Span<byte> m, ulong[] dims)
    {
        m[0] = 2; m[1] = (byte)dims.Length; m[2] = 0; m[3] = 1;
        for (var i = 0; i < dims.Length; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(m[(4 + 8 * i)..], dims[i]);
    }

    /// <summary>A version-2 object header being built: messages into one chunk, then the checksum.</summary>
    private sealed class ObjectHeader
    {
        private readonly List<(byte Type, byte[] Body)> _messages = new();

        public Span<byte> Message(byte type, int size)
        {
            if (size > ushort.MaxValue)
                throw new ArgumentException($"an HDF5 header message of {size} bytes is too big for a compact object header.");
            var body = new byte[size];
            _messages.Add((type, body));
            return body;
        }

        /// <summary>Appends the header to <paramref name="meta"/>; returns its address.</summary>
        public long WriteTo(Buffer meta)
        {
            var chunk = _messages.Sum(m => 4 + m.Body.Length);
            var address = meta.Position;
            var h = meta.Take(4 + 2 + 4 + chunk + 4);
            "OHDR"u8.CopyTo(h);
            h[4] = 2;     // version
            h[5] = 0x02;  // chunk 0 size in 4 bytes; no times, no attribute phase change values, no creation order
            BinaryPrimitives.WriteUInt32LittleEndian(h[6..], (uint)chunk);
            var p = 10;
            foreach (var (type, body) in _messages)
            {
                h[p] = type;
                BinaryPrimitives.WriteUInt16LittleEndian(h[(p + 1)..], (ushort)body.Length);
                h[p + 3] = 0;  // message flags
                body.CopyTo(h[(p + 4)..]);
                p += 4 + body.Length;
            }
            BinaryPrimitives.WriteUInt32LittleEndian(h[p..], Lookup3(h[..p]));
            return address;
        }
    }

    /// <summary>One global heap collection holding the attribute strings (each once).</summary>
    private sealed class GlobalHeap
    {
        private const int MinSize = 4096;
        private readonly List<byte[]> _objects = new();
        private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

        public int Count => _objects.Count;

        public void Add(string s)
        {
            if (s.Length == 0 || _index.ContainsKey(s))
                return;
            _objects.Add(Encoding.UTF8.GetBytes(s));
            _index[s] = _objects.Count;  // heap object indices start at 1
        }

        public (int Length, int Index) Find(string s) => s.Length == 0 ? (0, 0) : (_objects[_index[s] - 1].Length, _index[s]);

        public void WriteTo(Buffer meta)
        {
            long used = 16 + _objects.Sum(o => 16 + Align8(o.Length));
            var size = Math.Max(MinSize, used + 16);  // always room for the free-space object
            var h = meta.Take((int)size);
            "GCOL"u8.CopyTo(h);
            h[4] = 1;  // version
            BinaryPrimitives.WriteUInt64LittleEndian(h[8..], (ulong)size);
            var p = 16;
            for (var i = 0; i < _objects.Count; i++)
            {
                var o = _objects[i];
                BinaryPrimitives.WriteUInt16LittleEndian(h[p..], (ushort)(i + 1));
                BinaryPrimitives.WriteUInt16LittleEndian(h[(p + 2)..], 1);  // reference count
                BinaryPrimitives.WriteUInt64LittleEndian(h[(p + 8)..], (ulong)o.Length);
                o.CopyTo(h[(p + 16)..]);
                p += 16 + (int)Align8(o.Length);
            }
            // Object 0: the free space left, its own header included.
            BinaryPrimitives.WriteUInt64LittleEndian(h[(p + 8)..], (ulong)(size - p));
        }
    }

    /// <summary>The metadata region, appended to in memory (zeroed), then written at once.</summary>
    private sealed class Buffer(long baseAddress)
    {
        private byte[] _bytes = new byte[8192];
        private int _length;

        public long Position => baseAddress + _length;
        public ReadOnlySpan<byte> Span => _bytes.AsSpan(0, _length);

        public Span<byte> Take(int n)
        {
            if (_length + n > _bytes.Length)
                Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, _length + n));
            var s = _bytes.AsSpan(_length, n);
            _length += n;
            return s;
        }
    }

    /// <summary>Bob Jenkins' lookup3 hashlittle with initial value 0: HDF5's metadata checksum.</summary>
    internal static uint Lookup3(ReadOnlySpan<byte> k)
    {
        var length = k.Length;
        uint a, b, c;
        a = b = c = 0xdeadbeef + (uint)length;
        while (length > 12)
        {
            a += BinaryPrimitives.ReadUInt32LittleEndian(k);
            b += BinaryPrimitives.ReadUInt32LittleEndian(k[4..]);
            c += BinaryPrimitives.ReadUInt32LittleEndian(k[8..]);
            a -= c; a ^= uint.RotateLeft(c, 4); c += b;
            b -= a; b ^= uint.RotateLeft(a, 6); a += c;
            c -= b; c ^= uint.RotateLeft(b, 8); b += a;
            a -= c; a ^= uint.RotateLeft(c, 16); c += b;
            b -= a; b ^= uint.RotateLeft(a, 19); a += c;
            c -= b; c ^= uint.RotateLeft(b, 4); b += a;
            length -= 12;
            k = k[12..];
        }
        if (length == 0)
            return c;
        Span<byte> tail = stackalloc byte[12];
        tail.Clear();
        k[..length].CopyTo(tail);
        a += BinaryPrimitives.ReadUInt32LittleEndian(tail);
        b += BinaryPrimitives.ReadUInt32LittleEndian(tail[4..]);
        c += BinaryPrimitives.ReadUInt32LittleEndian(tail[8..]);
        c ^= b; c -= uint.RotateLeft(b, 14);
        a ^= c; a -= uint.RotateLeft(c, 11);
        b ^= a; b -= uint.RotateLeft(a, 25);
        c ^= b; c -= uint.RotateLeft(b, 16);
        a ^= c; a -= uint.RotateLeft(c, 4);
        b ^= a; b -= uint.RotateLeft(a, 14);
        c ^= b; c -= uint.RotateLeft(b, 24);
        return c;
    }
}
