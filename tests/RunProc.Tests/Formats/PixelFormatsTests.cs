using System.Globalization;
using System.Text;
using RunProc.Config;
using RunProc.Formats;
using RunProc.Pixels;
using RunProc.Tests.Pixels;
using Xunit;

namespace RunProc.Tests.Formats;

public sealed class PixelFormatsTests : IDisposable
{
    private readonly string _dir = Python.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly PsanaTextArray.Metadata Meta = new()
    {
        Host = "psanaphi106", WorkDir = "/reg/neh/home/dubrovin", User = "dubrovin", Time = new DateTime(2017, 10, 5, 15, 19, 21),
    };

    [Fact]
    public void TextArrayHasPsanasExactHeaderAndBody()
    {
        var text = PsanaTextArray.Format(new long[] { 111, 112, 113, 121, 122, 123, 211, 212, 213, 221, 222, 223 }, new[] { 2, 2, 3 }, "nda.txt",
            new[] { "DATASET exp=xpptut15:run=260", "STATISTICS 1000", "ARR_TYPE status" }, Meta);
        const string expected =
            "# DATASET exp=xpptut15:run=260\n# STATISTICS 1000\n# ARR_TYPE status\n\n" +
            "# HOST        psanaphi106\n# WORK_DIR    /reg/neh/home/dubrovin\n# FILE_NAME   nda.txt\n# DATE_TIME   2017-10-05T15:19:21\n" +
            "# UID         dubrovin\n# SHAPE       (2,2,3)\n# DATATYPE    int64\n\n# DTYPE       int64\n# NDIM        3\n" +
            "# DIM:0       2\n# DIM:1       2\n# DIM:2       3\n\n" +
            "111 112 113\n121 122 123\n211 212 213\n221 222 223\n";
        Assert.Equal(expected, text);

        var f = PsanaTextArray.Format(new[] { 1.0, 2.5, -0.0004, 1234.56789 }, new[] { 2, 2 }, "a.txt", Array.Empty<string>(), 3, Meta);
        Assert.EndsWith("\n\n1.000 2.500\n-0.000 1234.568\n", f);
    }

    [Fact]
    public void TextArrayNumbers_AreExactlyTheRuntimesFormatting_IncludingNearTiesAndOddValues()
    {
        // The fast fixed-point path must give ToString("F<n>") byte for byte, near ties included.
        var rng = new Random(7);
        var values = new List<double> { 0, -0.0, 0.0005, 0.0015, 0.0625, 1.0005, 2.5, 999_999.9995, 999_999.9994, 1e6, 1e9, 1e300, -1e-9,
            double.Epsilon, double.MaxValue, -double.MaxValue, 0.1 + 0.2, 16383.0, 12000.4995, 12000.5005 };
        for (var i = 0; i < 200_000; i++)
        {
            values.Add(rng.NextDouble() * Math.Pow(10, rng.Next(-4, 8)));
            values.Add(Math.Round(rng.NextDouble() * 20000, 4) + (rng.Next(3) - 1) * 1e-12); // on and next to ties
            values.Add((rng.Next(2_000_000) + 0.5) / 1000);
        }
        foreach (var decimals in new[] { 0, 1, 3, 6 })
        {
            var fmt = "F" + decimals;
            var text = Encoding.UTF8.GetString(PsanaTextArray.Utf8(values.ToArray().AsSpan(), new[] { values.Count }, "x", Array.Empty<string>(), decimals, Meta));
            var body = text[(text.LastIndexOf("\n\n", StringComparison.Ordinal) + 3)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(values.Count, body.Length);
            for (var i = 0; i < values.Count; i++)
                Assert.True(values[i].ToString(fmt, CultureInfo.InvariantCulture) == body[i], $"{values[i]:R} with {fmt}: {body[i]}");
        }
        var odd = Encoding.UTF8.GetString(PsanaTextArray.Utf8(new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity }.AsSpan(), new[] { 3 }, "x", Array.Empty<string>(), 3, Meta));
        Assert.EndsWith("\n\n nan inf -inf ", odd);
    }

