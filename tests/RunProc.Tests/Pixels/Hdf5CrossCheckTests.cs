using System.Text.Json;
using RunProc.Config;
using RunProc.Formats;
using RunProc.Pixels;
using Xunit;

namespace RunProc.Tests.Pixels;

/// <summary>
/// Independent cross-check: h5py writes a two-file run (a contiguous uint16 detector and a
/// gzip+shuffle chunked int16 one), numpy computes the old statistics in float64, RunProc's arrays
/// must equal them exactly; h5py then reads RunProc's HDF5 output back.
/// </summary>
public sealed class Hdf5CrossCheckTests : IDisposable
{
    private readonly string _dir = Python.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    private const string MakeRun = """
import sys, json, numpy as np, h5py
d = sys.argv[1]
rng = np.random.default_rng(7)
a = rng.integers(900, 1100, size=(20, 2, 33, 40), dtype=np.uint16)
edges = np.array([0, 1, 2, 15999, 16000, 16001, 65535], dtype=np.uint16)
m = rng.random(a.shape) < 0.05
a[m] = rng.choice(edges, size=int(m.sum()))
a[:, 0, 0, 0] = 0
a[:5, 0, 1, 1] = 16001
a[:, 1, 2, 3] = 1000
b = rng.integers(-50, 3000, size=(12, 17, 19)).astype(np.int16)
for i, (sa, sb) in enumerate([(slice(0, 12), slice(0, 7)), (slice(12, 20), slice(7, 12))]):
    with h5py.File(f"{d}/xpptut15-r0260-s{i:02d}-c00.h5", "w") as f:
        f.create_dataset("det/XppGon.0:Epix100a.0", data=a[sa])
        f.create_dataset("det/B", data=b[sb], chunks=(1, 17, 19), compression="gzip", compression_opts=1, shuffle=True)
        f.create_dataset("det/small", data=np.zeros((4, 5), np.uint16))
def stats(x, lo=1, hi=16000):
    x = x.astype(np.int64)
    good = (x >= lo) & (x <= hi)
    n = good.sum(0)
    s = np.select([good], [x], 0).sum(0)
    s2 = np.select([good], [x * x], 0).sum(0)
    mean = np.where(n > 0, s / np.maximum(n, 1), 0.0)
    var = np.where(n > 0, s2 / np.maximum(n, 1) - mean * mean, 0.0)
    rms = np.sqrt(np.maximum(var, 0.0))
    N = x.shape[0]
    flo = (x < lo).sum(0) / N
    fhi = (x > hi).sum(0) / N
    mx = x.max(0); mn = x.min(0)
    st = ((rms > 16000) * 1 | (fhi > 0.2) * 2 | (flo > 0.2) * 4 | (rms < 0.1) * 8 | (mean > 16000) * 16
          | (mean < 1) * 32 | (mx > 16000) * 64 | (mn < 1) * 128)
    return {"ave": mean.ravel().tolist(), "rms": rms.ravel().tolist(), "sta": st.ravel().tolist(),
            "max": mx.ravel().tolist(), "min": mn.ravel().tolist(), "shape": list(x.shape[1:])}
print(json.dumps({"A": stats(a), "B": stats(b), "Askip": stats(a[3:13])}))
""";

    private static void AssertArrays(JsonElement expected, PixelStatusSummary s, string what)
    {
        var ave = expected.GetProperty("ave").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var rms = expected.GetProperty("rms").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var sta = expected.GetProperty("sta").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var max = expected.GetProperty("max").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var min = expected.GetProperty("min").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(ave.Length, s.Mean.Length);
        for (var i = 0; i < ave.Length; i++)
        {
            // Bit-identical: same integer sums, same float64 formula.
            Assert.True(ave[i].Equals(s.Mean[i]), $"{what} ave[{i}]: numpy {ave[i]:R}, RunProc {s.Mean[i]:R}");
            Assert.True(rms[i].Equals(s.Rms[i]), $"{what} rms[{i}]: numpy {rms[i]:R}, RunProc {s.Rms[i]:R}");
        }
        Assert.Equal(sta, s.Status);
        Assert.Equal(max, s.Max);
        Assert.Equal(min, s.Min);
        Assert.Contains(sta, v => v != 0);
    }

