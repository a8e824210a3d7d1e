using System.Text.RegularExpressions;
using PureHDF;
using RunProc.Catalog;
using RunProc.Db;
using RunProc.Demo;
using RunProc.Module;
using Xunit;

namespace RunProc.Tests.Demo;

/// <summary>One small facility (20 frames a file) shared by the read-only tests.</summary>
public sealed class DemoFacilityFixture : IDisposable
{
    public DemoFacilityFixture()
    {
        Root = Path.Combine(Path.GetTempPath(), "runproc-demo-" + Guid.NewGuid().ToString("N"));
        Facility = DemoFacilityGenerator.Generate(Path.Combine(Root, "demo"), new DemoFacilityOptions { FramesPerFile = 20 });
    }

    public string Root { get; }
    public DemoFacility Facility { get; }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

public class DemoFacilityGeneratorTests : IClassFixture<DemoFacilityFixture>
{
    private readonly DemoFacility _f;

    public DemoFacilityGeneratorTests(DemoFacilityFixture fixture) => _f = fixture.Facility;

    [Fact]
    public void Layout_HasTwoInstrumentsThreeExperimentsTenRuns_OneInProgress_OneNotUnderControl()
    {
        Assert.Equal(new[] { "XPP", "MFX" }, _f.Instruments);
        Assert.Equal(3, _f.Experiments.Count);
        Assert.Single(_f.Experiments, e => !e.UnderControl);
        Assert.Equal(10, _f.Runs.Count);
        Assert.Single(_f.Runs, r => r.InProgress);
        Assert.Equal(7, _f.Runs.Count(r => r.ShouldBeProcessed));
        foreach (var run in _f.Runs)
        {
            foreach (var file in run.Files)
            {
                Assert.True(File.Exists(file), file);
                Assert.Equal(Path.Combine(_f.DataRoot, run.Instrument, run.Experiment, "xtc"), Path.GetDirectoryName(file));
                // LCLS run file names: <exp>-r<RRRR>-s<SS>-c<CC>.h5, LCLS-II <exp>-r<RRRR>-s<SSS>-c<CCC>.xtc2 (+ .inprogress while written).
                Assert.Matches(DemoFacilityGenerator.IsXtc2(run.Experiment)
                    ? new Regex($"^{run.Experiment}-r{run.Run:D4}-s\\d{{3}}-c\\d{{3}}\\.xtc2(\\.inprogress)?$")
                    : new Regex($"^{run.Experiment}-r{run.Run:D4}-s\\d\\d-c\\d\\d\\.h5(\\.inprogress)?$"), Path.GetFileName(file));
            }
            Assert.Equal(run.InProgress, run.Files.Any(f => f.EndsWith(".inprogress", StringComparison.Ordinal)));
        }
        Assert.Empty(Directory.EnumerateFiles(_f.Path, "*.tmp-*", SearchOption.AllDirectories));
        // The xtc2 runs: two streams (epix10ka s000, jungfrau s001), each with its smalldata index.
        var r8 = _f.Runs.Single(r => r.Experiment == "mfx101332224" && r.Run == 8);
        Assert.Equal(4, r8.Files.Count);
        foreach (var s in new[] { "s000", "s001" })
            Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(r8.Files[0])!, "smalldata", $"mfx101332224-r0008-{s}-c000.smd.xtc2")));
    }

    [Fact]
    public void TheCatalog_SeesEveryRun_TheInProgressOneNotReady_AndOnlyControlledOnesPending()
    {
        var cfg = ConfigLoader.Load(_f.ConfigPath);
        foreach (var run in _f.Runs)
            foreach (var file in run.Files)
                Assert.True(RunFileName.TryParse(Path.GetFileName(file), run.Experiment, out var name, out var reason), reason);
        var catalog = new RunCatalog(cfg);
        var seen = _f.Experiments.SelectMany(e => catalog.Runs(e.Instrument, e.Experiment)).ToList();
        Assert.Equal(_f.Runs.Select(r => $"{r.Experiment}/{r.Run}").Order(), seen.Select(r => $"{r.Experiment}/{r.Run}").Order());
        Assert.Equal(_f.Runs.Where(r => r.InProgress).Select(r => r.Run), seen.Where(r => !r.Ready).Select(r => r.Run));
        Assert.Equal(_f.Runs.Sum(r => r.Files.Count), seen.Sum(r => r.Files.Count));

        var pending = new RunScan(new ProcDb(cfg, _f.Process)).EnumeratePending(new RunScanQuery { UseCache = false }, null, null).ToList();
        Assert.Equal(_f.Runs.Where(r => r.ShouldBeProcessed).Select(r => $"{r.Experiment}/{r.Run}").Order(),
            pending.Select(r => $"{r.Experiment}/{r.Run}").Order());
    }

    [Fact]
    public void ExperimentsTxt_ListsTheControlledExperimentsOnly()
    {
        var lines = File.ReadAllLines(Path.Combine(_f.DbRoot, "pixel_status", "experiments.txt"))
            .Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        Assert.Equal(_f.Experiments.Where(e => e.UnderControl).Select(e => e.Experiment), lines);
    }

    [Fact]
    public void Config_LoadsAndPointsAtTheFacility()
    {
        var cfg = ConfigLoader.Load(_f.ConfigPath);
        Assert.Equal(_f.DataRoot, cfg.DataRoot);
        Assert.Equal(_f.DbRoot, cfg.DbRoot);
        Assert.Equal(_f.Instruments, cfg.Instruments);
        Assert.Equal("xtc", cfg.RunDirectory);
        Assert.InRange(cfg.SettleSeconds, 0, 2);
        var p = cfg.GetProcess("pixel_status");
        Assert.Equal(RunProc.Config.SchedulerKind.Local, p.Scheduler);
        Assert.Equal(2, p.MaxJobs);
        Assert.Equal(1, p.PollSeconds);
        Assert.Equal(2, p.Attempts);
        // The built-in command, plus PNG maps.
        Assert.Equal(RunProc.Config.ProcessDefinition.PixelStatusCommand, p.Command.Where((_, i) => p.Command[i] != "-ImagePath" && (i == 0 || p.Command[i - 1] != "-ImagePath")));
        Assert.Equal("{workdir}/png", p.Command[p.Command.ToList().IndexOf("-ImagePath") + 1]);
    }

    [Fact]
    public void Manifest_RoundTrips()
    {
        var back = DemoFacilityGenerator.Load(_f.Path);
        Assert.Equal(_f.Runs.Count, back.Runs.Count);
        Assert.Equal(_f.InjectedPixels, back.InjectedPixels);
        Assert.Equal(_f.Detectors, back.Detectors);
        Assert.Equal(_f.Runs.Select(r => r.Files.Count), back.Runs.Select(r => r.Files.Count));
    }

    [Fact]
    public void InjectedPixels_CoverEveryClassOnEveryDetector_AtDistinctPlaces()
    {
        foreach (var d in _f.Detectors)
        {
            var mine = _f.InjectedPixels.Where(p => p.Detector == d.Name).ToArray();
            Assert.Equal(Enum.GetValues<BadPixelClass>().Length * 4, mine.Length);
            Assert.Equal(mine.Length, mine.Select(p => p.Index).Distinct().Count());
            foreach (var p in mine)
                Assert.Equal(p.Index, (p.Segment * d.Rows + p.Row) * d.Columns + p.Column);
        }
    }

    [Theory]
    [InlineData("xpptut15", 1)]
    [InlineData("mfx101332224", 8)] // two chunk files: the events continue across them
    public void OriginalRule_FlagsExactlyTheInjectedPixels_WithTheRecordedBits(string exp, int runNo)
    {
        var run = _f.Runs.Single(r => r.Experiment == exp && r.Run == runNo);
        foreach (var d in _f.Detectors)
        {
            var frames = DemoFacilityGenerator.IsXtc2(exp) ? ReadXtc2Frames(run.Files, d) : run.Files.SelectMany(f => ReadFrames(f, d)).ToList();
            Assert.Equal(run.Events, frames.Count);
            var status = ReferenceStatus(frames, d.Pixels);
            var expected = _f.InjectedPixels.Where(p => p.Detector == d.Name).ToDictionary(p => p.Index, p => p.ExpectedStatus);
            for (var i = 0; i < d.Pixels; i++)
                Assert.True(status[i] == expected.GetValueOrDefault(i), $"{d.Name} pixel {i}: status {status[i]}, expected {expected.GetValueOrDefault(i)}");
            var check = DemoCheck.Compare(run, d, null, status.Select(s => (long)s).ToArray(), _f.InjectedPixels.Where(p => p.Detector == d.Name).ToArray());
            Assert.True(check.Passed);
        }
    }

    [Fact]
    public void Datasets_AreUInt16FrameStacks_OfTheDetectorShapes()
    {
        var run = _f.Runs.First(r => !r.InProgress);
        using var file = H5File.OpenRead(run.Files[0]);
        foreach (var d in _f.Detectors)
        {
            var ds = file.Dataset(d.DatasetPath);
            Assert.Equal(new[] { (ulong)run.Events }.Concat(d.Shape.Select(s => (ulong)s)), ds.Space.Dimensions);
            Assert.Equal(2, (int)ds.Type.Size);
            Assert.True(ds.Space.Dimensions.Length >= 3);
        }
    }

    [Fact]
    public void SameSeed_SameFrames()
    {
        var d = _f.Detectors[0];
        var run = _f.Runs[0];
        var ped = DemoFacilityGenerator.Pedestals(d, _f.Seed);
        var noise = DemoFacilityGenerator.NoiseTable(_f.Seed);
        var bad = _f.InjectedPixels.Where(p => p.Detector == d.Name).ToArray();
        var a = DemoFacilityGenerator.Frames(d, run, 0, 20, ped, bad, noise);
        var onDisk = ReadFrames(run.Files[0], d).SelectMany(x => x).ToArray();
        Assert.Equal(a, onDisk);
    }

    [Fact]
    public void StatusFileCheck_FindsTheDeployedFile_AndReportsDifferences()
    {
        var run = _f.Runs.First(r => r.ShouldBeProcessed);
        var d = _f.Detectors[1];
        var calib = Path.Combine(Path.GetTempPath(), "runproc-calib-" + Guid.NewGuid().ToString("N"));
        try
        {
            var status = new long[d.Pixels];
            foreach (var p in _f.InjectedPixels.Where(p => p.Detector == d.Name))
                status[p.Index] = p.ExpectedStatus;
            var dir = Path.Combine(calib, "Jungfrau::CalibV1", "MfxEndstation.0:Jungfrau.0-" + d.Name, "pixel_datastat");
            Directory.CreateDirectory(dir);
            var file = Path.Combine(dir, $"{run.Run}-end.data");
            WritePsana(file, d, status);
            Assert.Null(DemoCheck.FindStatusFile(calib, d.Name, run.Run + 1));
            Assert.Equal(file, DemoCheck.FindStatusFile(calib, d.Name, run.Run));
            var ok = DemoCheck.CheckRun(_f, run, calib).Single(c => c.Detector == d.Name);
            Assert.True(ok.Passed, ok.Problem);
            Assert.Equal(ok.Injected, ok.BadPixels);

            var victim = _f.InjectedPixels.First(p => p.Detector == d.Name);
            status[victim.Index] = 0;   // missed
            status[7] = 8;              // a false positive (7 is no injected pixel in this layout)
            Assert.DoesNotContain(_f.InjectedPixels, p => p.Detector == d.Name && p.Index == 7);
            WritePsana(file, d, status);
            var bad = DemoCheck.CheckRun(_f, run, calib).Single(c => c.Detector == d.Name);
            Assert.False(bad.Passed);
            Assert.Equal(1, bad.Missed);
            Assert.Equal(1, bad.Unexpected);

            var other = DemoCheck.CheckRun(_f, run, calib).Single(c => c.Detector == _f.Detectors[0].Name);
            Assert.False(other.Passed);
            Assert.NotNull(other.Problem);
        }
        finally
        {
            Directory.Delete(calib, recursive: true);
        }
    }

    private static void WritePsana(string file, DemoDetector d, long[] status)
    {
        using var w = new StreamWriter(file);
        w.WriteLine("# ARR_TYPE status");
        w.WriteLine($"# SHAPE {d.ShapeText}");
        w.WriteLine("# DTYPE int64");
        for (var r = 0; r < d.Segments * d.Rows; r++)
            w.WriteLine(string.Join(" ", status.Skip(r * d.Columns).Take(d.Columns)));
    }

    /// <summary>A detector's frames of an xtc2 run, data bits only (the epix10ka words carry gain bit 14).</summary>
    internal static List<ushort[]> ReadXtc2Frames(IReadOnlyList<string> files, DemoDetector d)
    {
        using var run = RunProc.Formats.Xtc2Run.Open(files, new[] { d.Name });
        var src = run.Detectors.Single().Frames!;
        Assert.Equal(d.Pixels, src.FramePixels);
        var list = new List<ushort[]>();
        for (var f = 0; f < src.FrameCount; f++)
        {
            var frame = new ushort[d.Pixels];
            src.ReadUInt16(f, 1, frame);
            list.Add(frame.Select(v => (ushort)(v & 0x3FFF)).ToArray());
        }
        return list;
    }

    internal static IEnumerable<ushort[]> ReadFrames(string path, DemoDetector d)
    {
        using var file = H5File.OpenRead(path);
        var all = file.Dataset(d.DatasetPath).Read<ushort[]>();
        for (var f = 0; f < all.Length / d.Pixels; f++)
            yield return all.AsSpan(f * d.Pixels, d.Pixels).ToArray();
    }

    /// <summary>The original det_ndarr_data_status rule with its defaults, written plainly (independent of the generator and of RunProc's kernel).</summary>
    internal static int[] ReferenceStatus(IReadOnlyList<ushort[]> frames, int pixels)
    {
        const double lo = 1, hi = 16000, rmsLo = 0.1, rmsHi = 16000, fraclm = 0.2;
        var status = new int[pixels];
        for (var p = 0; p < pixels; p++)
        {
            long nGood = 0, nLo = 0, nHi = 0;
            double sum = 0, sumsq = 0;
            int max = int.MinValue, min = int.MaxValue;
            foreach (var fr in frames)
            {
                int v = fr[p];
                if (v < lo) nLo++;
                else if (v > hi) nHi++;
                else { nGood++; sum += v; sumsq += (double)v * v; }
                max = Math.Max(max, v);
                min = Math.Min(min, v);
            }
            var mean = nGood > 0 ? sum / nGood : 0;
            var rms = nGood > 0 ? Math.Sqrt(Math.Max(0, sumsq / nGood - mean * mean)) : 0;
            var fLo = (double)nLo / frames.Count;
            var fHi = (double)nHi / frames.Count;
            var s = 0;
            if (rms > rmsHi) s |= 1;
            if (fHi > fraclm) s |= 2;
            if (fLo > fraclm) s |= 4;
            if (rms < rmsLo) s |= 8;
            if (mean > hi) s |= 16;
            if (mean < lo) s |= 32;
            if (max > hi) s |= 64;
            if (min < lo) s |= 128;
            status[p] = s;
        }
        return status;
    }
}

