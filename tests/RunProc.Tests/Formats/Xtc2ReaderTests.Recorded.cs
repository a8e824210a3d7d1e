using System.Buffers.Binary;
using System.Text;
using RunProc.Formats;
using RunProc.Pixels;
using Xunit;
using static RunProc.Tests.Formats.Xtc2Sample;

namespace RunProc.Tests.Formats;

// The reader tests' second part: what recorded xtc2 files hold and the sample writer's own runs
// do not: a dgram built byte by byte from the format document (not with Xtc2DgramBuilder),
// NamesIds reused across streams, a smalldata index that lags its chunks (a run being written),
// blocks the DAQ marked Corrupted, empty raw arrays, the epix10ka's older detType, and a detector
// RunProc cannot stack beside one it can.
public sealed partial class Xtc2ReaderTests
{
    /// <summary>Little-endian bytes as the format document lays them out, with no helper from the project.</summary>
    private sealed class Bytes
    {
        public List<byte> B { get; } = new();
        public Bytes U16(ushort v) { Span<byte> s = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(s, v); B.AddRange(s.ToArray()); return this; }
        public Bytes U32(uint v) { Span<byte> s = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(s, v); B.AddRange(s.ToArray()); return this; }
        public Bytes U64(ulong v) { Span<byte> s = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(s, v); B.AddRange(s.ToArray()); return this; }
        public Bytes Str(string t) { var s = new byte[256]; Encoding.ASCII.GetBytes(t).CopyTo(s, 0); B.AddRange(s); return this; }
        public Bytes Xtc(uint src, ushort damage, ushort type, long extent) => U32(src).U16(damage).U16(type).U32((uint)extent);
        public Bytes Add(IEnumerable<byte> b) { B.AddRange(b); return this; }
    }

    private static byte[] NamesXtc(uint namesId, string detType, string detName, string alg, uint version, uint segment, (string Name, uint Type, uint Rank)[] fields)
    {
        var b = new Bytes().Xtc(namesId, 0, 4, 12 + 1036 + 524 * fields.Length);
        b.U32((uint)fields.Count(f => f.Rank > 0)).Str(detType).Str(detName).Str("serial-1").Str(alg).U32(version).U32(segment);
        foreach (var f in fields)
            b.Str("").U32(0).Str(f.Name).U32(f.Type).U32(f.Rank);
        return b.B.ToArray();
    }

    private static byte[] Dgram(uint seconds, uint nanoseconds, uint env, params byte[][] children) =>
        new Bytes().U32(nanoseconds).U32(seconds).U32(env).Xtc(1, 0, 0, 12 + children.Sum(c => c.Length)).Add(children.SelectMany(c => c)).B.ToArray();

    private static readonly ushort[] JungfrauEv0 = { 2767, 2705, 2721, 2690, 2688, 2823, 2713, 2793 };
    private static readonly ushort[] JungfrauEv1 = { 2760, 2728, 2725, 2684, 2676, 2824, 2681, 2775 };

