using System.Buffers.Binary;
using RunProc.Formats;

namespace RunProc.Tests.Formats;

/// <summary>
/// Writes small xtc2 runs with <see cref="Xtc2StreamWriter"/> for the reader tests: detectors of
/// any number of segments spread over streams, chunks, smalldata, damaged events and events with
/// a segment (or a stream's whole dgram) missing. Pixel values are a function of (detector,
/// event, segment, pixel), so every test knows the frames it must read back.
/// </summary>
internal static class Xtc2Sample
{
    /// <summary>A detector: epix10ka-like (raw rank 2 + aux) or jungfrau-like (raw rank 3 (1,r,c) + scalars, one unaligned).</summary>
    public sealed record Det(string Name, string Type, int Segments, int Rows, int Cols, bool Rank3 = false, int[]? SegmentStreams = null)
    {
        public int StreamOf(int seg) => SegmentStreams?[seg] ?? 0;
        public int Pixels => Segments * Rows * Cols;
    }

    public sealed record Spec
    {
        public string Experiment { get; init; } = "mfx101332224";
        public int Run { get; init; } = 7;
        public int Events { get; init; } = 12;
        public required Det[] Detectors { get; init; }
        public bool DataFirst { get; init; }
        public bool SmallData { get; init; }

        /// <summary>Events before which every stream starts a new chunk.</summary>
        public int[] ChunkAt { get; init; } = Array.Empty<int>();

        /// <summary>Events written with damage on the root xtc (every stream).</summary>
        public int[] Damaged { get; init; } = Array.Empty<int>();

        /// <summary>(event, detector index, segment) left out of the event.</summary>
        public (int Event, int Det, int Seg)[] Missing { get; init; } = Array.Empty<(int, int, int)>();

        /// <summary>(stream, event): the stream writes no L1Accept for the event.</summary>
        public (int Stream, int Event)[] StreamSkips { get; init; } = Array.Empty<(int, int)>();

        /// <summary>A uint8 scalar before raw, so raw and every later dgram sit at odd offsets.</summary>
        public bool OddOffsets { get; init; }
    }

    /// <summary>An epix10ka-like quad (4 segments of 12 × 16) and a jungfrau-like detector (rank-3 raw, one segment).</summary>
    public static readonly Det Quad = new("epixquad", "epix10ka", 4, 12, 16);
    public static readonly Det Jf = new("jungfrau", "jungfrau", 1, 8, 24, Rank3: true);

    /// <summary>Every frame of a source, back to back.</summary>
    public static ushort[] ReadAll(FrameSource src)
    {
        var all = new ushort[src.FrameCount * src.FramePixels];
        src.ReadUInt16(0, (int)src.FrameCount, all);
        return all;
    }

    /// <summary>The frames the sample wrote for these events of detector <paramref name="det"/>.</summary>
    public static ushort[] Expected(Spec spec, int det, IEnumerable<int> events) =>
        events.SelectMany(e => Frame(spec, det, e)).ToArray();

    /// <summary>Overwrites 4 bytes of a written file (a corruption, a changed field).</summary>
    public static void Poke(string file, long offset, uint value)
    {
        using var fs = new FileStream(file, FileMode.Open);
        fs.Position = offset;
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        fs.Write(b);
    }

    public static ulong Time(int evt) => (ulong)(1_100_000_000u + (uint)evt / 4) << 32 | (uint)(evt % 4) * 250_000_000u + 17;

    /// <summary>The raw word of a pixel (bit 14 set on half the events, as an auto-ranging detector in low gain).</summary>
    public static ushort Value(int det, int evt, int seg, int px) =>
        (ushort)(900 + (px * 7 + evt * 13 + seg * 101 + det * 31) % 700 | ((evt & 1) == 0 ? 0x4000 : 0));

    public static ushort[] Frame(Spec spec, int det, int evt)
    {
        var d = spec.Detectors[det];
        var f = new ushort[d.Pixels];
        for (var s = 0; s < d.Segments; s++)
            for (var p = 0; p < d.Rows * d.Cols; p++)
                f[s * d.Rows * d.Cols + p] = Value(det, evt, s, p);
        return f;
    }

