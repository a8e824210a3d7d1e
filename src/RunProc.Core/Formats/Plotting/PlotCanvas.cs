using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using RunProc.IO;
using SkiaSharp;

namespace RunProc.Formats.Plotting;

/// <summary>
/// A white picture with the few drawing primitives the pixel-status pictures need (text in the
/// embedded DejaVu Sans, lines, nice axis ticks, colour maps) and a fast PNG save. SkiaSharp is
/// only touched from here, so it is loaded when a picture is asked for and not before.
/// </summary>
internal sealed class PlotCanvas : IDisposable
{
    private static readonly Lazy<SKTypeface> Face = new(LoadFace);

    public SKBitmap Bitmap { get; }
    public SKCanvas Canvas { get; }
    public int Width => Bitmap.Width;
    public int Height => Bitmap.Height;

    private unsafe void* _pixels;
    private readonly long _pixelBytes;

    /// <summary>
    /// A white RGBA picture. Its pixels are a native block of whole 2 MiB pages, advised onto huge
    /// pages before the first write: a picture of ~1000 × 800 is ~900 fresh 4 KiB pages in
    /// SkiaSharp's own allocation, and on this VM the first touch of each costs more than drawing.
    /// </summary>
    public unsafe PlotCanvas(int width, int height)
    {
        EnsureNativeLibrary();
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var huge = MappedPages.HugePage;
        _pixelBytes = ((long)info.RowBytes * height + huge - 1) & ~(huge - 1);
        _pixels = NativeMemory.AlignedAlloc((nuint)_pixelBytes, (nuint)huge);
        MappedPages.AdviseHugePages(_pixels, _pixelBytes);
        Bitmap = new SKBitmap();
        if (!Bitmap.InstallPixels(info, (nint)_pixels, info.RowBytes))
        {
            Bitmap.Dispose();
            Free();
            throw new InvalidOperationException($"SkiaSharp refused a {width} x {height} RGBA picture's pixels.");
        }
        Canvas = new SKCanvas(Bitmap);
        Canvas.Clear(SKColors.White);
    }

    public void Dispose()
    {
        Canvas.Dispose();
        Bitmap.Dispose();
        Free();
    }

    private unsafe void Free()
    {
        if (_pixels != null)
            NativeMemory.AlignedFree(_pixels);
        _pixels = null;
    }

    public static SKFont Font(float size, bool bold = false) => new(Face.Value, size) { Embolden = bold, Subpixel = true, Edging = SKFontEdging.Antialias };

    public float TextWidth(string text, SKFont font) => font.MeasureText(text);

    public void Text(string text, float x, float y, SKFont font, SKColor colour, SKTextAlign align = SKTextAlign.Left)
    {
        using var paint = new SKPaint { Color = colour, IsAntialias = true };
        Canvas.DrawText(text, x, y, align, font, paint);
    }

    /// <summary>Text on a white box, readable over bars and lines.</summary>
    public void LabelText(string text, float x, float y, SKFont font, SKColor colour, SKTextAlign align = SKTextAlign.Left)
    {
        var w = font.MeasureText(text);
        var left = align switch { SKTextAlign.Right => x - w, SKTextAlign.Center => x - w / 2, _ => x };
        using var box = new SKPaint { Color = new SKColor(255, 255, 255, 225) };
        Canvas.DrawRect(SKRect.Create(left - 3, y - font.Size, w + 6, font.Size + 4), box);
        Text(text, x, y, font, colour, align);
    }

    /// <summary>Text turned 90° anticlockwise, centred on (x, y) (a vertical axis label).</summary>
    public void VerticalText(string text, float x, float y, SKFont font, SKColor colour)
    {
        Canvas.Save();
        Canvas.Translate(x, y);
        Canvas.RotateDegrees(-90);
        Text(text, 0, 0, font, colour, SKTextAlign.Center);
        Canvas.Restore();
    }

