
namespace RunProc.Formats;

/// <summary>A dgram found in a file: where it is, its time and env, its root xtc.</summary>
public readonly record struct Xtc2Dgram(long Index, long Offset, uint Seconds, uint Nanoseconds, uint Env, Xtc2Xtc Root)
{
    /// <summary>Full size: the 12-byte time/env header plus the root extent.</summary>
    public long Size => Xtc2Format.DgramHeader + Root.Extent;

    public Xtc2Transition Transition => Xtc2Format.TransitionOf(Env);

    /// <summary>seconds:nanoseconds as one sortable key (the join key of segments spread over streams).</summary>
    public ulong Time => (ulong)Seconds << 32 | Nanoseconds;
}

/// <summary>One xtc header at a file offset.</summary>
public readonly record struct Xtc2Xtc(long Offset, uint Src, ushort Damage, ushort Contains, uint Extent)
{
    public Xtc2TypeId TypeId => (Xtc2TypeId)(Contains & 0xFFF);
    public long Payload => Offset + Xtc2Format.XtcHeader;
    public long End => Offset + Extent;
    public long PayloadBytes => Extent - (long)Xtc2Format.XtcHeader;

    /// <summary>The NamesId key of a Names/ShapesData (src without its level bits).</summary>
    public uint NamesId => Src & 0x0FFFFFFF;
}

/// <summary>
/// One xtc2 file mapped read-only. Every structure is checked against its parent and the file
/// size before it is used, and no size read from the file sizes an allocation: a damaged file
/// gives an <see cref="Xtc2FormatException"/>, never a read outside the mapping.
/// </summary>
public sealed unsafe class Xtc2File : IDisposable
{
    private MappedFile? _mapped;
    private byte* _base;

    /// <summary>Deepest nesting of Parent xtcs walked (recorded data nests 2–3 deep).</summary>
    public const int MaxDepth = 32;

    private Xtc2File(string path, long length)
    {
        Path = path;
        Length = length;
    }

    public string Path { get; }

    public long Length { get; }

