using System.Buffers.Binary;
using PureHDF;
using RunProc.Config;
using RunProc.Formats;
using RunProc.Pixels;
using RunProc.Tests.Pixels;
using Xunit;
using static RunProc.Tests.Formats.Xtc2Sample;

namespace RunProc.Tests.Formats;

public sealed partial class Xtc2ReaderTests : IDisposable
{
    private readonly string _dir = Python.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);


    /// <summary>The real jungfrau L1Accept of the format document, byte for byte in its layout: sizes, offsets, the unaligned scalar.</summary>
    [Fact]
    public void WorkedExampleLayout_JungfrauAndEpixQuadDgramsHaveTheDocumentedSizesAndOffsets()
    {
        var spec = new Spec { Events = 2, Detectors = new[] { new Det("jungfrau", "jungfrau", 1, 512, 1024, Rank3: true) } };
        var file = Write(_dir, spec).Single();
        using var f = Xtc2File.Open(file);
        var dgrams = f.Dgrams().ToList();
        var l1 = dgrams.Where(d => d.Transition == Xtc2Transition.L1Accept).ToList();
        Assert.Equal(2, l1.Count);
        Assert.All(l1, d => Assert.Equal(1048682, d.Size));
        var first = l1[0];
        Assert.Equal(1048670u, first.Root.Extent);
        var sd = f.Children(first.Root, first.Index).Single();
        Assert.Equal(first.Offset + 24, sd.Offset);
        Assert.Equal(Xtc2TypeId.ShapesData, sd.TypeId);
        Assert.Equal(1048658u, sd.Extent);
        var kids = f.Children(sd, first.Index).ToList();
        Assert.Equal((first.Offset + 36, Xtc2TypeId.Shapes, 32u), (kids[0].Offset, kids[0].TypeId, kids[0].Extent));
        Assert.Equal((first.Offset + 68, Xtc2TypeId.Data, 1048614u), (kids[1].Offset, kids[1].TypeId, kids[1].Extent));
        // NamesId 0x10a = node 1, index 10 in the document; here index 0 of node 1.
        Assert.Equal(0x10Au, Xtc2Format.NamesId(1, 10));
        unsafe
        {
            var data = f.At(kids[1].Payload);
            Assert.Equal(7665UL, Xtc2Format.U64(data + 1048576));
            Assert.Equal(15000, Xtc2Format.U16(data + 1048592));
            Assert.Equal(258u, Xtc2Format.U32(data + 1048594)); // unaligned
            Assert.Equal(3400u, Xtc2Format.U32(data + 1048598));
        }

        var quad = new Spec { Experiment = "mfx101332225", Events = 1, Detectors = new[] { new Det("epixquad", "epix10ka", 4, 352, 384) } };
        var qfile = Write(Path.Combine(_dir, "q"), quad).Single();
        using var q = Xtc2File.Open(qfile);
        Assert.Equal(24 + 4 * (12 + 52 + 12 + 273408), q.Dgrams().Single(d => d.Transition == Xtc2Transition.L1Accept).Size);
        Assert.Equal(1093960, 24 + 4 * (12 + 52 + 12 + 273408));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void ReadsSegmentsStreamsAndChunksInEitherChildOrder(bool dataFirst, bool smallData)
    {
        // The quad's segments 0,1 in stream 0 and 2,3 in stream 1 (joined by time); a jungfrau in stream 1;
        // a chunk switch in both streams; odd offsets everywhere.
        var quad = Quad with { SegmentStreams = new[] { 0, 0, 1, 1 } };
        var jf = Jf with { SegmentStreams = new[] { 1 } };
        var spec = new Spec { Detectors = new[] { quad, jf }, DataFirst = dataFirst, SmallData = smallData, ChunkAt = new[] { 5 }, OddOffsets = true };
        var files = Write(_dir, spec);
        Assert.Equal(4, files.Count);
        Assert.Contains(files, f => f.EndsWith("-s001-c001.xtc2"));
        using var run = Xtc2Run.Open(files.AsEnumerable().Reverse().ToList(), Array.Empty<string>());
        Assert.Empty(run.Notes);
        var q = run.Detectors.Single(d => d.DetName == "epixquad");
        Assert.Equal(new[] { 0, 1, 2, 3 }, q.Segments);
        Assert.Equal(new[] { 0, 1 }, q.Streams);
        Assert.Equal(new[] { 12, 16 }, q.SegmentShape);
        Assert.Equal("epix10ka_raw_2_0_1", q.PsanaClass);
        Assert.Equal(0x3FFFu, q.DefaultDataMask);
        Assert.Equal("Epix10ka::CalibV1", q.CalibGroup);
        Assert.Equal(new[] { 4, 12, 16 }, q.Frames!.FrameShape);
        Assert.Equal(spec.Events, q.EventsUsed);
        Assert.Equal(Expected(spec, 0, Enumerable.Range(0, spec.Events)), ReadAll(q.Frames));
        var j = run.Detectors.Single(d => d.DetName == "jungfrau");
        Assert.Equal(new[] { 1, 8, 24 }, j.Frames!.FrameShape);
        Assert.Equal("jungfrau_raw_0_2_0", j.PsanaClass);
        Assert.Equal(Expected(spec, 1, Enumerable.Range(0, spec.Events)), ReadAll(j.Frames));

        // The in-place pieces are the same words.
        var ptrs = new nint[3];
        Assert.True(q.Frames.TryGetUInt16Pieces(2, 3, 1, ptrs));
        unsafe
        {
            var seg1 = new ReadOnlySpan<ushort>((void*)ptrs[2], 12 * 16).ToArray();
            Assert.Equal(Frame(spec, 0, 4).AsSpan(12 * 16, 12 * 16).ToArray(), seg1);
        }
    }

    [Fact]
    public void OneFileOfAMultiFileRunSaysWhichFilesOfTheRunWereNotGiven()
    {
        var quad = Quad with { SegmentStreams = new[] { 0, 0, 1, 1 } };
        var files = Write(_dir, new Spec { Detectors = new[] { quad }, ChunkAt = new[] { 5 } });
        Assert.Equal(4, files.Count);
        // Another run's files in the same directory are not this run's siblings.
        File.Copy(files[0], Path.Combine(_dir, "mfx101332224-r0008-s000-c000.xtc2"));
        var c000 = files.Single(f => f.EndsWith("-s000-c000.xtc2"));
        using (var run = Xtc2Run.Open(new[] { c000 }, Array.Empty<string>()))
        {
            Assert.Empty(run.Notes);
            var note = Assert.Single(run.NotGiven);
            Assert.Contains("3 more files of this run", note);
            Assert.Contains("r0007-s000-c001.xtc2", note);
            Assert.Contains("r0007-s001-c000.xtc2", note);
            Assert.Contains("r0007-s001-c001.xtc2", note);
            Assert.DoesNotContain("r0008", note);
            Assert.Contains("-s*-c*.xtc2", note);
        }
        using (var run = Xtc2Run.Open(files, Array.Empty<string>()))
            Assert.Empty(run.NotGiven);
    }

    [Fact]
    public void EveryTransitionKindIsPassedOverAndOnlyL1AcceptsAreEvents()
    {
        var spec = new Spec { Events = 4, Detectors = new[] { Jf } };
        var file = Write(_dir, spec).Single();
        // Append one dgram of every transition id after the run (0..12), then one more L1Accept-free tail.
        var bytes = new List<byte>(File.ReadAllBytes(file));
        for (var t = 0; t <= 11; t++)
            bytes.AddRange(new Xtc2DgramBuilder(1_200_000_000, (uint)t, (Xtc2Transition)t, 1).ToArray());
        File.WriteAllBytes(file, bytes.ToArray());
        using var run = Xtc2Run.Open(new[] { file }, Array.Empty<string>());
        Assert.Equal(4, run.Detectors.Single().EventsUsed);
        using var f = Xtc2File.Open(file);
        var kinds = f.Dgrams().Select(d => d.Transition).Distinct().ToHashSet();
        Assert.Equal(13, kinds.Count);
    }

    [Fact]
    public void DamagedAndIncompleteEventsAreCountedAndSkipped_DamagedIncludedOnRequest()
    {
        var quad = Quad with { SegmentStreams = new[] { 0, 0, 1, 1 } };
        var spec = new Spec
        {
            Events = 10, Detectors = new[] { quad }, Damaged = new[] { 2, 7 }, Missing = new[] { (4, 0, 1) }, StreamSkips = new[] { (1, 8) },
        };
        var files = Write(_dir, spec);
        using (var run = Xtc2Run.Open(files, Array.Empty<string>()))
        {
            var d = run.Detectors.Single();
            Assert.Equal(10, d.EventsInRun);
            Assert.Equal(2, d.SkippedIncomplete);
            Assert.Equal(2, d.DamagedEvents);
            Assert.Equal(6, d.EventsUsed);
            Assert.Equal(Expected(spec, 0, new[] { 0, 1, 3, 5, 6, 9 }), ReadAll(d.Frames!));
        }
        using (var run = Xtc2Run.Open(files, Array.Empty<string>(), new Xtc2Selection(IncludeDamaged: true)))
        {
            var d = run.Detectors.Single();
            Assert.Equal(8, d.EventsUsed);
            Assert.Equal(2, d.DamagedEvents);
            Assert.Equal(Expected(spec, 0, new[] { 0, 1, 2, 3, 5, 6, 7, 9 }), ReadAll(d.Frames!));
        }
        // Skip/Events count the run's L1Accepts (incomplete and damaged included), so parts of a run do not overlap.
        using (var run = Xtc2Run.Open(files, Array.Empty<string>(), new Xtc2Selection(3, 4)))
        {
            var d = run.Detectors.Single();
            Assert.Equal(4, d.EventsSelected);
            Assert.Equal(Expected(spec, 0, new[] { 3, 5, 6 }), ReadAll(d.Frames!));
            Assert.Equal(1, d.SkippedIncomplete);
        }
    }

    [Fact]
    public void SmallDataIndexAndChunkWalkGiveTheSameEvents_AndSkipEventsSeeksThroughTheIndex()
    {
        var spec = new Spec { Events = 9, Detectors = new[] { Quad }, SmallData = true, ChunkAt = new[] { 3, 6 } };
        var files = Write(_dir, spec);
        var smdFile = Path.Combine(_dir, "smalldata", "mfx101332224-r0007-s000-c000.smd.xtc2");
        using (var smd = Xtc2File.Open(smdFile))
        {
            // Each L1Accept becomes a 76-byte dgram; the transitions are the chunks' own.
            var l1 = smd.Dgrams().Where(d => d.Transition == Xtc2Transition.L1Accept).ToList();
            Assert.Equal(9, l1.Count);
            Assert.All(l1, d => Assert.Equal(76, d.Size));
        }
        ushort[] withIndex;
        using (var run = Xtc2Run.Open(files, Array.Empty<string>(), new Xtc2Selection(4, 4)))
        {
            Assert.Empty(run.Notes);
            withIndex = ReadAll(run.Detectors.Single().Frames!);
        }
        Assert.Equal(Expected(spec, 0, new[] { 4, 5, 6, 7 }), withIndex);
        // A chunk damaged outside the selection is not read through the index (its events are seeked).
        File.Delete(Path.Combine(_dir, "smalldata", "mfx101332224-r0007-s000-c000.smd.xtc2"));
        using (var run = Xtc2Run.Open(files, Array.Empty<string>(), new Xtc2Selection(4, 4)))
            Assert.Equal(withIndex, ReadAll(run.Detectors.Single().Frames!));
    }

    [Fact]
    public void AChunkWithoutItsStreamsC000IsAnErrorNamingTheFix()
    {
        var files = Write(_dir, new Spec { Detectors = new[] { Quad }, ChunkAt = new[] { 6 } });
        var ex = Assert.Throws<FrameReadException>(() => Xtc2Run.Open(new[] { files[1] }, Array.Empty<string>()));
        Assert.Contains("c000", ex.Message);
        Assert.Contains(files[1], ex.Message);
        // c001 alone in a chunk has no Configure, yet its events are read with c000's Names.
        using var f = Xtc2File.Open(files[1]);
        Assert.DoesNotContain(f.Dgrams(), d => d.Transition == Xtc2Transition.Configure);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(13, false)]
    [InlineData(5000, false)]
    [InlineData(1, true)]
    [InlineData(5000, true)]
    public void ATruncatedTailIsAnErrorNamingFileDgramAndOffset(int cut, bool smallData)
    {
        // With the smalldata index the same dgram is named: the index holds the chunk's dgrams one for one.
        var file = Write(_dir, new Spec { Detectors = new[] { Quad }, SmallData = smallData }).Single();
        var len = new FileInfo(file).Length;
        using (var fs = new FileStream(file, FileMode.Open)) fs.SetLength(len - cut);
        long lastOffset, lastIndex;
        using (var f = Xtc2File.Open(file))
        {
            var ex0 = Assert.Throws<Xtc2FormatException>(() => f.Dgrams().ToList());
            lastOffset = ex0.Offset;
            lastIndex = ex0.DgramIndex;
        }
        var ex = Assert.Throws<Xtc2FormatException>(() => Xtc2Run.Open(new[] { file }, Array.Empty<string>()));
        Assert.Contains(file, ex.Message);
        Assert.Contains($"dgram {lastIndex} at byte {lastOffset}", ex.Message);
        Assert.Contains("truncated", ex.Message);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(5000, false)]
    [InlineData(5000, true)]
    public void AllowTruncatedReadsTheWholeDgramsBeforeTheCutAndSaysWhere(int cut, bool smallData)
    {
        var spec = new Spec { Detectors = new[] { Quad }, SmallData = smallData };
        var file = Write(_dir, spec).Single();
        var len = new FileInfo(file).Length;
        // The L1Accepts that end before the cut are whole.
        List<long> whole;
        using (var f = Xtc2File.Open(file))
            whole = f.Dgrams().Where(d => d.Transition == Xtc2Transition.L1Accept && d.Offset + d.Size <= len - cut).Select(d => d.Offset).ToList();
        Assert.InRange(whole.Count, 1, cut > 1 ? spec.Events - 1 : spec.Events); // a 5000-byte cut takes whole events too
        using (var fs = new FileStream(file, FileMode.Open)) fs.SetLength(len - cut);
        Assert.Throws<Xtc2FormatException>(() => Xtc2Run.Open(new[] { file }, Array.Empty<string>()));
        using var run = Xtc2Run.Open(new[] { file }, Array.Empty<string>(), new Xtc2Selection(AllowTruncated: true));
        var frames = run.Detectors.Single().Frames!;
        Assert.Equal(whole.Count, (int)frames.FrameCount);
        Assert.Equal(Expected(spec, 0, Enumerable.Range(0, whole.Count)), ReadAll(frames));
        Assert.NotEmpty(run.Truncations);
        Assert.All(run.Truncations, t => Assert.Contains(file, t));
        Assert.Contains(run.Truncations, t => t.Contains("truncated") || t.Contains("past the end"));
        if (!smallData)
            Assert.Matches(@"dgram \d+ at byte \d+: .*truncated.*-AllowTruncated: the \d+ whole dgrams before it are read", run.Truncations.Single());
    }

    /// <summary>Offsets of the first L1Accept's structures in a one-detector file.</summary>
    private static (long Dgram, long ShapesData, long Shapes, long Data) FirstEvent(string file)
    {
        using var f = Xtc2File.Open(file);
        var d = f.Dgrams().First(x => x.Transition == Xtc2Transition.L1Accept);
        var sd = f.Children(d.Root, d.Index).First();
        var kids = f.Children(sd, d.Index).ToList();
        return (d.Offset, sd.Offset, kids.First(k => k.TypeId == Xtc2TypeId.Shapes).Offset, kids.First(k => k.TypeId == Xtc2TypeId.Data).Offset);
    }

    public static TheoryData<string, string> Corruptions => new()
    {
        { "extent past parent", "past its parent" },
        { "unknown NamesId", "does not define" },
        { "shape larger than data", "need more than" },
        { "no Data", "no Data" },
        { "stray tail", "stray tail" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void CorruptStructuresAreErrorsNamingFileAndDgram(string what, string expect)
    {
        var file = Write(_dir, new Spec { Detectors = new[] { Quad } }).Single();
        var (dg, sd, shapes, data) = FirstEvent(file);
        switch (what)
        {
            case "extent past parent": Poke(file, data + 8, 0x7FFFFFF0); break;
            case "unknown NamesId": Poke(file, sd, 0x00ABCDEF); break;
            case "shape larger than data": Poke(file, shapes + 12, 4000); break;  // raw rows 12 -> 4000
            case "no Data": Poke(file, data + 4, 0x00020000); break;               // Data -> Shapes (a second Shapes: error)
            case "stray tail": Poke(file, data + 8, 12 + 12 * 16 * 2 + 4 * 16 * 2 - 6); break; // Data short by 6: 6 stray bytes
        }
        var ex = Assert.Throws<Xtc2FormatException>(() => Xtc2Run.Open(new[] { file }, Array.Empty<string>()));
        Assert.Contains(file, ex.Message);
        Assert.Contains(what == "no Data" ? "second Shapes" : expect, ex.Message);
        Assert.True(ex.DgramIndex >= 0);
        Assert.InRange(ex.Offset, dg, dg + 2000000);
    }

    [Fact]
    public void ARawThatIsNotAFrameIsListedWithTheReason()
    {
        using (var w = new Xtc2StreamWriter(_dir, "mfx101332224", 3, 0))
        {
            var n = w.Declare(0, "wave", "hsd", "raw", 0x10000, 0, new Xtc2Field("raw", Xtc2DataType.UInt64, 1));
            var m = w.Declare(1, "img", "opal", "raw", 0x10000, 0, new Xtc2Field("raw", Xtc2DataType.Double, 2));
            // A jungfrau's raw is the UINT16 word (data and gain bits): an int32 one is not masked as if it were.
            var j = w.Declare(2, "jf", "jungfrau", "raw", 0x200, 0, new Xtc2Field("raw", Xtc2DataType.Int32, 3));
            w.Configure(Time(0) - 100);
            w.L1Accept(Time(0), new[] { (n, new[] { Xtc2Value.Array<ulong>(new ulong[3], 3) }), (m, new[] { Xtc2Value.Array<double>(new double[4], 2, 2) }), (j, new[] { Xtc2Value.Array<int>(new int[4], 1, 2, 2) }) });
            w.EndRun(Time(1));
        }
        var skipped = new List<string>();
        var (dets, handle) = PixelReadPipeline.OpenDetectors(Directory.GetFiles(_dir, "*.xtc2"), Array.Empty<string>(), skipped);
        using (handle)
        {
            Assert.Empty(dets);
            Assert.Contains(skipped, s => s.Contains("wave") && s.Contains("rank 1"));
            Assert.Contains(skipped, s => s.Contains("img") && s.Contains("Double"));
            Assert.Contains(skipped, s => s.Contains("jf") && s.Contains("UINT16"));
        }
    }

    [Fact]
    public void TheSameFramesGiveIdenticalResultsFromXtc2AndHdf5()
    {
        var spec = new Spec { Events = 14, Detectors = new[] { Quad with { SegmentStreams = new[] { 0, 1, 0, 1 } } }, ChunkAt = new[] { 9 }, DataFirst = true, OddOffsets = true };
        var files = Write(Path.Combine(_dir, "xtc"), spec);
        var frames = Expected(spec, 0, Enumerable.Range(0, spec.Events));
        var h5 = Path.Combine(_dir, "mfx101332224-r0007-s00-c00.h5");
        new H5File { ["epixquad"] = new H5Dataset(frames, fileDims: new ulong[] { (ulong)spec.Events, 4, 12, 16 }) }.Write(h5);
        var runner = new PixelStatusRunner(new RunProcConfig());
        PixelStatusAccumulator Run(IReadOnlyList<string> input, bool zeroCopy)
        {
            var req = new PixelStatusRequest { Files = input, DataMask = 0x3FFF, ZeroCopy = zeroCopy, Threads = 2 };
            var (dets, handle) = PixelReadPipeline.OpenDetectors(input, Array.Empty<string>(), null, req.Xtc2Selection, null);
            using (handle) return PixelReadPipeline.Accumulate(dets.Single(), req, null, CancellationToken.None);
        }
        var a = Run(new[] { h5 }, true);
        foreach (var zc in new[] { true, false })
        {
            var b = Run(files, zc);
            Assert.Equal(a.Events, b.Events);
            Assert.Equal(a.Sum, b.Sum);
            Assert.Equal(a.SumSquares, b.SumSquares);
            Assert.Equal(a.Max, b.Max);
            Assert.Equal(a.Min, b.Min);
            Assert.Equal(a.BelowLow, b.BelowLow);
            Assert.Equal(a.AboveHigh, b.AboveHigh);
        }
    }

    [Fact]
    public void RunnerUsesTheDetectorsMaskAndGroupAndReportsTheCounts()
    {
        var spec = new Spec { Events = 12, Detectors = new[] { Quad, Jf }, Damaged = new[] { 1 }, Missing = new[] { (3, 0, 2) } };
        var files = Write(Path.Combine(_dir, "xtc"), spec);
        var cfg = new RunProcConfig { DataRoot = Path.Combine(_dir, "data") };
        var runner = new PixelStatusRunner(cfg);
        var req = new PixelStatusRequest { Files = files, Experiment = "mfx101332224", Run = 7, Deploy = true, ArrayTypes = new[] { "sta" }, OutputDirectory = Path.Combine(_dir, "out") };
        var (dets, handle) = PixelReadPipeline.OpenDetectors(files, new[] { "epix10ka" }, null, req.Xtc2Selection, null);
        using (handle)
        {
            var det = dets.Single();
            var acc = PixelReadPipeline.Accumulate(det, req, null, CancellationToken.None);
            var r = runner.Finish(det, acc, req, "mfx101332224", 7);
            Assert.Equal(10, r.Events);
            Assert.Equal(1, r.SkippedIncomplete);
            Assert.Equal(1, r.SkippedDamaged);
            Assert.Equal(0x3FFFu, r.DataMask);
            Assert.Equal("epix10ka", r.DetectorType);
            Assert.Equal("epixquad", r.Detector);
            var deployed = Path.Combine(cfg.DataRoot, "MFX", "mfx101332224", "calib", "Epix10ka::CalibV1", "epixquad", "pixel_datastat", "7-end.data");
            Assert.Contains(deployed, r.Files);
            // With the gain bit masked every value is inside the gates: no bad pixel.
            Assert.Equal(0, r.BadPixels);
            Assert.Equal(900, acc.Min.ToArray().Min());
        }
    }

    [Fact]
    public unsafe void PiecesScannedApart_EqualTheWholeFrameScan_OnTwoThreads()
    {
        // Three pieces of an odd size (not a multiple of a tile or a line), large enough for two threads each.
        const int piece = 40_003, frames = 9;
        var rng = new Random(5);
        var data = new ushort[frames * 3 * piece];
        for (var i = 0; i < data.Length; i++) data[i] = (ushort)(rng.Next(10) == 0 ? rng.Next(65536) : 900 + rng.Next(200));
        var whole = new PixelStatusAccumulator(3 * piece, 1, 16000);
        PixelStatusKernel.Accumulate(whole, data, 0x3FFF, 2);
        var parts = new PixelStatusAccumulator(3 * piece, 1, 16000);
        fixed (ushort* p = data)
        {
            for (var k = 0; k < 3; k++)
            {
                var ptrs = new nint[frames];
                for (var f = 0; f < frames; f++) ptrs[f] = (nint)(p + (long)f * 3 * piece + k * piece);
                PixelStatusKernel.AccumulatePiece(parts, ptrs, k * piece, piece, 0x3FFF, 2, KernelPath.Auto, countEvents: false);
            }
        }
        Assert.Equal(0, parts.Events);
        Assert.Equal(whole.Sum, parts.Sum);
        Assert.Equal(whole.SumSquares, parts.SumSquares);
        Assert.Equal(whole.Max, parts.Max);
        Assert.Equal(whole.Min, parts.Min);
        Assert.Equal(whole.BelowLow, parts.BelowLow);
        Assert.Equal(whole.AboveHigh, parts.AboveHigh);
    }

    [Fact]
    public void ARunSplitByEventsAndMergedEqualsTheUnsplitRun_SharesCountTheRunsL1Accepts()
    {
        var spec = new Spec { Events = 13, Detectors = new[] { Quad with { SegmentStreams = new[] { 0, 0, 1, 1 } }, Jf }, ChunkAt = new[] { 6 },
            Damaged = new[] { 4 }, Missing = new[] { (9, 0, 3) }, SmallData = true };
        var files = Write(Path.Combine(_dir, "xtc"), spec);
        var runner = new PixelStatusRunner(new RunProcConfig { DataRoot = Path.Combine(_dir, "data") });
        var req = new PixelStatusRequest { Files = files, Experiment = "mfx101332224", Run = 7, Threads = 1 };
        var whole = new Dictionary<string, PixelStatusAccumulator>();
        var (dets, handle) = PixelReadPipeline.OpenDetectors(files, Array.Empty<string>(), null, req.Xtc2Selection, null);
        using (handle)
            foreach (var d in dets) whole[d.Source] = PixelReadPipeline.Accumulate(d, req, null, default);
        var partDir = Path.Combine(_dir, "parts");
        for (var k = 0; k < 4; k++)
            RunProc.Pixels.Split.PixelStatusSplit.RunPart(runner, req, "mfx101332224", 7, k, 4, partDir, 0b110_100_100, 0b111_101_101, null, default);
        var merged = RunProc.Pixels.Split.PixelStatusSplit.Merge(partDir, 4, "mfx101332224", 7, default);
        Assert.Equal(2, merged.Count);
        foreach (var m in merged)
        {
            var a = whole[m.Header.Source];
            Assert.Equal(a.Events, m.Accumulator.Events);
            Assert.Equal(a.Sum, m.Accumulator.Sum);
            Assert.Equal(a.SumSquares, m.Accumulator.SumSquares);
            Assert.Equal(a.Max, m.Accumulator.Max);
            Assert.Equal(a.Min, m.Accumulator.Min);
            Assert.Equal(0x3FFFu, m.Header.DataMask);
        }
        Assert.Equal(11, whole["epixquad"].Events);
        Assert.Equal(12, whole["jungfrau"].Events);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ASplitRunReportsTheUnsplitRunsSkippedIncompleteAndDamagedCounts(bool includeDamaged)
    {
        var spec = new Spec { Events = 14, Detectors = new[] { Quad with { SegmentStreams = new[] { 0, 0, 1, 1 } }, Jf }, ChunkAt = new[] { 6 },
            Damaged = new[] { 2, 4, 11 }, Missing = new[] { (9, 0, 3), (12, 0, 1) }, SmallData = true };
        var files = Write(Path.Combine(_dir, "xtc"), spec);
        var runner = new PixelStatusRunner(new RunProcConfig { DataRoot = Path.Combine(_dir, "data") });
        var req = new PixelStatusRequest { Files = files, Experiment = "mfx101332224", Run = 7, Threads = 1, IncludeDamaged = includeDamaged, ArrayTypes = new[] { "sta" } };
        var whole = new Dictionary<string, PixelStatusResult>();
        var (dets, handle) = PixelReadPipeline.OpenDetectors(files, Array.Empty<string>(), null, req.Xtc2Selection, null);
        using (handle)
            foreach (var d in dets)
                whole[d.Source] = runner.Finish(d, PixelReadPipeline.Accumulate(d, req, null, default), req with { OutputDirectory = Path.Combine(_dir, "whole") }, "mfx101332224", 7);
        var partDir = Path.Combine(_dir, "parts");
        for (var k = 0; k < 3; k++)
            RunProc.Pixels.Split.PixelStatusSplit.RunPart(runner, req, "mfx101332224", 7, k, 3, partDir, 0b110_100_100, 0b111_101_101, null, default);
        var merged = RunProc.Pixels.Split.PixelStatusSplit.Merge(partDir, 3, "mfx101332224", 7, default);
        Assert.Equal(2, merged.Count);
        foreach (var m in merged)
        {
            var w = whole[m.Header.Source];
            var r = runner.Finish(RunProc.Pixels.Split.PixelStatusSplit.OutputDetectorOf(m), m.Accumulator, req with { OutputDirectory = Path.Combine(_dir, "merged") }, "mfx101332224", 7);
            Assert.Equal(w.Events, r.Events);
            Assert.Equal(w.SkippedIncomplete, r.SkippedIncomplete);
            Assert.Equal(w.SkippedDamaged, r.SkippedDamaged);
            Assert.Equal(w.DetectorType, r.DetectorType);
            Assert.Equal(w.Summary.Status, r.Summary.Status);
        }
        // The quad lacks a segment in events 9 and 12; 2, 4 and 11 are damaged (skipped unless included).
        Assert.Equal(2, whole["epixquad"].SkippedIncomplete);
        Assert.Equal(includeDamaged ? 0 : 3, whole["epixquad"].SkippedDamaged);
        Assert.Equal(includeDamaged ? 12 : 9, whole["epixquad"].Events);
    }

    [Fact]
    public void PartsThatDisagreeOnIncludeDamagedAreRefused()
    {
        var spec = new Spec { Events = 8, Detectors = new[] { Quad }, Damaged = new[] { 3 } };
        var files = Write(Path.Combine(_dir, "xtc"), spec);
        var runner = new PixelStatusRunner(new RunProcConfig { DataRoot = Path.Combine(_dir, "data") });
        var req = new PixelStatusRequest { Files = files, Experiment = "mfx101332224", Run = 7, Threads = 1 };
        var partDir = Path.Combine(_dir, "parts");
        RunProc.Pixels.Split.PixelStatusSplit.RunPart(runner, req, "mfx101332224", 7, 0, 2, partDir, 0b110_100_100, 0b111_101_101, null, default);
        RunProc.Pixels.Split.PixelStatusSplit.RunPart(runner, req with { IncludeDamaged = true }, "mfx101332224", 7, 1, 2, partDir, 0b110_100_100, 0b111_101_101, null, default);
        var ex = Assert.Throws<InvalidDataException>(() => RunProc.Pixels.Split.PixelStatusSplit.Merge(partDir, 2, "mfx101332224", 7, default));
        Assert.Contains("-IncludeDamaged", ex.Message);
        Assert.Contains("part 1", ex.Message);
    }
}
