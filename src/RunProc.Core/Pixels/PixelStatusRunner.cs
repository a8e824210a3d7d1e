using System.Collections.Concurrent;
using System.Globalization;
using System.Text.RegularExpressions;
using RunProc.Config;
using RunProc.Formats;
using RunProc.IO;

namespace RunProc.Pixels;

/// <summary>What to analyse and what to write (the cmdlet's parameters, PowerShell-free).</summary>
public sealed record PixelStatusRequest
{
    /// <summary>The run's files in stream/chunk order (.h5/.hdf5/.nxs, .npy, or LCLS-II .xtc2 chunks of any stream).</summary>
    public required IReadOnlyList<string> Files { get; init; }

    /// <summary>Experiment and run for names and deployment; derived from "&lt;exp&gt;-r&lt;NNNN&gt;-..." file names when null.</summary>
    public string? Experiment { get; init; }
    public int? Run { get; init; }

    /// <summary>The instrument the catalog found the experiment under; null = the old rule (first 3 letters).</summary>
    public string? Instrument { get; init; }

    /// <summary>Detectors whose dataset path (xtc2: detName or detType) contains any of these (case-insensitive); empty = all.</summary>
    public IReadOnlyList<string> Detectors { get; init; } = Array.Empty<string>();

    public long SkipEvents { get; init; }

    /// <summary>At most this many events after the skipped ones; null = all.</summary>
    public long? Events { get; init; }

    /// <summary>Data bits kept (e.g. 0x3FFF for gain-switching detectors); null = the detector's default (xtc2 epix10ka/jungfrau: 0x3FFF), else all bits.</summary>
    public uint? DataMask { get; init; }

    /// <summary>xtc2: analyse events with damage ≠ 0 too (they are counted either way).</summary>
    public bool IncludeDamaged { get; init; }

    /// <summary>xtc2: a chunk cut inside a dgram is read up to the cut (with a warning) instead of failing the run.</summary>
    public bool AllowTruncated { get; init; }

    /// <summary>The xtc2 event selection of this request (SkipEvents/Events count the run's L1Accepts).</summary>
    public Xtc2Selection Xtc2Selection => new(SkipEvents, Events, IncludeDamaged, AllowTruncated);

    public PixelStatusOptions Options { get; init; } = new();

    /// <summary>Where the text arrays and the HDF5 file go; null = none.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>Which text arrays to write (ave rms sta msk max min).</summary>
    public IReadOnlyList<string> ArrayTypes { get; init; } = PixelStatusRunner.AllArrayTypes;

    /// <summary>Write the HDF5 file into OutputDirectory.</summary>
    public bool WriteHdf5 { get; init; } = true;

    /// <summary>Directory for PNG pictures; null = none.</summary>
    public string? ImageDirectory { get; init; }

    public bool Deploy { get; init; }

    /// <summary>The batch job running the analysis, for the deployed file's header and HISTORY; null by hand.</summary>
    public string? JobName { get; init; }

    /// <summary>Asked before a deployed status is replaced (the message names old and new bad-pixel counts); null = replace.</summary>
    public Func<string, bool>? ConfirmReplace { get; init; }

    /// <summary>Threads for decoding and the kernel; default all cores.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Scan memory-mapped uint16 frames in place (false: always read through the buffers; for tests and benchmarks).</summary>
    public bool ZeroCopy { get; init; } = true;

    /// <summary>Bytes per read block (two blocks are in memory: one read while the other is scanned).</summary>
    public long BlockBytes { get; init; } = 128L << 20;

    /// <summary>A split run's part (0 to PartCount-1) to analyse into partial accumulator files; PartCount 0 = the whole run.</summary>
    public int Part { get; init; }
    public int PartCount { get; init; }

    /// <summary>Where a part writes its partial accumulator files and manifest (required with PartCount).</summary>
    public string? PartDirectory { get; init; }
}

/// <summary>One analysed detector: what the cmdlet writes to the pipeline.</summary>
public sealed class PixelStatusResult
{
    public required string Detector { get; init; }
    public required string Dataset { get; init; }
    public required string Experiment { get; init; }
    public required int Run { get; init; }
    public required int[] Shape { get; init; }
    public required long Events { get; init; }