    /// <summary>Writes the run's chunks (and smalldata) into <paramref name="dir"/>; returns the chunk files.</summary>
    public static List<string> Write(string dir, Spec spec)
    {
        var streams = spec.Detectors.SelectMany(d => Enumerable.Range(0, d.Segments).Select(d.StreamOf)).Distinct().Order().ToArray();
        var files = new List<string>();
        foreach (var st in streams)
        {
            using var w = new Xtc2StreamWriter(dir, spec.Experiment, spec.Run, st,
                new Xtc2WriterOptions { SmallData = spec.SmallData, DataFirst = spec.DataFirst, NodeId = st + 1 });
            var names = new Dictionary<(int Det, int Seg), Xtc2Names>();
            for (var di = 0; di < spec.Detectors.Length; di++)
            {
                var d = spec.Detectors[di];
                for (var s = 0; s < d.Segments; s++)
                {
                    if (d.StreamOf(s) != st) continue;
                    var fields = new List<Xtc2Field>();
                    if (spec.OddOffsets) fields.Add(new Xtc2Field("flag", Xtc2DataType.UInt8, 0));
                    fields.Add(new Xtc2Field("raw", Xtc2DataType.UInt16, d.Rank3 ? 3 : 2));
                    if (d.Rank3)
                        fields.AddRange(new[]
                        {
                            new Xtc2Field("frame_cnt", Xtc2DataType.UInt64, 0), new Xtc2Field("timestamp", Xtc2DataType.UInt64, 0),
                            new Xtc2Field("hotPixelThresh", Xtc2DataType.UInt16, 0), new Xtc2Field("numHotPixels", Xtc2DataType.UInt32, 0),
                            new Xtc2Field("maxHotPixels", Xtc2DataType.UInt32, 0),
                        });
                    else
                        fields.Add(new Xtc2Field("aux", Xtc2DataType.UInt16, 2));
                    names[(di, s)] = w.Declare(di * 16 + s, d.Name, d.Type, "raw", d.Rank3 ? 0x000200u : 0x020001u, s, fields.ToArray());
                }
            }
            var t0 = Time(0) - (10UL << 32);
            w.Configure(t0);
            w.BeginRun(t0 + 1);
            w.Transition(t0 + 1, Xtc2Transition.BeginStep); // BeginRun and BeginStep may share a time
            w.Transition(t0 + 2, Xtc2Transition.Enable);
            for (var e = 0; e < spec.Events; e++)
            {
                if (spec.ChunkAt.Contains(e))
                    w.NextChunk(Time(e) - 1);
                if (e % 5 == 3)
                    w.Transition(Time(e) - 2, Xtc2Transition.SlowUpdate);
                if (spec.StreamSkips.Contains((st, e)))
                    continue;
                var blocks = new List<(Xtc2Names, Xtc2Value[])>();
                foreach (var ((di, s), n) in names)
                {
                    if (spec.Missing.Contains((e, di, s))) continue;
                    var d = spec.Detectors[di];
                    var raw = new ushort[d.Rows * d.Cols];
                    for (var p = 0; p < raw.Length; p++) raw[p] = Value(di, e, s, p);
                    var values = new List<Xtc2Value>();
                    if (spec.OddOffsets) values.Add(Xtc2Value.Scalar((byte)e));
                    if (d.Rank3)
                    {
                        values.Add(Xtc2Value.Array<ushort>(raw, 1, d.Rows, d.Cols));
                        values.AddRange(new[] { Xtc2Value.Scalar((ulong)7665 + (ulong)e), Xtc2Value.Scalar(2794694212UL), Xtc2Value.Scalar((ushort)15000), Xtc2Value.Scalar(258u), Xtc2Value.Scalar(3400u) });
                    }
                    else
                    {
                        values.Add(Xtc2Value.Array<ushort>(raw, d.Rows, d.Cols));
                        values.Add(Xtc2Value.Array<ushort>(new ushort[4 * d.Cols], 4, d.Cols));
                    }
                    blocks.Add((n, values.ToArray()));
                }
                w.L1Accept(Time(e), blocks, spec.Damaged.Contains(e) ? (ushort)(1 << 4) : (ushort)0);
            }
            var tn = Time(spec.Events) + 5;
            w.Transition(tn, Xtc2Transition.Disable);
            w.Transition(tn, Xtc2Transition.EndStep);
            w.EndRun(tn + 1);
            files.AddRange(w.Files);
        }
        return files;
    }
}