    public void Line(float x0, float y0, float x1, float y1, SKColor colour, float width = 1, bool dashed = false)
    {
        using var paint = new SKPaint { Color = colour, StrokeWidth = width, IsAntialias = true, Style = SKPaintStyle.Stroke };
        if (dashed)
            paint.PathEffect = SKPathEffect.CreateDash(new[] { 6f, 4f }, 0);
        Canvas.DrawLine(x0, y0, x1, y1, paint);
    }

    public void Fill(SKRect r, SKColor colour)
    {
        using var paint = new SKPaint { Color = colour, Style = SKPaintStyle.Fill };
        Canvas.DrawRect(r, paint);
    }

    public void Frame(SKRect r, SKColor colour, float width = 1)
    {
        using var paint = new SKPaint { Color = colour, Style = SKPaintStyle.Stroke, StrokeWidth = width };
        Canvas.DrawRect(r, paint);
    }

    public void Triangle(SKPoint a, SKPoint b, SKPoint c, SKColor colour)
    {
        using var path = new SKPath();
        path.MoveTo(a);
        path.LineTo(b);
        path.LineTo(c);
        path.Close();
        using var paint = new SKPaint { Color = colour, Style = SKPaintStyle.Fill, IsAntialias = true };
        Canvas.DrawPath(path, paint);
    }

    /// <summary>
    /// Draws raster cells at (x0, y0) through a colour table (RGBA words; a cell past the table's
    /// end takes <paramref name="gap"/>), each cell as an up×up square (pixels stay crisp).
    /// </summary>
    public unsafe void Blit(byte[] cells, uint[] table, uint gap, int width, int height, int x0, int y0, int up)
    {
        if (x0 < 0 || y0 < 0 || x0 + width * up > Width || y0 + height * up > Height)
            throw new ArgumentOutOfRangeException(nameof(cells), $"a {width}×{height} raster ×{up} at ({x0}, {y0}) does not fit the {Width}×{Height} picture.");
        Canvas.Flush();
        var dst = (uint*)Bitmap.GetPixels();
        var stride = Bitmap.RowBytes / 4;
        for (var y = 0; y < height; y++)
        {
            var src = cells.AsSpan(y * width, width);
            var first = new Span<uint>(dst + (long)(y0 + y * up) * stride + x0, width * up);
            for (var x = 0; x < width; x++)
            {
                var c = src[x];
                var colour = c < table.Length ? table[c] : gap;
                if (up == 1)
                    first[x] = colour;
                else
                    first.Slice(x * up, up).Fill(colour);
            }
            for (var k = 1; k < up; k++)
                first.CopyTo(new Span<uint>(dst + (long)(y0 + y * up + k) * stride + x0, width * up));
        }
        Bitmap.NotifyPixelsChanged();
    }

    /// <summary>
    /// Writes the picture as an RGB PNG via temp + rename (a derived output: no fsync). The encoder is RunProc's own: .NET's
    /// zlib at its fastest level without a filter is several times quicker than Skia's encoder
    /// on a noisy 2 Mpx map (these pictures are written in every job).
    /// </summary>
    public void SavePng(string path, int fileMode)
    {
        Canvas.Flush();
        var png = PngWriter.Encode(Bitmap);
        SafeFile.WriteOutputAtomic(path, h => RandomAccess.Write(h, png.AsSpan(), 0), fileMode);
    }

    /// <summary>About <paramref name="target"/> round tick values covering [lo, hi].</summary>
    public static IReadOnlyList<double> Ticks(double lo, double hi, int target = 6)
    {
        if (!(hi > lo) || !double.IsFinite(lo) || !double.IsFinite(hi))
            return new[] { lo };
        var raw = (hi - lo) / Math.Max(1, target);
        var mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var step = new[] { 1.0, 2, 2.5, 5, 10 }.Select(m => m * mag).First(s => s >= raw);
        var list = new List<double>();
        for (var v = Math.Ceiling(lo / step) * step; v <= hi + step * 1e-9; v += step)
            list.Add(Math.Abs(v) < step * 1e-9 ? 0 : v);
        return list;
    }