    /// <summary>xtc2: selected events lacking a segment, not analysed (0 for other formats).</summary>
    public long SkippedIncomplete { get; init; }

    /// <summary>xtc2: selected events with damage ≠ 0 left out (0 with -IncludeDamaged, which analyses them).</summary>
    public long SkippedDamaged { get; init; }

    /// <summary>The data bits kept before analysis (null = all bits).</summary>
    public uint? DataMask { get; init; }

    /// <summary>xtc2: the detector type from the Names (e.g. epix10ka); null for other formats.</summary>
    public string? DetectorType { get; init; }

    /// <summary>Pixels per status bit (bit 0..7).</summary>
    public required long[] CountPerBit { get; init; }
    public required long BadPixels { get; init; }
    public long Pixels => Shape.Aggregate(1L, (a, b) => a * b);

    // The per-bit counts again as named properties: Export-Csv and ConvertTo-Json keep these.
    public long RmsHighPixels => CountPerBit[0];
    public long SaturatedFractionPixels => CountPerBit[1];
    public long ColdFractionPixels => CountPerBit[2];
    public long RmsLowPixels => CountPerBit[3];
    public long MeanHighPixels => CountPerBit[4];
    public long MeanLowPixels => CountPerBit[5];
    public long MaxHighPixels => CountPerBit[6];
    public long MinLowPixels => CountPerBit[7];

    /// <summary>The limit method by name (Absolute or Robust).</summary>
    public string Method => Options.Method.ToString();
    public double MeanLowLimit => Summary.MeanLimits.Low;
    public double MeanHighLimit => Summary.MeanLimits.High;
    public double RmsLowLimit => Summary.RmsLimits.Low;
    public double RmsHighLimit => Summary.RmsLimits.High;

    public required IReadOnlyList<string> Files { get; init; }
    public string ShapeText => PsanaTextArray.ShapeText(Shape);

    /// <summary>With -Deploy over an earlier status: where the replaced file was kept, and its bad pixels.</summary>
    public string? ReplacedFile { get; init; }
    public long? ReplacedBadPixels { get; init; }

    /// <summary>With -Deploy: false when the replacement of an earlier status was declined.</summary>
    public bool Deployed { get; init; }

    // The per-pixel arrays are behind a method, not a property: serializers and Format-List walk
    // properties, and 2 Mpx of doubles made one result 10.9 MB of JSON.
    internal PixelStatusSummary Summary { get; init; } = null!;

    /// <summary>How long the summary and the output files took (for -Verbose and the benchmarks).</summary>
    internal TimeSpan SummaryTime { get; init; }
    internal TimeSpan OutputTime { get; init; }
    internal PixelStatusOptions Options { get; init; } = new();

    /// <summary>The per-pixel arrays (mean, rms, status, mask, max, min, fractions) and the limits used.</summary>
    public PixelStatusSummary GetSummary() => Summary;

    /// <summary>The flat record kept in the run's result file.</summary>
    public Results.DetectorResult ToDetectorResult() => new()
    {
        Detector = Detector, Dataset = Dataset, Shape = ShapeText, Events = Events, BadPixels = BadPixels,
        RmsHighPixels = RmsHighPixels, SaturatedFractionPixels = SaturatedFractionPixels, ColdFractionPixels = ColdFractionPixels,
        RmsLowPixels = RmsLowPixels, MeanHighPixels = MeanHighPixels, MeanLowPixels = MeanLowPixels, MaxHighPixels = MaxHighPixels,
        MinLowPixels = MinLowPixels, Method = Method, MeanLowLimit = MeanLowLimit, MeanHighLimit = MeanHighLimit,
        RmsLowLimit = RmsLowLimit, RmsHighLimit = RmsHighLimit, Files = Files.ToArray(),
    };
}

/// <summary>Progress of one detector, per block of frames.</summary>
public readonly record struct PixelStatusProgress(string Detector, long FramesDone, long FramesTotal);

