using PureHDF;
using RunProc.Pixels;
using RunProc.Pixels.Split;
using RunProc.Tests.Catalog;
using Xunit;

namespace RunProc.Tests.Pixels;

/// <summary>Issue 15 item 2: a run split into parts and merged gives the unsplit run's outputs bit for bit; bad parts are refused.</summary>
public class SplitRunTests : IDisposable
{
    private readonly Facility _f = new(settleSeconds: 0);

    public void Dispose() => _f.Dispose();

    /// <summary>HDF5 run files of xpptut15 run <paramref name="run"/>: detector 'epix' in every file, 'jungfrau' only in the even-numbered ones.</summary>
    private List<string> RunFiles(int run, int files, int framesPerFile)
    {
        var dir = _f.RunDir("XPP", "xpptut15");
        var list = new List<string>();
        var rng = new Random(run * 97 + files);
        for (var i = 0; i < files; i++)
        {
            var data = new H5Group { ["epix"] = new H5Dataset(Frames(rng, framesPerFile, 2 * 8 * 16), fileDims: new ulong[] { (ulong)framesPerFile, 2, 8, 16 }) };
            if (i % 2 == 0)
                data["jungfrau"] = new H5Dataset(Frames(rng, framesPerFile, 6 * 10), fileDims: new ulong[] { (ulong)framesPerFile, 6, 10 });
            var path = Path.Combine(dir, $"xpptut15-r{run:0000}-s{i:00}-c00.h5");
            new H5File { ["entry"] = new H5Group { ["data"] = data } }.Write(path);
            list.Add(path);
        }
        return list;
    }

    /// <summary>Pedestal-like values with dead, saturated and out-of-gate events, so every status bit and both gates are exercised.</summary>
    private static ushort[] Frames(Random rng, int frames, int px)
    {
        var a = new ushort[frames * px];
        for (var i = 0; i < a.Length; i++)
        {
            var p = i % px;
            a[i] = p % 17 == 0 ? (ushort)0 : p % 19 == 0 ? (ushort)16383 : (ushort)(1000 + p * 7 + rng.Next(0, p % 5 == 0 ? 9000 : 60));
        }
        return a;
    }

    private PixelStatusRequest Request(IReadOnlyList<string> files, string outDir, long skip = 0, long? events = null) => new()
    {
        Files = files, Experiment = "xpptut15", Run = files.Count, Instrument = "XPP", SkipEvents = skip, Events = events,
        OutputDirectory = outDir, Deploy = true, Threads = 1, Options = new PixelStatusOptions { RmsHighSigma = 3 },
    };

    /// <summary>The unsplit run through the same runner, as Invoke-PixelStatus does it.</summary>
    private Dictionary<string, PixelStatusResult> Unsplit(PixelStatusRequest req, int run)
    {
        var runner = new PixelStatusRunner(_f.Config);
        var (dets, handle) = PixelReadPipeline.OpenDetectors(req.Files, req.Detectors);
        using (handle)
            return dets.ToDictionary(d => d.Source, d => runner.Finish(d, PixelReadPipeline.Accumulate(d, req, null, default), req, "xpptut15", run));
    }

    private Dictionary<string, PixelStatusResult> Split(PixelStatusRequest req, int run, int parts, string partDir)
    {
        var runner = new PixelStatusRunner(_f.Config);
        foreach (var k in Enumerable.Range(0, parts).Reverse()) // any order: each part is its own job
            PixelStatusSplit.RunPart(runner, req, "xpptut15", run, k, parts, partDir, _f.Config.FileMode, _f.Config.DirectoryMode, null, default);
        return PixelStatusSplit.Merge(partDir, parts, "xpptut15", run, default).ToDictionary(m => m.Header.Source,
            m => runner.Finish(new PixelStatusRunner.OutputDetector(m.Header.Source, m.Header.Dataset, m.Header.Shape), m.Accumulator, req with { Options = m.Header.Options }, "xpptut15", run));
    }

    private static void AssertSameOutputs(Dictionary<string, PixelStatusResult> whole, Dictionary<string, byte[]> wholeBytes, Dictionary<string, PixelStatusResult> merged)
    {
        Assert.Equal(whole.Keys.Order(), merged.Keys.Order());
        foreach (var (src, w) in whole)
        {
            var m = merged[src];
            Assert.Equal(w.Events, m.Events);
            Assert.Equal(w.Summary.Status, m.Summary.Status);
            Assert.Equal(w.Summary.Max, m.Summary.Max);
            Assert.Equal(w.Summary.Min, m.Summary.Min);
            // Bit-identical doubles, not merely close ones.
            Assert.Equal(w.Summary.Mean.Select(BitConverter.DoubleToInt64Bits), m.Summary.Mean.Select(BitConverter.DoubleToInt64Bits));
            Assert.Equal(w.Summary.Rms.Select(BitConverter.DoubleToInt64Bits), m.Summary.Rms.Select(BitConverter.DoubleToInt64Bits));
            Assert.Equal(w.Files.Select(Path.GetFileName), m.Files.Select(Path.GetFileName));
            foreach (var file in m.Files.Where(f => !f.EndsWith(".h5", StringComparison.Ordinal)))
                Assert.True(WithoutWriterStamp(wholeBytes[file]).SequenceEqual(WithoutWriterStamp(File.ReadAllBytes(file))), $"{file} differs from the unsplit run's");
        }
    }

