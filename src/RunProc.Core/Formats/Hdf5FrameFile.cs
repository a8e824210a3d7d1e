using System.IO.MemoryMappedFiles;
using System.Reflection;
using PureHDF;
using PureHDF.Selections;
using PureHDF.VOL.Native;

namespace RunProc.Formats;

/// <summary>
/// One HDF5 run file opened through a memory map (PureHDF otherwise issues one read call per
/// innermost row, ~4× slower), with its frame stacks: datasets of rank ≥ 3 of integer or float32
/// type, named by their path.
/// </summary>
/// <remarks>
/// PureHDF 2.2.0 reads the per-chunk "filter skipped" mask at the wrong bit, which corrupts data
/// of filters HDF5 may skip per chunk (h5py's LZF on incompressible chunks). RunProc registers no
/// extra filters, so such datasets fail to read and are refused with an error naming them; the
/// built-in deflate, shuffle, fletcher32 and scale-offset are not skipped per chunk by HDF5 in
/// practice and are read.
/// </remarks>
public sealed unsafe class Hdf5FrameFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly NativeFile _file;
    private Microsoft.Win32.SafeHandles.SafeFileHandle? _handle;
    private byte* _base;
    private readonly long _length;

    private Hdf5FrameFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, NativeFile file, long length)
    {
        Path = path;
        _map = map;
        _view = view;
        _file = file;
        _length = length;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + view.PointerOffset;
        // Pages read in from now on may come as 2 MiB folios and be mapped as such (Linux 6.x
        // with large-folio file systems); pages already cached stay as they are.
        MappedPages.AdviseHugePages(p, view.PointerOffset + length);
    }

    public string Path { get; }

    public IReadOnlyList<FrameSource> Sources { get; private set; } = Array.Empty<FrameSource>();

    /// <summary>Datasets that are not frame stacks, each with the reason (for an error that says why nothing was found).</summary>
    public List<string> Skipped { get; } = new();

    /// <summary>Opens a run file and lists its frame stacks, checking their sizes against the file.</summary>
    public static Hdf5FrameFile Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var length = new FileInfo(full).Length;
        if (length < 8)
            throw new FrameReadException(full, "", -1, $"the file is too small to be HDF5 ({length} bytes).");
        if (StoredEndOfFile(full, length) is { } eof && eof > length)
            throw new FrameReadException(full, "", -1,
                $"the file is truncated: its HDF5 superblock says it ends at byte {eof}, but it has {length} bytes (still being copied or written?). Frames past the end would read as zeros.");
        var map = MemoryMappedFile.CreateFromFile(full, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        NativeFile? file = null;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            // PureHDF reads through a FileStream, not the map: its memory-mapped driver copies from
            // whatever address a damaged file names, and an address past the mapping kills the process
            // (AccessViolationException cannot be caught). A FileStream read past the end is just short.
            // The map serves only RunProc's own bounds-checked zero-copy path (DirectPointer).
            try { file = H5File.Open(new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1), false); }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                throw new FrameReadException(full, "", -1, $"not a readable HDF5 file: {ex.Message}", ex);
            }
            var result = new Hdf5FrameFile(full, map, view, file, length);
            var sources = new List<FrameSource>();
            try { Walk(result, file, "", length, sources, new Dictionary<ulong, string>()); }
            catch (Exception ex) when (ex is not FrameReadException and not OutOfMemoryException)
            {
                throw new FrameReadException(full, "", -1, $"the file's structure cannot be read: {ex.Message}", ex);
            }
            result.Sources = sources;
            return result;
        }
        catch
        {
            file?.Dispose();
            view?.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The end-of-file address the HDF5 superblock records (base address included), or null if it
    /// cannot be read. HDF5 itself refuses a file shorter than this; PureHDF does not, and reads the
    /// missing bytes of a truncated file as zeros.
    /// </summary>
    internal static long? StoredEndOfFile(string path, long length)
    {
        ReadOnlySpan<byte> signature = [0x89, (byte)'H', (byte)'D', (byte)'F', 0x0D, 0x0A, 0x1A, 0x0A];
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            var buf = new byte[128];
            // The superblock is at 0, 512, 1024, 2048, ... (after a user block).
            for (long at = 0; at + 48 <= length; at = at == 0 ? 512 : at * 2)
            {
                fs.Position = at;
                var n = fs.ReadAtLeast(buf, buf.Length, throwOnEndOfStream: false);
                if (n < 48 || !buf.AsSpan(0, 8).SequenceEqual(signature))
                    continue;
                var version = buf[8];
                int offsets, pos;
                if (version is 0 or 1)
                {
                    offsets = buf[13];
                    pos = 24 + (version == 1 ? 4 : 0); // base address follows the fixed fields
                }
                else if (version is 2 or 3)
                {
                    offsets = buf[9];
                    pos = 12;
                }
                else
                    return null;
                if (offsets is not (2 or 4 or 8) || pos + 4 * offsets > n)
                    return null;
                var baseAddress = ReadOffset(buf, pos, offsets);
                var eof = ReadOffset(buf, pos + 2 * offsets, offsets);
                if (baseAddress is null || eof is null)
                    return null;
                return baseAddress.Value + eof.Value;
            }
        }
        catch (IOException) { }
        return null;
    }

    private static long? ReadOffset(byte[] b, int at, int size)
    {
        ulong v = 0;
        for (var i = size - 1; i >= 0; i--) v = (v << 8) | b[at + i];
        // All ones is HDF5's "undefined address".
        return v == (size == 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1) || v > long.MaxValue / 2 ? null : (long)v;
    }

    /// <summary>
    /// Lists the frame stacks under <paramref name="group"/>. An object reached again (a hard or
    /// soft link to a dataset or group already seen) is read once: its frames are not counted twice
    /// and a link cycle does not recurse forever.
    /// </summary>
    private static void Walk(Hdf5FrameFile owner, IH5Group group, string prefix, long fileLength, List<FrameSource> sources, Dictionary<ulong, string> seen)
    {
        foreach (var child in group.Children())
        {
            var path = prefix + "/" + child.Name;
            if (ObjectAddress(child) is { } address && !seen.TryAdd(address, path))
            {
                owner.Skipped.Add($"{path} is {seen[address]} again (a link), read once");
                continue;
            }
            if (child is IH5Group g)
                Walk(owner, g, path, fileLength, sources, seen);
            else if (child is NativeDataset ds)
            {
                if (TryDescribe(owner, ds, path, fileLength) is { } src)
                    sources.Add(src);
                else
                    owner.Skipped.Add(Describe(ds, path));
            }
        }
    }

    private static readonly PropertyInfo? ReferenceProperty = typeof(NativeObject).GetProperty("Reference", BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>The object header address (its identity in the file), or null where PureHDF does not show it.</summary>
    private static ulong? ObjectAddress(IH5Object o)
    {
        try
        {
            var reference = o is NativeObject n ? ReferenceProperty?.GetValue(n) : null;
            return reference?.GetType().GetProperty("Value")?.GetValue(reference) is ulong v ? v : null;
        }
        catch (Exception ex) when (ex is TargetInvocationException or MemberAccessException)
        {
            return null;
        }
    }

    private static string Describe(NativeDataset ds, string name)
    {
        try
        {
            var t = ds.Type;
            var type = t.Class switch
            {
                H5DataTypeClass.FixedPoint => $"{(t.FixedPoint.IsSigned ? "int" : "uint")}{8 * t.Size}",
                H5DataTypeClass.FloatingPoint => $"float{8 * t.Size}",
                _ => t.Class.ToString(),
            };
            return $"{name} is {type} of rank {ds.Space.Dimensions.Length}";
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return $"{name} cannot be described ({ex.Message})";
        }
    }

    private static Hdf5FrameSource? TryDescribe(Hdf5FrameFile owner, NativeDataset ds, string name, long fileLength)
    {
        var type = ds.Type;
        FrameElementType? et = type.Class switch
        {
            H5DataTypeClass.FixedPoint => (type.Size, type.FixedPoint.IsSigned) switch
            {
                (1, false) => FrameElementType.UInt8,
                (2, false) => FrameElementType.UInt16,
                (2, true) => FrameElementType.Int16,
                (4, false) => FrameElementType.UInt32,
                (4, true) => FrameElementType.Int32,
                _ => null,
            },
            H5DataTypeClass.FloatingPoint when type.Size == 4 => FrameElementType.Float32,
            _ => null,
        };
        var dims = ds.Space.Dimensions;
        if (et is null || dims.Length < 3)
            return null;
        // A corrupted dimension can be huge: check the declared size before any buffer is sized from it.
        var frame = FrameSource.CheckedBytes(dims.Skip(1), 1);
        if (frame is not > 0 or > int.MaxValue)
            throw new FrameReadException(owner.Path, name, -1, $"frame shape ({string.Join(",", dims.Skip(1))}) is empty or too large.");
        var bytes = FrameSource.CheckedBytes(dims, FrameSource.ElementSize(et.Value))
            ?? throw new FrameReadException(owner.Path, name, -1, $"the dataset's dimensions ({string.Join(",", dims)}) are damaged: they need more than 2^63 bytes.");
        var layout = ds.Layout.Class;
        if (layout is H5DataLayoutClass.Contiguous or H5DataLayoutClass.Compact && bytes > fileLength)
            throw new FrameReadException(owner.Path, name, (long)Math.Min(dims[0], (ulong)(fileLength / (frame.Value * FrameSource.ElementSize(et.Value)))),
                $"the file is truncated or the dataset's dimensions are damaged: ({string.Join(",", dims)}) needs {bytes} bytes, the file has {fileLength}.");
        // Chunked data is checked too: unwritten chunks read as fill values (zeros) and a damaged
        // dimension can claim petabytes, which would be "read" for days. Without filters every chunk
        // takes its full size in the file; deflate cannot compress more than ~1032:1.
        if (layout == H5DataLayoutClass.Chunked && dims[0] > 0)
        {
            var limit = HasFilters(ds) ? fileLength * 1100m : fileLength;
            // (decimal: 1100 × a 63-bit length does not wrap)
            if (bytes > limit)
                throw new FrameReadException(owner.Path, name, -1,
                    $"the dataset's dimensions are damaged or its chunks were never written (a truncated or unfinished file): ({string.Join(",", dims)}) needs {bytes} bytes{(HasFilters(ds) ? " uncompressed" : "")}, the file has {fileLength}.");
        }
        if (dims[0] > int.MaxValue)
            throw new FrameReadException(owner.Path, name, -1, $"{dims[0]} events is not a plausible frame count (damaged dimensions?).");
        var src = new Hdf5FrameSource(ds)
        {
            File = owner.Path,
            Dataset = name,
            ElementType = et.Value,
            FrameCount = (long)dims[0],
            FrameShape = dims.Skip(1).Select(d => (int)d).ToArray(),
            Compressed = layout == H5DataLayoutClass.Chunked,
        };
        if (layout == H5DataLayoutClass.Contiguous && et == FrameElementType.UInt16 && dims[0] > 0)
        {
            src.Direct = owner.DirectPointer(ds, src, bytes);
            if (src.Direct != null)
                (src.Handle, src.DirectOffset) = (owner.Handle(), (long)((byte*)src.Direct - owner._base));
        }
        return src;
    }

    // Whether a chunked dataset has a filter pipeline (PureHDF 2.2.0 keeps it internal; if it cannot
    // be seen, assume filters: the looser bound).
    private static bool HasFilters(NativeDataset ds)
    {
        try
        {
            var prop = typeof(NativeDataset).GetProperty("InternalFilterPipeline", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance);
            return prop is null || prop.GetValue(ds) is not null;
        }
        catch (Exception ex) when (ex is System.Reflection.TargetInvocationException or MemberAccessException)
        {
            return true;
        }
    }

    /// <summary>
    /// Zero copy for contiguous uint16 data: the frames are read in place from the memory map
    /// instead of through PureHDF (which copies at ~6 GB/s). PureHDF 2.2.0 keeps the data address
    /// internal, so it is taken by reflection and trusted only after the first, middle and last
    /// frames read through PureHDF compare equal to the mapped bytes (this also rules out a
    /// big-endian type, external storage or an unallocated dataset). Any doubt: null, PureHDF reads.
    /// </summary>
    private ushort* DirectPointer(NativeDataset ds, Hdf5FrameSource src, long bytes)
    {
        try
        {
            var layoutMessage = ds.Layout.GetType().GetField("_dataLayout", BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(ds.Layout);
            var props = layoutMessage?.GetType().GetProperty("Properties")?.GetValue(layoutMessage);
            if (props?.GetType().GetProperty("Address")?.GetValue(props) is not ulong address || address > (ulong)_length || (long)address + bytes > _length)
                return null;
            var direct = (ushort*)(_base + address);
            var px = src.FramePixels;
            var check = new ushort[px];
            foreach (var f in new[] { 0L, src.FrameCount / 2, src.FrameCount - 1 })
            {
                src.ReadUInt16(f, 1, check);
                if (!new ReadOnlySpan<ushort>(direct + f * px, px).SequenceEqual(check))
                    return null;
            }
            return direct;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return null;
        }
    }

    /// <summary>A handle for pread of the verified contiguous frames (opened once, on first use).</summary>
    private Microsoft.Win32.SafeHandles.SafeFileHandle Handle() =>
        _handle ??= File.OpenHandle(Path, FileMode.Open, FileAccess.Read, FileShare.Read);

    public void Dispose()
    {
        if (_base != null)
        {
            _view?.SafeMemoryMappedViewHandle.ReleasePointer();
            _base = null;
        }
        _handle?.Dispose();
        _file.Dispose();
        _view?.Dispose();
        _map?.Dispose();
    }
}

/// <summary>One frame stack of an HDF5 file; read with one hyperslab per block into the caller's buffer.</summary>
public sealed unsafe class Hdf5FrameSource : FrameSource
{
    private readonly NativeDataset _dataset;

    /// <summary>The verified in-place address of contiguous uint16 frames, or null.</summary>
    internal ushort* Direct { get; set; }

    /// <summary>With <see cref="Direct"/>: the file and the frames' byte offset in it, for pread.</summary>
    internal Microsoft.Win32.SafeHandles.SafeFileHandle? Handle { get; set; }
    internal long DirectOffset { get; set; }

    public override bool ReadsByPread => Direct != null && Handle is not null;

    public override ushort* TryGetUInt16Pointer(long first, int count)
    {
        if (Direct == null)
            return null;
        if (first < 0 || count < 0 || first + count > FrameCount)
            throw new ArgumentOutOfRangeException(nameof(first), $"frames {first}..{first + count} are outside 0..{FrameCount}.");
        return Direct + first * FramePixels;
    }

    internal Hdf5FrameSource(NativeDataset dataset) => _dataset = dataset;

    private HyperslabSelection Slab(long first, int count)
    {
        var rank = FrameShape.Length + 1;
        var starts = new ulong[rank];
        var blocks = new ulong[rank];
        starts[0] = (ulong)first;
        blocks[0] = (ulong)count;
        for (var i = 1; i < rank; i++) blocks[i] = (ulong)FrameShape[i - 1];
        return new HyperslabSelection(rank, starts, blocks);
    }

    private void Read<T>(long first, int count, Span<T> dest) where T : unmanaged
    {
        if (first < 0 || count < 0 || first + count > FrameCount)
            throw new ArgumentOutOfRangeException(nameof(first), $"frames {first}..{first + count} are outside 0..{FrameCount}.");
        try
        {
            _dataset.Read(dest[..checked(count * FramePixels)], fileSelection: Slab(first, count));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException and not OperationCanceledException)
        {
            // Find the first bad frame so the error names it (blocks are short; this costs nothing when all is well).
            var bad = first;
            if (count > 1)
            {
                var one = new T[FramePixels];
                for (bad = first; bad < first + count; bad++)
                {
                    try { _dataset.Read(one.AsSpan(), fileSelection: Slab(bad, 1)); }
                    catch (Exception) { break; }
                }
            }
            var why = ex.Message.Contains("Could not find filter", StringComparison.OrdinalIgnoreCase)
                ? $"{ex.Message} (RunProc reads deflate/gzip, shuffle, fletcher32 and scale-offset; LZF, blosc, bitshuffle or szip data must be converted first)"
                : ex.Message;
            throw new FrameReadException(File, Dataset, bad, $"cannot be read: {why}", ex);
        }
    }

    public override void ReadUInt16(long first, int count, Span<ushort> dest)
    {
        if (ElementType != FrameElementType.UInt16)
            throw new InvalidOperationException($"{Where} holds {ElementType}, not uint16.");
        if (ReadsByPread)
        {
            // The frames' place in the file was checked against PureHDF's reads at open (DirectPointer).
            if (first < 0 || count < 0 || first + count > FrameCount)
                throw new ArgumentOutOfRangeException(nameof(first), $"frames {first}..{first + count} are outside 0..{FrameCount}.");
            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(dest[..checked(count * FramePixels)]);
            var at = DirectOffset + first * FramePixels * 2L;
            for (var got = 0; got < bytes.Length;)
            {
                int n;
                try { n = RandomAccess.Read(Handle!, bytes[got..], at + got); }
                catch (IOException ex) { throw new FrameReadException(File, Dataset, first + got / (FramePixels * 2L), $"cannot be read: {ex.Message}", ex); }
                if (n <= 0)
                    throw new FrameReadException(File, Dataset, first + got / (FramePixels * 2L), "cannot be read: the file ends before this frame (truncated while open?).");
                got += n;
            }
            return;
        }
        Read(first, count, dest);
    }

    public override void ReadInt32(long first, int count, Span<int> dest, uint dataMask)
    {
        var n = checked(count * FramePixels);
        switch (ElementType)
        {
            case FrameElementType.Int32:
                Read(first, count, dest);
                Convert(dest[..n], dest, dataMask);
                break;
            case FrameElementType.UInt8: { var b = new byte[n]; Read(first, count, b.AsSpan()); Convert(b, dest, dataMask); break; }
            case FrameElementType.UInt16: { var b = new ushort[n]; Read(first, count, b.AsSpan()); Convert(b, dest, dataMask); break; }
            case FrameElementType.Int16: { var b = new short[n]; Read(first, count, b.AsSpan()); Convert(b, dest, dataMask); break; }
            case FrameElementType.UInt32: { var b = new uint[n]; Read(first, count, b.AsSpan()); Convert(b, dest, dataMask); break; }
            default: { var b = new float[n]; Read(first, count, b.AsSpan()); Convert(b, dest); break; }
        }
    }
}