    [Fact]
    public void RunProcArraysEqualNumpyOnAnH5pyRun()
    {
        var json = JsonDocument.Parse(Python.Run(_dir, MakeRun, _dir)).RootElement;
        var files = Directory.GetFiles(_dir, "*.h5").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(2, files.Length);
        var runner = new PixelStatusRunner(new RunProcConfig { DataRoot = _dir });
        var (dets, handle) = PixelReadPipeline.OpenDetectors(files, Array.Empty<string>());
        using (handle)
        {
            Assert.Equal(new[] { "/det/B", "/det/XppGon.0:Epix100a.0" }, dets.Select(d => d.Dataset).Order(StringComparer.Ordinal));
            var a = dets.Single(d => d.Dataset.EndsWith("Epix100a.0", StringComparison.Ordinal));
            var b = dets.Single(d => d.Dataset == "/det/B");
            Assert.Equal("XppGon.0:Epix100a.0", a.Source);
            Assert.Equal(new[] { 2, 33, 40 }, a.FrameShape);
            Assert.Equal(20, a.FrameCount);
            Assert.True(b.Parts[0].Compressed);

            // Small blocks so blocks straddle nothing and the pipeline turns over several times.
            var req = new PixelStatusRequest { Files = files, BlockBytes = 3 * 2 * 33 * 40 * 2, OutputDirectory = Path.Combine(_dir, "out") };
            var progress = new List<PixelStatusProgress>();
            var accA = PixelReadPipeline.Accumulate(a, req, progress.Add, CancellationToken.None);
            Assert.Equal(20, accA.Events);
            Assert.Equal(20, progress[^1].FramesDone);
            AssertArrays(json.GetProperty("A"), PixelStatusSummary.Compute(accA, req.Options), "A");
            unsafe { Assert.True(a.Parts[0].TryGetUInt16Pointer(0, 1) != null, "contiguous uint16 is scanned in place"); }
            var accCopy = PixelReadPipeline.Accumulate(a, req with { ZeroCopy = false }, null, CancellationToken.None);
            AssertArrays(json.GetProperty("A"), PixelStatusSummary.Compute(accCopy, req.Options), "A through the read buffers");
            // The read buffers are filled by pread at the frames' verified offset (not PureHDF), in pieces of a block or of one frame.
            Assert.True(a.Parts[0].ReadsByPread);
            Assert.False(b.Parts[0].ReadsByPread);
            var byPread = new ushort[5 * 2 * 33 * 40];
            a.Parts[0].ReadUInt16(7, 5, byPread);
            var byPureHdf = new ushort[byPread.Length];
            var src = (Hdf5FrameSource)a.Parts[0];
            var keep = src.Handle;
            src.Handle = null;
            try { src.ReadUInt16(7, 5, byPureHdf); }
            finally { src.Handle = keep; }
            Assert.Equal(byPureHdf, byPread);
            Assert.Throws<ArgumentOutOfRangeException>(() => a.Parts[0].ReadUInt16(8, 5, byPread));
            PixelReadPipeline.PreferPread = true;
            try { AssertArrays(json.GetProperty("A"), PixelStatusSummary.Compute(PixelReadPipeline.Accumulate(a, req, null, CancellationToken.None), req.Options), "A read by pread"); }
            finally { PixelReadPipeline.PreferPread = false; }

            var accB = PixelReadPipeline.Accumulate(b, req with { BlockBytes = 4 * 17 * 19 * 4 }, null, CancellationToken.None);
            AssertArrays(json.GetProperty("B"), PixelStatusSummary.Compute(accB, req.Options), "B");

            var accSkip = PixelReadPipeline.Accumulate(a, req with { SkipEvents = 3, Events = 10 }, null, CancellationToken.None);
            AssertArrays(json.GetProperty("Askip"), PixelStatusSummary.Compute(accSkip, req.Options), "A[3:13]");

            // Outputs: text arrays read back equal, HDF5 read back by h5py.
            var result = runner.Finish(a, accA, req, "xpptut15", 260);
            var sta = Path.Combine(_dir, "out", "nda-xpptut15-r0260-XppGon.0:Epix100a.0-e000020-sta.txt");
            Assert.Contains(sta, result.Files);
            var (values, shape, dtype, comments) = PsanaTextArray.Read(sta);
            Assert.Equal(new[] { 2, 33, 40 }, shape);
            Assert.Equal("int64", dtype);
            Assert.Equal(result.Summary.Status.Select(v => (double)v), values);
            Assert.Contains("# DATASET exp=xpptut15:run=260", comments);
            Assert.Contains("# ARR_TYPE status", comments);
            var ave = PsanaTextArray.Read(Path.Combine(_dir, "out", "nda-xpptut15-r0260-XppGon.0:Epix100a.0-e000020-ave.txt"));
            Assert.Equal(Math.Round(result.Summary.Mean[5], 3), ave.Values[5], 9);

            var h5 = result.Files.Single(f => f.EndsWith(".h5", StringComparison.Ordinal));
            var check = Python.Run(_dir, """
import sys, json, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    g = f["entry/instrument/XppGon.0:Epix100a.0"]
    m = g["pixel_mask"]
    st = g["pixel_status"][()]
    print(json.dumps({"dtype": str(m.dtype), "shape": list(m.shape), "nx": g.attrs["NX_class"].decode() if isinstance(g.attrs["NX_class"], bytes) else str(g.attrs["NX_class"]),
        "rejected": int(((m[()] & 0xFFFF) != 0).sum()), "bad": int((st != 0).sum()), "status_hi": bool(((m[()] >> 16) == st).all()),
        "mean5": float(g["mean"][()].ravel()[5])}))
""", h5);
            var h = JsonDocument.Parse(check).RootElement;
            Assert.Equal("uint32", h.GetProperty("dtype").GetString());
            Assert.Equal(new[] { 2, 33, 40 }, h.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
            Assert.Equal("NXdetector", h.GetProperty("nx").GetString());
            Assert.Equal(result.BadPixels, h.GetProperty("rejected").GetInt64());
            Assert.Equal(result.BadPixels, h.GetProperty("bad").GetInt64());
            Assert.True(h.GetProperty("status_hi").GetBoolean());
            Assert.Equal(result.Summary.Mean[5], h.GetProperty("mean5").GetDouble());
        }
    }

    [Fact]
    public void TruncatedAndDamagedFilesNameFileDatasetAndFrame()
    {
        Python.Run(_dir, MakeRun, _dir);
        var src = Path.Combine(_dir, "xpptut15-r0260-s00-c00.h5");
        var bytes = File.ReadAllBytes(src);

        // Cut off the tail: whatever was cut, the error names the file, and no accumulator comes back.
        var cut = Path.Combine(_dir, "cut.h5");
        File.WriteAllBytes(cut, bytes[..(bytes.Length * 2 / 3)]);
        var runner = new PixelStatusRunner(new RunProcConfig());
        var ex = Assert.ThrowsAny<FrameReadException>(() =>
        {
            var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { cut }, Array.Empty<string>());
            using (handle)
                foreach (var d in dets)
                    PixelReadPipeline.Accumulate(d, new PixelStatusRequest { Files = new[] { cut }, BlockBytes = 1 }, null, CancellationToken.None);
        });
        Assert.Equal(cut, ex.File);
        Assert.Contains("cut.h5", ex.Message);
        if (ex.Frame >= 0)
        {
            Assert.StartsWith("/det/", ex.Dataset);
            Assert.Contains($"frame {ex.Frame}", ex.Message);
        }

        // Garbage is not HDF5.
        var junk = Path.Combine(_dir, "junk.h5");
        File.WriteAllBytes(junk, Enumerable.Range(0, 5000).Select(i => (byte)(i * 7)).ToArray());
        var ex2 = Assert.Throws<FrameReadException>(() => PixelReadPipeline.OpenDetectors(new[] { junk }, Array.Empty<string>()));
        Assert.Contains("junk.h5", ex2.Message);
    }

