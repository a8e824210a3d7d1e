using System.Globalization;
using RunProc.Formats.Plotting;
using RunProc.Pixels;
using SkiaSharp;

namespace RunProc.Formats;

/// <summary>What a picture's title says: where the data came from and how it was judged.</summary>
public sealed record PictureTitle(string Experiment, int Run, string Detector, long Events, PixelStatusOptions Options);

/// <summary>One class of bad pixel as the status map shows it.</summary>
public sealed record StatusClass(int Bit, string Name, string Rule, RgbColour Colour);

/// <summary>An RGB colour as plain bytes (no SkiaSharp type in the public surface).</summary>
public readonly record struct RgbColour(byte R, byte G, byte B)
{
    public string Hex => $"#{R:x2}{G:x2}{B:x2}";
}

/// <summary>
/// PNG pictures of a detector's pixel status, for a web page (about 900–1000 px wide): the status
/// map (each pixel coloured by its most severe class, bad pixels enlarged, segments labelled, a
/// legend with counts), mean and rms maps (viridis, colour bar in ADU) and the mean and rms
/// histograms (log counts, limits drawn, off-scale limits and overflow bins marked). Big detectors
/// are drawn at display size: each shown pixel covers a block of detector pixels, the block's
/// most severe class on the status map and its average on the value maps.
/// </summary>
public static class PixelStatusImages
{
    private const int MapMaxWidth = 780, MapMaxHeight = 720, Margin = 16, TitleHeight = 74;

    private static readonly SKColor Ink = new(30, 30, 30), Muted = new(110, 110, 110), Grid = new(225, 225, 225), LimitRed = new(200, 20, 20);
    private static readonly uint GoodColour = PlotCanvas.Rgba(222, 222, 222), GapColour = PlotCanvas.Rgba(255, 255, 255);

    /// <summary>The status classes, most severe first: a pixel with several bits takes the first of its classes.</summary>
    public static IReadOnlyList<StatusClass> Classes(PixelStatusSummary? s = null, PixelStatusOptions? o = null)
    {
        string L(double v) => PlotCanvas.Number(v);
        var known = s is not null && o is not null;
        var (ml, mh) = s?.MeanLimits ?? (double.NaN, double.NaN);
        var (rl, rh) = s?.RmsLimits ?? (double.NaN, double.NaN);
        // Bits 64/128 use the mean limits with the original rule and the intensity gates with the robust one (PixelStatusSummary).
        var (el, eh) = o is { Method: PixelLimitMethod.Robust } ? (o.IntensityLow, o.IntensityHigh) : (ml, mh);
        var frac = o is null ? "" : $"{o.FractionLimit * 100:0.#} % ";
        // A stuck-at-maximum pixel has no good event, so it is "dead" by rms too: saturation comes
        // first; an always-0 pixel is dead before it is cold.
        return new StatusClass[]
        {
            new(1, "saturated", known ? $"over {frac}of events above {L(o!.IntensityHigh)}" : "fraction above hi > limit", new(214, 39, 40)),
            new(3, "dead", known ? $"rms < {L(rl)} ADU" : "rms < rms_lo", new(31, 80, 200)),
            new(2, "cold", known ? $"over {frac}of events below {L(o!.IntensityLow)}" : "fraction below lo > limit", new(23, 190, 207)),
            new(0, "noisy", known ? $"rms > {L(rh)} ADU" : "rms > rms_hi", new(255, 127, 14)),
            new(4, "mean high", known ? $"mean > {L(mh)} ADU" : "mean > mean_hi", new(227, 60, 194)),
            new(5, "mean low", known ? $"mean < {L(ml)} ADU" : "mean < mean_lo", new(44, 160, 44)),
            new(6, "max high", known ? $"an event above {L(eh)}" : "max > hi in an event", new(148, 103, 189)),
            new(7, "min low", known ? $"an event below {L(el)}" : "min < lo in an event", new(140, 86, 75)),
        };
    }