/// <summary>
/// The outputs of the pixel_status process: summarises a detector's accumulator and writes the
/// text arrays, HDF5 and pictures, and deploys the status through the <see cref="CalibrationStore"/>.
/// The frames are read by <see cref="PixelReadPipeline"/>; the use case (files, errors, plan) is
/// <see cref="PixelStatusJob"/>.
/// </summary>
public sealed partial class PixelStatusRunner
{
    public static readonly IReadOnlyList<string> AllArrayTypes = new[] { "ave", "rms", "sta", "msk", "max", "min" };

    private readonly RunProcConfig _config;

    public PixelStatusRunner(RunProcConfig config)
    {
        _config = config;
        Store = new CalibrationStore(config);
    }

    [GeneratedRegex(@"^(?<exp>[a-z][a-z0-9_]*)-r(?<run>\d{1,5})(?=[-.]|$)", RegexOptions.CultureInvariant)]
    private static partial Regex RunFileName();

    /// <summary>Experiment and run from a file name like xpptut15-r0260-s01-c00.h5, or null.</summary>
    public static (string Experiment, int Run)? ParseRunFileName(string path)
    {
        var m = RunFileName().Match(Path.GetFileName(path));
        return m.Success ? (m.Groups["exp"].Value, int.Parse(m.Groups["run"].Value, CultureInfo.InvariantCulture)) : null;
    }

    /// <summary>
    /// The detector (source) name of a dataset path, safe for paths: the leading '/' dropped, '/'
    /// turned into '.', any other character outside [A-Za-z0-9_.:-] into '_' (so
    /// "/data/XppGon.0:Epix100a.0" → "data.XppGon.0:Epix100a.0"); a .npy file is named by its base name.
    /// </summary>
    public static string SourceName(string datasetPathOrFile, bool isNpy = false)
    {
        var raw = isNpy ? Path.GetFileNameWithoutExtension(datasetPathOrFile) : datasetPathOrFile.TrimStart('/').Replace('/', '.');
        var safe = Regex.Replace(raw, "[^A-Za-z0-9_.:-]", "_");
        while (safe.Contains("..")) safe = safe.Replace("..", ".");
        safe = safe.Trim('.');
        if (safe.Length > 128) safe = safe[^128..];
        return Names.Detector(safe.Length == 0 ? "detector" : safe);
    }

    /// <summary>The calibration store this runner deploys into.</summary>
    public CalibrationStore Store { get; }

    /// <summary>The base of output names, by the old template nda-#exp-#run-#src-#evts (then -#type.txt).</summary>
    public static string OutputBase(string experiment, int run, string source, long events) =>
        $"nda-{experiment}-r{run:0000}-{source}-e{events:000000}";

    /// <summary>Every file <see cref="Finish"/> would write for this detector (for -WhatIf / -Confirm).</summary>
    public IReadOnlyList<string> PlannedOutputs(DetectorFrames det, PixelStatusRequest req, string experiment, int run)
    {
        var list = new List<string>();
        Finish(new OutputDetector(det.Source, det.Dataset, det.FrameShape, det.Xtc2), PixelReadPipeline.SelectedEvents(det, req), null, req, experiment, run, list);
        return list;
    }

    /// <summary>Summarises and writes the outputs of one detector; returns the result object.</summary>
    public PixelStatusResult Finish(DetectorFrames det, PixelStatusAccumulator acc, PixelStatusRequest req, string experiment, int run) =>
        Finish(new OutputDetector(det.Source, det.Dataset, det.FrameShape, det.Xtc2), acc.Events, acc, req, experiment, run, null)!;

    /// <summary>The detector an output is named after: its source name, dataset path and frame shape (a split run's merge has no files open).</summary>
    public readonly record struct OutputDetector(string Source, string Dataset, int[] FrameShape, Xtc2Detector? Xtc2 = null)
    {
        /// <summary>The data bits kept: the request's, else the detector type's default (xtc2), else all.</summary>
        public uint? DataMask(PixelStatusRequest req) => req.DataMask ?? Xtc2?.DefaultDataMask;
    }

