using System.Buffers.Binary;
using System.Text;

namespace RunProc.Formats;

/// <summary>LCLS-II transition ids (env bits 27–24 of a dgram).</summary>
public enum Xtc2Transition
{
    ClearReadout = 0,
    Reset = 1,
    Configure = 2,
    Unconfigure = 3,
    BeginRun = 4,
    EndRun = 5,
    BeginStep = 6,
    EndStep = 7,
    Enable = 8,
    Disable = 9,
    SlowUpdate = 10,
    Unused11 = 11,
    L1Accept = 12,
}

/// <summary>Xtc type ids (the low 12 bits of <c>contains</c>).</summary>
public enum Xtc2TypeId : ushort
{
    Parent = 0,
    ShapesData = 1,
    Shapes = 2,
    Data = 3,
    Names = 4,
}

/// <summary>Element types of a Name (<c>xtc/ShapesData.hh</c>).</summary>
public enum Xtc2DataType : uint
{
    UInt8 = 0, UInt16 = 1, UInt32 = 2, UInt64 = 3, Int8 = 4, Int16 = 5, Int32 = 6, Int64 = 7,
    Float = 8, Double = 9, CharStr = 10, EnumVal = 11, EnumDict = 12,
}

/// <summary>One field of a Names: name, element type, rank (0 = scalar).</summary>
public sealed record Xtc2Field(string Name, Xtc2DataType Type, int Rank)
{
    public int ElementSize => Xtc2Format.ElementSize(Type);
}

/// <summary>
/// A Names xtc: the description of one detector segment's (or one DAQ block's) fields, keyed
/// within its stream by <see cref="NamesId"/>.
/// </summary>
public sealed record Xtc2Names(
    uint NamesId,
    string DetType,
    string DetName,
    string DetId,
    string Alg,
    uint AlgVersion,
    int Segment,
    IReadOnlyList<Xtc2Field> Fields)
{
    /// <summary>Fields with rank &gt; 0 (each takes one Shapes record, in this order).</summary>
    public int Arrays => Fields.Count(f => f.Rank > 0);

    /// <summary>e.g. 2.0.1</summary>
    public string AlgVersionText => $"{AlgVersion >> 16}.{(AlgVersion >> 8) & 0xFF}.{AlgVersion & 0xFF}";

    /// <summary>The field's index, or -1.</summary>
    public int IndexOf(string field)
    {
        for (var i = 0; i < Fields.Count; i++)
            if (Fields[i].Name == field) return i;
        return -1;
    }
}

/// <summary>
/// Byte layouts of LCLS-II xtc2 (slac-lcls/lcls2 <c>xtcdata/xtc</c>; summarised in
/// ../shared/reference/xtc2-format.md): little-endian, no alignment anywhere, so every field is
/// read with an unaligned little-endian load.
/// </summary>
public static class Xtc2Format
{
    /// <summary>Dgram header before the root xtc: time (ns, s) and env.</summary>
    public const int DgramHeader = 12;

    /// <summary>Xtc header: src, damage, contains, extent.</summary>
    public const int XtcHeader = 12;

    /// <summary>Smallest dgram: header + an empty root xtc.</summary>
    public const int MinDgram = DgramHeader + XtcHeader;

    public const int NameInfoSize = 1036;
    public const int NameSize = 524;
    public const int StringSize = 256;
    public const int ShapeRecord = 20;
    public const int MaxRank = 5;

    /// <summary>Seconds from the Unix epoch to the LCLS epoch (1990-01-01 UTC).</summary>
    public const long EpochOffset = 631152000;

    /// <summary>Damage bit Corrupted: the C++ iterator does not descend into such an xtc, nor does RunProc.</summary>
    public const ushort DamageCorrupted = 1 << 3;

    /// <summary>DAQ NamesId indices (psdaq/drp/drp.hh).</summary>
    public const int ChunkInfoIndex = 252, StepInfoIndex = 253, SmdIndex = 254, RunInfoIndex = 255;

    /// <summary>The NamesId (src value) of node <paramref name="nodeId"/>, index <paramref name="index"/>.</summary>
    public static uint NamesId(int nodeId, int index) => (uint)((nodeId & 0xFFF) << 8 | (index & 0xFF));

    public static int ElementSize(Xtc2DataType t) => t switch
    {
        Xtc2DataType.UInt8 or Xtc2DataType.Int8 or Xtc2DataType.CharStr => 1,
        Xtc2DataType.UInt16 or Xtc2DataType.Int16 => 2,
        Xtc2DataType.UInt64 or Xtc2DataType.Int64 or Xtc2DataType.Double => 8,
        _ => 4,
    };

    /// <summary>The transition id of an env word.</summary>
    public static Xtc2Transition TransitionOf(uint env) => (Xtc2Transition)((env >> 24) & 0xF);

    public static unsafe uint U32(byte* p) => BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(p, 4));

    public static unsafe ushort U16(byte* p) => BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(p, 2));

    public static unsafe ulong U64(byte* p) => BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(p, 8));

    /// <summary>A char[256] field: the text before the first NUL, or null when there is none (a damaged field).</summary>
    public static unsafe string? FixedString(byte* p)
    {
        var span = new ReadOnlySpan<byte>(p, StringSize);
        var n = span.IndexOf((byte)0);
        return n < 0 ? null : Encoding.Latin1.GetString(span[..n]);
    }
}

/// <summary>
/// An xtc2 file or dgram that breaks the format: names the file, the dgram (index in the file)
/// and the byte offset of the offending structure. A <see cref="FrameReadException"/>, so the
/// cmdlet reports it like any damaged frame file and writes nothing.
/// </summary>
public sealed class Xtc2FormatException : FrameReadException
{
    public Xtc2FormatException(string file, long dgram, long offset, string message)
        : base(file, "", -1, dgram >= 0 ? $"dgram {dgram} at byte {offset}: {message}" : $"byte {offset}: {message}")
    {
        DgramIndex = dgram;
        Offset = offset;
    }

    /// <summary>Index of the dgram in its file (0 = the first), or -1 for the file as a whole.</summary>
    public long DgramIndex { get; }

    /// <summary>Byte offset in the file of the structure that failed its check.</summary>
    public long Offset { get; }

    /// <summary>The file ends inside this dgram (cut, or still being written): the dgrams before it are whole.</summary>
    public bool Truncated { get; init; }
}