    private static readonly Lazy<Task> WarmUp = new(() => Task.Run(() =>
    {
        try
        {
            using var pc = new PlotCanvas(16, 16);
            using var font = PlotCanvas.Font(12);
            pc.Text("0", 2, 12, font, Ink);
            _ = PngWriter.Encode(pc.Bitmap);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Only a head start: the pictures themselves report any failure.
        }
    }));

    /// <summary>Starts loading SkiaSharp's native library, the embedded font and the PNG encoder on a background thread (once per process).</summary>
    public static void StartWarmUp() => _ = WarmUp.Value;

    /// <summary>Writes &lt;prefix&gt;-status.png, -mean.png, -rms.png, -hist.png; returns their paths.</summary>
    public static IReadOnlyList<string> Write(string prefix, int[] shape, PixelStatusSummary s, PictureTitle title, int fileMode = 0x1B4)
    {
        var g = Geometry.For(shape);
        var files = new[] { prefix + "-status.png", prefix + "-mean.png", prefix + "-rms.png", prefix + "-hist.png" };
        // The value maps and the histograms read mean and rms from the accumulator as they go (no
        // 2 × 17 MB arrays) and share one sorted sample of each for their colour and axis ranges.
        var samples = new Lazy<(double[] Mean, double[] Rms)>(() => SortedSamples(s));
        // Four independent pictures: drawn on all cores (the job's other outputs are written meanwhile too).
        Parallel.For(0, 4, i =>
        {
            switch (i)
            {
                case 0: StatusMap(files[0], g, s, title, fileMode); break;
                case 1: ValueMap(files[1], g, s, rms: false, samples, title, fileMode); break;
                case 2: ValueMap(files[2], g, s, rms: true, samples, title, fileMode); break;
                default: Histograms(files[3], s, samples, title, fileMode); break;
            }
        });
        GC.KeepAlive(s); // its accumulator holds the memory the pictures were drawn from
        return files;
    }

    /// <summary>Mean or rms of the pixels [first, first + dst.Length).</summary>
    private static void ValuesInto(PixelStatusSummary s, bool rms, int first, Span<double> dst)
    {
        if (rms)
            s.MomentsInto(first, default, dst);
        else
            s.MomentsInto(first, dst, default);
    }

    // ---------------------------------------------------------------- layout of the detector

    /// <summary>Segments tiled in a near-square grid, shown with one picture pixel per Block×Block detector pixels, each Up times enlarged.</summary>
    private sealed record Geometry(int Segs, int Rows, int Cols, int GridX, int GridY, int Block, int Up, int GapPx)
    {
        public int CellW => (Cols + Block - 1) / Block;
        public int CellH => (Rows + Block - 1) / Block;
        public int RasterW => GridX * CellW + (GridX - 1) * GapPx;
        public int RasterH => GridY * CellH + (GridY - 1) * GapPx;
        public int ShownW => RasterW * Up;
        public int ShownH => RasterH * Up;

        public static Geometry For(int[] shape)
        {
            var cols = shape[^1];
            var rows = shape.Length > 1 ? shape[^2] : 1;
            var segs = shape.Length > 2 ? shape[..^2].Aggregate(1, (a, b) => a * b) : 1;
            var gx = Math.Clamp((int)Math.Ceiling(Math.Sqrt(segs * (double)rows / cols)), 1, segs);
            var gy = (segs + gx - 1) / gx;
            var fullW = gx * (double)cols;
            var fullH = gy * (double)rows;
            var block = Math.Max(1, (int)Math.Ceiling(Math.Max(fullW / MapMaxWidth, fullH / MapMaxHeight)));
            var up = block > 1 ? 1 : Math.Max(1, (int)Math.Floor(Math.Min(MapMaxWidth / fullW, MapMaxHeight / fullH)));
            var gap = Math.Max(1, 6 / up);
            return new Geometry(segs, rows, cols, gx, gy, block, up, gap);
        }

