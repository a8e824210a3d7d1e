namespace RunProc.Formats;

/// <summary>Element type of a frame stack on disk.</summary>
public enum FrameElementType
{
    UInt8,
    UInt16,
    Int16,
    UInt32,
    Int32,
    Float32,
}

/// <summary>
/// A frame stack of one detector in one file (an HDF5 dataset or a .npy array): events × frame
/// shape. Blocks of frames are read into caller-owned buffers, so a run is read with a fixed
/// amount of memory whatever its length. A source may be read from two threads at once.
/// </summary>
public abstract class FrameSource : IDisposable
{
    /// <summary>The file read.</summary>
    public required string File { get; init; }

    /// <summary>The dataset path inside the file (HDF5), or "" for a .npy file.</summary>
    public required string Dataset { get; init; }

    /// <summary>The shape of one frame ([segments ×] rows × cols).</summary>
    public required int[] FrameShape { get; init; }

    public required long FrameCount { get; init; }

    public required FrameElementType ElementType { get; init; }

    /// <summary>True where the data are compressed/chunked, so decoding pays off on several threads.</summary>
    public bool Compressed { get; init; }

    public int FramePixels => FrameShape.Aggregate(1, (a, b) => checked(a * b));

    /// <summary>Where an error should point: file and dataset.</summary>
    public string Where => Dataset.Length == 0 ? File : $"{File}:{Dataset}";

    /// <summary>Reads frames [first, first+count) of a uint16 source into <paramref name="dest"/>.</summary>
    public abstract void ReadUInt16(long first, int count, Span<ushort> dest);

    /// <summary>
    /// Reads frames of any type as int32 for the wide kernel. Integers are masked by
    /// <paramref name="dataMask"/> on their raw bits (so masked values are non-negative); uint32
    /// above int.MaxValue is clamped to int.MaxValue; float32 is rounded to the nearest integer
    /// (ties to even), clamped to the int32 range, NaN taken as int.MinValue (below every gate).
    /// </summary>
    public abstract void ReadInt32(long first, int count, Span<int> dest, uint dataMask);

    /// <summary>
    /// True where <see cref="ReadUInt16"/> is a plain pread of contiguous frames from the file: the
    /// pipeline then reads them into its reused huge-page blocks instead of scanning the memory
    /// map in place. In this VM the first read of each 4 KiB page of a fresh mapping costs
    /// ~0.6 µs even once its page tables are filled, more than copying the page (pread: ~9 GB/s).
    /// </summary>
    public virtual bool ReadsByPread => false;

    /// <summary>A contiguous uint16 view of frames [first, first+count) without a copy, where the source can give one.</summary>
    public virtual unsafe ushort* TryGetUInt16Pointer(long first, int count) => null;

    /// <summary>Arrays one frame is stored as: 1 = one contiguous frame; xtc2: one per detector segment, apart in the file.</summary>
    public virtual int FramePieces => 1;

    /// <summary>
    /// The in-place addresses of piece <paramref name="piece"/> (FramePixels / FramePieces uint16
    /// values) of frames [first, first+count) into <paramref name="dest"/>, without a copy; false
    /// where the source cannot give them (then it is read through <see cref="ReadUInt16"/>).
    /// </summary>
    public virtual unsafe bool TryGetUInt16Pieces(long first, int count, int piece, Span<nint> dest)
    {
        if (FramePieces != 1 || piece != 0)
            return false;
        var p = TryGetUInt16Pointer(first, count);
        if (p == null)
            return false;
        for (var i = 0; i < count; i++)
            dest[i] = (nint)(p + (long)i * FramePixels);
        return true;
    }

    protected static void Convert(ReadOnlySpan<short> src, Span<int> dst, uint mask)
    {
        if (mask == uint.MaxValue)
            for (var i = 0; i < src.Length; i++) dst[i] = src[i];
        else
            for (var i = 0; i < src.Length; i++) dst[i] = (int)((ushort)src[i] & mask);
    }

    protected static void Convert(ReadOnlySpan<uint> src, Span<int> dst, uint mask)
    {
        for (var i = 0; i < src.Length; i++)
        {
            var v = src[i] & mask;
            dst[i] = v > int.MaxValue ? int.MaxValue : (int)v;
        }
    }

    protected static void Convert(ReadOnlySpan<int> src, Span<int> dst, uint mask)
    {
        for (var i = 0; i < src.Length; i++)
            dst[i] = mask == uint.MaxValue ? src[i] : (int)Math.Min((uint)src[i] & mask, int.MaxValue);
    }

    protected static void Convert(ReadOnlySpan<byte> src, Span<int> dst, uint mask)
    {
        for (var i = 0; i < src.Length; i++) dst[i] = (int)(src[i] & mask);
    }

    protected static void Convert(ReadOnlySpan<ushort> src, Span<int> dst, uint mask)
    {
        for (var i = 0; i < src.Length; i++) dst[i] = (int)(src[i] & mask);
    }

    protected static void Convert(ReadOnlySpan<float> src, Span<int> dst)
    {
        for (var i = 0; i < src.Length; i++)
        {
            var f = src[i];
            dst[i] = float.IsNaN(f) ? int.MinValue
                : f >= 2147483647f ? int.MaxValue
                : f <= -2147483648f ? int.MinValue
                : (int)MathF.Round(f, MidpointRounding.ToEven);
        }
    }

    /// <summary>
    /// The bytes of an array of <paramref name="dims"/> elements of <paramref name="elementSize"/>
    /// bytes, or null when that does not fit 63 bits: sizes read from a file header are multiplied
    /// here, never in a type that wraps or throws an error that names no file.
    /// </summary>
    public static long? CheckedBytes(IEnumerable<ulong> dims, int elementSize)
    {
        var list = dims as IReadOnlyCollection<ulong> ?? dims.ToList();
        if (list.Any(d => d == 0))
            return 0;
        UInt128 b = (uint)elementSize;
        foreach (var d in list)
        {
            b *= d; // < 2^63 · 2^64: fits 128 bits
            if (b > long.MaxValue)
                return null;
        }
        return (long)b;
    }

    public static int ElementSize(FrameElementType t) => t switch
    {
        FrameElementType.UInt8 => 1,
        FrameElementType.UInt16 or FrameElementType.Int16 => 2,
        _ => 4,
    };

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing) { }
}

/// <summary>A frame that could not be read: names the file, the dataset and the frame.</summary>
/// <summary>No event of a detector is left to analyse (the event selection, or every event lacking a segment or damaged): the files are fine, the request selects nothing.</summary>
public sealed class NoEventsSelectedException : FrameReadException
{
    public NoEventsSelectedException(string file, string dataset, long frame, string message) : base(file, dataset, -1, message) => FirstSelected = frame;

    /// <summary>The first event the selection would have taken.</summary>
    public long FirstSelected { get; }
}

public class FrameReadException : IOException
{
    public FrameReadException(string file, string dataset, long frame, string message, Exception? inner = null)
        : base($"{file}{(dataset.Length > 0 ? ":" + dataset : "")}{(frame >= 0 ? $": frame {frame}" : "")}: {message}", inner)
    {
        File = file;
        Dataset = dataset;
        Frame = frame;
    }

    public string File { get; }
    public string Dataset { get; }

    /// <summary>The first frame (index within the file) that could not be read; -1 for the file's structure.</summary>
    public long Frame { get; }
}
