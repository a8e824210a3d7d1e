using System.Text.Json.Serialization;

namespace RunProc.Demo;

/// <summary>The kinds of bad pixel the demo facility injects.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BadPixelClass>))]
public enum BadPixelClass
{
    /// <summary>Always 0 (no charge collected).</summary>
    Dead,
    /// <summary>High dark level that crosses the upper gate in every other frame.</summary>
    Hot,
    /// <summary>Swings over the whole ADC range: 3 frames in 10 read 0, 1 in 10 reads 16383.</summary>
    Noisy,
    /// <summary>Stuck at the 14-bit ADC maximum, 16383.</summary>
    Saturating,
}

/// <summary>A detector of the demo facility: an HDF5 frame stack (events × [segments ×] rows × cols, uint16).</summary>
public sealed record DemoDetector(
    string Name,
    string DatasetPath,
    int Segments,
    int Rows,
    int Columns,
    bool Compressed)
{
    /// <summary>Pixels per frame.</summary>
    public int Pixels => Segments * Rows * Columns;

    /// <summary>The frame shape as written (without the event dimension): (segments, rows, cols), or (rows, cols) for one segment.</summary>
    public int[] Shape => Segments > 1 ? new[] { Segments, Rows, Columns } : new[] { Rows, Columns };

    /// <summary>Shape as text, e.g. (4,176,192).</summary>
    public string ShapeText => "(" + string.Join(",", Shape) + ")";

    public override string ToString() => $"{Name} {ShapeText}";
}

/// <summary>One injected bad pixel and the pixel-status word the original rule (default limits) must give it.</summary>
public sealed record InjectedPixel(
    string Detector,
    BadPixelClass Class,
    int Segment,
    int Row,
    int Column,
    int Index,
    int ExpectedStatus)
{
    public override string ToString() => $"{Detector}[{Segment},{Row},{Column}] {Class} (status {ExpectedStatus})";
}

/// <summary>One run of the demo facility.</summary>
public sealed record DemoRun(
    string Instrument,
    string Experiment,
    int Run,
    int Events,
    IReadOnlyList<string> Files,
    bool InProgress,
    bool UnderControl)
{
    /// <summary>exp=&lt;exp&gt;:run=&lt;n&gt;, the old tool's dataset name.</summary>
    public string DataSetName => $"exp={Experiment}:run={Run}";

    /// <summary>Ready runs of experiments under control are the ones a cycle must process.</summary>
    public bool ShouldBeProcessed => UnderControl && !InProgress;

    public override string ToString() => $"{Experiment} r{Run:D4}" + (InProgress ? " (in progress)" : "") + (UnderControl ? "" : " (not under control)");
}

/// <summary>An experiment of the demo facility.</summary>
public sealed record DemoExperiment(string Instrument, string Experiment, bool UnderControl)
{
    public override string ToString() => Experiment + (UnderControl ? "" : " (not under control)");
}

/// <summary>
/// What <see cref="DemoFacilityGenerator"/> made: where everything is, the runs, the detectors and
/// the injected bad pixels (also saved as demo-facility.json in the facility folder).
/// </summary>
public sealed class DemoFacility
{
    /// <summary>Name of the manifest file written into the facility folder.</summary>
    public const string ManifestFileName = "demo-facility.json";

    /// <summary>Name of the config file written into the facility folder.</summary>
    public const string ConfigFileName = "runproc.psd1";

    public required string Path { get; init; }
    public required string ConfigPath { get; init; }
    public required string DataRoot { get; init; }
    public required string DbRoot { get; init; }
    public required string Process { get; init; }
    public required string RunDirectory { get; init; }
    public required IReadOnlyList<string> Instruments { get; init; }
    public required IReadOnlyList<DemoExperiment> Experiments { get; init; }
    public required IReadOnlyList<DemoRun> Runs { get; init; }
    public required IReadOnlyList<DemoDetector> Detectors { get; init; }
    public required IReadOnlyList<InjectedPixel> InjectedPixels { get; init; }
    public int Seed { get; init; }
    public DateTime Created { get; init; }

    /// <summary>The manifest path inside <see cref="Path"/>.</summary>
    [JsonIgnore]
    public string ManifestPath => System.IO.Path.Combine(Path, ManifestFileName);

    /// <summary>Count of injected bad pixels per detector.</summary>
    [JsonIgnore]
    public int InjectedCount => InjectedPixels.Count;

    /// <summary>What it holds, for a confirmation: "10 runs (7 HDF5 and 10 xtc2 files, 2 detectors, 32 injected bad pixels)".</summary>
    [JsonIgnore]
    public string Contents
    {
        get
        {
            var files = Runs.SelectMany(r => r.Files).ToList();
            var xtc2 = files.Count(Formats.Xtc2Run.IsXtc2);
            return $"{Runs.Count} runs ({files.Count - xtc2} HDF5 and {xtc2} xtc2 files, {Detectors.Count} detectors, {InjectedPixels.Count} injected bad pixels)";
        }
    }

    public override string ToString() => $"Demo facility {Path}: {Runs.Count} runs, {InjectedPixels.Count} injected bad pixels";
}

/// <summary>Options of <see cref="DemoFacilityGenerator"/>; the defaults make the facility the README's demo uses.</summary>
public sealed class DemoFacilityOptions
{
    /// <summary>Frames in each run file (a run of 2 chunk files has twice as many).</summary>
    public int FramesPerFile { get; init; } = 100;

    /// <summary>Seed of the pseudo-random pedestals, noise and bad-pixel positions: the same seed gives the same files.</summary>
    public int Seed { get; init; } = 20171005;

    /// <summary>Bad pixels of each class per detector.</summary>
    public int PerClass { get; init; } = 4;

    /// <summary>Replace an existing demo facility at the path (never a folder that is not one).</summary>
    public bool Force { get; init; }

    /// <summary>Files written at once.</summary>
    public int Parallelism { get; init; } = Math.Max(1, Math.Min(Environment.ProcessorCount, 4));
}

/// <summary>Progress of <see cref="DemoFacilityGenerator.Generate"/>: files done of total and the file just written.</summary>
public readonly record struct DemoProgress(int FilesDone, int FilesTotal, string File);