public class DemoFacilityFolderTests
{
    [Fact]
    public void NonEmptyFolderThatIsNoFacility_IsNeverTouched_EvenWithForce()
    {
        var root = Path.Combine(Path.GetTempPath(), "runproc-demo-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        try
        {
            var keep = Path.Combine(root, "thesis.tex");
            File.WriteAllText(keep, "precious");
            var ex = Assert.Throws<IOException>(() => DemoFacilityGenerator.Generate(root, new DemoFacilityOptions { FramesPerFile = 10, Force = true }));
            Assert.Contains("not a demo facility", ex.Message);
            Assert.Equal("precious", File.ReadAllText(keep));
            Assert.Single(Directory.EnumerateFileSystemEntries(root));
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void ExistingFacility_NeedsForce_ThenIsReplaced()
    {
        var root = Path.Combine(Path.GetTempPath(), "runproc-demo-" + Guid.NewGuid().ToString("N"));
        try
        {
            var o = new DemoFacilityOptions { FramesPerFile = 10, PerClass = 1 };
            DemoFacilityGenerator.Generate(root, o);
            var stray = Path.Combine(root, "db", "pixel_status", "XPP", "xpptut15-proc-runs.txt");
            Directory.CreateDirectory(Path.GetDirectoryName(stray)!);
            File.WriteAllText(stray, "0001 2026-01-01T00:00:00 u h cwd:/ cmd:x\n");
            var ex = Assert.Throws<IOException>(() => DemoFacilityGenerator.Generate(root, o));
            Assert.Contains("-Force", ex.Message);
            Assert.True(File.Exists(stray));
            var f = DemoFacilityGenerator.Generate(root, new DemoFacilityOptions { FramesPerFile = 10, PerClass = 1, Force = true });
            Assert.False(File.Exists(stray));   // a fresh DB: nothing processed yet
            Assert.True(File.Exists(f.ConfigPath));
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    [Fact]
    public void Force_removes_only_what_the_generator_and_the_demo_wrote()
    {
        var root = Path.Combine(Path.GetTempPath(), "runproc-demo-" + Guid.NewGuid().ToString("N"));
        try
        {
            var o = new DemoFacilityOptions { FramesPerFile = 10, PerClass = 1 };
            var first = DemoFacilityGenerator.Generate(root, o);
            // The user's own files, beside and inside the facility's folders: -Force must leave them.
            var notes = Path.Combine(root, "notes.txt");
            File.WriteAllText(notes, "mine");
            var ownExp = Path.Combine(first.DataRoot, "XPP", "xppmine1", "xtc", "keep.xtc");
            Directory.CreateDirectory(Path.GetDirectoryName(ownExp)!);
            File.WriteAllText(ownExp, "mine");
            var ownBeside = Path.Combine(Path.GetDirectoryName(first.Runs[0].Files[0])!, "my-analysis.txt");
            File.WriteAllText(ownBeside, "mine");
            var f = DemoFacilityGenerator.Generate(root, new DemoFacilityOptions { FramesPerFile = 10, PerClass = 1, Force = true });
            Assert.Equal("mine", File.ReadAllText(notes));
            Assert.Equal("mine", File.ReadAllText(ownExp));
            Assert.Equal("mine", File.ReadAllText(ownBeside));
            Assert.All(f.Runs.SelectMany(r => r.Files), p => Assert.True(File.Exists(p), p));
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    [Fact]
    public void ThePlanSaysHowManyFilesOfEachFormatItWrites()
    {
        var plan = DemoFacilityGenerator.Plan("/tmp/x", new DemoFacilityOptions());
        // xpptut15 runs 1-4 (run 4 in two chunks) and xppc00121 runs 1-2 are HDF5; mfx101332224 runs 7-10 are xtc2 (2 streams, run 8 in 2 chunks).
        Assert.Equal("10 runs (7 HDF5 and 10 xtc2 files, 2 detectors, 32 injected bad pixels)", plan.Contents);
    }

    [Fact]
    public void TooFewFrames_IsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => DemoFacilityGenerator.Plan("/tmp/x", new DemoFacilityOptions { FramesPerFile = 5 }));
    }
}