        /// <summary>Where detector pixel p lands in the raster.</summary>
        public (int X, int Y) Place(int p)
        {
            var seg = p / (Rows * Cols);
            var rc = p % (Rows * Cols);
            var (r, c) = (rc / Cols, rc % Cols);
            return (seg % GridX * (CellW + GapPx) + c / Block, seg / GridX * (CellH + GapPx) + r / Block);
        }

        public SKRect SegmentRect(int seg, float ox, float oy) =>
            SKRect.Create(ox + seg % GridX * (CellW + GapPx) * Up, oy + seg / GridX * (CellH + GapPx) * Up, CellW * Up, CellH * Up);
    }

    /// <summary>Per raster cell the most severe rank of the detector pixels under it (255 = gap between segments).</summary>
    private static byte[] WorstRanks(Geometry g, ReadOnlySpan<int> status, byte[] rank)
    {
        var cells = new byte[g.RasterW * g.RasterH];
        Array.Fill(cells, (byte)255);
        var colCell = ColumnCells(g);
        for (var seg = 0; seg < g.Segs; seg++)
        {
            var (ox, oy) = (seg % g.GridX * (g.CellW + g.GapPx), seg / g.GridX * (g.CellH + g.GapPx));
            for (var r = 0; r < g.Rows; r++)
            {
                var row = (oy + r / g.Block) * g.RasterW + ox;
                if (r % g.Block == 0)
                    Array.Fill(cells, (byte)0, row, g.CellW);
                var p = (seg * g.Rows + r) * g.Cols;
                for (var c = 0; c < g.Cols; c++)
                {
                    var k = rank[status[p + c] & 0xFF];
                    ref var cell = ref cells[row + colCell[c]];
                    if (k > cell) cell = k;
                }
            }
        }
        return cells;
    }

    /// <summary>
    /// Per raster cell the average of the detector values under it, as a colour-map index (255 =
    /// gap). One raster row at a time: only a row of sums is held, not a picture of them, and the
    /// values are made a detector row at a time.
    /// </summary>
    private static byte[] AverageIndex(Geometry g, PixelStatusSummary s, bool rms, double lo, double scale)
    {
        var index = new byte[g.RasterW * g.RasterH];
        Array.Fill(index, (byte)255);
        var sums = new double[g.CellW];
        var counts = new int[g.CellW];
        var row = new double[g.Cols];
        var colCell = ColumnCells(g);
        for (var seg = 0; seg < g.Segs; seg++)
        {
            var (ox, oy) = (seg % g.GridX * (g.CellW + g.GapPx), seg / g.GridX * (g.CellH + g.GapPx));
            for (var r0 = 0; r0 < g.Rows; r0 += g.Block)
            {
                Array.Clear(sums);
                Array.Clear(counts);
                for (var r = r0; r < Math.Min(r0 + g.Block, g.Rows); r++)
                {
                    ValuesInto(s, rms, (seg * g.Rows + r) * g.Cols, row);
                    for (var c = 0; c < g.Cols; c++)
                    {
                        sums[colCell[c]] += row[c];
                        counts[colCell[c]]++;
                    }
                }
                var at = (oy + r0 / g.Block) * g.RasterW + ox;
                for (var k = 0; k < g.CellW; k++)
                    index[at + k] = (byte)Math.Clamp((sums[k] / counts[k] - lo) * scale, 0, 63);
            }
        }
        return index;
    }

    private static int[] ColumnCells(Geometry g)
    {
        var colCell = new int[g.Cols];
        for (var c = 0; c < g.Cols; c++) colCell[c] = c / g.Block;
        return colCell;
    }