    /// <summary>Opens and maps a file (an empty file is opened but has no dgrams).</summary>
    public static Xtc2File Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        long length;
        try { length = new FileInfo(full).Length; }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new FrameReadException(full, "", -1, $"cannot be opened: {ex.Message}", ex);
        }
        if (!File.Exists(full))
            throw new FrameReadException(full, "", -1, "does not exist.");
        var f = new Xtc2File(full, length);
        if (length == 0)
            return f;
        try
        {
            f._mapped = MappedFile.Open(full);
            f._base = f._mapped.Base;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            f.Dispose();
            throw new FrameReadException(full, "", -1, $"cannot be mapped: {ex.Message}", ex);
        }
        return f;
    }

    /// <summary>The mapped byte at <paramref name="offset"/> (the caller has checked the range).</summary>
    public byte* At(long offset) => _base + offset;

    public Xtc2FormatException Error(long dgram, long offset, string message) => new(Path, dgram, offset, message);

    /// <summary>The file ends inside the dgram at <paramref name="offset"/>.</summary>
    private Xtc2FormatException Cut(long dgram, long offset, string message) => new(Path, dgram, offset, message) { Truncated = true };

    /// <summary>Bytes at a dgram's place that cannot be a dgram header.</summary>
    private Xtc2FormatException NoDgram(long dgram, long offset, string why) => new(Path, dgram, offset,
        dgram == 0 && offset == 0
            ? $"the file does not start with an xtc2 dgram ({why}): it is not an LCLS-II xtc2 file, or its start is damaged."
            : $"no dgram header here ({why}): the file is corrupt from this byte on.");

    /// <summary>The dgram at <paramref name="offset"/>, checked to fit the file.</summary>
    public Xtc2Dgram DgramAt(long offset, long index)
    {
        var left = Length - offset;
        if (offset < 0 || left < Xtc2Format.MinDgram)
            throw Cut(index, offset, $"the file ends {Math.Max(0, left)} bytes into a dgram (a dgram has at least {Xtc2Format.MinDgram}): the file is truncated (cut, or still being written).");
        var p = _base + offset;
        var env = Xtc2Format.U32(p + 8);
        var root = XtcAt(offset + Xtc2Format.DgramHeader);
        // What every dgram header holds, checked before its size is believed: bytes that are no
        // dgram (another format, a corrupt file) are said to be that, not a truncated dgram.
        if (((env >> 24) & 0xF) > (uint)Xtc2Transition.L1Accept)
            throw NoDgram(index, offset, $"transition id {(env >> 24) & 0xF} is not one of 0..12");
        if (root.TypeId != Xtc2TypeId.Parent)
            throw NoDgram(index, offset, $"its root xtc has type id {(int)root.TypeId}, not Parent (0)");
        if (root.Extent < Xtc2Format.XtcHeader)
            throw Error(index, offset, $"root xtc extent {root.Extent} is below the 12-byte header.");
        if (offset + Xtc2Format.DgramHeader + root.Extent > Length)
            throw Cut(index, offset, $"the dgram needs {Xtc2Format.DgramHeader + (long)root.Extent} bytes, the file has {left} left: the file is truncated (cut, or still being written).");
        return new Xtc2Dgram(index, offset, Xtc2Format.U32(p + 4), Xtc2Format.U32(p), env, root);
    }

    /// <summary>
    /// Every dgram from <paramref name="offset"/> to the end of the file (the last one must end
    /// exactly at it). With <paramref name="atCut"/>, a file that ends inside a dgram ends the walk
    /// there after passing it the error (<see cref="Xtc2FormatException.Truncated"/>) instead of throwing it.
    /// </summary>
    public IEnumerable<Xtc2Dgram> Dgrams(long offset = 0, long firstIndex = 0, Action<Xtc2FormatException>? atCut = null)
    {
        for (var i = firstIndex; offset < Length; i++)
        {
            Xtc2Dgram d;
            try { d = DgramAt(offset, i); }
            catch (Xtc2FormatException ex) when (ex.Truncated && atCut is not null)
            {
                atCut(ex);
                yield break;
            }
            yield return d;
            offset += d.Size;
        }
    }

    /// <summary>The 12-byte xtc header at <paramref name="offset"/> (offset + 12 must be inside the file).</summary>
    private Xtc2Xtc XtcAt(long offset)
    {
        var p = _base + offset;
        return new Xtc2Xtc(offset, Xtc2Format.U32(p), Xtc2Format.U16(p + 4), Xtc2Format.U16(p + 6), Xtc2Format.U32(p + 8));
    }

    /// <summary>
    /// The children of <paramref name="parent"/>, each checked: at least a header left, extent ≥
    /// 12, inside the parent; together they fill it exactly (no stray tail).
    /// </summary>
    public IEnumerable<Xtc2Xtc> Children(Xtc2Xtc parent, long dgram)
    {
        var end = parent.End;
        for (var pos = parent.Payload; pos < end;)
        {
            if (end - pos < Xtc2Format.XtcHeader)
                throw Error(dgram, pos, $"a stray tail of {end - pos} bytes at the end of the xtc at {parent.Offset} (children must fill it exactly).");
            var x = XtcAt(pos);
            if (x.Extent < Xtc2Format.XtcHeader)
                throw Error(dgram, pos, $"xtc extent {x.Extent} is below the 12-byte header.");
            if (pos + x.Extent > end)
                throw Error(dgram, pos, $"xtc extent {x.Extent} runs {pos + x.Extent - end} bytes past its parent (the xtc at {parent.Offset}, ending at {end}).");
            yield return x;
            pos += x.Extent;
        }
    }

    /// <summary>
    /// The Names and ShapesData xtcs of a dgram in order, descending through Parent containers
    /// (not into one marked Corrupted: its contents are not trusted); other types are passed over.
    /// <paramref name="damage"/> receives the OR of the damage of every container walked.
    /// </summary>
    public List<Xtc2Xtc> Blocks(in Xtc2Dgram d, out ushort damage)
    {
        var list = new List<Xtc2Xtc>();
        damage = d.Root.Damage;
        if ((d.Root.Damage & Xtc2Format.DamageCorrupted) == 0)
            Collect(d.Root, d.Index, 0, list, ref damage);
        return list;
    }

    private void Collect(Xtc2Xtc parent, long dgram, int depth, List<Xtc2Xtc> list, ref ushort damage)
    {
        if (depth >= MaxDepth)
            throw Error(dgram, parent.Offset, $"Parent xtcs nested more than {MaxDepth} deep.");
        foreach (var x in Children(parent, dgram))
        {
            switch (x.TypeId)
            {
                case Xtc2TypeId.Parent:
                    damage |= x.Damage;
                    if ((x.Damage & Xtc2Format.DamageCorrupted) == 0)
                        Collect(x, dgram, depth + 1, list, ref damage);
                    break;
                case Xtc2TypeId.Names:
                case Xtc2TypeId.ShapesData:
                    list.Add(x);
                    break;
            }
        }
    }

    /// <summary>Parses a Names xtc: NameInfo + n Names, each string NUL-terminated, type ≤ 12, rank ≤ 4.</summary>
    public Xtc2Names ParseNames(Xtc2Xtc x, long dgram)
    {
        var payload = x.PayloadBytes;
        if (payload < Xtc2Format.NameInfoSize || (payload - Xtc2Format.NameInfoSize) % Xtc2Format.NameSize != 0)
            throw Error(dgram, x.Offset, $"a Names payload of {payload} bytes is not {Xtc2Format.NameInfoSize} + n × {Xtc2Format.NameSize}.");
        var n = (int)((payload - Xtc2Format.NameInfoSize) / Xtc2Format.NameSize);
        var p = _base + x.Payload;
        string Text(byte* at, string what) => Xtc2Format.FixedString(at)
            ?? throw Error(dgram, at - _base, $"the Names' {what} has no terminating NUL in its 256 bytes.");
        var detType = Text(p + 4, "detType");
        var detName = Text(p + 260, "detName");
        var detId = Text(p + 516, "detId");
        var alg = Text(p + 772, "alg name");
        var algVersion = Xtc2Format.U32(p + 1028);
        var segment = Xtc2Format.U32(p + 1032);
        var fields = new Xtc2Field[n];
        for (var i = 0; i < n; i++)
        {
            var f = p + Xtc2Format.NameInfoSize + (long)i * Xtc2Format.NameSize;
            var name = Text(f + 260, $"field {i} name");
            var type = Xtc2Format.U32(f + 516);
            var rank = Xtc2Format.U32(f + 520);
            if (type > (uint)Xtc2DataType.EnumDict)
                throw Error(dgram, f - _base + 516, $"field '{name}' of {detName} has type {type} (0..12 are defined).");
            if (rank > 4)
                throw Error(dgram, f - _base + 520, $"field '{name}' of {detName} has rank {rank} (0..4 are written).");
            fields[i] = new Xtc2Field(name, (Xtc2DataType)type, (int)rank);
        }
        return new Xtc2Names(x.NamesId, detType, detName, detId, alg, algVersion, segment > int.MaxValue ? -1 : (int)segment, fields);
    }

    /// <summary>
    /// Locates field <paramref name="field"/> of a ShapesData described by <paramref name="names"/>:
    /// its Shapes and Data children (found by type, in either order), the shape records (at least
    /// one per array), and every field's size summed in 64 bits against the Data payload before the
    /// field's offset is trusted. <paramref name="damage"/> gets the OR of the three xtcs' damage.
    /// </summary>
    public (long Offset, uint[] Dims) LocateField(Xtc2Xtc shapesData, Xtc2Names names, int field, long dgram, out ushort damage)
    {
        Xtc2Xtc? shapes = null, data = null;
        damage = shapesData.Damage;
        foreach (var c in Children(shapesData, dgram))
        {
            damage |= c.Damage;
            if (c.TypeId == Xtc2TypeId.Shapes)
                shapes = shapes is null ? c : throw Error(dgram, c.Offset, $"a second Shapes in the ShapesData of {names.DetName} (NamesId 0x{names.NamesId:X}).");
            else if (c.TypeId == Xtc2TypeId.Data)
                data = data is null ? c : throw Error(dgram, c.Offset, $"a second Data in the ShapesData of {names.DetName} (NamesId 0x{names.NamesId:X}).");
            else
                throw Error(dgram, c.Offset, $"an xtc of type {(int)c.TypeId} inside the ShapesData of {names.DetName}; only Shapes and Data belong there.");
        }
        if (data is not { } dx)
            throw Error(dgram, shapesData.Offset, $"the ShapesData of {names.DetName} (NamesId 0x{names.NamesId:X}) has no Data.");
        var arrays = names.Arrays;
        var records = shapes is { } sx ? sx.PayloadBytes : 0;
        if (records % Xtc2Format.ShapeRecord != 0)
            throw Error(dgram, shapes!.Value.Offset, $"a Shapes payload of {records} bytes is not a whole number of {Xtc2Format.ShapeRecord}-byte records.");
        if (records / Xtc2Format.ShapeRecord < arrays)
            throw Error(dgram, shapes?.Offset ?? shapesData.Offset, $"{records / Xtc2Format.ShapeRecord} shape records for the {arrays} arrays of {names.DetName}.");
        UInt128 at = 0, fieldAt = 0;
        uint[] dims = Array.Empty<uint>();
        var k = 0;
        for (var i = 0; i < names.Fields.Count; i++)
        {
            var f = names.Fields[i];
            UInt128 size = (uint)f.ElementSize;
            uint[] d = Array.Empty<uint>();
            if (f.Rank > 0)
            {
                var rec = _base + shapes!.Value.Payload + (long)k++ * Xtc2Format.ShapeRecord;
                d = new uint[f.Rank];
                for (var r = 0; r < f.Rank; r++)
                {
                    d[r] = Xtc2Format.U32(rec + 4 * r);
                    // Clamped after each product (< 2^63 · 2^32), so 128 bits never overflow.
                    size *= d[r];
                    if (size > (UInt128)long.MaxValue) size = (UInt128)long.MaxValue + 1;
                }
            }
            if (i == field)
            {
                fieldAt = at;
                dims = d;
            }
            at += size;
            if (at > (ulong)dx.PayloadBytes)
                throw Error(dgram, dx.Offset, $"the shapes of {names.DetName} (NamesId 0x{names.NamesId:X}) need more than the {dx.PayloadBytes} bytes of its Data (field '{f.Name}'{(d.Length > 0 ? $" ({string.Join(",", d)})" : "")} ends past it).");
        }
        return (dx.Payload + (long)fieldAt, dims);
    }

    public void Dispose()
    {
        _mapped?.Dispose();
        _mapped = null;
        _base = null;
    }
}