    [Fact]
    public void ACorruptChunkFailsTheDetectorAtThatFrame()
    {
        Python.Run(_dir, """
import sys, numpy as np, h5py
x = (np.arange(10 * 32 * 32) % 1000 + 500).astype(np.uint16).reshape(10, 32, 32)
with h5py.File(sys.argv[1] + "/z.h5", "w") as f:
    f.create_dataset("g/cam", data=x, chunks=(1, 32, 32), compression="gzip", compression_opts=1)
    print(f["g/cam"].id.get_chunk_info(6).byte_offset, f["g/cam"].id.get_chunk_info(6).size)
""", _dir);
        var info = Python.Run(_dir, """
import sys, h5py
with h5py.File(sys.argv[1] + "/z.h5", "r") as f:
    c = f["g/cam"].id.get_chunk_info(6)
    print(c.byte_offset, c.size)
""", _dir).Split(' ', StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        var path = Path.Combine(_dir, "z.h5");
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            fs.Position = info[0];
            fs.Write(Enumerable.Repeat((byte)0xFF, (int)info[1]).ToArray());
        }
        var runner = new PixelStatusRunner(new RunProcConfig());
        var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { path }, new[] { "cam" });
        using (handle)
        {
            var ex = Assert.Throws<FrameReadException>(() =>
                PixelReadPipeline.Accumulate(dets[0], new PixelStatusRequest { Files = new[] { path }, BlockBytes = 4 * 32 * 32 * 2 }, null, CancellationToken.None));
            Assert.Equal("/g/cam", ex.Dataset);
            Assert.Equal(6, ex.Frame);
            Assert.Contains("z.h5:/g/cam: frame 6", ex.Message);
        }
    }

    [Fact]
    public void LzfDataIsRefusedNotMisread()
    {
        Python.Run(_dir, """
import sys, numpy as np, h5py
x = np.random.default_rng(1).integers(0, 65535, size=(4, 16, 16), dtype=np.uint16)
with h5py.File(sys.argv[1] + "/lzf.h5", "w") as f:
    f.create_dataset("cam", data=x, chunks=(1, 16, 16), compression="lzf")
""", _dir);
        var path = Path.Combine(_dir, "lzf.h5");
        var runner = new PixelStatusRunner(new RunProcConfig());
        var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { path }, Array.Empty<string>());
        using (handle)
        {
            var ex = Assert.Throws<FrameReadException>(() =>
                PixelReadPipeline.Accumulate(dets[0], new PixelStatusRequest { Files = new[] { path } }, null, CancellationToken.None));
            Assert.Equal("/cam", ex.Dataset);
            Assert.Equal(0, ex.Frame);
        }
    }
}