    [Fact]
    public void TheDocumentsJungfrauEventBuiltByteByByteIsRead()
    {
        // The worked example: NamesId 0x10A (node 1, index 10), alg raw 0.2.0, raw UINT16 (1,512,1024)
        // + frame_cnt, timestamp, hotPixelThresh, numHotPixels (unaligned), maxHotPixels; env 0x0C4B0003.
        var fields = new (string, uint, uint)[] { ("raw", 1, 3), ("frame_cnt", 3, 0), ("timestamp", 3, 0), ("hotPixelThresh", 1, 0), ("numHotPixels", 2, 0), ("maxHotPixels", 2, 0) };
        var config = NamesXtc(0x10A, "jungfrau", "jungfrau", "raw", 0x000200, 0, fields);
        var epics = NamesXtc(0x1FC, "epics", "epics", "epicsinfo", 0x010000, 0, new (string, uint, uint)[] { ("XPP:MON:TEMP", 9, 0), ("label", 10, 1) });
        // A BeginRun whose ShapesData (no Shapes child: no arrays) holds one uint8: every later dgram sits at an odd offset.
        var runinfo = NamesXtc(0x1FF, "runinfo", "runinfo", "runinfo", 0, 0, new (string, uint, uint)[] { ("flag", 0, 0) });
        var file = new List<byte>();
        file.AddRange(Dgram(0x42485600, 1, 2u << 24, config, epics, runinfo));
        file.AddRange(Dgram(0x42485600, 2, 4u << 24, new Bytes().Xtc(0x1FF, 0, 1, 12 + 13).Xtc(0, 0, 3, 13).Add(new byte[] { 7 }).B.ToArray()));
        file.AddRange(Dgram(0x42485600, 2, 6u << 24));
        file.AddRange(Dgram(0x42485600, 3, 8u << 24));
        var offsets = new List<int>();
        for (var e = 0; e < 2; e++)
        {
            var payload = new Bytes();
            var words = e == 0 ? JungfrauEv0 : JungfrauEv1;
            for (var i = 0; i < 512 * 1024; i++)
                payload.U16(i < words.Length ? words[i] : (ushort)(2700 + i % 100));
            payload.U64(7665).U64(2794694212).U16(15000).U32(258).U32(3400);
            Assert.Equal(1048602, payload.B.Count);
            var shapes = new Bytes().Xtc(0, 0, 2, 32).U32(1).U32(512).U32(1024).U32(0).U32(0).B;
            var data = new Bytes().Xtc(0, 0, 3, 12 + payload.B.Count).Add(payload.B).B;
            // Shapes then Data in the first event, Data then Shapes in the second (both occur).
            var sd = new Bytes().Xtc(0x10A, 0, 1, 12 + shapes.Count + data.Count).Add(e == 0 ? shapes : data).Add(e == 0 ? data : shapes).B.ToArray();
            offsets.Add(file.Count);
            var dg = Dgram(0x4248561B, 0x22B4895B + (uint)e, 0x0C4B0003, sd);
            Assert.Equal(1048682, dg.Length);
            file.AddRange(dg);
        }
        file.AddRange(Dgram(0x42485700, 0, 5u << 24));
        Assert.Equal(1, offsets[0] % 2);
        var path = Path.Combine(_dir, "xpptut15-r0001-s000-c000.xtc2");
        File.WriteAllBytes(path, file.ToArray());

        using (var f = Xtc2File.Open(path))
        {
            var l1 = f.Dgrams().Where(d => d.Transition == Xtc2Transition.L1Accept).ToList();
            Assert.Equal(offsets.Select(o => (long)o), l1.Select(d => d.Offset));
            Assert.All(l1, d => Assert.Equal(0x0C4B0003u, d.Env));
            Assert.Equal(0x4248561Bu, l1[0].Seconds);
        }
        using var run = Xtc2Run.Open(new[] { path }, Array.Empty<string>());
        var j = run.Detectors.Single();
        Assert.Equal("jungfrau_raw_0_2_0", j.PsanaClass);
        Assert.Equal(0x3FFFu, j.DefaultDataMask);
        Assert.Equal(new[] { 1, 512, 1024 }, j.Frames!.FrameShape);
        Assert.Equal(2, j.EventsUsed);
        var all = ReadAll(j.Frames);
        Assert.Equal(JungfrauEv0, all.Take(8));
        Assert.Equal(JungfrauEv1, all.Skip(512 * 1024).Take(8));
    }

