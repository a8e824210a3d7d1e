using RunProc.Formats;
using RunProc.Pixels;
using Xunit;

namespace RunProc.Tests.Pixels;

/// <summary>The reader's block buffers: 2 MiB aligned native memory advised onto huge pages, bounds-checked views.</summary>
public unsafe class FrameBufferTests
{
    /// <summary>Linux takes MADV_HUGEPAGE unless transparent huge pages are off ("[never]") or missing.</summary>
    private static bool ThpAvailable =>
        OperatingSystem.IsLinux() && File.Exists("/sys/kernel/mm/transparent_hugepage/enabled")
        && !File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Contains("[never]");

    [Fact]
    public void IsAlignedToHugePagesAndAdvisedWhereTheOsOffersThem()
    {
        using var buf = new FrameBuffer(5_000_000);
        Assert.Equal(0, (long)buf.Pointer % MappedPages.HugePage);
        Assert.Equal(5_000_000, buf.Bytes);
        Assert.Equal(ThpAvailable, buf.HugePages);
    }

    [Fact]
    public void ViewsAreTypedAndBoundsChecked()
    {
        using var buf = new FrameBuffer(4 * 1000);
        var ints = buf.AsSpan<int>(0, 1000);
        for (var i = 0; i < ints.Length; i++) ints[i] = i * 3;
        var shorts = buf.AsSpan<ushort>(2, 4); // int 1 as two uint16, then int 2
        Assert.Equal(new ushort[] { 3, 0, 6, 0 }, shorts.ToArray());
        Assert.Equal(2997, buf.AsSpan<int>(999, 1)[0]);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => buf.AsSpan<int>(999, 2));
        Assert.Contains("4000-byte", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => buf.AsSpan<ushort>(-1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FrameBuffer(0));
    }

    [Fact]
    public void DisposedBufferRefusesViews()
    {
        var buf = new FrameBuffer(64);
        buf.Dispose();
        buf.Dispose(); // twice is harmless
        Assert.Throws<ObjectDisposedException>(() => buf.AsSpan<byte>(0, 1));
    }

    [Fact]
    public void MappedFileTakesTheHugePageAdvice()
    {
        var path = Path.Combine(Path.GetTempPath(), $"runproc-thp-{Guid.NewGuid():N}.bin");
        try
        {
            File.WriteAllBytes(path, new byte[3 << 20]);
            using var map = System.IO.MemoryMappedFiles.MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read);
            using var view = map.CreateViewAccessor(0, 0, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            try
            {
                // A file mapping accepts the advice wherever anonymous memory does (kernels with THP).
                Assert.Equal(ThpAvailable, MappedPages.AdviseHugePages(p, 3 << 20));
                Assert.Equal(0, p[(3 << 20) - 1]); // still readable afterwards
            }
            finally
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
