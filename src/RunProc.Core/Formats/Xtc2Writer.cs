using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace RunProc.Formats;

/// <summary>One field value for a ShapesData: its shape (empty for a scalar) and its bytes, little-endian.</summary>
public readonly record struct Xtc2Value(uint[] Dims, ReadOnlyMemory<byte> Bytes)
{
    public static Xtc2Value Scalar<T>(T value) where T : unmanaged =>
        new(System.Array.Empty<uint>(), MemoryMarshal.AsBytes(new[] { value }.AsSpan()).ToArray());

    /// <summary>An array of <paramref name="dims"/> (C order) holding a copy of <paramref name="data"/>.</summary>
    public static Xtc2Value Array<T>(ReadOnlySpan<T> data, params int[] dims) where T : unmanaged =>
        new(dims.Select(d => (uint)d).ToArray(), MemoryMarshal.AsBytes(data).ToArray());

    /// <summary>A CHARSTR (rank 1) as the DAQ writes it: NUL-terminated, rounded to floor(len/4)·4+4 bytes.</summary>
    public static Xtc2Value Text(string s)
    {
        var b = Encoding.Latin1.GetBytes(s);
        var n = b.Length / 4 * 4 + 4;
        var padded = new byte[n];
        b.CopyTo(padded, 0);
        return new(new[] { (uint)n }, padded);
    }
}

/// <summary>
/// Builds one dgram in memory: xtc headers whose extents are filled in when each xtc is closed.
/// Knows nothing of streams; <see cref="Xtc2StreamWriter"/> uses it.
/// </summary>
public sealed class Xtc2DgramBuilder
{
    private readonly MemoryStream _buf = new();
    private readonly Stack<long> _open = new();

    public Xtc2DgramBuilder(uint seconds, uint nanoseconds, Xtc2Transition transition, uint src, ushort damage = 0, uint envFlags = 1)
    {
        U32(nanoseconds);
        U32(seconds);
        U32((uint)transition << 24 | (envFlags & 0x00FFFFFF));
        Begin(src, damage, Xtc2TypeId.Parent);
    }

    /// <summary>Opens an xtc (its extent is written by the matching <see cref="End"/>).</summary>
    public Xtc2DgramBuilder Begin(uint src, ushort damage, Xtc2TypeId type)
    {
        _open.Push(_buf.Position);
        U32(src);
        U16(damage);
        U16((ushort)type);
        U32(0);
        return this;
    }

    public Xtc2DgramBuilder End()
    {
        var start = _open.Pop();
        var extent = _buf.Position - start;
        var at = _buf.Position;
        _buf.Position = start + 8;
        U32(checked((uint)extent));
        _buf.Position = at;
        return this;
    }

    public Xtc2DgramBuilder Bytes(ReadOnlySpan<byte> b)
    {
        _buf.Write(b);
        return this;
    }

    public Xtc2DgramBuilder U32(uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        _buf.Write(b);
        return this;
    }

    private void U16(ushort v)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        _buf.Write(b);
    }

    /// <summary>A char[256] field.</summary>
    public Xtc2DgramBuilder Fixed(string s)
    {
        Span<byte> b = stackalloc byte[Xtc2Format.StringSize];
        b.Clear();
        Encoding.Latin1.GetBytes(s.AsSpan(0, Math.Min(s.Length, Xtc2Format.StringSize - 1)), b);
        _buf.Write(b);
        return this;
    }

    /// <summary>A Names xtc (NameInfo + one Name per field).</summary>
    public Xtc2DgramBuilder Names(Xtc2Names n)
    {
        Begin(n.NamesId, 0, Xtc2TypeId.Names);
        U32((uint)n.Arrays).Fixed(n.DetType).Fixed(n.DetName).Fixed(n.DetId).Fixed(n.Alg).U32(n.AlgVersion).U32((uint)n.Segment);
        foreach (var f in n.Fields)
            Fixed("").U32(0).Fixed(f.Name).U32((uint)f.Type).U32((uint)f.Rank);
        return End();
    }

    /// <summary>
    /// A ShapesData of <paramref name="n"/>: one Shapes record per array field, then the Data of
    /// every value in Names order; <paramref name="dataFirst"/> writes Data before Shapes (both
    /// orders occur in recorded files).
    /// </summary>
    public Xtc2DgramBuilder ShapesData(Xtc2Names n, IReadOnlyList<Xtc2Value> values, bool dataFirst = false, ushort damage = 0)
    {
        if (values.Count != n.Fields.Count)
            throw new ArgumentException($"{n.DetName}: {values.Count} values for {n.Fields.Count} fields.", nameof(values));
        Begin(n.NamesId, damage, Xtc2TypeId.ShapesData);
        void Shapes()
        {
            Begin(0, 0, Xtc2TypeId.Shapes);
            for (var i = 0; i < n.Fields.Count; i++)
            {
                if (n.Fields[i].Rank == 0) continue;
                var d = values[i].Dims;
                if (d.Length != n.Fields[i].Rank)
                    throw new ArgumentException($"{n.DetName}.{n.Fields[i].Name}: {d.Length} dims for rank {n.Fields[i].Rank}.", nameof(values));
                for (var r = 0; r < Xtc2Format.MaxRank; r++) U32(r < d.Length ? d[r] : 0);
            }
            End();
        }
        void Data()
        {
            Begin(0, 0, Xtc2TypeId.Data);
            foreach (var v in values) Bytes(v.Bytes.Span);
            End();
        }
        if (dataFirst) { Data(); Shapes(); }
        else { Shapes(); Data(); }
        return End();
    }

    /// <summary>Closes the root and returns the dgram's bytes.</summary>
    public byte[] ToArray()
    {
        while (_open.Count > 0) End();
        return _buf.ToArray();
    }
}

