using RunProc.Formats;
using RunProc.Pixels;
using SkiaSharp;
using Xunit;

namespace RunProc.Tests.Formats;

/// <summary>The pictures decode, fit a web page, and show what a scientist looks for.</summary>
public sealed class PixelStatusImagesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("runproc-png-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>A detector of segs × rows × cols with a noisy pedestal, one stuck-at-maximum pixel, one always-0 pixel and one pixel 30 % cold.</summary>
    private static (PixelStatusSummary S, int Stuck, int Zero, int Cold) Detector(int segs, int rows, int cols)
    {
        var px = segs * rows * cols;
        const int frames = 10;
        var (stuck, zero, cold) = (px / 3 + cols / 2, px / 2 + 7, px - cols - 5);
        var data = new ushort[px * frames];
        var rng = new Random(3);
        for (var f = 0; f < frames; f++)
            for (var p = 0; p < px; p++)
                data[f * px + p] = p == stuck ? (ushort)16383 : p == zero ? (ushort)0 : p == cold && f < 3 ? (ushort)0 : (ushort)(1000 + rng.Next(-8, 9));
        var options = new PixelStatusOptions();
        var (lo, hi) = options.Gates();
        var acc = new PixelStatusAccumulator(px, lo, hi);
        PixelStatusKernel.Accumulate(acc, data);
        return (PixelStatusSummary.Compute(acc, options), stuck, zero, cold);
    }

    private static SKColor Colour(string name) => PixelStatusImages.Classes().Single(c => c.Name == name).Colour is var c ? new SKColor(c.R, c.G, c.B) : default;

    private static int CountColour(SKBitmap bmp, SKColor colour)
    {
        var n = 0;
        for (var y = 0; y < bmp.Height; y++)
            for (var x = 0; x < bmp.Width; x++)
                if (bmp.GetPixel(x, y) == colour) n++;
        return n;
    }

    [Theory]
    [InlineData(4, 176, 192)]   // epix10ka quad: shown enlarged
    [InlineData(16, 352, 384)]  // 2.16 Mpx: shown at display size, 2×2 detector pixels per picture pixel
    public void Pictures_decode_fit_a_web_page_and_keep_single_bad_pixels_visible(int segs, int rows, int cols)
    {
        var (s, stuck, zero, cold) = Detector(segs, rows, cols);
        // A stuck pixel has bits 2 (saturated) and 8 (dead, no good event): it must be drawn as saturated.
        Assert.Equal(2, s.Status[stuck] & 2);
        Assert.Equal(8, s.Status[stuck] & 8);
        var files = PixelStatusImages.Write(Path.Combine(_dir, "d"), new[] { segs, rows, cols }, s,
            new PictureTitle("xpptut15", 7, "epix", 10, new PixelStatusOptions()), Convert.ToInt32("644", 8));
        Assert.Equal(new[] { "d-status.png", "d-mean.png", "d-rms.png", "d-hist.png" }, files.Select(Path.GetFileName));
        foreach (var f in files)
        {
            using var bmp = SKBitmap.Decode(f);
            Assert.NotNull(bmp);
            Assert.InRange(bmp.Width, 600, 1200);
            Assert.InRange(bmp.Height, 300, 900);
        }
        using var status = SKBitmap.Decode(files[0]);
        // Each single bad pixel is an enlarged square of at least 4×4 screen pixels in its most severe class's colour.
        Assert.True(CountColour(status, Colour("saturated")) >= 16 + 14, "the stuck pixel (and its legend swatch) in the saturated colour");
        Assert.True(CountColour(status, Colour("dead")) >= 16 + 14, "the always-0 pixel in the dead colour");
        Assert.True(CountColour(status, Colour("cold")) >= 16 + 14, "the cold pixel in the cold colour");
    }

    [Fact]
    public void Pngs_have_valid_chunks_and_whole_rows_for_an_independent_decoder()
    {
        // Checked with Python's zlib (not the encoder's own CRC or inflate): signature, every chunk CRC, h rows of filter None and w pixels, palette indices within the palette.
        var (s, _, _, _) = Detector(4, 176, 192);
        var files = PixelStatusImages.Write(Path.Combine(_dir, "c"), new[] { 4, 176, 192 }, s,
            new PictureTitle("xpptut15", 7, "epix", 10, new PixelStatusOptions()), Convert.ToInt32("644", 8));
        var report = RunProc.Tests.Pixels.Python.Run(_dir, """
import sys, zlib, struct
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, types = 8, b"", []
    while pos < len(data):
        n, = struct.unpack(">I", data[pos:pos + 4]); t = data[pos + 4:pos + 8]; body = data[pos + 8:pos + 8 + n]
        crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert zlib.crc32(t + body) == crc, (path, t)
        if t == b"IHDR": w, h, depth, colour = struct.unpack(">IIBB", body[:10])
        if t == b"IDAT": idat += body
        if t == b"PLTE": plte = body
        types.append(t.decode()); pos += 12 + n
    raw = zlib.decompress(idat)
    bpp = {2: 3, 3: 1}[colour]
    assert depth == 8 and len(raw) == h * (1 + bpp * w), path
    assert all(raw[y * (1 + bpp * w)] == 0 for y in range(h)), path
    if colour == 3:
        n = len(plte) // 3
        assert 0 < n <= 256 and len(plte) == 3 * n and max(raw[y * (1 + w) + 1 + x] for y in range(h) for x in range(w)) < n, path
    print(",".join(types))
""", files.ToArray());
        // The pictures have few colours: all four are palette PNGs.
        Assert.Equal(Enumerable.Repeat("IHDR,PLTE,IDAT,IEND", 4), report.Trim().Split('\n'));
    }

    [Fact]
    public void Classes_are_ordered_by_severity_and_cover_each_bit_once()
    {
        var classes = PixelStatusImages.Classes();
        Assert.Equal(Enumerable.Range(0, 8), classes.Select(c => c.Bit).Order());
        Assert.Equal("saturated", classes[0].Name);
        Assert.Equal("dead", classes[1].Name);
        Assert.Equal(8, classes.Select(c => c.Colour).Distinct().Count());
    }
}
