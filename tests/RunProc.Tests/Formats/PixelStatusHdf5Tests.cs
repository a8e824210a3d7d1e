using System.Text;
using System.Text.Json;
using PureHDF;
using RunProc.Formats;
using RunProc.Pixels;
using RunProc.Tests.Pixels;
using Xunit;

namespace RunProc.Tests.Formats;

/// <summary>
/// The HDF5 result written by RunProc's own writer: HDF5's checksum, read back by h5py (libhdf5)
/// and by PureHDF (the module's own reader), value for value, and seen by h5py exactly as the
/// file PureHDF's writer made of the same summary (names, dtypes, shapes, attributes and their types).
/// </summary>
public sealed class PixelStatusHdf5Tests : IDisposable
{
    private readonly string _dir = Python.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly int[] Shape = { 2, 5, 7 };

    /// <summary>20 frames of 70 pixels with dead, saturated and noisy ones, so every array and count is non-trivial.</summary>
    private static PixelStatusSummary Summary()
    {
        var px = Shape.Aggregate(1, (a, b) => a * b);
        var (lo, hi) = new PixelStatusOptions().Gates();
        var acc = new PixelStatusAccumulator(px, lo, hi);
        var rng = new Random(3);
        var frame = new ushort[px];
        for (var f = 0; f < 20; f++)
        {
            for (var p = 0; p < px; p++) frame[p] = (ushort)(900 + rng.Next(200));
            frame[3] = 0;
            frame[11] = 16383;
            frame[40] = (ushort)(f % 2 == 0 ? 10 : 9000);
            frame[50] = (ushort)(f < 10 ? 0 : 1000);
            PixelStatusKernel.Accumulate(acc, frame);
        }
        return PixelStatusSummary.Compute(acc, new PixelStatusOptions());
    }

    private static readonly Dictionary<string, object> Extra = new() { ["experiment"] = "xpptut15", ["run"] = 260, ["dataset"] = "/det/XppGon.0:Epix100a.0" };

    /// <summary>h5py's view of a result file: every object, its dtype, shape and values, every attribute with its Python type.</summary>
    private const string Dump = """
import sys, json, h5py, numpy as np
out = {}
def attrs(o):
    return {k: [type(v).__name__, str(getattr(v, "dtype", "")), v.tolist() if hasattr(v, "tolist") else v] for k, v in sorted(o.attrs.items())}
def visit(name, o):
    if isinstance(o, h5py.Dataset):
        out[name] = {"dtype": str(o.dtype), "shape": list(o.shape), "values": o[()].ravel().tolist(), "attrs": attrs(o),
                     "chunks": o.chunks, "compression": o.compression}
        if len(sys.argv) < 3:  # PureHDF wrote small datasets (< 64 KiB) compact, RunProc writes every one contiguous
            out[name]["layout"] = o.id.get_create_plist().get_layout()
    else:
        out[name] = {"attrs": attrs(o)}
with h5py.File(sys.argv[1], "r") as f:
    out["/"] = {"attrs": attrs(f)}
    f.visititems(visit)
print(json.dumps(out, sort_keys=True))
""";

    [Fact]
    public void Lookup3IsHdf5sChecksum()
    {
        // Bob Jenkins' published values of hashlittle(key, length, 0).
        Assert.Equal(0xdeadbeefu, Hdf5Writer.Lookup3(ReadOnlySpan<byte>.Empty));
        Assert.Equal(0x17770551u, Hdf5Writer.Lookup3("Four score and seven years ago"u8));
        // And what PureHDF (like libhdf5) stored in a superblock it wrote.
        var path = Path.Combine(_dir, "purehdf.h5");
        new H5File { ["x"] = new H5Dataset(new[] { 1, 2, 3 }) }.Write(path);
        var sb = File.ReadAllBytes(path)[..48];
        Assert.True(sb[8] >= 2, "a superblock with a checksum");
        Assert.Equal(BitConverter.ToUInt32(sb, 44), Hdf5Writer.Lookup3(sb.AsSpan(0, 44)));
    }