/// <summary>What <see cref="Xtc2StreamWriter"/> writes besides the event data.</summary>
public sealed record Xtc2WriterOptions
{
    /// <summary>Write xtc/smalldata/&lt;base&gt;.smd.xtc2 beside the chunks.</summary>
    public bool SmallData { get; init; }

    /// <summary>Data before Shapes in every ShapesData.</summary>
    public bool DataFirst { get; init; }

    /// <summary>DAQ node id of the stream (the high bits of its NamesIds).</summary>
    public int NodeId { get; init; } = 1;

    /// <summary>As the DAQ: each file is written as *.inprogress and renamed when it is closed.</summary>
    public bool InProgressWhileWritten { get; init; } = true;
}

/// <summary>
/// Writes one stream of an xtc2 run as the DAQ does: &lt;exp&gt;-rNNNN-sSSS-cCCC.xtc2 chunks (the
/// first opening with the Configure that holds every Names; a new chunk after an Enable with
/// chunkinfo), and optionally the stream's smalldata index. For tests and the demo facility.
/// </summary>
public sealed class Xtc2StreamWriter : IDisposable
{
    private readonly string _dir;
    private readonly string _base;
    private readonly Xtc2WriterOptions _options;
    private readonly List<Xtc2Names> _names = new();
    private FileStream? _chunk;
    private FileStream? _smd;
    private int _chunkNo;
    private readonly Xtc2Names _chunkInfo, _runInfo, _smdInfo;

    public Xtc2StreamWriter(string directory, string experiment, int run, int stream, Xtc2WriterOptions? options = null)
    {
        _options = options ?? new Xtc2WriterOptions();
        _dir = directory;
        _base = $"{Names.Experiment(experiment)}-r{Names.ValidateRun(run):D4}-s{stream:D3}";
        Experiment = experiment;
        Run = run;
        var node = _options.NodeId;
        _chunkInfo = new Xtc2Names(Xtc2Format.NamesId(node, Xtc2Format.ChunkInfoIndex), "chunkinfo", "chunkinfo", "", "chunkinfo", 1, 0,
            new[] { new Xtc2Field("filename", Xtc2DataType.CharStr, 1), new Xtc2Field("chunkid", Xtc2DataType.UInt32, 0) });
        _runInfo = new Xtc2Names(Xtc2Format.NamesId(node, Xtc2Format.RunInfoIndex), "runinfo", "runinfo", "", "runinfo", 1, 0,
            new[] { new Xtc2Field("expt", Xtc2DataType.CharStr, 1), new Xtc2Field("runnum", Xtc2DataType.UInt32, 0) });
        _smdInfo = new Xtc2Names(Xtc2Format.NamesId(node, Xtc2Format.SmdIndex), "offset", "smdinfo", "", "offsetAlg", 0, 0,
            new[] { new Xtc2Field("intOffset", Xtc2DataType.UInt64, 0), new Xtc2Field("intDgramSize", Xtc2DataType.UInt64, 0) });
    }

    public string Experiment { get; }
    public int Run { get; }

    /// <summary>Chunk files written so far.</summary>
    public List<string> Files { get; } = new();

    /// <summary>The smalldata file, if written.</summary>
    public string? SmallDataFile { get; private set; }

    /// <summary>Declares a Names block of this stream (index 0..251 of the node), to be written in the Configure.</summary>
    public Xtc2Names Declare(int index, string detName, string detType, string alg, uint algVersion, int segment, params Xtc2Field[] fields)
    {
        if (_chunk is not null)
            throw new InvalidOperationException("Names are declared before the Configure is written.");
        var n = new Xtc2Names(Xtc2Format.NamesId(_options.NodeId, index), detType, detName, $"{detType}-{detName}-{segment}", alg, algVersion, segment, fields);
        _names.Add(n);
        return n;
    }