    private static void DrawSegments(PlotCanvas pc, Geometry g, float ox, float oy)
    {
        pc.Frame(SKRect.Create(ox - 1, oy - 1, g.ShownW + 2, g.ShownH + 2), Muted);
        if (g.Segs == 1)
            return;
        using var font = PlotCanvas.Font(11);
        using var box = new SKPaint { Color = new SKColor(255, 255, 255, 200) };
        for (var seg = 0; seg < g.Segs; seg++)
        {
            var r = g.SegmentRect(seg, ox, oy);
            var label = "s" + seg.ToString(CultureInfo.InvariantCulture);
            var w = pc.TextWidth(label, font);
            pc.Canvas.DrawRect(SKRect.Create(r.Left + 2, r.Top + 2, w + 6, 15), box);
            pc.Text(label, r.Left + 5, r.Top + 14, font, Ink);
        }
    }

    private static void Title(PlotCanvas pc, PictureTitle t, PixelStatusSummary s, string what, string detail)
    {
        using var big = PlotCanvas.Font(17, bold: true);
        using var small = PlotCanvas.Font(12.5f);
        pc.Text($"{t.Experiment}  run {t.Run}  ·  {t.Detector}  —  {what}", Margin, 24, big, Ink);
        pc.Text(Limits(s, t), Margin, 45, small, Muted);
        if (detail.Length > 0)
            pc.Text(detail, Margin, 63, small, Muted);
    }

    private static string Limits(PixelStatusSummary s, PictureTitle t) =>
        $"{t.Events.ToString("N0", CultureInfo.InvariantCulture)} events  ·  method {t.Options.Method}  ·  limits: mean {PlotCanvas.Number(s.MeanLimits.Low)} … {PlotCanvas.Number(s.MeanLimits.High)} ADU, rms {PlotCanvas.Number(s.RmsLimits.Low)} … {PlotCanvas.Number(s.RmsLimits.High)} ADU";

    // ---------------------------------------------------------------- status map