    [Fact]
    public void TextArrayInt32s_AtEveryDigitCount_AreTheRuntimesFormatting()
    {
        // The int32 writer's short paths (1 to 4 digits without a loop) and the long one, both signs.
        var values = new List<int> { 0, int.MinValue, int.MaxValue, -1 };
        for (var p = 1; p <= 1_000_000_000; p *= 10)
            values.AddRange(new[] { p - 1, p, p + 1, -p, -(p - 1), p * 5 + 3 });
        var rng = new Random(4);
        for (var i = 0; i < 50_000; i++)
            values.Add(rng.Next(-20000, 20000));
        var path = Path.Combine(_dir, "i.txt");
        PsanaTextArray.WriteFile(path, (ReadOnlyMemory<int>)values.ToArray(), new[] { values.Count }, "i.txt", Array.Empty<string>(), Convert.ToInt32("640", 8), Meta);
        var text = File.ReadAllText(path);
        Assert.EndsWith("\n\n " + string.Join(" ", values.Select(v => v.ToString(CultureInfo.InvariantCulture))) + " ", text);
    }

    [Fact]
    public void TextArrayIntegers_OfAnyWidth_AreWrittenAsInt64()
    {
        var ints = new[] { 0, -1, int.MaxValue, int.MinValue, 196, 16383 };
        var a = PsanaTextArray.Utf8(ints.AsSpan(), new[] { 2, 3 }, "i.txt", new[] { "ARR_TYPE status" }, Meta);
        var b = PsanaTextArray.Format(ints.Select(v => (long)v).ToArray(), new[] { 2, 3 }, "i.txt", new[] { "ARR_TYPE status" }, Meta);
        Assert.Equal(b, Encoding.UTF8.GetString(a));
        Assert.EndsWith("\n\n0 -1 2147483647\n-2147483648 196 16383\n", b);
        Assert.Contains("# DATATYPE    int64\n", b);
    }

    [Theory]
    [InlineData(new[] { 3, 301, 389 })]
    [InlineData(new[] { 200_003 })]
    public void TheMaskFile_MadeFromTheStatus_IsByteForByteTheTextOfTheMask(int[] shape)
    {
        // The job writes the mask from the status as it formats it (no mask array): the same file
        // as the mask array's text, over several blocks and waves, in 2-D rows and in 1-D.
        var n = shape.Aggregate(1, (a, b) => a * b);
        var rng = new Random(13);
        var status = Enumerable.Range(0, n).Select(_ => rng.Next(4) == 0 ? rng.Next(1, 256) : 0).ToArray();
        var mask = status.Select(v => v == 0 ? 1 : 0).ToArray();
        var comments = new[] { "ARR_TYPE mask" };
        var mode = Convert.ToInt32("640", 8);
        var path = Path.Combine(_dir, "msk.txt");
        PsanaTextArray.WriteMaskFile(path, status, shape, "msk.txt", comments, mode, Meta);
        var expected = PsanaTextArray.Utf8<int>(mask.AsSpan(), shape, "msk.txt", comments, Meta);
        Assert.Equal(expected, File.ReadAllBytes(path));
        Assert.Contains(status, v => v != 0);
        Assert.Equal((UnixFileMode)mode, File.GetUnixFileMode(path));
        Assert.Empty(Directory.GetFiles(_dir, ".*tmp*"));
    }