    private string ChunkPath(int c) => Path.Combine(_dir, $"{_base}-c{c:D3}.xtc2");

    private FileStream Create(string path) =>
        new(_options.InProgressWhileWritten ? path + ".inprogress" : path, FileMode.Create, FileAccess.Write);

    /// <summary>Closes a file and gives it its final name.</summary>
    private void Close(FileStream fs)
    {
        var name = fs.Name;
        fs.Dispose();
        if (name.EndsWith(".inprogress", StringComparison.Ordinal))
            File.Move(name, name[..^".inprogress".Length], overwrite: true);
    }

    private void Write(byte[] dgram, byte[]? smd = null)
    {
        if (_chunk is null)
            throw new InvalidOperationException("the Configure comes first.");
        _chunk.Write(dgram);
        _smd?.Write(smd ?? dgram);
    }

    private static (uint S, uint Ns) Split(ulong time) => ((uint)(time >> 32), (uint)time);

    private Xtc2DgramBuilder Start(ulong time, Xtc2Transition t, ushort damage = 0)
    {
        var (s, ns) = Split(time);
        return new Xtc2DgramBuilder(s, ns, t, (uint)_options.NodeId, damage);
    }

    /// <summary>The Configure: every declared Names, the DAQ's chunkinfo/runinfo Names; the smalldata Configure adds smdinfo.</summary>
    public void Configure(ulong time)
    {
        Directory.CreateDirectory(_dir);
        _chunk = Create(ChunkPath(0));
        Files.Add(ChunkPath(0));
        byte[] Build(bool smd)
        {
            var b = Start(time, Xtc2Transition.Configure);
            foreach (var n in _names) b.Names(n);
            b.Names(_chunkInfo).Names(_runInfo);
            if (smd) b.Names(_smdInfo);
            return b.ToArray();
        }
        if (_options.SmallData)
        {
            var smdDir = Path.Combine(_dir, "smalldata");
            Directory.CreateDirectory(smdDir);
            SmallDataFile = Path.Combine(smdDir, $"{_base}-c000.smd.xtc2");
            _smd = Create(SmallDataFile);
        }
        Write(Build(false), _smd is null ? null : Build(true));
    }

    public void BeginRun(ulong time) =>
        Write(Start(time, Xtc2Transition.BeginRun).ShapesData(_runInfo, new[] { Xtc2Value.Text(Experiment), Xtc2Value.Scalar((uint)Run) }, _options.DataFirst).ToArray());

    /// <summary>A transition with no payload (BeginStep, EndStep, Enable, Disable, SlowUpdate, ...).</summary>
    public void Transition(ulong time, Xtc2Transition t) => Write(Start(time, t).ToArray());

    /// <summary>EndRun (its payload is dropped in the smalldata file; here it has none anyway).</summary>
    public void EndRun(ulong time) => Transition(time, Xtc2Transition.EndRun);

    /// <summary>One event: a ShapesData per (Names, values); <paramref name="damage"/> on the root xtc.</summary>
    public void L1Accept(ulong time, IEnumerable<(Xtc2Names Names, Xtc2Value[] Values)> blocks, ushort damage = 0)
    {
        var b = Start(time, Xtc2Transition.L1Accept, damage);
        foreach (var (n, v) in blocks) b.ShapesData(n, v, _options.DataFirst);
        var dgram = b.ToArray();
        byte[]? smd = null;
        if (_smd is not null)
            smd = Start(time, Xtc2Transition.L1Accept, damage)
                .ShapesData(_smdInfo, new[] { Xtc2Value.Scalar((ulong)_chunk!.Position), Xtc2Value.Scalar((ulong)dgram.Length) }).ToArray();
        Write(dgram, smd);
    }

    /// <summary>Ends the current chunk with an Enable that carries chunkinfo and opens the next (no Configure in it).</summary>
    public void NextChunk(ulong time)
    {
        var next = _chunkNo + 1;
        Write(Start(time, Xtc2Transition.Enable)
            .ShapesData(_chunkInfo, new[] { Xtc2Value.Text(Path.GetFileName(ChunkPath(next))), Xtc2Value.Scalar((uint)next) }, _options.DataFirst).ToArray());
        Close(_chunk!);
        _chunkNo = next;
        _chunk = Create(ChunkPath(next));
        Files.Add(ChunkPath(next));
    }

    /// <summary>Closes (and renames) the open chunk and the smalldata file.</summary>
    public void Dispose()
    {
        if (_chunk is not null) Close(_chunk);
        _chunk = null;
        if (_smd is not null) Close(_smd);
        _smd = null;
    }
}