    /// <summary>Summarises and writes the outputs of a detector from an accumulator built elsewhere (the merge of a split run).</summary>
    public PixelStatusResult Finish(OutputDetector det, PixelStatusAccumulator acc, PixelStatusRequest req, string experiment, int run) =>
        Finish(det, acc.Events, acc, req, experiment, run, null)!;

    /// <summary>Every file <see cref="Finish(OutputDetector, PixelStatusAccumulator, PixelStatusRequest, string, int)"/> would write.</summary>
    public IReadOnlyList<string> PlannedOutputs(OutputDetector det, long events, PixelStatusRequest req, string experiment, int run)
    {
        var list = new List<string>();
        Finish(det, events, null, req, experiment, run, list);
        return list;
    }

    private PixelStatusResult? Finish(OutputDetector det, long plannedEvents, PixelStatusAccumulator? acc, PixelStatusRequest req, string experiment, int run, List<string>? plan)
    {
        // With a plan list nothing is computed or written: the paths are only collected.
        bool shouldWrite(string path, string what)
        {
            if (plan is null) return true;
            plan.Add(path);
            return false;
        }
        var events = acc?.Events ?? plannedEvents;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var summary = acc is null ? null! : PixelStatusSummary.Compute(acc, req.Options);
        var summaryTime = clock.Elapsed;
        var shape = det.FrameShape;
        var files = new List<string>();
        var baseName = OutputBase(experiment, run, det.Source, events);
        var comments = new[]
        {
            $"DATASET exp={experiment}:run={run}",
            $"STATISTICS {events}",
        };
        // The outputs are independent files: each is one write action, run in parallel below
        // (formatting the text arrays and encoding the pictures are most of the work).
        var writes = new List<Action>();
        // The pictures are queued first (below), then the HDF5 file, then the text arrays: on two cores
        // the longest chains start at once and the text arrays (split into blocks) fill in around them.
        var picturesFirst = 0;
        if (req.OutputDirectory is not null)
        {
            foreach (var type in req.ArrayTypes)
            {
                var path = Path.Combine(req.OutputDirectory, $"{baseName}-{type}.txt");
                if (!shouldWrite(path, $"write the {type} array of {det.Source}"))
                    continue;
                SafeFile.EnsureDirectory(req.OutputDirectory, _config.DirectoryMode);
                var allComments = comments.Append($"ARR_TYPE {ArrTypeName(type)}").ToArray();
                // Every array straight from where the summary holds it: the status and max/min in the
                // accumulator's memory, mean and rms made from the accumulator as they are formatted
                // (no per-job copies: on this VM fresh memory costs more than reading it again).
                ReadOnlyMemory<int> ints = type switch
                {
                    "ave" or "rms" => default,
                    "sta" or "msk" => summary.StatusValues, "max" => summary.MaxValues, "min" => summary.MinValues,
                    _ => throw new ArgumentException($"unknown array type '{type}'; use ave, rms, sta, msk, max or min."),
                };
                PsanaTextArray.Float64Source? doubles = type switch
                {
                    "ave" => (first, dst) => summary.MomentsInto(first, dst, default),
                    "rms" => (first, dst) => summary.MomentsInto(first, default, dst),
                    _ => null,
                };
                writes.Add(() =>
                {
                    if (doubles is not null)
                        PsanaTextArray.WriteFile(path, summary.PixelCount, doubles, shape, path, allComments, _config.FileMode);
                    else if (type == "msk")
                        PsanaTextArray.WriteMaskFile(path, ints, shape, path, allComments, _config.FileMode);
                    else
                        PsanaTextArray.WriteFile(path, ints, shape, path, allComments, _config.FileMode);
                });
                files.Add(path);
            }
            if (req.WriteHdf5)
            {
                var h5 = Path.Combine(req.OutputDirectory, baseName + "-status.h5");
                if (shouldWrite(h5, $"write the HDF5 status of {det.Source}"))
                {
                    SafeFile.EnsureDirectory(req.OutputDirectory, _config.DirectoryMode);
                    // Second (after the pictures): the longest write; its datasets are written in pieces on every core free.
                    writes.Insert(Math.Min(writes.Count, picturesFirst), () => PixelStatusHdf5.Write(h5, det.Source, shape, summary, new Dictionary<string, object>
                    {
                        ["experiment"] = experiment, ["run"] = run, ["dataset"] = det.Dataset,
                    }, _config.FileMode));
                    files.Add(h5);
                }
            }
        }
        IReadOnlyList<string> pictures = Array.Empty<string>();
        if (req.ImageDirectory is not null)
        {
            var prefix = Path.Combine(req.ImageDirectory, baseName);
            if (plan is not null)
                plan.AddRange(new[] { "status", "mean", "rms", "hist" }.Select(k => $"{prefix}-{k}.png"));
            else
            {
                SafeFile.EnsureDirectory(req.ImageDirectory, _config.DirectoryMode);
                writes.Insert(0, () => pictures = PixelStatusImages.Write(prefix, shape, summary, new PictureTitle(experiment, run, det.Source, events, req.Options), _config.FileMode));
            }
        }
        string? deployed = null;
        string? replaced = null;
        long? replacedBad = null;
        if (req.Deploy)
        {
            var (data, history) = Store.Paths(experiment, run, det.Source, req.Instrument, det.Xtc2?.CalibGroup);
            plan?.Add(history + " (append)");
            if (shouldWrite(data, $"deploy the pixel status of {det.Source}"))
            {
                // Asked here, on the caller's thread (ShouldProcess), before the parallel writes.
                var deployment = Store.Prepare(data, history, shape, summary, events, req, comments);
                (replaced, replacedBad) = (deployment.Kept, deployment.OldBad);
                if (deployment.Write is { } write)
                {
                    writes.Add(write);
                    deployed = data;
                }
            }
        }
        WriteInParallel(writes);
        GC.KeepAlive(summary); // the arrays were written from its accumulator's memory
        var outputTime = clock.Elapsed - summaryTime;
        files.AddRange(pictures);
        if (deployed is not null)
            files.Add(deployed);
        if (plan is not null)
            return null;
        return new PixelStatusResult
        {
            Detector = det.Source, Dataset = det.Dataset, Experiment = experiment, Run = run, Shape = shape,
            Events = events, CountPerBit = summary.CountPerBit, BadPixels = summary.BadPixels, Files = files, Summary = summary, Options = req.Options,
            ReplacedFile = replaced, ReplacedBadPixels = replacedBad, Deployed = deployed is not null,
            SkippedIncomplete = det.Xtc2?.SkippedIncomplete ?? 0,
            SkippedDamaged = det.Xtc2 is { DamagedIncluded: false } x ? x.DamagedEvents : 0,
            DataMask = det.DataMask(req), DetectorType = det.Xtc2?.DetType,
            SummaryTime = summaryTime, OutputTime = outputTime,
        };
    }

    /// <summary>
    /// Called when a detector is about to be read (the job entry calls it as soon as its arguments
    /// are bound, so it overlaps the single-threaded opening of the files): what the summary and the
    /// outputs need once per process (their optimised loops compiled; the picture library's native
    /// code, font and PNG encoder) is made ready on background threads meanwhile, so the end of the
    /// job does not wait for it.
    /// </summary>
    public static void PrepareOutputs(PixelStatusRequest req)
    {
        PixelStatusSummary.StartWarmUp();
        if (req.ImageDirectory is not null)
            PixelStatusImages.StartWarmUp();
    }

    /// <summary>Runs the write actions on all cores; the first failure is rethrown as itself (callers catch IOException and the like).</summary>
    private static void WriteInParallel(List<Action> writes)
    {
        try
        {
            Parallel.Invoke(new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, writes.ToArray());
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex.InnerExceptions[0]);
        }
    }

    private static string ArrTypeName(string type) => type switch
    {
        "ave" => "average", "rms" => "rms", "sta" => "status", "msk" => "mask", "max" => "max", _ => "min",
    };
}