    [Fact]
    public void ANamesIdReusedInAnotherStreamForAnotherDetectorIsKeptApart()
    {
        // Both streams are node 1: NamesId 0x102 is a jungfrau in stream 0 and a wave8 (no frame) in
        // stream 1; the quad's segments 0,1 are in stream 0 and 2,3 in stream 1 under the same NamesIds.
        ulong t0 = 1_112_036_000UL << 32;
        var files = new List<string>();
        for (var st = 0; st < 2; st++)
        {
            using var w = new Xtc2StreamWriter(_dir, "xpp1", 1, st, new Xtc2WriterOptions { NodeId = 1, SmallData = st == 1 });
            var a = w.Declare(0, "epixquad", "epix10ka", "raw", 0x20001, 2 * st, new Xtc2Field("raw", Xtc2DataType.UInt16, 2));
            var b = w.Declare(1, "epixquad", "epix10ka", "raw", 0x20001, 2 * st + 1, new Xtc2Field("raw", Xtc2DataType.UInt16, 2));
            var c = st == 0 ? w.Declare(2, "jf", "jungfrau", "raw", 0x200, 0, new Xtc2Field("raw", Xtc2DataType.UInt16, 3))
                : w.Declare(2, "wave8", "wave8", "raw", 0x10000, 0, new Xtc2Field("peak", Xtc2DataType.Float, 1));
            Assert.Equal(0x102u, c.NamesId);
            w.Configure(t0);
            w.Transition(t0 + 1, Xtc2Transition.Enable);
            for (var e = 0; e < 4; e++)
            {
                var v = (ushort)(100 * st + e);
                var blocks = new List<(Xtc2Names, Xtc2Value[])>
                {
                    (a, new[] { Xtc2Value.Array<ushort>(new[] { v, v }, 1, 2) }),
                    (b, new[] { Xtc2Value.Array<ushort>(new[] { (ushort)(v + 10), (ushort)(v + 10) }, 1, 2) }),
                    st == 0 ? (c, new[] { Xtc2Value.Array<ushort>(new ushort[] { (ushort)(500 + e), 0 }, 1, 1, 2) }) : (c, new[] { Xtc2Value.Array<float>(new float[3], 3) }),
                };
                if (st == 1 && e == 2) blocks.RemoveAt(0); // segment 2 missing in event 2
                w.L1Accept(t0 + 10 + (ulong)e, blocks);
            }
            w.EndRun(t0 + 100);
            files.AddRange(w.Files);
        }
        using var run = Xtc2Run.Open(files, Array.Empty<string>());
        var q = run.Detectors.Single(d => d.DetName == "epixquad");
        Assert.Equal(new[] { 0, 1 }, q.Streams);
        Assert.Equal(3, q.EventsUsed);
        Assert.Equal(1, q.SkippedIncomplete);
        Assert.Equal(new ushort[] { 0, 0, 10, 10, 100, 100, 110, 110, 1, 1, 11, 11, 101, 101, 111, 111, 3, 3, 13, 13, 103, 103, 113, 113 }, ReadAll(q.Frames!));
        var jf = run.Detectors.Single(d => d.DetName == "jf");
        Assert.Equal(new[] { 0 }, jf.Streams);
        Assert.Equal(new ushort[] { 500, 0, 501, 0, 502, 0, 503, 0 }, ReadAll(jf.Frames!));
        Assert.DoesNotContain(run.Detectors, d => d.DetName == "wave8"); // its alg raw has no field raw: not a detector frame
    }

    /// <summary>Cuts the smalldata index at the start of its <paramref name="keep"/>-th L1Accept (0: after the transitions before the first).</summary>
    private static void CutIndex(string smd, int keep)
    {
        long cut;
        using (var f = Xtc2File.Open(smd))
        {
            var l1 = f.Dgrams().Where(d => d.Transition == Xtc2Transition.L1Accept).ToList();
            cut = l1[keep].Offset;
        }
        using var fs = new FileStream(smd, FileMode.Open);
        fs.SetLength(cut);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(4)]
    public void AnIndexThatLagsItsChunksGivesEveryEventTheChunksHold(int indexed)
    {
        // The DAQ writes the index with buffered writes: a run being written (or stopped by a crash)
        // has an index that ends at a dgram boundary before the chunks' last events.
        var spec = new Spec { Events = 6, Detectors = new[] { Quad }, SmallData = true, ChunkAt = new[] { 3 } };
        var files = Write(_dir, spec);
        CutIndex(Path.Combine(_dir, "smalldata", "mfx101332224-r0007-s000-c000.smd.xtc2"), indexed);
        using var run = Xtc2Run.Open(files, Array.Empty<string>());
        var q = run.Detectors.Single();
        Assert.Equal(6, q.EventsInRun);
        Assert.Equal(Expected(spec, 0, Enumerable.Range(0, 6)), ReadAll(q.Frames!));
        Assert.Contains(run.Notes, n => n.Contains("fewer L1Accept") && n.Contains("smd.xtc2"));
        // A selection past the index's end seeks into the walked tail.
        using var part = Xtc2Run.Open(files, Array.Empty<string>(), new Xtc2Selection(4, 2));
        Assert.Equal(Expected(spec, 0, new[] { 4, 5 }), ReadAll(part.Detectors.Single().Frames!));
    }

