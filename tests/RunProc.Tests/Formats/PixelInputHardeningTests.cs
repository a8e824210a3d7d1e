using System.Text;
using RunProc.Formats;
using RunProc.Pixels;
using RunProc.Tests.Pixels;
using Xunit;

namespace RunProc.Tests.Formats;

/// <summary>
/// Issue 13 item 12: every size in a .npy/HDF5 header goes through checked arithmetic and an
/// error names the file; a file or dataset reached twice (the same file given twice, a symbolic
/// link to it, an HDF5 hard or soft link, a link cycle) is analysed once.
/// </summary>
public sealed class PixelInputHardeningTests : IDisposable
{
    private readonly string _dir = Python.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    private string Npy(string name, string dict, int version = 1, uint? headerLength = null, int dataBytes = 64)
    {
        var path = Path.Combine(_dir, name);
        var header = dict + "\n";
        using var fs = File.Create(path);
        fs.Write(new byte[] { 0x93 }.Concat(Encoding.ASCII.GetBytes("NUMPY")).Concat(new byte[] { (byte)version, 0 }).ToArray());
        if (version == 1) fs.Write(BitConverter.GetBytes((ushort)(headerLength ?? (uint)header.Length)));
        else fs.Write(BitConverter.GetBytes(headerLength ?? (uint)header.Length));
        fs.Write(Encoding.ASCII.GetBytes(header));
        fs.Write(new byte[dataBytes]);
        return path;
    }

    [Theory]
    [InlineData("{'descr': '<u2', 'fortran_order': False, 'shape': (4611686018427387904, 4, 4), }", 1, null, "truncated")]
    [InlineData("{'descr': '<u2', 'fortran_order': False, 'shape': (9223372036854775807, 9223372036854775807, 2), }", 1, null, "too large")]
    [InlineData("{'descr': '<u4', 'fortran_order': False, 'shape': (3, 65536, 65536), }", 1, null, "too large")]
    [InlineData("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 4, 4), }", 2, 0xFFFFFFFFu, "header claims")]
    [InlineData("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 4, 4), }", 3, 0x7FFFFFF5u, "header claims")]
    public void NpyHeaderSizesAreCheckedAndTheErrorNamesTheFile(string dict, int version, uint? headerLength, string expect)
    {
        var path = Npy("bad.npy", dict, version, headerLength);
        var ex = Assert.Throws<FrameReadException>(() => NpyFrameSource.Open(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expect, ex.Message);
    }

    [Fact]
    public void CheckedBytes_RefusesWhatDoesNotFit63Bits()
    {
        Assert.Equal(24, FrameSource.CheckedBytes(new ulong[] { 2, 3 }, 4));
        Assert.Equal(0, FrameSource.CheckedBytes(new ulong[] { ulong.MaxValue, 0 }, 4));
        Assert.Null(FrameSource.CheckedBytes(new ulong[] { 1UL << 32, 1UL << 31 }, 2));
        Assert.Null(FrameSource.CheckedBytes(new ulong[] { ulong.MaxValue, ulong.MaxValue, ulong.MaxValue }, 8));
    }

    [Fact]
    public void TheSameFileGivenTwiceOrThroughASymlinkIsReadOnce()
    {
        var frames = new ushort[5 * 2 * 3];
        var path = Path.Combine(_dir, "cam.npy");
        PixelFormatsTests.WriteNpy(path, "<u2", new[] { 5, 2, 3 }, frames);
        var link = Path.Combine(_dir, "alias.npy");
        File.CreateSymbolicLink(link, path);
        var notes = new List<string>();
        var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { path, Path.Combine(_dir, ".", "cam.npy"), link }, Array.Empty<string>(), null, null, notes);
        using (handle)
        {
            Assert.Single(dets);
            Assert.Equal(5, dets[0].FrameCount);
            Assert.Equal(2, notes.Count(n => n.Contains("read once")));
        }
    }

    [Fact]
    public void AnHdf5DatasetReachedThroughHardAndSoftLinksAndALinkCycleIsAnalysedOnce()
    {
        Python.Run(_dir, """
import sys, numpy as np, h5py
with h5py.File(sys.argv[1] + "/links.h5", "w") as f:
    f.create_dataset("det/cam", data=np.arange(6 * 4 * 5, dtype=np.uint16).reshape(6, 4, 5))
    f["det/hard"] = f["det/cam"]
    f["det/soft"] = h5py.SoftLink("/det/cam")
    f["det/loop"] = h5py.SoftLink("/det")
""", _dir);
        var file = Path.Combine(_dir, "links.h5");
        var skipped = new List<string>();
        var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { file }, Array.Empty<string>(), skipped);
        using (handle)
        {
            Assert.Single(dets);
            Assert.Equal(6, dets[0].FrameCount);
            Assert.Equal(3, skipped.Count(s => s.Contains("read once")));
        }
    }
}