    private static void StatusMap(string path, Geometry g, PixelStatusSummary s, PictureTitle t, int fileMode)
    {
        var classes = Classes(s, t.Options);
        // rank[status word] = 1 + index of its most severe class counted from the least severe (0 = good).
        var rank = new byte[256];
        for (var v = 1; v < 256; v++)
            for (var k = 0; k < classes.Count; k++)
                if ((v >> classes[k].Bit & 1) != 0) { rank[v] = (byte)(classes.Count - k); break; }
        var colourOfRank = new uint[classes.Count + 1];
        colourOfRank[0] = GoodColour;
        for (var k = 0; k < classes.Count; k++)
            colourOfRank[classes.Count - k] = PlotCanvas.Rgba(classes[k].Colour.R, classes[k].Colour.G, classes[k].Colour.B);
        var status = s.StatusValues.Span;
        var (counts, bad) = CountByClass(status, rank, classes.Count);

        const int legendW = 290;
        var width = Math.Max(760, Margin + g.ShownW + 24 + legendW + Margin);
        var height = TitleHeight + Math.Max(g.ShownH, 330) + 2 * Margin;
        using var pc = new PlotCanvas(width, height);
        var pixels = (long)status.Length;
        Title(pc, t, s, "pixel status", $"{bad.ToString("N0", CultureInfo.InvariantCulture)} bad of {pixels.ToString("N0", CultureInfo.InvariantCulture)} pixels ({100.0 * bad / Math.Max(1, pixels):0.###} %)");
        float ox = Margin, oy = TitleHeight + Margin;
        pc.Blit(WorstRanks(g, status, rank), colourOfRank, GapColour, g.RasterW, g.RasterH, (int)ox, (int)oy, g.Up);

        // A bad pixel shown smaller than 4 screen pixels is enlarged to a 4-pixel square (least
        // severe first, so the most severe stays on top); past 20,000 the map itself says enough.
        var shownPerPixel = (double)g.Up / g.Block;
        if (shownPerPixel < 4 && bad is > 0 and <= 20000)
        {
            const float m = 4;
            using var paint = new SKPaint { Style = SKPaintStyle.Fill };
            var badPixels = BadPixels(status, (int)bad);
            var order = new long[badPixels.Length]; // rank, then pixel order (stable)
            for (var i = 0; i < badPixels.Length; i++)
                order[i] = (long)rank[status[badPixels[i]] & 0xFF] << 32 | (uint)i;
            Array.Sort(order);
            foreach (var key in order)
            {
                var p = badPixels[(int)(key & 0xFFFFFFFF)];
                paint.Color = PlotCanvas.Colour(colourOfRank[key >> 32]);
                var (x, y) = g.Place(p);
                pc.Canvas.DrawRect(ox + (x + 0.5f) * g.Up - m / 2, oy + (y + 0.5f) * g.Up - m / 2, m, m, paint);
            }
        }
        DrawSegments(pc, g, ox, oy);

        // Legend: every class with its rule and count, most severe first.
        var lx = ox + g.ShownW + 24;
        var ly = oy + 4;
        using var head = PlotCanvas.Font(13, bold: true);
        using var font = PlotCanvas.Font(12.5f);
        using var note = PlotCanvas.Font(11);
        // A pixel with several bits is counted (and coloured) once, in its most severe class: the result's PerBit counts each bit.
        pc.Text("each pixel in its most severe class", lx, ly + 10, head, Ink);
        ly += 30;
        void Row(SKColor colour, string name, string rule, long count)
        {
            pc.Fill(SKRect.Create(lx, ly - 11, 14, 14), colour);
            pc.Frame(SKRect.Create(lx, ly - 11, 14, 14), Muted);
            var textColour = count == 0 ? Muted : Ink;
            pc.Text(name, lx + 22, ly, font, textColour);
            pc.Text(count.ToString("N0", CultureInfo.InvariantCulture), lx + legendW - 8, ly, font, textColour, SKTextAlign.Right);
            pc.Text(rule, lx + 22, ly + 15, note, Muted);
            ly += 36;
        }
        for (var k = 0; k < classes.Count; k++)
            Row(PlotCanvas.Colour(colourOfRank[classes.Count - k]), $"{classes[k].Name}  (bit {classes[k].Bit} = {1 << classes[k].Bit})", classes[k].Rule, counts[k]);
        Row(PlotCanvas.Colour(GoodColour), "good", "no bit set", pixels - bad);
        if (g.Block > 1)
            pc.Text($"1 picture pixel = {g.Block}×{g.Block} detector pixels,", lx, ly + 4, note, Muted);
        if (shownPerPixel < 4)
            pc.Text("bad pixels enlarged to stay visible", lx, ly + (g.Block > 1 ? 19 : 4), note, Muted);
        pc.SavePng(path, fileMode);
    }

    // ---------------------------------------------------------------- mean and rms maps

