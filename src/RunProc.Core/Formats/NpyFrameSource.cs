using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace RunProc.Formats;

/// <summary>
/// A NumPy .npy frame stack (events × [segments ×] rows × cols, C order, little-endian u1/u2/i2/u4/i4/f4),
/// memory-mapped: uint16 frames are handed to the kernel in place, without a copy.
/// </summary>
public sealed unsafe partial class NpyFrameSource : FrameSource
{
    private MappedFile? _mapped;
    private byte* _base;
    private long _dataOffset;

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrRx();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranRx();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapeRx();

    private NpyFrameSource() { }

    /// <summary>Opens and checks a .npy file; its declared size must match the file length.</summary>
    public static NpyFrameSource Open(string path)
    {
        var full = Path.GetFullPath(path);
        long length;
        byte[] head;
        using (var fs = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            length = fs.Length;
            head = new byte[Math.Min(length, 65536 + 12)];
            fs.ReadExactly(head);
        }
        FrameReadException Bad(string why) => new(full, "", -1, why);
        if (head.Length < 10 || head[0] != 0x93 || Encoding.ASCII.GetString(head, 1, 5) != "NUMPY")
            throw Bad("not a NumPy .npy file (bad magic).");
        int major = head[6], start;
        long headerLen;
        if (major == 1) { headerLen = BitConverter.ToUInt16(head, 8); start = 10; }
        else if (major is 2 or 3 && head.Length >= 12) { headerLen = BitConverter.ToUInt32(head, 8); start = 12; }
        else throw Bad(major is 2 or 3 ? "the file ends inside its header." : $"unsupported .npy version {major}.");
        // 64-bit: a damaged 32-bit header length must not wrap past the check.
        if (start + headerLen > head.Length)
            throw Bad($"the header claims {headerLen} bytes, more than the file{(length > head.Length ? " (or the 64 KiB a .npy header may take)" : "")} holds.");
        var header = Encoding.Latin1.GetString(head, start, (int)headerLen);
        var descr = DescrRx().Match(header);
        var fortran = FortranRx().Match(header);
        var shape = ShapeRx().Match(header);
        if (!descr.Success || !shape.Success)
            throw Bad($"the header has no descr or shape: {header.Trim()}");
        if (fortran.Success && fortran.Groups[1].Value == "True")
            throw Bad("Fortran-order arrays are not read; save with np.ascontiguousarray.");
        var type = descr.Groups[1].Value switch
        {
            "|u1" or "<u1" => FrameElementType.UInt8,
            "<u2" => FrameElementType.UInt16,
            "<i2" => FrameElementType.Int16,
            "<u4" => FrameElementType.UInt32,
            "<i4" => FrameElementType.Int32,
            "<f4" => FrameElementType.Float32,
            var d => throw Bad($"element type '{d}' is not read (u1, u2, i2, u4, i4, f4 little-endian are)."),
        };
        var dims = new List<long>();
        foreach (var part in shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!long.TryParse(part.TrimEnd('L'), out var d) || d < 0)
                throw Bad($"bad shape '{shape.Groups[1].Value}'.");
            dims.Add(d);
        }
        if (dims.Count < 3)
            throw Bad($"shape ({string.Join(",", dims)}) is not a frame stack (events × [segments ×] rows × cols).");
        var frame = CheckedBytes(dims.Skip(1).Select(d => (ulong)d), 1);
        if (frame is not > 0 or > int.MaxValue)
            throw Bad($"frame shape ({string.Join(",", dims.Skip(1))}) is empty or too large.");
        var dataOffset = start + headerLen;
        var data = CheckedBytes(dims.Select(d => (ulong)d), ElementSize(type));
        if (data is null || data.Value > length - dataOffset)
        {
            var whole = (length - dataOffset) / (frame.Value * ElementSize(type));
            throw new FrameReadException(full, "", whole,
                $"the file is truncated: {dims[0]} frames declared, {length} bytes hold only {whole} whole frames.");
        }
        var src = new NpyFrameSource
        {
            File = full, Dataset = "", ElementType = type, FrameCount = dims[0],
            FrameShape = dims.Skip(1).Select(d => (int)d).ToArray(),
        };
        src._dataOffset = dataOffset;
        if (dims[0] > 0)
        {
            src._mapped = MappedFile.Open(full);
            src._base = src._mapped.Base;
        }
        return src;
    }

    private byte* At(long first, int count)
    {
        if (first < 0 || count < 0 || first + count > FrameCount)
            throw new ArgumentOutOfRangeException(nameof(first), $"frames {first}..{first + count} are outside 0..{FrameCount}.");
        return _base + _dataOffset + first * FramePixels * (long)ElementSize(ElementType);
    }

    public override ushort* TryGetUInt16Pointer(long first, int count) =>
        ElementType == FrameElementType.UInt16 ? (ushort*)At(first, count) : null;

    public override void ReadUInt16(long first, int count, Span<ushort> dest)
    {
        if (ElementType != FrameElementType.UInt16)
            throw new InvalidOperationException($"{Where} holds {ElementType}, not uint16.");
        new ReadOnlySpan<ushort>(At(first, count), checked(count * FramePixels)).CopyTo(dest);
    }

    public override void ReadInt32(long first, int count, Span<int> dest, uint dataMask)
    {
        var n = checked(count * FramePixels);
        var p = At(first, count);
        switch (ElementType)
        {
            case FrameElementType.UInt8: Convert(new ReadOnlySpan<byte>(p, n), dest, dataMask); break;
            case FrameElementType.UInt16: Convert(new ReadOnlySpan<ushort>(p, n), dest, dataMask); break;
            case FrameElementType.Int16: Convert(new ReadOnlySpan<short>(p, n), dest, dataMask); break;
            case FrameElementType.UInt32: Convert(new ReadOnlySpan<uint>(p, n), dest, dataMask); break;
            case FrameElementType.Int32: Convert(new ReadOnlySpan<int>(p, n), dest, dataMask); break;
            default: Convert(new ReadOnlySpan<float>(p, n), dest); break;
        }
    }

    protected override void Dispose(bool disposing)
    {
        _mapped?.Dispose();
        _mapped = null;
        _base = null;
    }
}