    [Fact]
    public void ALiveRunWithAnEmptyNextChunkAndAnIndexOfOnlyItsConfigureReadsTheClosedChunk()
    {
        var spec = new Spec { Events = 6, Detectors = new[] { Quad }, SmallData = true, ChunkAt = new[] { 3 } };
        var files = Write(_dir, spec);
        // As while the DAQ writes chunk 1: c001 open and still empty, the index only its Configure and transitions.
        var c001 = files.Single(f => f.EndsWith("-c001.xtc2"));
        File.Move(c001, c001 + ".inprogress");
        using (var fs = new FileStream(c001 + ".inprogress", FileMode.Open)) fs.SetLength(0);
        var smd = Path.Combine(_dir, "smalldata", "mfx101332224-r0007-s000-c000.smd.xtc2");
        CutIndex(smd, 0);
        File.Move(smd, smd + ".inprogress");
        using var run = Xtc2Run.Open(new[] { files[0], c001 + ".inprogress" }, Array.Empty<string>());
        var q = run.Detectors.Single();
        Assert.Equal(3, q.EventsUsed);
        Assert.Equal(Expected(spec, 0, Enumerable.Range(0, 3)), ReadAll(q.Frames!));
    }

    [Fact]
    public void AnIndexWhoseOffsetsAreNotUint64IsNotUsed()
    {
        var spec = new Spec { Events = 5, Detectors = new[] { Quad }, SmallData = true };
        var files = Write(_dir, spec);
        var smd = Path.Combine(_dir, "smalldata", "mfx101332224-r0007-s000-c000.smd.xtc2");
        long typeAt;
        using (var f = Xtc2File.Open(smd))
        {
            var configure = f.Dgrams().First();
            var info = f.Blocks(configure, out _).Single(x => x.TypeId == Xtc2TypeId.Names && f.ParseNames(x, 0).DetName == "smdinfo");
            typeAt = info.Payload + 1036 + 260 + 256; // the first Name's type (intOffset)
        }
        using (var fs = new FileStream(smd, FileMode.Open))
        {
            fs.Position = typeAt;
            fs.Write(BitConverter.GetBytes(2u)); // UINT32
        }
        using var run = Xtc2Run.Open(files, Array.Empty<string>());
        Assert.Contains(run.Notes, n => n.Contains("UINT64") && n.Contains("chunks are walked"));
        Assert.Equal(Expected(spec, 0, Enumerable.Range(0, 5)), ReadAll(run.Detectors.Single().Frames!));
    }

    /// <summary>The first L1Accept's first ShapesData and its Shapes child.</summary>
    private static (long ShapesData, long Shapes) FirstShapesData(string file)
    {
        using var f = Xtc2File.Open(file);
        var d = f.Dgrams().First(x => x.Transition == Xtc2Transition.L1Accept);
        var sd = f.Children(d.Root, d.Index).First();
        return (sd.Offset, f.Children(sd, d.Index).First(k => k.TypeId == Xtc2TypeId.Shapes).Offset);
    }

    [Fact]
    public void ASegmentTheDaqMarkedCorruptedIsNotParsed_TheEventCountsAsIncomplete()
    {
        var spec = new Spec { Events = 4, Detectors = new[] { Quad } };
        var file = Write(_dir, spec).Single();
        var (sd, shapes) = FirstShapesData(file);
        Poke(file, shapes + 12, 4000);                        // rows 12 -> 4000: larger than its Data
        Poke(file, sd + 4, Xtc2Format.DamageCorrupted | 1u << 16); // damage Corrupted, contains ShapesData
        using var run = Xtc2Run.Open(new[] { file }, Array.Empty<string>());
        var q = run.Detectors.Single();
        Assert.Equal(1, q.SkippedIncomplete);
        Assert.Equal(Expected(spec, 0, new[] { 1, 2, 3 }), ReadAll(q.Frames!));
    }

    [Fact]
    public void AnEmptyRawCountsAsAMissingSegment()
    {
        var spec = new Spec { Events = 4, Detectors = new[] { Quad } };
        var file = Write(_dir, spec).Single();
        var (_, shapes) = FirstShapesData(file);
        Poke(file, shapes + 12, 0); // raw (0,16): nothing read out
        using var run = Xtc2Run.Open(new[] { file }, Array.Empty<string>());
        var q = run.Detectors.Single();
        Assert.Equal(1, q.SkippedIncomplete);
        Assert.Equal(new[] { 12, 16 }, q.SegmentShape);
        Assert.Equal(Expected(spec, 0, new[] { 1, 2, 3 }), ReadAll(q.Frames!));
    }