    private static void ValueMap(string path, Geometry g, PixelStatusSummary s, bool rms, Lazy<(double[] Mean, double[] Rms)> samples, PictureTitle t, int fileMode)
    {
        var name = rms ? "rms" : "mean";
        var (lo, hi) = Quantiles(rms ? samples.Value.Rms : samples.Value.Mean, 0.01, 0.99);
        if (!(hi > lo)) hi = lo + 1;
        var lut = PlotCanvas.Viridis64;
        const int barW = 18, barArea = 110;
        var width = Math.Max(640, Margin + g.ShownW + 24 + barArea + Margin);
        var height = TitleHeight + Math.Max(g.ShownH, 260) + 2 * Margin;
        using var pc = new PlotCanvas(width, height);
        Title(pc, t, s, name + " per pixel", $"colours: {PlotCanvas.Number(lo)} … {PlotCanvas.Number(hi)} ADU (1st–99th percentile; values beyond take the end colours)");
        float ox = Margin, oy = TitleHeight + Margin;
        // 64 colour steps: the eye cannot tell more apart, and the PNG of a noisy map is half the size.
        var scale = 63.999 / (hi - lo);
        pc.Blit(AverageIndex(g, s, rms, lo, scale), lut, GapColour, g.RasterW, g.RasterH, (int)ox, (int)oy, g.Up);
        DrawSegments(pc, g, ox, oy);

        // Colour bar with ticks in ADU.
        var bx = ox + g.ShownW + 24;
        var barH = Math.Min(g.ShownH, 400);
        var by = oy;
        for (var i = 0; i < barH; i++)
            pc.Fill(SKRect.Create(bx, by + barH - 1 - i, barW, 1), PlotCanvas.Colour(lut[i * 63 / Math.Max(1, barH - 1)]));
        pc.Frame(SKRect.Create(bx, by, barW, barH), Muted);
        using var font = PlotCanvas.Font(11.5f);
        var ticks = PlotCanvas.Ticks(lo, hi, 6);
        var step = ticks.Count > 1 ? ticks[1] - ticks[0] : 0;
        foreach (var v in ticks)
        {
            var y = by + barH - (float)((v - lo) / (hi - lo) * barH);
            pc.Line(bx + barW, y, bx + barW + 4, y, Ink);
            pc.Text(PlotCanvas.Number(v, step), bx + barW + 7, y + 4, font, Ink);
        }
        pc.VerticalText($"{name} [ADU]", bx + barW + 92, by + barH / 2f, font, Ink);
        if (g.Block > 1)
            pc.Text($"1 picture pixel = average of {g.Block}×{g.Block}", ox, oy + g.ShownH + 13, font, Muted);
        pc.SavePng(path, fileMode);
    }

    // ---------------------------------------------------------------- histograms

    private static void Histograms(string path, PixelStatusSummary s, Lazy<(double[] Mean, double[] Rms)> samples, PictureTitle t, int fileMode)
    {
        const int panelW = 470, panelH = 330;
        using var pc = new PlotCanvas(2 * panelW + 3 * Margin, TitleHeight + panelH + 2 * Margin);
        Title(pc, t, s, "mean and rms histograms", "limits in red; an arrow at the edge when a limit is off the axis; orange: pixels outside the axis");
        HistogramPanel(pc, Margin, TitleHeight + Margin, panelW, panelH, s, rms: false, samples.Value.Mean, s.MeanLimits, "mean");
        HistogramPanel(pc, 2 * Margin + panelW, TitleHeight + Margin, panelW, panelH, s, rms: true, samples.Value.Rms, s.RmsLimits, "rms");
        pc.SavePng(path, fileMode);
    }

