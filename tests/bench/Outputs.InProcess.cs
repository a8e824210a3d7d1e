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
    /// The outputs as a job writes them: PixelStatusRunner.Finish with the six text arrays, the HDF5
    /// result and the four pictures (its own order and parallelism, and the arrays read where it
    /// reads them); seconds of its output phase (the summary it computes first is not counted).
    /// </summary>
    public static double Outputs(PixelStatusAccumulator acc, int[] shape, string dir, int events) =>
        Finish(acc, shape, dir, PixelStatusRunner.AllArrayTypes, hdf5: true, pictures: true);

    private static readonly PixelStatusRunner Runner = new(new RunProc.Config.RunProcConfig());

    private static double Finish(PixelStatusAccumulator acc, int[] shape, string dir, IReadOnlyList<string> types, bool hdf5, bool pictures)
    {
        Directory.CreateDirectory(dir);
        var req = new PixelStatusRequest
        {
            Files = Array.Empty<string>(), OutputDirectory = dir, ArrayTypes = types, WriteHdf5 = hdf5,
            ImageDirectory = pictures ? Path.Combine(dir, "png") : null,
        };
        var result = Runner.Finish(new PixelStatusRunner.OutputDetector("det", "/det", shape), acc, req, "benchexp", 1);
        var outputTime = (TimeSpan)typeof(PixelStatusResult).GetProperty("OutputTime", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(result)!;
        return outputTime.TotalSeconds;
    }

    /// <summary>Each output alone, one after the other (where the time goes); seconds by name.</summary>
    public static string Parts(PixelStatusAccumulator acc, int[] shape, string dir)
    {
        var none = Array.Empty<string>();
        var parts = new List<string>
        {
            $"ave {Finish(acc, shape, dir, new[] { "ave" }, false, false):F3}",
            $"max {Finish(acc, shape, dir, new[] { "max" }, false, false):F3}",
            $"sta {Finish(acc, shape, dir, new[] { "sta" }, false, false):F3}",
            $"hdf5 {Finish(acc, shape, dir, none, true, false):F3}",
            $"pictures {Finish(acc, shape, dir, none, false, true):F3}",
        };
        return string.Join(", ", parts) + " s";
    }

    /// <summary>The same bytes as the files in <paramref name="dir"/>, written with File.WriteAllBytes (one file each, on every core); seconds.</summary>
    public static double Baseline(string dir, string target)
    {
        var contents = Directory.GetFiles(dir).Concat(Directory.GetFiles(Path.Combine(dir, "png"))).Select(File.ReadAllBytes).ToArray();
        Directory.CreateDirectory(target);
        var sw = Stopwatch.StartNew();
        Parallel.For(0, contents.Length, i => File.WriteAllBytes(Path.Combine(target, "copy" + i), contents[i]));
        return sw.Elapsed.TotalSeconds;
    }

    public static long Bytes(string dir) => Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    public static int Files(string dir) => Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Length;
}