    /// <summary>A text array without the lines that say who wrote it when (they differ between any two runs, split or not).</summary>
    private static byte[] WithoutWriterStamp(byte[] file) =>
        System.Text.Encoding.UTF8.GetBytes(string.Join('\n', System.Text.Encoding.UTF8.GetString(file).Split('\n')
            .Where(l => !(l.StartsWith("# HOST ", StringComparison.Ordinal) || l.StartsWith("# WORK_DIR ", StringComparison.Ordinal)
                || l.StartsWith("# DATE_TIME ", StringComparison.Ordinal) || l.StartsWith("# UID ", StringComparison.Ordinal)))));

    private static Dictionary<string, byte[]> Snapshot(Dictionary<string, PixelStatusResult> results) =>
        results.Values.SelectMany(r => r.Files).Where(f => !f.EndsWith(".h5", StringComparison.Ordinal)).ToDictionary(f => f, File.ReadAllBytes);

    [Fact]
    public void A_four_file_run_in_four_parts_deploys_the_unsplit_status_bit_for_bit()
    {
        var files = RunFiles(4, files: 4, framesPerFile: 7);
        var req = Request(files, Path.Combine(_f.Root, "out"));
        var whole = Unsplit(req, 4);
        var bytes = Snapshot(whole);
        Assert.Contains(whole.Values.SelectMany(r => r.Files), f => f.EndsWith("4-end.data", StringComparison.Ordinal)); // deployed
        var partDir = Path.Combine(_f.Root, "parts4");
        var merged = Split(req, 4, 4, partDir);
        AssertSameOutputs(whole, bytes, merged);
        // By files: each part read its own file, and jungfrau (only in files 0 and 2) came from two parts.
        var h = PartialAccumulatorFile.ReadHeader(Path.Combine(partDir, PixelStatusSplit.PartialName("entry.data.epix", 3, 4)));
        Assert.Equal(new PartCoverage(SplitMode.Files, 3, 1, 0, 4), h.Coverage);
        Assert.Equal(new[] { files[3] }, h.SourceFiles);
        Assert.False(File.Exists(Path.Combine(partDir, PixelStatusSplit.PartialName("entry.data.jungfrau", 1, 4))));
    }

    [Fact]
    public void A_one_file_run_split_by_events_in_three_deploys_the_unsplit_status_bit_for_bit()
    {
        var files = RunFiles(1, files: 1, framesPerFile: 20);
        var req = Request(files, Path.Combine(_f.Root, "out"));
        var whole = Unsplit(req, 1);
        var bytes = Snapshot(whole);
        var partDir = Path.Combine(_f.Root, "parts1");
        AssertSameOutputs(whole, bytes, Split(req, 1, 3, partDir));
        var shares = Enumerable.Range(0, 3).Select(k => PartialAccumulatorFile.ReadHeader(Path.Combine(partDir, PixelStatusSplit.PartialName("entry.data.epix", k, 3))).Coverage).ToList();
        Assert.Equal(new[] { (0L, 6L), (6L, 7L), (13L, 7L) }, shares.Select(c => (c.First, c.Count)));
        Assert.All(shares, c => Assert.Equal(SplitMode.Events, c.By));
    }

    [Fact]
    public void An_event_selection_is_split_by_events_even_with_many_files()
    {
        var files = RunFiles(3, files: 3, framesPerFile: 5);
        var req = Request(files, Path.Combine(_f.Root, "out")) with { SkipEvents = 2, Events = 11 };
        var whole = Unsplit(req, 3);
        var bytes = Snapshot(whole);
        AssertSameOutputs(whole, bytes, Split(req, 3, 2, Path.Combine(_f.Root, "parts3")));
    }

    private string SplitDir(int parts, out PixelStatusRequest req)
    {
        var files = RunFiles(2, files: 1, framesPerFile: 9);
        req = Request(files, Path.Combine(_f.Root, "out"));
        var dir = Path.Combine(_f.Root, "bad");
        var runner = new PixelStatusRunner(_f.Config);
        for (var k = 0; k < parts; k++)
            PixelStatusSplit.RunPart(runner, req, "xpptut15", 2, k, parts, dir, _f.Config.FileMode, _f.Config.DirectoryMode, null, default);
        return dir;
    }

    [Fact]
    public void A_missing_part_is_refused_naming_it()
    {
        var dir = SplitDir(3, out _);
        File.Delete(Path.Combine(dir, PixelStatusSplit.ManifestName(1, 3)));
        var ex = Assert.Throws<InvalidDataException>(() => PixelStatusSplit.Merge(dir, 3, null, null, default));
        Assert.Contains("part(s) 1 did not finish", ex.Message);
    }