    private static void HistogramPanel(PlotCanvas pc, float x0, float y0, float w, float h, PixelStatusSummary s, bool rms, double[] sample, (double Low, double High) limits, string name)
    {
        const int bins = 100;
        const float left = 62, right = 14, top = 42, bottom = 44, overflowW = 14;
        var plot = SKRect.Create(x0 + left, y0 + top, w - left - right, h - top - bottom);
        // The axis covers the data's 0.1st-99.9th percentiles (plus a margin) and each limit close
        // enough to be drawn without squashing the data into a few bins.
        var (p0, p1) = Quantiles(sample, 0.001, 0.999);
        var span = Math.Max(p1 - p0, Math.Max(Math.Abs(p1) * 1e-3, 1e-6));
        double lo = p0 - 0.1 * span, hi = p1 + 0.1 * span;
        foreach (var lim in new[] { limits.Low, limits.High })
            if (double.IsFinite(lim) && lim > p0 - 3 * span && lim < p1 + 3 * span)
            {
                lo = Math.Min(lo, lim - 0.05 * span);
                hi = Math.Max(hi, lim + 0.05 * span);
            }
        var (counts, under, over) = Bin(s, rms, lo, hi, bins);
        var max = Math.Max(1, Math.Max(counts.Max(), Math.Max(under, over)));
        var decades = Math.Max(1, (int)Math.Ceiling(Math.Log10(max) + 0.05));
        // Log counts: a bin of 1 pixel still shows (the axis starts at 0.5).
        float Y(double count) => plot.Bottom - (float)((Math.Log10(Math.Max(count, 0.5)) - Math.Log10(0.5)) / (decades - Math.Log10(0.5)) * plot.Height);

        using var font = PlotCanvas.Font(11.5f);
        using var head = PlotCanvas.Font(13, bold: true);
        pc.Text($"{name} of the good events, per pixel", plot.Left, y0 + 14, head, Ink);
        // Frame, decade grid and labels.
        for (var d = 0; d <= decades; d++)
        {
            var y = Y(Math.Pow(10, d));
            pc.Line(plot.Left, y, plot.Right, y, Grid);
            pc.Text(DecadeLabel(d), plot.Left - 6, y + 4, font, Ink, SKTextAlign.Right);
        }
        var inner = SKRect.Create(plot.Left + overflowW, plot.Top, plot.Width - 2 * overflowW, plot.Height);
        float X(double v) => inner.Left + (float)((v - lo) / (hi - lo) * inner.Width);
        var ticks = PlotCanvas.Ticks(lo, hi, 6);
        var step = ticks.Count > 1 ? ticks[1] - ticks[0] : 0;
        foreach (var v in ticks)
        {
            var x = X(v);
            pc.Line(x, plot.Bottom, x, plot.Bottom + 4, Ink);
            pc.Text(PlotCanvas.Number(v, step), x, plot.Bottom + 17, font, Ink, SKTextAlign.Center);
        }
        // Bars.
        var bar = new SKColor(66, 110, 190);
        for (var b = 0; b < bins; b++)
        {
            if (counts[b] == 0) continue;
            var xa = inner.Left + b * inner.Width / bins;
            pc.Fill(new SKRect(xa, Y(counts[b]), xa + inner.Width / bins - 0.5f, plot.Bottom), bar);
        }
        // Underflow and overflow bins, in their own slots at the ends, in another colour.
        var flow = new SKColor(240, 150, 40);
        if (under > 0) pc.Fill(new SKRect(plot.Left + 2, Y(under), plot.Left + overflowW - 2, plot.Bottom), flow);
        if (over > 0) pc.Fill(new SKRect(plot.Right - overflowW + 2, Y(over), plot.Right - 2, plot.Bottom), flow);
        pc.Line(inner.Left, plot.Top, inner.Left, plot.Bottom, Grid, 1, dashed: true);
        pc.Line(inner.Right, plot.Top, inner.Right, plot.Bottom, Grid, 1, dashed: true);
        using var small = PlotCanvas.Font(10);
        pc.Text("<", plot.Left + overflowW / 2, plot.Bottom + 17, small, flow, SKTextAlign.Center);
        pc.Text(">", plot.Right - overflowW / 2, plot.Bottom + 17, small, flow, SKTextAlign.Center);
        if (under + over > 0)
            pc.Text($"outside the axis: {under.ToString("N0", CultureInfo.InvariantCulture)} below (<), {over.ToString("N0", CultureInfo.InvariantCulture)} above (>)", plot.Left, y0 + 31, small, Muted);
        pc.Frame(plot, Muted);

        // Limits: a dashed line where they fall on the axis, else an arrow at the edge they lie beyond.
        var labelY = plot.Top + 14;
        foreach (var (lim, word) in new[] { (limits.Low, "lo"), (limits.High, "hi") })
        {
            if (!double.IsFinite(lim)) continue;
            var text = $"{word} {PlotCanvas.Number(lim)}";
            if (lim >= lo && lim <= hi)
            {
                var x = X(lim);
                pc.Line(x, plot.Top, x, plot.Bottom, LimitRed, 1.5f, dashed: true);
                pc.LabelText(text, word == "lo" ? x + 4 : x - 4, labelY, font, LimitRed, word == "lo" ? SKTextAlign.Left : SKTextAlign.Right);
            }
            else if (lim < lo)
            {
                var x = inner.Left + 2;
                pc.Triangle(new SKPoint(x, labelY + 14), new SKPoint(x + 9, labelY + 9), new SKPoint(x + 9, labelY + 19), LimitRed);
                pc.LabelText("← " + text, x + 12, labelY + 18, font, LimitRed);
            }
            else
            {
                var x = inner.Right - 2;
                pc.Triangle(new SKPoint(x, labelY + 14), new SKPoint(x - 9, labelY + 9), new SKPoint(x - 9, labelY + 19), LimitRed);
                pc.LabelText(text + " →", x - 12, labelY + 18, font, LimitRed, SKTextAlign.Right);
            }
        }
        pc.Text($"{name} [ADU]", plot.MidX, plot.Bottom + 36, font, Ink, SKTextAlign.Center);
        pc.VerticalText("pixels (log scale)", x0 + 12, plot.MidY, font, Ink);
    }

