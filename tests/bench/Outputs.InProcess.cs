// Compiled by Outputs.Bench.ps1 (Add-Type) against the built RunProc.Core.dll: the outputs of one
// 2.16 Mpx result in process, against writing the same bytes with File.WriteAllBytes in the same run.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using RunProc.Formats;
using RunProc.Pixels;

public static class OutputsInProcess
{
    /// <summary>An accumulator of <paramref name="frames"/> noisy frames with some dead, saturated and noisy pixels.</summary>
    public static PixelStatusAccumulator Accumulator(int frames, int[] shape)
    {
        var px = shape.Aggregate(1, (a, b) => a * b);
        var (lo, hi) = new PixelStatusOptions().Gates();
        var acc = new PixelStatusAccumulator(px, lo, hi);
        var rng = new Random(5);
        var frame = new ushort[px];
        for (var f = 0; f < frames; f++)
        {
            for (var p = 0; p < px; p++)
                frame[p] = (ushort)(950 + rng.Next(101));
            for (var k = 0; k < 300; k++) frame[(k * 7919) % px] = 0;
            for (var k = 0; k < 200; k++) frame[(k * 104729 + 11) % px] = 16383;
            for (var k = 0; k < 100; k++) frame[(k * 1299709 + 3) % px] = (ushort)(f % 2 == 0 ? 200 : 3000);
            PixelStatusKernel.Accumulate(acc, frame);
        }
        return acc;
    }

    public static PixelStatusSummary Summary(PixelStatusAccumulator acc) => PixelStatusSummary.Compute(acc, new PixelStatusOptions());

    /// <summary>
    /// The outputs as PixelStatusRunner.Finish writes them: the six text arrays, the HDF5 result and
    /// the four pictures, all at once on every core; seconds.
    /// </summary>
    public static double Outputs(PixelStatusSummary s, int[] shape, string dir, int events)
    {
        Directory.CreateDirectory(dir);
        var comments = new[] { "DATASET exp=benchexp:run=1", "STATISTICS " + events };
        var baseName = Path.Combine(dir, "nda-benchexp-r0001-det-e" + events.ToString("D6"));
        const int mode = 0x1B4;
        string[] C(string arr) => comments.Append("ARR_TYPE " + arr).ToArray();
        string P(string type) => $"{baseName}-{type}.txt";
        var writes = new Action[]
        {
            () => PixelStatusImages.Write(baseName, shape, s, new PictureTitle("benchexp", 1, "det", events, new PixelStatusOptions()), mode),
            () => PixelStatusHdf5.Write(baseName + "-status.h5", "det", shape, s),
            () => PsanaTextArray.WriteFile(P("ave"), s.Mean, shape, P("ave"), C("average"), mode),
            () => PsanaTextArray.WriteFile(P("rms"), s.Rms, shape, P("rms"), C("rms"), mode),
            () => PsanaTextArray.WriteFile(P("max"), s.Max, shape, P("max"), C("max"), mode),
            () => PsanaTextArray.WriteFile(P("min"), s.Min, shape, P("min"), C("min"), mode),
            () => PsanaTextArray.WriteFile(P("sta"), s.Status, shape, P("sta"), C("status"), mode),
            () => PsanaTextArray.WriteMaskFile(P("msk"), s.Status, shape, P("msk"), C("mask"), mode),
        };
        var sw = Stopwatch.StartNew();
        Parallel.Invoke(writes);
        return sw.Elapsed.TotalSeconds;
    }

    /// <summary>Each output alone, one after the other (where the time goes); seconds by name.</summary>
    public static string Parts(PixelStatusSummary s, int[] shape, string dir)
    {
        Directory.CreateDirectory(dir);
        var parts = new List<string>();
        void Time(string name, Action a)
        {
            var sw = Stopwatch.StartNew();
            a();
            parts.Add($"{name} {sw.Elapsed.TotalSeconds:F3}");
        }
        var c = new[] { "x" };
        Time("ave", () => PsanaTextArray.WriteFile(Path.Combine(dir, "ave.txt"), s.Mean, shape, "ave", c, 0x1B4));
        Time("max", () => PsanaTextArray.WriteFile(Path.Combine(dir, "max.txt"), s.Max, shape, "max", c, 0x1B4));
        Time("sta", () => PsanaTextArray.WriteFile(Path.Combine(dir, "sta.txt"), s.Status, shape, "sta", c, 0x1B4));
        Time("hdf5", () => PixelStatusHdf5.Write(Path.Combine(dir, "s.h5"), "det", shape, s));
        Time("pictures", () => PixelStatusImages.Write(Path.Combine(dir, "p"), shape, s, new PictureTitle("benchexp", 1, "det", 20, new PixelStatusOptions())));
        return string.Join(", ", parts) + " s";
    }

    /// <summary>The same bytes as the files in <paramref name="dir"/>, written with File.WriteAllBytes (one file each, on every core); seconds.</summary>
    public static double Baseline(string dir, string target)
    {
        var contents = Directory.GetFiles(dir).Select(File.ReadAllBytes).ToArray();
        Directory.CreateDirectory(target);
        var sw = Stopwatch.StartNew();
        Parallel.For(0, contents.Length, i => File.WriteAllBytes(Path.Combine(target, "copy" + i), contents[i]));
        return sw.Elapsed.TotalSeconds;
    }

    public static long Bytes(string dir) => Directory.GetFiles(dir).Sum(f => new FileInfo(f).Length);

    public static int Files(string dir) => Directory.GetFiles(dir).Length;
}
