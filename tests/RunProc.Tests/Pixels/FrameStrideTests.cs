using System.Runtime.Intrinsics.X86;
using RunProc.Config;
using RunProc.Formats;
using RunProc.Pixels;
using RunProc.Tests.Formats;
using Xunit;

namespace RunProc.Tests.Pixels;

/// <summary>
/// The reader's blocks space frames that are a whole number of 4 KiB by <see cref="FrameBuffer.FrameStride"/>
/// (so the 16 frames the kernel reads at one offset do not share one cache set). The status must
/// not depend on the layout: padded == back to back, on every kernel path, and through the
/// pipeline's buffered path (padded) == its in-place path (the file's own, plain stride).
/// </summary>
public sealed class FrameStrideTests : IDisposable
{
    private readonly string _dir = Python.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData(2_162_688, 2, 2_162_720)] // 16 × 352 × 384 uint16 = 33 × 128 KiB: one line more
    [InlineData(540_672, 2, 540_704)]     // an epix10ka quad
    [InlineData(4096, 2, 4128)]           // 8 KiB
    [InlineData(2048, 4, 2064)]           // int32 frames of 8 KiB
    [InlineData(198, 2, 198)]             // 396 B: 16 frames fall into 16 sets already
    [InlineData(1000, 2, 1000)]
    [InlineData(3, 2, 3)]                 // tiny frames share lines: nothing to evict
    public void PadsOnlyFramesWhoseLinesShareCacheSets(int pixels, int elementSize, long expected)
    {
        var stride = FrameBuffer.FrameStride(pixels, elementSize);
        Assert.Equal(expected, stride);
        var bytes = stride * elementSize;
        var sets = Enumerable.Range(0, 16).Select(f => (f * bytes >> 6) & 63).Distinct().Count();
        var lines = Enumerable.Range(0, 16).Select(f => f * bytes >> 6).Distinct().Count();
        Assert.Equal(lines, sets);
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameBuffer.FrameStride(0, 2));
    }

    public static IEnumerable<object[]> Paths()
    {
        yield return new object[] { nameof(KernelPath.Scalar) };
        if (Avx2.IsSupported) yield return new object[] { nameof(KernelPath.Avx2) };
        if (Avx512BW.IsSupported) yield return new object[] { nameof(KernelPath.Avx512) };
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public unsafe void PaddedFramesGiveTheSameStatusAsBackToBack(string pathName)
    {
        var path = Enum.Parse<KernelPath>(pathName);
        const int px = 16384 + 4096, n = 37; // a whole tile and a part; 37 frames: two full register runs and a short one
        var stride = FrameBuffer.FrameStride(px, 2);
        Assert.NotEqual(px, stride);
        var data = PixelKernelTests.Frames(px, n, 1, 16000, 77);
        var expected = PixelKernelTests.Reference(data, px, 1, 16000, 0x3FFF);
        using var buf = new FrameBuffer(2 * stride * n);
        var ptrs = new nint[n];
        for (var f = 0; f < n; f++)
        {
            ptrs[f] = (nint)((ushort*)buf.Pointer + f * stride);
            data.AsSpan(f * px, px).CopyTo(new Span<ushort>((void*)ptrs[f], px));
            // The padding holds values that would change every statistic if they were read.
            new Span<ushort>((ushort*)ptrs[f] + px, (int)(stride - px)).Fill(65535);
        }
        foreach (var threads in new[] { 1, 2 })
        {
            var plain = new PixelStatusAccumulator(px, 1, 16000);
            PixelStatusKernel.Accumulate(plain, data, 0x3FFF, threads, path);
            PixelKernelTests.AssertSame(expected, plain, $"{path} back to back, {threads} threads");
            var padded = new PixelStatusAccumulator(px, 1, 16000);
            PixelStatusKernel.AccumulateUInt16(padded, ptrs, 0x3FFF, threads, path);
            PixelKernelTests.AssertSame(expected, padded, $"{path} padded by {stride - px} px, {threads} threads");
        }
    }

    [Fact]
    public void BufferedPaddedPipelineEqualsInPlaceScan()
    {
        // 2 × 32 × 64 uint16 = 8 KiB a frame: the buffered path pads it, the in-place scan cannot.
        const int px = 2 * 32 * 64, n = 45;
        Assert.NotEqual(px, FrameBuffer.FrameStride(px, 2));
        var data = PixelKernelTests.Frames(px, n, 1, 16000, 5);
        var file = Path.Combine(_dir, "cam.npy");
        PixelFormatsTests.WriteNpy(file, "<u2", new[] { n, 2, 32, 64 }, data);
        var signed = data.Select(v => (short)(v & 0x7FFF)).ToArray();
        var sfile = Path.Combine(_dir, "wide.npy");
        PixelFormatsTests.WriteNpy(sfile, "<i2", new[] { n, 2, 32, 64 }, signed);
        var expected = PixelKernelTests.Reference(data, px, 1, 16000);
        var expectedWide = PixelKernelTests.Reference(data.Select(v => (ushort)(v & 0x7FFF)).ToArray(), px, 1, 16000);
        // 7 frames a block: several blocks through both buffers, a short last one.
        var req = new PixelStatusRequest { Files = new[] { file }, BlockBytes = 7 * px * 2, Threads = 2 };
        var (dets, handle) = PixelReadPipeline.OpenDetectors(new[] { file, sfile }, Array.Empty<string>());
        using (handle)
        {
            var u16 = dets.Single(d => d.Source == "cam");
            unsafe { Assert.True(u16.Parts[0].TryGetUInt16Pointer(0, 1) != null, "the .npy is scanned in place by default"); }
            PixelKernelTests.AssertSame(expected, PixelReadPipeline.Accumulate(u16, req, null, CancellationToken.None), "in place (plain stride)");
            PixelKernelTests.AssertSame(expected, PixelReadPipeline.Accumulate(u16, req with { ZeroCopy = false }, null, CancellationToken.None), "buffered (padded stride)");
            PixelKernelTests.AssertSame(expected, PixelReadPipeline.Accumulate(u16, req with { ZeroCopy = false, Threads = 1, BlockBytes = 1 }, null, CancellationToken.None), "buffered, one frame a block");
            var wide = dets.Single(d => d.Source == "wide");
            PixelKernelTests.AssertSame(expectedWide, PixelReadPipeline.Accumulate(wide, req with { BlockBytes = 7 * px * 4 }, null, CancellationToken.None), "int16 through the wide buffered path (padded)");
        }
    }
}