    /// <summary>Pixels per class (index = position in the severity list) by their most severe class, and all bad pixels.</summary>
    private static (long[] Counts, long Bad) CountByClass(ReadOnlySpan<int> status, byte[] rank, int classes)
    {
        var counts = new long[classes];
        long bad = 0;
        foreach (var v in status)
        {
            if (v == 0) continue;
            bad++;
            counts[classes - rank[v & 0xFF]]++;
        }
        return (counts, bad);
    }

    private static int[] BadPixels(ReadOnlySpan<int> status, int count)
    {
        var list = new int[count];
        var n = 0;
        for (var p = 0; p < status.Length && n < count; p++)
            if (status[p] != 0) list[n++] = p;
        return list;
    }

    private static (long[] Counts, long Under, long Over) Bin(PixelStatusSummary s, bool rms, double lo, double hi, int bins)
    {
        var counts = new long[bins];
        long under = 0, over = 0;
        var perUnit = bins / (hi - lo);
        var n = s.PixelCount;
        Span<double> chunk = stackalloc double[1024];
        for (var first = 0; first < n; first += chunk.Length)
        {
            var values = chunk[..Math.Min(chunk.Length, n - first)];
            ValuesInto(s, rms, first, values);
            foreach (var v in values)
            {
                if (v < lo) under++;
                else if (v >= hi) over++;
                else counts[Math.Min(bins - 1, (int)((v - lo) * perUnit))]++;
            }
        }
        return (counts, under, over);
    }

    private static string DecadeLabel(int d) => d switch
    {
        0 => "1", 1 => "10", 2 => "100", 3 => "1k", 4 => "10k", 5 => "100k", 6 => "1M", 7 => "10M", _ => "1e" + d.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// An even sample of at most 65,536 pixels' mean and rms (every stride-th pixel), each sorted:
    /// the quantiles of the colour scales and histogram axes are read from them (a full sort of
    /// 2 Mpx would cost more than the picture).
    /// </summary>
    private static (double[] Mean, double[] Rms) SortedSamples(PixelStatusSummary s)
    {
        var n = s.PixelCount;
        var stride = Math.Max(1, n / 65536);
        var mean = new double[(n + stride - 1) / stride];
        var rms = new double[mean.Length];
        s.MomentsSample(stride, mean, rms);
        Parallel.Invoke(() => Array.Sort(mean), () => Array.Sort(rms));
        return (mean, rms);
    }

    /// <summary>Two quantiles of a sorted sample.</summary>
    private static (double A, double B) Quantiles(double[] sorted, double qa, double qb)
    {
        if (sorted.Length == 0) return (0, 1);
        return (sorted[(int)(qa * (sorted.Length - 1))], sorted[(int)(qb * (sorted.Length - 1))]);
    }
}