    [Fact]
    public void TextArrayFiles_WrittenInBlocks_AreByteForByteTheWholeText()
    {
        // More blocks than one wave, rows that do not fill a block evenly, negative values (the
        // runtime's path) among the fast ones: the streamed file equals the text made at once,
        // and each line is one row in the runtime's formatting.
        var shape = new[] { 3, 301, 389 };
        var n = 3 * 301 * 389;
        var rng = new Random(11);
        var doubles = Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 20000 - 10).ToArray();
        var ints = Enumerable.Range(0, n).Select(_ => rng.Next(int.MinValue, int.MaxValue)).ToArray();
        var comments = new[] { "ARR_TYPE average" };
        var mode = Convert.ToInt32("640", 8);
        var (pd, pi) = (Path.Combine(_dir, "d.txt"), Path.Combine(_dir, "i.txt"));
        PsanaTextArray.WriteFile(pd, doubles, shape, "d.txt", comments, mode, 3, Meta);
        PsanaTextArray.WriteFile<int>(pi, ints, shape, "i.txt", comments, mode, Meta);
        var d = File.ReadAllBytes(pd);
        Assert.Equal(PsanaTextArray.Utf8(doubles.AsSpan(), shape, "d.txt", comments, 3, Meta), d);
        Assert.Equal(PsanaTextArray.Utf8<int>(ints.AsSpan(), shape, "i.txt", comments, Meta), File.ReadAllBytes(pi));
        Assert.Equal((UnixFileMode)mode, File.GetUnixFileMode(pd));
        Assert.Empty(Directory.GetFiles(_dir, ".*tmp*"));