    /// <summary>A number for an axis: no more digits than the tick step needs, thousands separated by thin spaces.</summary>
    public static string Number(double v, double step = 0)
    {
        var decimals = step > 0 && step < 1 ? (int)Math.Ceiling(-Math.Log10(step) - 1e-9) : 0;
        if (Math.Abs(v) >= 1e6)
            return v.ToString("0.###e0", CultureInfo.InvariantCulture);
        return v.ToString("#,0." + new string('#', Math.Max(decimals, step == 0 ? 3 : 0)), CultureInfo.InvariantCulture).Replace(',', '\u2009');
    }

    private static readonly (double At, byte R, byte G, byte B)[] ViridisStops =
    {
        (0.00, 68, 1, 84), (0.13, 71, 44, 122), (0.25, 59, 81, 139), (0.38, 44, 113, 142), (0.50, 33, 144, 141),
        (0.63, 39, 173, 129), (0.75, 92, 200, 99), (0.88, 170, 220, 50), (1.00, 253, 231, 37),
    };

    /// <summary>The viridis colour map in 64 steps as RGBA words (perceptually uniform, readable by the colour blind and in grey print).</summary>
    public static readonly uint[] Viridis64 = BuildLut(ViridisStops, 64);

    private static uint[] BuildLut((double At, byte R, byte G, byte B)[] stops, int steps)
    {
        var lut = new uint[steps];
        for (var i = 0; i < steps; i++)
        {
            var t = i / (steps - 1.0);
            var k = 1;
            while (k < stops.Length - 1 && stops[k].At < t) k++;
            var (a, b) = (stops[k - 1], stops[k]);
            var f = (t - a.At) / (b.At - a.At);
            lut[i] = Rgba((byte)Math.Round(a.R + f * (b.R - a.R)), (byte)Math.Round(a.G + f * (b.G - a.G)), (byte)Math.Round(a.B + f * (b.B - a.B)));
        }
        return lut;
    }

    /// <summary>An opaque colour as the raster's RGBA8888 word (little-endian memory order R, G, B, A).</summary>
    public static uint Rgba(byte r, byte g, byte b) => 0xFF000000u | ((uint)b << 16) | ((uint)g << 8) | r;

    public static SKColor Colour(uint rgba) => new((byte)rgba, (byte)(rgba >> 8), (byte)(rgba >> 16));

    private static SKTypeface LoadFace()
    {
        using var stream = typeof(PlotCanvas).Assembly.GetManifestResourceStream("RunProc.Fonts.DejaVuSans.ttf")
            ?? throw new InvalidOperationException("the embedded font RunProc.Fonts.DejaVuSans.ttf is missing from RunProc.Core.");
        return SKTypeface.FromStream(stream) ?? throw new InvalidOperationException("the embedded font could not be read.");
    }

    private static int _resolverSet;

    /// <summary>
    /// Inside a PowerShell module the runtime's probing does not look into runtimes/&lt;rid&gt;/native:
    /// point SkiaSharp at the native library published beside it.
    /// </summary>
    private static void EnsureNativeLibrary()
    {
        if (Interlocked.Exchange(ref _resolverSet, 1) == 1)
            return;
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(SKBitmap).Assembly, (name, assembly, search) =>
            {
                var dir = Path.GetDirectoryName(assembly.Location) ?? "";
                var file = OperatingSystem.IsMacOS() ? $"{name}.dylib" : OperatingSystem.IsWindows() ? $"{name}.dll" : $"{name}.so";
                foreach (var candidate in new[] { Path.Combine(dir, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", file), Path.Combine(dir, "runtimes", PortableRid(), "native", file), Path.Combine(dir, file) })
                    if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out var handle))
                        return handle;
                return IntPtr.Zero; // the default probing (a test host's deps.json knows the path)
            });
        }
        catch (InvalidOperationException)
        {
            // A resolver was set already (by SkiaSharp's host or an earlier load context): keep it.
        }
    }

    private static string PortableRid()
    {
        var os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
        var arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        return $"{os}-{arch}";
    }
}