    [Fact]
    public void A_damaged_part_is_refused_by_its_checksum()
    {
        var dir = SplitDir(2, out _);
        var path = Path.Combine(dir, PixelStatusSplit.PartialName("entry.data.epix", 1, 2));
        var b = File.ReadAllBytes(path);
        b[b.Length - 100] ^= 1; // one bit of the max/min arrays
        File.WriteAllBytes(path, b);
        var ex = Assert.Throws<InvalidDataException>(() => PixelStatusSplit.Merge(dir, 2, null, null, default));
        Assert.Contains(path, ex.Message);
        Assert.Contains("checksum", ex.Message);
    }

    [Fact]
    public void A_part_of_an_older_format_version_is_refused_naming_it_and_what_to_do()
    {
        // Version 2 added the xtc2 event counts to the header (a version-1 part would merge them as
        // 0); version 3 the checksummed blocks at narrow widths.
        var dir = SplitDir(2, out _);
        var path = Path.Combine(dir, PixelStatusSplit.PartialName("entry.data.epix", 0, 2));
        var b = File.ReadAllBytes(path);
        Assert.Equal(3u, BitConverter.ToUInt32(b, 8));
        foreach (var old in new[] { 1u, 2u })
        {
            BitConverter.GetBytes(old).CopyTo(b, 8);
            File.WriteAllBytes(path, b);
            var ex = Assert.Throws<InvalidDataException>(() => PixelStatusSplit.Merge(dir, 2, null, null, default));
            Assert.Contains(path, ex.Message);
            Assert.Contains($"format version {old}", ex.Message);
            Assert.Contains("run the parts again", ex.Message);
        }
    }

    [Fact]
    public void A_partial_file_reads_back_as_the_accumulator_written()
    {
        var files = RunFiles(6, files: 1, framesPerFile: 5);
        var req = Request(files, Path.Combine(_f.Root, "out"));
        var runner = new PixelStatusRunner(_f.Config);
        var (dets, handle) = PixelReadPipeline.OpenDetectors(req.Files, req.Detectors);
        using (handle)
        {
            var d = dets[0];
            var acc = PixelReadPipeline.Accumulate(d, req, null, default);
            var dir = Path.Combine(_f.Root, "one");
            PixelStatusSplit.RunPart(runner, req, "xpptut15", 6, 0, 1, dir, _f.Config.FileMode, _f.Config.DirectoryMode, null, default);
            var (h, back) = PartialAccumulatorFile.Read(Path.Combine(dir, PixelStatusSplit.PartialName(d.Source, 0, 1)));
            Assert.Equal(5, h.Events);
            PixelKernelTests.AssertSame(acc, back, "read back");
            Assert.Equal(0, h.SkippedIncomplete); // not xtc2
        }
    }

    [Fact]
    public void Parts_with_other_limits_or_of_another_run_are_refused()
    {
        var dir = SplitDir(2, out var req);
        var runner = new PixelStatusRunner(_f.Config);
        PixelStatusSplit.RunPart(runner, req with { Options = new PixelStatusOptions { IntensityHigh = 15000 } }, "xpptut15", 2, 1, 2, dir, _f.Config.FileMode, _f.Config.DirectoryMode, null, default);
        var ex = Assert.Throws<InvalidDataException>(() => PixelStatusSplit.Merge(dir, 2, null, null, default));
        Assert.Contains("gates", ex.Message);
        PixelStatusSplit.RunPart(runner, req, "xpptut15", 2, 1, 2, dir, _f.Config.FileMode, _f.Config.DirectoryMode, null, default);
        Assert.Equal(2, PixelStatusSplit.Merge(dir, 2, "xpptut15", 2, default).Count);
        Assert.Contains("not xpptut15 run 5", Assert.Throws<InvalidDataException>(() => PixelStatusSplit.Merge(dir, 2, "xpptut15", 5, default)).Message);
        // A directory of a 2-part split is not a 3-part one.
        Assert.Throws<InvalidDataException>(() => PixelStatusSplit.Merge(dir, 3, null, null, default));
    }

    [Fact]
    public void Overlapping_shares_are_refused()
    {
        var dir = SplitDir(2, out var req);
        // Part 1 rewritten over events that overlap part 0's (as if it had been given other event bounds).
        var runner = new PixelStatusRunner(_f.Config);
        var (dets, handle) = PixelReadPipeline.OpenDetectors(req.Files, req.Detectors);
        using (handle)
        {
            var d = dets[0];
            var acc = PixelReadPipeline.Accumulate(d, req with { SkipEvents = 3, Events = 6 }, null, default);
            var path = Path.Combine(dir, PixelStatusSplit.PartialName(d.Source, 1, 2));
            var h = PartialAccumulatorFile.ReadHeader(path);
            PartialAccumulatorFile.Write(path, h with { Events = acc.Events, EventFirst = 3, Coverage = h.Coverage with { First = 3, Count = 6 } }, acc, _f.Config.FileMode);
        }
        var ex = Assert.Throws<InvalidDataException>(() => PixelStatusSplit.Merge(dir, 2, null, null, default));
        Assert.Contains("overlap", ex.Message);
    }
}