        foreach (var (text, row) in new[] { (Encoding.UTF8.GetString(d), (Func<int, string>)(r => string.Join(' ', doubles.Skip(r * 389).Take(389).Select(v => v.ToString("F3", CultureInfo.InvariantCulture))))),
                                           (File.ReadAllText(pi), r => string.Join(' ', ints.Skip(r * 389).Take(389).Select(v => v.ToString(CultureInfo.InvariantCulture)))) })
        {
            var lines = text[(text.LastIndexOf("\n\n", StringComparison.Ordinal) + 2)..].Split('\n');
            Assert.Equal(3 * 301 + 1, lines.Length);
            Assert.Equal("", lines[^1]);
            for (var r = 0; r < 3 * 301; r++)
                Assert.True(row(r) == lines[r], $"row {r}: {lines[r][..Math.Min(80, lines[r].Length)]}");
        }
    }

    [Fact]
    public void TextArrayOfAFloat64Source_MadeAsItIsFormatted_IsByteForByteTheArraysText()
    {
        // The mean and rms files are formatted from values made a chunk at a time (no array): the
        // same bytes as the array's text, with chunks, blocks and rows that do not line up.
        var shape = new[] { 3, 301, 389 };
        var n = 3 * 301 * 389;
        var rng = new Random(12);
        var doubles = Enumerable.Range(0, n).Select(i => i % 97 == 0 ? -rng.NextDouble() * 5 : rng.NextDouble() * 20000).ToArray();
        var asked = new bool[n];
        var path = Path.Combine(_dir, "s.txt");
        PsanaTextArray.WriteFile(path, n, (first, dst) =>
        {
            doubles.AsSpan(first, dst.Length).CopyTo(dst);
            for (var i = 0; i < dst.Length; i++)
            {
                Assert.False(asked[first + i], $"value {first + i} asked twice");
                asked[first + i] = true;
            }
        }, shape, "d.txt", new[] { "ARR_TYPE average" }, Convert.ToInt32("640", 8), 3, Meta);
        Assert.All(asked, Assert.True);
        Assert.Equal(PsanaTextArray.Utf8(doubles.AsSpan(), shape, "d.txt", new[] { "ARR_TYPE average" }, 3, Meta), File.ReadAllBytes(path));
    }

    [Theory]
    [InlineData(PixelLimitMethod.Absolute)]
    [InlineData(PixelLimitMethod.Robust)]
    public void TheJobsTextArrays_MadeFromTheAccumulator_AreTheTextOfTheSummarysArrays(PixelLimitMethod method)
    {
        // The runner writes mean/rms a chunk at a time and max/min/status from the accumulator; the
        // robust method has computed the Mean/Rms arrays first (they are then copied from). Either
        // way every file's values are the text of the summary's own arrays.
        var shape = new[] { 2, 175, 201 };
        var px = 2 * 175 * 201;
        var rng = new Random(21);
        var options = new PixelStatusOptions { Method = method, RmsHigh = 30 };
        var (lo, hi) = options.Gates();
        var acc = new PixelStatusAccumulator(px, lo, hi);
        var frame = new ushort[px];
        for (var f = 0; f < 9; f++)
        {
            for (var p = 0; p < px; p++)
                frame[p] = p % 97 == 0 ? (ushort)0 : p % 89 == 0 ? (ushort)16383 : (ushort)(900 + rng.Next(p % 5 == 0 ? 200 : 40));
            PixelStatusKernel.Accumulate(acc, frame);
        }
        var dir = Path.Combine(_dir, method.ToString());
        var runner = new PixelStatusRunner(new RunProcConfig());
        var result = runner.Finish(new PixelStatusRunner.OutputDetector("det", "/det", shape), acc,
            new PixelStatusRequest { Files = Array.Empty<string>(), OutputDirectory = dir, WriteHdf5 = false, Options = options }, "exp", 1);
        var s = result.GetSummary();
        static string Body(byte[] text) { var t = Encoding.UTF8.GetString(text); return t[(t.LastIndexOf("\n\n", StringComparison.Ordinal) + 2)..]; }
        var c = Array.Empty<string>();
        foreach (var (type, expected) in new (string, byte[])[]
        {
            ("ave", PsanaTextArray.Utf8(s.Mean.AsSpan(), shape, "x", c, 3, Meta)), ("rms", PsanaTextArray.Utf8(s.Rms.AsSpan(), shape, "x", c, 3, Meta)),
            ("max", PsanaTextArray.Utf8<int>(s.Max.AsSpan(), shape, "x", c, Meta)), ("min", PsanaTextArray.Utf8<int>(s.Min.AsSpan(), shape, "x", c, Meta)),
            ("sta", PsanaTextArray.Utf8<int>(s.Status.AsSpan(), shape, "x", c, Meta)), ("msk", PsanaTextArray.Utf8<int>(s.Mask.AsSpan(), shape, "x", c, Meta)),
        })
        {
            var file = Directory.GetFiles(dir, $"*-{type}.txt").Single();
            Assert.True(Body(expected) == Body(File.ReadAllBytes(file)), $"{method} {type}: the file's values differ from the summary's array");
        }
        Assert.InRange(result.BadPixels, 1, px - 1);
        Assert.Contains(s.Rms, v => v > 30);
    }

    [Fact]
    public void TextArrayRoundTripsThroughTheReader()
    {
        var path = Path.Combine(_dir, "rt.txt");
        var rng = new Random(3);
        var values = Enumerable.Range(0, 3 * 5 * 7).Select(_ => Math.Round(rng.NextDouble() * 1000, 3)).ToArray();
        File.WriteAllText(path, PsanaTextArray.Format(values, new[] { 3, 5, 7 }, path, new[] { "ARR_TYPE average" }));
        var (back, shape, dtype, comments) = PsanaTextArray.Read(path);
        Assert.Equal(new[] { 3, 5, 7 }, shape);
        Assert.Equal("float64", dtype);
        Assert.Equal(values, back);
        Assert.Contains("# ARR_TYPE average", comments);

        // Files psana's loader would reject are rejected too.
        File.WriteAllText(path, "# SHAPE       (2,2)\n1 2 3\n");
        Assert.Throws<InvalidDataException>(() => PsanaTextArray.Read(path));
    }

    /// <summary>A .npy file as numpy writes it (version 1.0, header padded to 64 bytes).</summary>
    /// <summary>
    /// The in-place scan computes the status of its last block tile by tile (default limits); the
    /// summary takes it, and it is the status a pass of its own gives on the reference accumulator,
    /// over several blocks, tiles, both threads and pieces. Limits that need the arrays (n-sigma) are not
    /// known before the scan: no status is computed there.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void TheLastBlocksScanComputesTheStatusThePassWould(int threads)
    {
        const int px = 2 * 200 * 103, n = 23; // several 16 Ki-pixel tiles, an odd tail
        var data = PixelKernelTests.Frames(px, n, 1, 16000, 3);
        for (var f = 0; f < n; f++)
        {
            data[f * px + 7] = 0;                           // below the gate
            data[f * px + 1000] = (ushort)(f % 2 == 0 ? 17000 : 5);   // noisy, above the gate
            data[f * px + px - 1] = 900;                    // dead (rms 0), in the tail
        }
        var path = Path.Combine(_dir, "blocks.npy");
        WriteNpy(path, "<u2", new[] { n, 2, 200, 103 }, data);
        var options = new PixelStatusOptions { RmsLow = 0.1, RmsHigh = 5000, IntensityLow = 1, IntensityHigh = 16000 };
        var expected = PixelStatusSummary.Compute(PixelKernelTests.Reference(data, px, 1, 16000), options);
        Assert.True(expected.BadPixels >= 3);
        foreach (var sigma in new[] { false, true })
        {
            var opts = sigma ? new PixelStatusOptions { RmsLow = 0.1, RmsHigh = 5000, IntensityLow = 1, IntensityHigh = 16000, RmsHighSigma = 6 } : options;
            var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { path }, Array.Empty<string>());
            using (handle)
            {
                // Blocks of 4 × BlockBytes in place: 5 frames a block, so the last block is short.
                var req = new PixelStatusRequest { Files = new[] { path }, BlockBytes = px * 2 * 5 / 4, Threads = threads, Options = opts };
                var acc = PixelReadPipeline.Accumulate(Assert.Single(dets), req, null, CancellationToken.None);
                Assert.Equal(!sigma, acc.HasScannedStatus);
                var s = PixelStatusSummary.Compute(acc, opts);
                var again = PixelStatusSummary.Compute(acc, opts); // its own pass, into an array of its own
                Assert.Equal(again.Status, s.Status);
                Assert.Equal(again.CountPerBit, s.CountPerBit);
                Assert.Equal(again.BadPixels, s.BadPixels);
                if (!sigma)
                {
                    Assert.Equal(expected.Status, s.Status);
                    Assert.Equal(expected.CountPerBit, s.CountPerBit);
                    Assert.Equal(expected.BadPixels, s.BadPixels);
                    // Other limits than the scan's: the summary computes its own status.
                    var other = PixelStatusSummary.Compute(acc, new PixelStatusOptions { RmsLow = 0.1, RmsHigh = 1, IntensityLow = 1, IntensityHigh = 16000 });
                    Assert.True(other.BadPixels > s.BadPixels);
                }
            }
        }
    }

    internal static void WriteNpy<T>(string path, string descr, int[] shape, T[] data) where T : unmanaged
    {
        var dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({string.Join(", ", shape)}{(shape.Length == 1 ? "," : "")}), }}";
        var total = 10 + dict.Length + 1;
        var pad = (64 - total % 64) % 64;
        var header = dict + new string(' ', pad) + "\n";
        using var fs = File.Create(path);
        fs.Write(new byte[] { 0x93 }.Concat(Encoding.ASCII.GetBytes("NUMPY")).Concat(new byte[] { 1, 0 }).ToArray());
        fs.Write(BitConverter.GetBytes((ushort)header.Length));
        fs.Write(Encoding.ASCII.GetBytes(header));
        fs.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
    }

    [Fact]
    public void NpyStacksAreReadInPlaceAndTruncationNamesTheFrame()
    {
        const int px = 2 * 9 * 11, n = 13;
        var data = PixelKernelTests.Frames(px, n, 1, 16000, 11);
        var path = Path.Combine(_dir, "cam.npy");
        WriteNpy(path, "<u2", new[] { n, 2, 9, 11 }, data);
        var runner = new PixelStatusRunner(new RunProcConfig());
        var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { path }, Array.Empty<string>());
        using (handle)
        {
            var det = Assert.Single(dets);
            Assert.Equal("cam", det.Source);
            Assert.Equal(new[] { 2, 9, 11 }, det.FrameShape);
            var acc = PixelReadPipeline.Accumulate(det, new PixelStatusRequest { Files = new[] { path }, BlockBytes = 4 * px * 2 }, null, CancellationToken.None);
            PixelKernelTests.AssertSame(PixelKernelTests.Reference(data, px, 1, 16000), acc, "npy");
        }

        // int16 with negatives goes through the wide path: negatives are below the low gate.
        var signed = Enumerable.Range(0, px * 3).Select(i => (short)(i % 5 == 0 ? -7 : 1000 + i % 13)).ToArray();
        var spath = Path.Combine(_dir, "signed.npy");
        WriteNpy(spath, "<i2", new[] { 3, 2, 9, 11 }, signed);
        (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { spath }, Array.Empty<string>());
        using (handle)
        {
            var acc = PixelReadPipeline.Accumulate(dets[0], new PixelStatusRequest { Files = new[] { spath } }, null, CancellationToken.None);
            Assert.Equal(1, acc.BelowLow[0]);
            Assert.Equal(-7, acc.Min[0]);
            Assert.Equal(1003 + 1006, acc.Sum[0]);  // frames: -7 (below), 1003, 1006
        }

        // Float32: rounded to the nearest integer; NaN counts below every gate.
        var floats = new float[] { 1.4f, 2.5f, float.NaN, 16000.6f };
        var fpath = Path.Combine(_dir, "f.npy");
        WriteNpy(fpath, "<f4", new[] { 1, 1, 2, 2 }, floats);
        (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { fpath }, Array.Empty<string>());
        using (handle)
        {
            var acc = PixelReadPipeline.Accumulate(dets[0], new PixelStatusRequest { Files = new[] { fpath } }, null, CancellationToken.None);
            Assert.Equal(new long[] { 1, 2, 0, 0 }, acc.Sum);
            Assert.Equal(new[] { 0, 0, 1, 0 }, acc.BelowLow);
            Assert.Equal(new[] { 0, 0, 0, 1 }, acc.AboveHigh);
        }

        // Truncated: the declared frames do not fit the file.
        var bytes = File.ReadAllBytes(path);
        var cut = Path.Combine(_dir, "cut.npy");
        File.WriteAllBytes(cut, bytes[..(bytes.Length - px * 2 * 3 - 5)]);
        var ex = Assert.Throws<FrameReadException>(() => PixelReadPipeline.OpenDetectors(new[] { cut }, Array.Empty<string>()));
        Assert.Equal(9, ex.Frame);
        Assert.Contains("cut.npy", ex.Message);
        Assert.Contains("truncated", ex.Message);

        // A huge declared shape is refused before anything is allocated.
        var huge = Path.Combine(_dir, "huge.npy");
        WriteNpy(huge, "<u2", new[] { 1000000000, 4096, 4096 }, new ushort[4]);
        Assert.Throws<FrameReadException>(() => PixelReadPipeline.OpenDetectors(new[] { huge }, Array.Empty<string>()));
    }

    [Fact]
    public void DeployWritesTheStatusFileAndAHistoryLine()
    {
        const int px = 4 * 6;
        var data = PixelKernelTests.Frames(px, 10, 1, 16000, 5);
        var path = Path.Combine(_dir, "xpptut15-r0007-s00-c00.npy");
        WriteNpy(path, "<u2", new[] { 10, 4, 6 }, data);
        var config = new RunProcConfig { DataRoot = Path.Combine(_dir, "data") };
        var runner = new PixelStatusRunner(config);
        var req = new PixelStatusRequest { Files = new[] { path }, Deploy = true, ImageDirectory = Path.Combine(_dir, "img"), ArrayTypes = new[] { "sta" } };
        var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { path }, Array.Empty<string>());
        using (handle)
        {
            var planned = runner.PlannedOutputs(dets[0], req, "xpptut15", 7);
            Assert.Empty(Directory.GetFiles(_dir, "*.data", SearchOption.AllDirectories));
            var acc = PixelReadPipeline.Accumulate(dets[0], req, null, CancellationToken.None);
            var r1 = runner.Finish(dets[0], acc, req, "xpptut15", 7);
            var r2 = runner.Finish(dets[0], acc, req, "xpptut15", 7);
            Assert.Equal("xpptut15-r0007-s00-c00", dets[0].Source);
            var typeDir = Path.Combine(_dir, "data", "XPP", "xpptut15", "calib", "Xpptut15r0007s00c00::CalibV1", "xpptut15-r0007-s00-c00", "pixel_datastat");
            var deployed = Path.Combine(typeDir, "7-end.data");
            Assert.Contains(deployed, r1.Files);
            Assert.Contains(deployed, planned);
            var (values, shape, _, comments) = PsanaTextArray.Read(deployed);
            Assert.Equal(new[] { 4, 6 }, shape);
            Assert.Equal(r1.Summary.Status.Select(v => (double)v), values);
            Assert.Contains("# ARR_TYPE status", comments);
            var history = File.ReadAllLines(Path.Combine(typeDir, "HISTORY"));
            Assert.Equal(2, history.Length);
            Assert.StartsWith("file: 7-end.data", history[0]);
            Assert.Equal(4, r1.Files.Count(f => f.EndsWith(".png", StringComparison.Ordinal)));
            foreach (var png in r1.Files.Where(f => f.EndsWith(".png", StringComparison.Ordinal)))
                Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);
            Assert.Empty(Directory.GetFiles(typeDir, ".*"));
        }
        var configured = new PixelStatusRunner(new RunProcConfig { DataRoot = "/d", CalibDir = Path.Combine(_dir, "{ins}", "{exp}", "c"), CalibGroup = "Epix100a::CalibV1" });
        Assert.Equal(Path.Combine(_dir, "XPP", "xpptut15", "c", "Epix100a::CalibV1", "cam", "pixel_datastat", "12-end.data"), configured.Store.Paths("xpptut15", 12, "cam").DataFile);
        // psana's own calibration type (det.datast() reads pixel_datast), where a site sets it.
        var psanaType = new PixelStatusRunner(new RunProcConfig { DataRoot = "/d", CalibType = "pixel_datast" });
        Assert.Equal(Path.Combine("/d", "XPP", "xpptut15", "calib", "Epix100a::CalibV1", "XppGon.0:Epix100a.0", "pixel_datast", "12-end.data"), psanaType.Store.Paths("xpptut15", 12, "XppGon.0:Epix100a.0").DataFile);
    }

    [Theory]
    [InlineData("/data/XppGon.0:Epix100a.0", "data.XppGon.0:Epix100a.0", "Epix100a::CalibV1")]
    [InlineData("/entry/instrument/jungfrau/data", "entry.instrument.jungfrau.data", "Jungfrau::CalibV1")]
    [InlineData("/a b/../c;rm -rf", "a_b.c_rm_-rf", "C_rm_rf::CalibV1")]
    [InlineData("/data/CxiDs2.0:Cspad.0", "data.CxiDs2.0:Cspad.0", "CsPad::CalibV1")]
    [InlineData("/data/XcsEndstation.0:Cspad2x2.1", "data.XcsEndstation.0:Cspad2x2.1", "CsPad2x2::CalibV1")]
    [InlineData("/Camp.0:pnCCD.1", "Camp.0:pnCCD.1", "PNCCD::CalibV1")]
    [InlineData("/XppEndstation.0:Opal1000.1/image", "XppEndstation.0:Opal1000.1.image", "Camera::CalibV1")]
    [InlineData("/MecTargetChamber.0:DualAndor.0", "MecTargetChamber.0:DualAndor.0", "Andor3d::CalibV1")]
    [InlineData("/XcsEndstation.0:Epix10ka2M.0", "XcsEndstation.0:Epix10ka2M.0", "Epix10ka2M::CalibV1")]
    [InlineData("/MfxEndstation.0:Epix10kaQuad.0", "MfxEndstation.0:Epix10kaQuad.0", "Epix10kaQuad::CalibV1")]
    [InlineData("/XppGon.0:Epix.0", "XppGon.0:Epix.0", "Epix::CalibV1")]
    public void SourceNamesAreSafeAndGroupsDerivedLikeTheOldTool(string dataset, string source, string group)
    {
        Assert.Equal(source, PixelStatusRunner.SourceName(dataset));
        Assert.True(Names.IsDetector(source));
        Assert.Equal(group, CalibrationStore.DeriveGroup(source));
    }

    [Fact]
    public void AnHdf5DatasetUnderAnLcls1DetInfoIsNamedByIt_UnlessAnotherDatasetSharesIt()
    {
        // As psana's translator lays out a converted LCLS-I run: the source is the DetInfo, as the old
        // tool named its outputs and calibration dirs (nda-xpptut15-r0260-XppGon.0:Epix100a.0-…).
        var frames = new ushort[3 * 4 * 5];
        var path = Path.Combine(_dir, "xpptut15-r0260-s00-c00.h5");
        var cycle = new PureHDF.H5Group
        {
            ["Epix::ElementV3"] = new PureHDF.H5Group { ["XppGon.0:Epix100a.0"] = new PureHDF.H5Group { ["data"] = new PureHDF.H5Dataset(frames, fileDims: new ulong[] { 3, 4, 5 }) } },
            ["CsPad::ElementV2"] = new PureHDF.H5Group
            {
                ["CxiDs1.0:Cspad.0"] = new PureHDF.H5Group
                {
                    ["data"] = new PureHDF.H5Dataset(frames, fileDims: new ulong[] { 3, 4, 5 }),
                    ["image"] = new PureHDF.H5Dataset(frames, fileDims: new ulong[] { 3, 4, 5 }),
                },
            },
        };
        new PureHDF.H5File { ["Configure:0000"] = new PureHDF.H5Group { ["Run:0000"] = new PureHDF.H5Group { ["CalibCycle:0000"] = cycle } } }.Write(path);
        var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { path }, Array.Empty<string>());
        using (handle)
        {
            Assert.Equal("XppGon.0:Epix100a.0", dets.Single(d => d.Dataset.Contains("Epix100a")).Source);
            // Two datasets under one DetInfo keep their whole paths (one name each).
            Assert.Equal(new[] { "Configure:0000.Run:0000.CalibCycle:0000.CsPad::ElementV2.CxiDs1.0:Cspad.0.data", "Configure:0000.Run:0000.CalibCycle:0000.CsPad::ElementV2.CxiDs1.0:Cspad.0.image" },
                dets.Where(d => d.Dataset.Contains("Cspad")).Select(d => d.Source).Order(StringComparer.Ordinal));
        }
        Assert.Equal("Epix100a::CalibV1", CalibrationStore.DeriveGroup("XppGon.0:Epix100a.0"));
    }

    [Fact]
    public void NexusMaskRejectsExactlyTheBadPixelsAndKeepsTheStatus()
    {
        for (var s = 0; s < 256; s++)
        {
            var m = PixelStatusHdf5.NexusMask(s);
            Assert.Equal(s != 0, (m & 0xFFFF) != 0);
            Assert.Equal((uint)s, m >> 16);
        }
        Assert.Equal(1u << 4, PixelStatusHdf5.NexusMask(1) & 0xFFFF);  // noisy
        Assert.Equal(1u << 1, PixelStatusHdf5.NexusMask(8) & 0xFFFF);  // dead
        Assert.Equal(1u << 3, PixelStatusHdf5.NexusMask(2) & 0xFFFF);  // over-responding
        Assert.Equal(1u << 2, PixelStatusHdf5.NexusMask(4) & 0xFFFF);  // under-responding
    }

    [Fact]
    public void RunFileNamesGiveExperimentAndRun()
    {
        Assert.Equal(("xpptut15", 260), PixelStatusRunner.ParseRunFileName("/x/xpptut15-r0260-s01-c00.h5"));
        Assert.Equal(("mfx101332224", 7), PixelStatusRunner.ParseRunFileName("mfx101332224-r0007-s000-c000.h5"));
        Assert.Null(PixelStatusRunner.ParseRunFileName("frames.npy"));
        Assert.Equal("nda-xpptut15-r0260-XppGon.0:Epix100a.0-e001000", PixelStatusRunner.OutputBase("xpptut15", 260, "XppGon.0:Epix100a.0", 1000));
    }
}