    [Fact]
    public void H5pyReadsEveryDatasetAndAttribute_AsWritten()
    {
        var s = Summary();
        Assert.True(s.BadPixels >= 3, $"{s.BadPixels} bad pixels");
        var path = Path.Combine(_dir, "nda-status.h5");
        PixelStatusHdf5.Write(path, "det.XppGon.0:Epix100a.0", Shape, s, Extra);
        var json = JsonDocument.Parse(Python.Run(_dir, Dump, path)).RootElement;
        var g = "entry/instrument/det.XppGon.0:Epix100a.0";
        Assert.Equal("NXentry", json.GetProperty("entry").GetProperty("attrs").GetProperty("NX_class")[2].GetString());
        Assert.Equal("NXinstrument", json.GetProperty("entry/instrument").GetProperty("attrs").GetProperty("NX_class")[2].GetString());
        var a = json.GetProperty(g).GetProperty("attrs");
        Assert.Equal(new[] { "str", "", "NXdetector" }, a.GetProperty("NX_class").EnumerateArray().Select(e => e.ToString()));
        Assert.Equal("xpptut15", a.GetProperty("experiment")[2].GetString());
        Assert.Equal("/det/XppGon.0:Epix100a.0", a.GetProperty("dataset")[2].GetString());
        Assert.Equal(("int32", 260), (a.GetProperty("run")[1].GetString(), a.GetProperty("run")[2].GetInt32()));
        Assert.Equal(("int64", 20L), (a.GetProperty("events")[1].GetString(), a.GetProperty("events")[2].GetInt64()));
        Assert.Equal(s.BadPixels, a.GetProperty("bad_pixels")[2].GetInt64());
        Assert.Equal(new[] { s.MeanLimits.Low, s.MeanLimits.High }, a.GetProperty("mean_limits")[2].EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal(new[] { s.RmsLimits.Low, s.RmsLimits.High }, a.GetProperty("rms_limits")[2].EnumerateArray().Select(e => e.GetDouble()));

        void Same<T>(string name, string dtype, IEnumerable<T> expected, Func<JsonElement, T> get)
        {
            var d = json.GetProperty($"{g}/{name}");
            Assert.Equal(dtype, d.GetProperty("dtype").GetString());
            Assert.Equal(Shape, d.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
            Assert.Equal(1, d.GetProperty("layout").GetInt32());  // H5D_CONTIGUOUS
            Assert.Equal(expected, d.GetProperty("values").EnumerateArray().Select(get));
        }
        Same("pixel_mask", "uint32", s.Status.Select(v => PixelStatusHdf5.NexusMask(v)), e => e.GetUInt32());
        Same("pixel_status", "uint8", s.Status.Select(v => (byte)v), e => e.GetByte());
        Same("mean", "float64", s.Mean, e => e.GetDouble());
        Same("rms", "float64", s.Rms, e => e.GetDouble());
        Same("fraction_low", "float64", s.FractionLow, e => e.GetDouble());
        Same("fraction_high", "float64", s.FractionHigh, e => e.GetDouble());
        Same("max", "int32", s.Max, e => e.GetInt32());
        Same("min", "int32", s.Min, e => e.GetInt32());
        Assert.Contains(s.Status, v => v != 0);

        // libhdf5's own dump tool walks the whole file too (checksums, heap, every message).
        var dump = Python.Run(_dir, "import subprocess, sys; print(subprocess.run(['h5dump', '-p', sys.argv[1]], capture_output=True, text=True, check=True).stdout)", path);
        Assert.Contains("CONTIGUOUS", dump);
        Assert.Contains("\"NXdetector\"", dump);
    }

    [Fact]
    public void H5pyReadsTheFractionsAndExtremes_OfALargeDetector_ValueForValue()
    {
        // 3 x 301 x 389 px: the datasets are written in 1 MiB pieces on all cores (several for
        // each), the derived ones made a piece at a time, max/min from the accumulator's own arrays. h5py's bytes of each dataset against the summary's arrays,
        // read only after the file was written (so the file did not take arrays already made).
        int[] shape = { 3, 301, 389 };
        var px = shape.Aggregate(1, (a, b) => a * b);
        var (lo, hi) = new PixelStatusOptions().Gates();
        var acc = new PixelStatusAccumulator(px, lo, hi);
        var rng = new Random(17);
        var frame = new ushort[px];
        for (var f = 0; f < 12; f++)
        {
            for (var p = 0; p < px; p++)
                frame[p] = (ushort)(rng.Next(9) == 0 ? (rng.Next(2) == 0 ? 0 : 16383) : 900 + rng.Next(200));
            PixelStatusKernel.Accumulate(acc, frame);
        }
        var s = PixelStatusSummary.Compute(acc, new PixelStatusOptions());
        var path = Path.Combine(_dir, "large.h5");
        PixelStatusHdf5.Write(path, "det", shape, s, Extra);
        var hashes = Python.Run(_dir, """
import sys, hashlib, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    g = f["entry/instrument/det"]
    for name in ("mean", "rms", "fraction_low", "fraction_high", "max", "min", "pixel_status"):
        d = g[name]
        print(name, d.dtype, list(d.shape) == [3, 301, 389], hashlib.sha256(np.ascontiguousarray(d[()]).tobytes()).hexdigest())
""", path).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        static string Sha<T>(T[] a) where T : unmanaged =>
            Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()))).ToLowerInvariant();
        Assert.Equal(new[]
        {
            $"mean float64 True {Sha(s.Mean)}", $"rms float64 True {Sha(s.Rms)}",
            $"fraction_low float64 True {Sha(s.FractionLow)}", $"fraction_high float64 True {Sha(s.FractionHigh)}",
            $"max int32 True {Sha(s.Max)}", $"min int32 True {Sha(s.Min)}",
            $"pixel_status uint8 True {Sha(s.Status.Select(v => (byte)v).ToArray())}",
        }, hashes);
        Assert.Contains(s.FractionLow, v => v > 0);
        Assert.Contains(s.FractionHigh, v => v > 0);
        Assert.False(((ReadOnlySpan<int>)acc.Max).Overlaps(s.Max)); // the public array stays the summary's own copy
    }

    [Fact]
    public void H5pySeesTheSameFileAsPureHdfsWriterMade()
    {
        var s = Summary();
        var ours = Path.Combine(_dir, "ours.h5");
        PixelStatusHdf5.Write(ours, "det", Shape, s, Extra);
        var theirs = Path.Combine(_dir, "purehdf.h5");
        WriteWithPureHdf(theirs, "det", Shape, s, Extra);
        var a = Python.Run(_dir, Dump, ours, "any-layout");
        var b = Python.Run(_dir, Dump, theirs, "any-layout");
        Assert.Equal(b, a);
    }

    [Fact]
    public void PureHdfReadsTheFile_AsTheModulesReaderDoes()
    {
        var s = Summary();
        var path = Path.Combine(_dir, "r.h5");
        PixelStatusHdf5.Write(path, "det", Shape, s, Extra);
        using var f = H5File.OpenRead(path);
        var g = f.Group("entry/instrument/det");
        Assert.Equal("NXdetector", g.Attribute("NX_class").Read<string>());
        Assert.Equal(20L, g.Attribute("events").Read<long>());
        Assert.Equal(260, g.Attribute("run").Read<int>());
        Assert.Equal("xpptut15", g.Attribute("experiment").Read<string>());
        Assert.Equal(new[] { s.MeanLimits.Low, s.MeanLimits.High }, g.Attribute("mean_limits").Read<double[]>());
        Assert.Equal(s.Mean, g.Dataset("mean").Read<double[]>());
        Assert.Equal(s.FractionHigh, g.Dataset("fraction_high").Read<double[]>());
        Assert.Equal(s.Min, g.Dataset("min").Read<int[]>());
        Assert.Equal(s.Status.Select(v => PixelStatusHdf5.NexusMask(v)), g.Dataset("pixel_mask").Read<uint[]>());
        Assert.Equal(Shape.Select(d => (ulong)d), g.Dataset("pixel_status").Space.Dimensions);
    }

    [Theory]
    [InlineData("640")]
    [InlineData("664")]
    public void TheConfiguredFileModeIsHonoured_AndNothingIsLeftBehind(string octal)
    {
        // As the text arrays: a new file gets the configured mode exactly; a replaced one keeps its own.
        var mode = Convert.ToInt32(octal, 8);
        var path = Path.Combine(_dir, $"m{octal}.h5");
        PixelStatusHdf5.Write(path, "det", Shape, Summary(), null, mode);
        Assert.Equal((UnixFileMode)mode, File.GetUnixFileMode(path));
        Assert.Equal("\x89HDF", Encoding.Latin1.GetString(File.ReadAllBytes(path)[..4]));

        var kept = Path.Combine(_dir, $"k{octal}.h5");
        File.WriteAllText(kept, "an older result");
        File.SetUnixFileMode(kept, (UnixFileMode)Convert.ToInt32("600", 8));
        PixelStatusHdf5.Write(kept, "det", Shape, Summary(), null, mode);
        Assert.Equal((UnixFileMode)Convert.ToInt32("600", 8), File.GetUnixFileMode(kept));
        Assert.Equal("\x89HDF", Encoding.Latin1.GetString(File.ReadAllBytes(kept)[..4]));
        Assert.Empty(Directory.GetFiles(_dir, ".*"));
    }

    [Fact]
    public void AnAttributeOfAnUnknownTypeNamesItself()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            PixelStatusHdf5.Write(Path.Combine(_dir, "x.h5"), "det", Shape, Summary(), new Dictionary<string, object> { ["when"] = DateTime.UnixEpoch }));
        Assert.Contains("'when'", ex.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_dir, "*.h5*").Concat(Directory.GetFiles(_dir, ".*")));
    }

    /// <summary>The result as PureHDF's writer made it before RunProc had its own (PixelStatusHdf5 up to 2026-12-02).</summary>
    private static void WriteWithPureHdf(string path, string source, int[] shape, PixelStatusSummary s, IReadOnlyDictionary<string, object> attributes)
    {
        var dims = shape.Select(d => (ulong)d).ToArray();
        var det = new H5Group
        {
            ["pixel_mask"] = new H5Dataset(s.Status.Select(v => PixelStatusHdf5.NexusMask(v)).ToArray(), fileDims: dims),
            ["pixel_status"] = new H5Dataset(s.Status.Select(v => (byte)v).ToArray(), fileDims: dims),
            ["mean"] = new H5Dataset(s.Mean, fileDims: dims),
            ["rms"] = new H5Dataset(s.Rms, fileDims: dims),
            ["fraction_low"] = new H5Dataset(s.FractionLow, fileDims: dims),
            ["fraction_high"] = new H5Dataset(s.FractionHigh, fileDims: dims),
            ["max"] = new H5Dataset(s.Max, fileDims: dims),
            ["min"] = new H5Dataset(s.Min, fileDims: dims),
        };
        det.Attributes = new Dictionary<string, object>
        {
            ["NX_class"] = "NXdetector",
            ["events"] = s.Events,
            ["mean_limits"] = new[] { s.MeanLimits.Low, s.MeanLimits.High },
            ["rms_limits"] = new[] { s.RmsLimits.Low, s.RmsLimits.High },
            ["bad_pixels"] = s.BadPixels,
        };
        foreach (var kv in attributes) det.Attributes[kv.Key] = kv.Value;
        var instrument = new H5Group { [source] = det };
        instrument.Attributes = new Dictionary<string, object> { ["NX_class"] = "NXinstrument" };
        var entry = new H5Group { ["instrument"] = instrument };
        entry.Attributes = new Dictionary<string, object> { ["NX_class"] = "NXentry" };
        new H5File { ["entry"] = entry }.Write(path);
    }
}
