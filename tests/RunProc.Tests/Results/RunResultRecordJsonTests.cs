using System.Text.Json;
using System.Text.Json.Serialization;
using RunProc.Results;
using Xunit;

namespace RunProc.Tests.Results;

/// <summary>The result record written through the source-generated serializer is the text the reflection serializer wrote, and reads back.</summary>
public sealed class RunResultRecordJsonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("runproc-result-json-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void TheFileIsWhatTheReflectionSerializerWrote_AndReadsBack()
    {
        var record = new RunResultRecord
        {
            Experiment = "xpptut15", Run = 260, JobName = "pixel_status-xpptut15-r0260", Time = new DateTimeOffset(2026, 12, 2, 3, 4, 5, TimeSpan.FromHours(1)),
            RunProcVersion = "1.2.3", Errors = new[] { "det/B: \"quoted\" ünïcode" },
            Detectors = new[]
            {
                new DetectorResult
                {
                    Detector = "det.XppGon.0:Epix100a.0", Dataset = "/det/XppGon.0:Epix100a.0", Shape = "(2,33,40)", Events = 20, BadPixels = 7,
                    RmsHighPixels = 1, SaturatedFractionPixels = 2, ColdFractionPixels = 3, RmsLowPixels = 4, MeanHighPixels = 5, MeanLowPixels = 6,
                    MaxHighPixels = 7, MinLowPixels = 8, Method = "Robust", MeanLowLimit = 1, MeanHighLimit = 16000.5, RmsLowLimit = 0.1, RmsHighLimit = double.MaxValue,
                    Files = new[] { "/out/a.txt", "/out/b.png" },
                },
            },
        };
        var path = Path.Combine(_dir, "xpptut15-r0260-result.json");
        record.Write(path, Convert.ToInt32("664", 8), Convert.ToInt32("775", 8));
        var reflection = JsonSerializer.Serialize(record, new JsonSerializerOptions { WriteIndented = true, Converters = { new JsonStringEnumConverter() } }) + "\n";
        Assert.Equal(reflection, File.ReadAllText(path));
        Assert.DoesNotContain("Images", reflection);

        var back = RunResultRecord.TryRead(path)!;
        Assert.Equal(record.Time, back.Time);
        Assert.Equal(record.Errors, back.Errors);
        var d = Assert.Single(back.Detectors);
        Assert.Equal(("det.XppGon.0:Epix100a.0", 7L, 8L, double.MaxValue), (d.Detector, d.BadPixels, d.MinLowPixels, d.RmsHighLimit));
        Assert.Equal(new[] { "/out/b.png" }, d.Images);
        File.WriteAllText(path, "{ not json");
        Assert.Null(RunResultRecord.TryRead(path));
    }
}
