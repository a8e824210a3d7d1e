using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using RunProc.IO;

namespace RunProc.Results;

/// <summary>
/// One detector's outcome as the result record keeps it: small, flat and readable by any tool
/// (per-bit counts as named properties, so Export-Csv and ConvertTo-Json keep them).
/// </summary>
public sealed class DetectorResult
{
    public string Detector { get; init; } = "";
    public string Dataset { get; init; } = "";
    public string Shape { get; init; } = "";
    public long Events { get; init; }
    public long BadPixels { get; init; }
    public long RmsHighPixels { get; init; }
    public long SaturatedFractionPixels { get; init; }
    public long ColdFractionPixels { get; init; }
    public long RmsLowPixels { get; init; }
    public long MeanHighPixels { get; init; }
    public long MeanLowPixels { get; init; }
    public long MaxHighPixels { get; init; }
    public long MinLowPixels { get; init; }

    /// <summary>Absolute or Robust (a name, not a number, wherever it is serialized).</summary>
    public string Method { get; init; } = "";
    public double MeanLowLimit { get; init; }
    public double MeanHighLimit { get; init; }
    public double RmsLowLimit { get; init; }
    public double RmsHighLimit { get; init; }

    /// <summary>Every file written for the detector (text arrays, HDF5, pictures, deployed status).</summary>
    public IReadOnlyList<string> Files { get; init; } = Array.Empty<string>();

    /// <summary>The PNG pictures among <see cref="Files"/>.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> Images => Files.Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase)).ToList();

    /// <summary>The per-bit counts, index = bit number 0..7 (the order of the status word).</summary>
    public long[] CountsPerBit() => new[] { RmsHighPixels, SaturatedFractionPixels, ColdFractionPixels, RmsLowPixels, MeanHighPixels, MeanLowPixels, MaxHighPixels, MinLowPixels };

    public override string ToString() => $"{Detector}: {BadPixels} bad of {Shape} in {Events} events";
}

/// <summary>
/// The result record a pixel_status job writes beside its work files
/// (<c>&lt;workdir&gt;/&lt;exp&gt;-r&lt;RRRR&gt;-result.json</c>): what Get-ProcRun and the HTML
/// report show for the run without reading any array. Any process may write one in this format.
/// </summary>
public sealed class RunResultRecord
{
    public string Experiment { get; init; } = "";
    public int Run { get; init; }

    /// <summary>The batch job that wrote it (empty when run by hand).</summary>
    public string JobName { get; init; } = "";
    public DateTimeOffset Time { get; init; }
    public string RunProcVersion { get; init; } = "";
    public IReadOnlyList<DetectorResult> Detectors { get; init; } = Array.Empty<DetectorResult>();

    /// <summary>Detectors (or inputs) that failed, one line each.</summary>
    public IReadOnlyList<string> Errors { get; init; } = Array.Empty<string>();

    // Written and read through the source-generated RunResultJson (below): the reflection serializer's
    // first use cost a job ~0.1 s after its outputs.

    /// <summary>The version of this RunProc build (informational version without the source hash).</summary>
    public static string CurrentVersion { get; } =
        (typeof(RunResultRecord).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "0.0.0").Split('+')[0];

    public static string PathFor(string workDirectory, string experiment, int run) =>
        Path.Combine(workDirectory, $"{Names.Experiment(experiment)}-r{Names.ValidateRun(run):0000}-result.json");

    public void Write(string path, int fileMode, int directoryMode)
    {
        SafeFile.EnsureDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!, directoryMode);
        // A derived output like the text arrays and pictures it lists (remade by rerunning the job): atomic, not
        // fsynced. An fsync here waited for the ext4 journal, i.e. for the writeback of every output just written.
        SafeFile.WriteOutputAtomic(path, new UTF8Encoding(false).GetBytes(JsonSerializer.Serialize(this, RunResultJson.Default.RunResultRecord) + "\n"), fileMode);
    }

    /// <summary>The record at <paramref name="path"/>, or null when there is none or it is unreadable (a report must not fail on one bad file).</summary>
    public static RunResultRecord? TryRead(string path)
    {
        try
        {
            return SafeFile.ReadAllText(path) is { } text ? JsonSerializer.Deserialize(text, RunResultJson.Default.RunResultRecord) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }
}

/// <summary>The result record's JSON, generated at compile time (indented, enums by name, as the reflection options were).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, UseStringEnumConverter = true)]
[JsonSerializable(typeof(RunResultRecord))]
internal sealed partial class RunResultJson : JsonSerializerContext;
