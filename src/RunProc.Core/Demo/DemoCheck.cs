using System.Globalization;
using System.Text.RegularExpressions;
using RunProc.Config;

namespace RunProc.Demo;

/// <summary>How one detector of one processed run compares with what was injected.</summary>
public sealed record DemoDetectorCheck(
    string Experiment,
    int Run,
    string Detector,
    string? StatusFile,
    int Injected,
    int Found,
    int WrongBits,
    int Missed,
    int Unexpected,
    int BadPixels,
    string? Problem)
{
    /// <summary>Every injected pixel has exactly its expected status and no other pixel is flagged.</summary>
    public bool Passed => Problem is null && Found == Injected && WrongBits == 0 && Missed == 0 && Unexpected == 0;
}

/// <summary>
/// Checks the pixel-status results of a processed demo facility against the injected bad pixels:
/// reads each run's deployed status file (&lt;calib&gt;/&lt;group&gt;/&lt;source&gt;/&lt;CalibType&gt;/&lt;run&gt;-end.data,
/// psana text format) and compares it pixel by pixel.
/// </summary>
public static class DemoCheck
{
    private static readonly Regex EndData = new(@"^(\d+)-end\.data$", RegexOptions.CultureInvariant);

    /// <summary>Checks every run of <paramref name="facility"/> that should have been processed.</summary>
    public static IReadOnlyList<DemoDetectorCheck> Check(DemoFacility facility, RunProcConfig config)
    {
        var results = new List<DemoDetectorCheck>();
        foreach (var run in facility.Runs.Where(r => r.ShouldBeProcessed))
            results.AddRange(CheckRun(facility, run, CalibRoot(config, run.Instrument, run.Experiment), config.CalibType));
        return results;
    }

    /// <summary>The calibration store of an experiment: CalibDir with {ins}/{exp} expanded, or &lt;DataRoot&gt;/&lt;INS&gt;/&lt;exp&gt;/calib.</summary>
    public static string CalibRoot(RunProcConfig config, string instrument, string experiment)
    {
        if (string.IsNullOrEmpty(config.CalibDir))
            return Path.Combine(config.DataRoot, instrument, experiment, "calib");
        var dir = config.CalibDir.Replace("{ins}", instrument, StringComparison.Ordinal).Replace("{exp}", experiment, StringComparison.Ordinal);
        return Path.IsPathRooted(dir) ? dir : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(config.SourcePath) ?? ".", dir));
    }

    /// <summary>The deployed status file of <paramref name="run"/> for detector <paramref name="detector"/> under <paramref name="calibRoot"/>, or null.</summary>
    public static string? FindStatusFile(string calibRoot, string detector, int run, string calibType = RunProcConfig.DefaultCalibType)
    {
        if (!Directory.Exists(calibRoot))
            return null;
        // <calib>/<group>/<source>/<CalibType>/<run>-end.data; the source directory names the detector.
        return Directory.EnumerateFiles(calibRoot, "*-end.data", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(Path.GetDirectoryName(f)) == calibType)
            .Where(f => Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(f))!)!.Contains(detector, StringComparison.OrdinalIgnoreCase))
            .Where(f => EndData.Match(Path.GetFileName(f)) is { Success: true } m && int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) == run)
            .OrderBy(f => f, StringComparer.Ordinal)
            .FirstOrDefault();
    }

    /// <summary>Checks one run's detectors.</summary>
    public static IEnumerable<DemoDetectorCheck> CheckRun(DemoFacility facility, DemoRun run, string calibRoot, string calibType = RunProcConfig.DefaultCalibType)
    {
        foreach (var d in facility.Detectors)
        {
            var injected = facility.InjectedPixels.Where(p => p.Detector == d.Name).ToArray();
            var file = FindStatusFile(calibRoot, d.Name, run.Run, calibType);
            if (file is null)
            {
                yield return new DemoDetectorCheck(run.Experiment, run.Run, d.Name, null, injected.Length, 0, 0, injected.Length, 0, 0,
                    $"no deployed status file for run {run.Run} of {d.Name} under {calibRoot}");
                continue;
            }
            long[]? status = null;
            string? problem = null;
            try
            {
                status = Array.ConvertAll(RunProc.Formats.PsanaTextArray.Read(file).Values, v => (long)v);
            }
            catch (Exception ex) when (ex is IOException or FormatException or InvalidDataException)
            {
                problem = ex.Message;
            }
            if (status is null)
            {
                yield return new DemoDetectorCheck(run.Experiment, run.Run, d.Name, file, injected.Length, 0, 0, injected.Length, 0, 0, problem);
                continue;
            }
            if (status.Length != d.Pixels)
            {
                yield return new DemoDetectorCheck(run.Experiment, run.Run, d.Name, file, injected.Length, 0, 0, injected.Length, 0, 0,
                    $"{file} holds {status.Length} values; {d.Name} has {d.Pixels} pixels {d.ShapeText}");
                continue;
            }
            yield return Compare(run, d, file, status, injected);
        }
    }

    /// <summary>Compares a status array with the injected pixels.</summary>
    public static DemoDetectorCheck Compare(DemoRun run, DemoDetector d, string? file, ReadOnlySpan<long> status, IReadOnlyCollection<InjectedPixel> injected)
    {
        int found = 0, wrong = 0, missed = 0;
        var injectedIdx = new HashSet<int>();
        foreach (var p in injected)
        {
            injectedIdx.Add(p.Index);
            var s = status[p.Index];
            if (s == p.ExpectedStatus) found++;
            else if (s == 0) missed++;
            else wrong++;
        }
        int bad = 0, unexpected = 0;
        for (var i = 0; i < status.Length; i++)
        {
            if (status[i] == 0) continue;
            bad++;
            if (!injectedIdx.Contains(i)) unexpected++;
        }
        return new DemoDetectorCheck(run.Experiment, run.Run, d.Name, file, injected.Count, found, wrong, missed, unexpected, bad, null);
    }
}