    [Theory]
    [InlineData("epix10ka", "epix10ka_raw_2_0_1", "Epix10ka")]
    [InlineData("epix10kaquad", "epix10kaquad_raw_2_0_1", "Epix10ka")]
    [InlineData("epix", "epix_raw_2_0_1", "Epix10ka")]
    [InlineData("jungfrau", "jungfrau_raw_0_2_0", "Jungfrau")]
    [InlineData("epix", "epix_raw_1_0_0", null)]
    [InlineData("epix100", "epix100_raw_2_0_1", null)]
    [InlineData("epixhr2x2", "epixhr2x2_raw_2_0_1", null)]
    [InlineData("opal", "opal_raw_1_0_0", null)]
    public void TheDetectorFamilyFollowsPsanasClasses(string detType, string psanaClass, string? family) =>
        Assert.Equal(family, Xtc2Detector.FamilyOf(detType, psanaClass));

    [Fact]
    public void AnEpix10kaRecordedWithTheOlderDetTypeEpixGetsItsDataBitsAndGroup()
    {
        var spec = new Spec { Events = 4, Detectors = new[] { Quad with { Type = "epix" } } };
        var file = Write(_dir, spec).Single();
        using var run = Xtc2Run.Open(new[] { file }, Array.Empty<string>());
        var q = run.Detectors.Single();
        Assert.Equal("epix_raw_2_0_1", q.PsanaClass);
        Assert.Equal(0x3FFFu, q.DefaultDataMask);
        Assert.Equal("Epix10ka::CalibV1", q.CalibGroup);
        // Half the sample's events carry the gain bit 14: masked, no pixel is above the high gate.
        var cfg = new RunProc.Config.RunProcConfig { DataRoot = Path.Combine(_dir, "data") };
        var req = new PixelStatusRequest { Files = new[] { file }, Experiment = "mfx101332224", Run = 7, Deploy = true, ArrayTypes = new[] { "sta" }, OutputDirectory = Path.Combine(_dir, "out") };
        var (dets, handle) = PixelReadPipeline.OpenDetectors(req.Files, Array.Empty<string>(), null, req.Xtc2Selection, null);
        using (handle)
        {
            var det = dets.Single();
            var acc = PixelReadPipeline.Accumulate(det, req, null, CancellationToken.None);
            var r = new PixelStatusRunner(cfg).Finish(det, acc, req, "mfx101332224", 7);
            Assert.Equal(0x3FFFu, r.DataMask);
            Assert.Equal(0, r.BadPixels);
            Assert.Contains(Path.Combine(cfg.DataRoot, "MFX", "mfx101332224", "calib", "Epix10ka::CalibV1", "epixquad", "pixel_datastat", "7-end.data"), r.Files);
        }
    }

    [Fact]
    public void ADetectorRunProcCannotStackIsListedWithTheReason_TheOthersAreRead()
    {
        // An hsd with two Names for segment 0 (alg raw, field raw) beside the quad, no -Detector filter.
        var spec = new Spec { Events = 3, Detectors = new[] { Quad } };
        using (var w = new Xtc2StreamWriter(_dir, "mfx101332224", 7, 0))
        {
            var segs = Enumerable.Range(0, 4).Select(s => w.Declare(s, "epixquad", "epix10ka", "raw", 0x20001, s, new Xtc2Field("raw", Xtc2DataType.UInt16, 2))).ToArray();
            w.Declare(8, "hsd", "hsd", "raw", 0x10000, 0, new Xtc2Field("raw", Xtc2DataType.UInt16, 2));
            w.Declare(9, "hsd", "hsd", "raw", 0x10000, 0, new Xtc2Field("raw", Xtc2DataType.UInt16, 2));
            w.Configure(Time(0) - 100);
            for (var e = 0; e < 3; e++)
                w.L1Accept(Time(e), segs.Select((n, s) => (n, new[] { Xtc2Value.Array<ushort>(Frame(spec, 0, e).AsSpan(s * 192, 192), 12, 16) })));
            w.EndRun(Time(3));
        }
        var files = Directory.GetFiles(_dir, "*.xtc2");
        using (var run = Xtc2Run.Open(files, Array.Empty<string>()))
        {
            Assert.Contains("segment 0 in more than one Names", run.Detectors.Single(d => d.DetName == "hsd").NotAFrame);
            Assert.Equal(Expected(spec, 0, Enumerable.Range(0, 3)), ReadAll(run.Detectors.Single(d => d.DetName == "epixquad").Frames!));
        }
        var skipped = new List<string>();
        var (dets, handle) = PixelReadPipeline.OpenDetectors(files, Array.Empty<string>(), skipped);
        using (handle)
        {
            Assert.Equal("epixquad", dets.Single().Xtc2!.DetName);
            Assert.Contains(skipped, s => s.Contains("hsd") && s.Contains("more than one Names"));
        }
    }
}
