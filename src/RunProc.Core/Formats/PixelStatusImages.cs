using RunProc.Pixels;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace RunProc.Formats;

/// <summary>
/// PNG pictures of a detector's status: the status map (one colour per bit class), mean and rms
/// maps (segments tiled in a grid, grey scale between the 1st and 99th percentiles) and a
/// histogram of mean and rms with the limits drawn as red lines.
/// </summary>
public static class PixelStatusImages
{
    /// <summary>Colour of a pixel by its lowest status bit (0 = good, black); several classes → white.</summary>
    public static readonly IReadOnlyList<Rgb24> BitColours = new[]
    {
        new Rgb24(255, 0, 0),     // 1 rms high (noisy): red
        new Rgb24(255, 160, 0),   // 2 saturated fraction: orange
        new Rgb24(0, 200, 255),   // 4 cold fraction: cyan
        new Rgb24(0, 0, 255),     // 8 rms low (dead): blue
        new Rgb24(255, 0, 255),   // 16 mean high: magenta
        new Rgb24(0, 160, 0),     // 32 mean low: green
        new Rgb24(255, 255, 0),   // 64 max high: yellow
        new Rgb24(128, 0, 255),   // 128 min low: violet
    };

    /// <summary>Writes &lt;prefix&gt;-status.png, -mean.png, -rms.png, -hist.png; returns their paths.</summary>
    public static IReadOnlyList<string> Write(string prefix, int[] shape, PixelStatusSummary s)
    {
        var (segs, rows, cols) = Fold(shape);
        var files = new List<string>();
        var status = prefix + "-status.png";
        Save(status, Map(segs, rows, cols, p =>
        {
            var v = s.Status[p];
            if (v == 0) return new Rgb24(0, 0, 0);
            if ((v & (v - 1)) != 0) return new Rgb24(255, 255, 255);
            return BitColours[System.Numerics.BitOperations.TrailingZeroCount(v)];
        }));
        files.Add(status);
        foreach (var (name, arr) in new[] { ("mean", s.Mean), ("rms", s.Rms) })
        {
            var (lo, hi) = Percentiles(arr);
            var path = $"{prefix}-{name}.png";
            Save(path, Map(segs, rows, cols, p =>
            {
                var g = hi > lo ? Math.Clamp((arr[p] - lo) / (hi - lo), 0, 1) : 0.5;
                var b = (byte)Math.Round(g * 255);
                return new Rgb24(b, b, b);
            }));
            files.Add(path);
        }
        var hist = prefix + "-hist.png";
        using (var img = new Image<Rgb24>(1000, 400, new Rgb24(255, 255, 255)))
        {
            Histogram(img, 0, s.Mean, s.MeanLimits);
            Histogram(img, 500, s.Rms, s.RmsLimits);
            Save(hist, img, dispose: false);
        }
        files.Add(hist);
        return files;
    }

    private static (int Segs, int Rows, int Cols) Fold(int[] shape)
    {
        var cols = shape[^1];
        var rows = shape.Length > 1 ? shape[^2] : 1;
        var segs = shape.Length > 2 ? shape[..^2].Aggregate(1, (a, b) => a * b) : 1;
        return (segs, rows, cols);
    }

    /// <summary>Segments in a near-square grid with a 4-pixel grey gap.</summary>
    private static Image<Rgb24> Map(int segs, int rows, int cols, Func<int, Rgb24> colour)
    {
        const int gap = 4;
        var gx = (int)Math.Ceiling(Math.Sqrt(segs * (double)rows / cols));
        gx = Math.Clamp(gx, 1, segs);
        var gy = (segs + gx - 1) / gx;
        var img = new Image<Rgb24>(gx * cols + (gx - 1) * gap, gy * rows + (gy - 1) * gap, new Rgb24(64, 64, 64));
        for (var sIdx = 0; sIdx < segs; sIdx++)
        {
            var ox = sIdx % gx * (cols + gap);
            var oy = sIdx / gx * (rows + gap);
            var basePix = sIdx * rows * cols;
            img.ProcessPixelRows(acc =>
            {
                for (var r = 0; r < rows; r++)
                {
                    var line = acc.GetRowSpan(oy + r);
                    for (var c = 0; c < cols; c++)
                        line[ox + c] = colour(basePix + r * cols + c);
                }
            });
        }
        return img;
    }

    private static (double Lo, double Hi) Percentiles(double[] arr)
    {
        var sorted = (double[])arr.Clone();
        Array.Sort(sorted);
        return (sorted[(int)(0.01 * (sorted.Length - 1))], sorted[(int)(0.99 * (sorted.Length - 1))]);
    }

    /// <summary>A 100-bin log-count histogram in a 500×400 panel at <paramref name="x0"/>; the range covers the data and the limits.</summary>
    private static void Histogram(Image<Rgb24> img, int x0, double[] values, (double Low, double High) limits)
    {
        const int w = 480, h = 360, left = 10, top = 20, bins = 100;
        var (p1, p99) = Percentiles(values);
        var lo = Math.Min(p1, limits.Low);
        var hi = Math.Max(p99, limits.High);
        if (!double.IsFinite(lo) || !double.IsFinite(hi)) return;
        // Limits far outside the data (the default 16000) would squash the data into one bin: clip the axis.
        var span = Math.Max(p99 - p1, 1e-9);
        lo = Math.Max(lo, p1 - 2 * span);
        hi = Math.Min(hi, p99 + 2 * span);
        if (hi <= lo) hi = lo + 1;
        var counts = new long[bins];
        foreach (var v in values)
        {
            var b = (int)((v - lo) / (hi - lo) * bins);
            counts[Math.Clamp(b, 0, bins - 1)]++;
        }
        var maxLog = Math.Log10(counts.Max() + 1);
        var axis = new Rgb24(0, 0, 0);
        for (var b = 0; b < bins; b++)
        {
            var bh = maxLog > 0 ? (int)(Math.Log10(counts[b] + 1) / maxLog * h) : 0;
            for (var x = b * w / bins; x < (b + 1) * w / bins - 1; x++)
                for (var y = 0; y < bh; y++)
                    img[x0 + left + x, top + h - 1 - y] = new Rgb24(70, 110, 200);
        }
        for (var x = 0; x < w; x++) img[x0 + left + x, top + h] = axis;
        foreach (var lim in new[] { limits.Low, limits.High })
        {
            if (lim < lo || lim > hi) continue;
            var x = (int)((lim - lo) / (hi - lo) * (w - 1));
            for (var y = 0; y < h; y++) img[x0 + left + x, top + y] = new Rgb24(220, 0, 0);
        }
    }

    private static void Save(string path, Image<Rgb24> img, bool dispose = true)
    {
        var full = Path.GetFullPath(path);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}");
        try
        {
            img.SaveAsPng(tmp);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (dispose) img.Dispose();
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
