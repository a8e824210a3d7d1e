using System.Management.Automation;
using RunProc.Catalog;
using RunProc.Formats;
using RunProc.Pixels;
using RunProc.Pixels.Split;
using RunProc.Results;

namespace RunProc.Module.Commands;

/// <summary>
/// Invoke-PixelStatus: the pixel_status process (the old det_ndarr_data_status). Reads a run's
/// detector frames, finds bad pixels and writes the arrays, pictures and the deployed status.
/// One result object per detector.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "PixelStatus", SupportsShouldProcess = true, DefaultParameterSetName = RunSet)]
[OutputType(typeof(PixelStatusResult), typeof(PartialHeader))]
public sealed class InvokePixelStatusCommand : RunProcCmdlet
{
    /// <summary>Files given by -Path need no site config: without one the built-in defaults apply.</summary>
    protected override bool BuiltInDefaultsWithoutConfig => ParameterSetName == PathSet;

    private const string RunSet = "Run";
    private const string PathSet = "Path";

    /// <summary>The experiment (binds from Get-PendingRun output).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = RunSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Experiment { get; set; } = "";

    /// <summary>The run number (binds from Get-PendingRun output).</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = RunSet, ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, Names.MaxRun)]
    public int Run { get; set; }

    /// <summary>Run files (.h5 / .npy in stream/chunk order, or LCLS-II .xtc2 chunks of every stream in any order); all files of one call are one run.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Detectors whose dataset path contains any of these (the old -s).</summary>
    [Parameter]
    public string[] Detector { get; set; } = Array.Empty<string>();

    /// <summary>At most this many events (after -SkipEvents).</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public new long Events { get; set; } = long.MaxValue;

    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long SkipEvents { get; set; }

    /// <summary>Directory for the text arrays and the HDF5 file.</summary>
    [Parameter]
    public string? OutputDirectory { get; set; }

    /// <summary>Text arrays to write (default all).</summary>
    [Parameter]
    [ValidateSet("ave", "rms", "sta", "msk", "max", "min")]
    public string[] ArrayType { get; set; } = PixelStatusRunner.AllArrayTypes.ToArray();

    /// <summary>Deploy the status into the calibration store.</summary>
    [Parameter]
    public SwitchParameter Deploy { get; set; }

    /// <summary>Directory for PNG pictures (status, mean, rms, histogram).</summary>
    [Parameter]
    public string? ImagePath { get; set; }

    [Parameter]
    public PixelLimitMethod Method { get; set; } = PixelLimitMethod.Absolute;

    [Parameter] public double SnrMax { get; set; } = 8;
    [Parameter] public double IntensityLow { get; set; } = 1;
    [Parameter] public double IntensityHigh { get; set; } = 16000;
    [Parameter] public double RmsLow { get; set; } = 0.1;
    [Parameter] public double RmsHigh { get; set; } = 16000;
    [Parameter] [ValidateRange(0.0, 1.0)] public double FractionLimit { get; set; } = 0.2;
    [Parameter] [ValidateRange(0.0, double.MaxValue)] public double IntensityLowSigma { get; set; }
    [Parameter] [ValidateRange(0.0, double.MaxValue)] public double IntensityHighSigma { get; set; }
    [Parameter] [ValidateRange(0.0, double.MaxValue)] public double RmsLowSigma { get; set; }
    [Parameter] [ValidateRange(0.0, double.MaxValue)] public double RmsHighSigma { get; set; }

    /// <summary>
    /// Data bits kept before analysis, e.g. 0x3FFF for gain-switching detectors (integer data only;
    /// float32 frames are rounded, not masked). Not given: xtc2 epix10ka and jungfrau keep 0x3FFF
    /// (their top bits are gain bits), everything else all bits.
    /// </summary>
    [Parameter]
    public uint DataMask { get; set; } = uint.MaxValue;

    /// <summary>xtc2: analyse events with damage too (they are counted and left out by default).</summary>
    [Parameter]
    public SwitchParameter IncludeDamaged { get; set; }

    /// <summary>Threads for decoding and the kernel (default: all cores).</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int ThrottleLimit { get; set; } = Environment.ProcessorCount;

    /// <summary>Analyse only this part (0 to PartCount-1) of a split run and write its partial accumulator files.</summary>
    [Parameter]
    [ValidateRange(0, RunProc.Config.RunProcConfig.MaxParts - 1)]
    public int Part { get; set; }

    /// <summary>The number of parts the run is split into (with -Part); Merge-PixelStatus combines them.</summary>
    [Parameter]
    [ValidateRange(1, RunProc.Config.RunProcConfig.MaxParts)]
    public int PartCount { get; set; }

    /// <summary>Where a part writes its partial accumulator files and manifest (required with -PartCount).</summary>
    [Parameter]
    public string? PartDirectory { get; set; }

    private bool IsPart => MyInvocation.BoundParameters.ContainsKey(nameof(PartCount));

    /// <summary>The batch job running this analysis (recorded in the result record and the deployed file's HISTORY).</summary>
    [Parameter]
    [ValidatePattern(@"^[A-Za-z0-9_.:-]{1,200}$")]
    public string? JobName { get; set; }

    private readonly List<string> _paths = new();

    protected override void ProcessRecord()
    {
        if (ParameterSetName == PathSet)
        {
            // Files may arrive one by one from the pipeline: they are one run, analysed at the end.
            foreach (var p in Path)
            {
                try
                {
                    var resolved = SessionState.Path.GetResolvedProviderPathFromPSPath(p, out _);
                    // A wildcard that matches nothing resolves to no file: an error, not an empty run.
                    if (resolved.Count == 0)
                        throw new ItemNotFoundException($"No file matches '{p}'.");
                    _paths.AddRange(resolved);
                }
                catch (ItemNotFoundException ex)
                {
                    WriteInputError(ex, "PixelFileNotFound", ErrorCategory.ObjectNotFound, p, "Check the path of the run file.");
                }
            }
            return;
        }

        string exp;
        try { exp = Names.Experiment(Experiment, Config); }
        catch (ArgumentException ex)
        {
            WriteInputError(ex, "InvalidExperiment", ErrorCategory.InvalidArgument, Experiment);
            return;
        }
        RunInfo? info;
        try { info = new RunCatalog(Config).Run(exp, Run); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            WriteInputError(ex, "RunCatalogFailed", ErrorCategory.ReadError, $"{exp}:{Run}");
            return;
        }
        if (info is null)
        {
            WriteInputError(new ItemNotFoundException($"Run {Run} of experiment {exp} has no files under {Config.DataRoot}."),
                "RunNotFound", ErrorCategory.ObjectNotFound, $"{exp}:{Run}", "Check the experiment and run with Get-ProcRun or Get-PendingRun.");
            return;
        }
        if (!info.Ready)
        {
            WriteInputError(new InvalidOperationException($"Run {Run} of {exp} is not ready: {info.NotReadyReason}"),
                "RunNotReady", ErrorCategory.ResourceBusy, info, "Wait until the DAQ has finished writing the run.");
            return;
        }
        Analyse(info.Files, exp, info.Run, info, info.Instrument);
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName == PathSet && _paths.Count > 0)
            Analyse(_paths, null, null, _paths[0]);
    }

    private void Analyse(IReadOnlyList<string> files, string? experiment, int? run, object target, string? instrument = null)
    {
        var lcls1 = files.FirstOrDefault(f => f.EndsWith(".xtc", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".xtc.inprogress", StringComparison.OrdinalIgnoreCase));
        if (lcls1 is not null)
        {
            WriteInputError(new NotSupportedException($"'{lcls1}' is an LCLS-I .xtc file: LCLS-I xtc is not read yet (LCLS-II .xtc2 is). Convert the run to HDF5 first (psana's xtc-to-HDF5 translator) and give the .h5 files."),
                "PixelFileNotSupported", ErrorCategory.InvalidType, target);
            return;
        }
        var unreadable = files.FirstOrDefault(f => !f.EndsWith(".h5", StringComparison.OrdinalIgnoreCase)
            && !f.EndsWith(".hdf5", StringComparison.OrdinalIgnoreCase) && !f.EndsWith(".nxs", StringComparison.OrdinalIgnoreCase)
            && !f.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) && !Xtc2Run.IsXtc2(f));
        if (unreadable is not null)
        {
            WriteInputError(new NotSupportedException($"'{unreadable}' is not a frame file RunProc reads (LCLS-II .xtc2, HDF5 .h5/.hdf5/.nxs or NumPy .npy)."),
                "PixelFileNotSupported", ErrorCategory.InvalidType, target);
            return;
        }
        if (experiment is null)
        {
            var parsed = PixelStatusRunner.ParseRunFileName(files[0]);
            experiment = parsed?.Experiment;
            run = parsed?.Run;
        }
        if (Deploy && (experiment is null || run is null || !Names.IsExperiment(experiment)))
        {
            WriteInputError(new ArgumentException($"-Deploy needs the experiment and run: use -Experiment/-Run, or run files named <exp>-rNNNN-sNN-cNN.h5 (got '{System.IO.Path.GetFileName(files[0])}')."),
                "DeployNeedsRun", ErrorCategory.InvalidArgument, target);
            return;
        }
        var exp = experiment ?? "unknown";
        var runNo = run ?? 0;
        var options = new PixelStatusOptions
        {
            Method = Method, SnrMax = SnrMax, IntensityLow = IntensityLow, IntensityHigh = IntensityHigh, RmsLow = RmsLow, RmsHigh = RmsHigh,
            FractionLimit = FractionLimit, IntensityLowSigma = IntensityLowSigma, IntensityHighSigma = IntensityHighSigma,
            RmsLowSigma = RmsLowSigma, RmsHighSigma = RmsHighSigma,
        };
        try { options.Validate(); }
        catch (ArgumentException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "InvalidLimits", ErrorCategory.InvalidArgument, options));
        }
        var request = new PixelStatusRequest
        {
            Files = files, Experiment = experiment, Run = run, Instrument = instrument, Detectors = Detector, SkipEvents = SkipEvents,
            Events = Events == long.MaxValue ? null : Events, DataMask = MyInvocation.BoundParameters.ContainsKey(nameof(DataMask)) ? DataMask : null,
            IncludeDamaged = IncludeDamaged,
            Options = options, OutputDirectory = OutputDirectory is null ? null : GetUnresolvedProviderPathFromPSPath(OutputDirectory),
            ImageDirectory = ImagePath is null ? null : GetUnresolvedProviderPathFromPSPath(ImagePath),
            ArrayTypes = ArrayType, Deploy = Deploy, Threads = ThrottleLimit, JobName = JobName,
            // A deployed status is replaced only through ShouldProcess, which names old and new bad-pixel counts.
            ConfirmReplace = message => ShouldProcess(target.ToString(), message),
        };
        var runner = new PixelStatusRunner(Config);
        if (IsPart)
        {
            AnalysePart(runner, request, exp, runNo, target);
            return;
        }
        List<PixelStatusRunner.DetectorFrames> detectors;
        IDisposable handle;
        var skipped = new List<string>();
        var notes = new List<string>();
        try { (detectors, handle) = PixelStatusRunner.OpenDetectors(files, Detector, skipped, request.Xtc2Selection, notes); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            WriteInputError(ex, ex is FrameReadException ? "PixelFileDamaged" : "PixelFileUnreadable", ErrorCategory.ReadError, target,
                "Check that the file is a complete xtc2/HDF5/.npy file; re-copy it if it was truncated, or wait until the DAQ has closed it. Nothing was written.");
            return;
        }
        foreach (var n in notes)
            WriteVerbose(n);
        using (handle)
        {
            if (detectors.Count == 0)
            {
                // Name the files and say what each dataset is, so a wrong rank or type is obvious.
                var seen = skipped.Count == 0 ? "no datasets" : string.Join("; ", skipped.Take(10)) + (skipped.Count > 10 ? $"; ... ({skipped.Count} in all)" : "");
                WriteInputError(new ItemNotFoundException($"No detector frame stacks (uint8/uint16/int16/uint32/int32/float32 datasets of rank >= 3, or xtc2 'raw' fields of rank 2-3) {(Detector.Length > 0 ? $"matching '{string.Join("', '", Detector)}' " : "")}in {string.Join(", ", files)} ({exp}:{runNo}): {seen}."),
                    "NoDetector", ErrorCategory.ObjectNotFound, target, "List the file's datasets (h5ls -r; for xtc2 the detectors are in the error above) and pass a matching -Detector.");
                return;
            }
            var activity = 0;
            var results = new List<PixelStatusResult>();
            var errors = new List<string>();
            foreach (var det in detectors)
            {
                activity++;
                if (det.Xtc2 is { } x)
                    WriteVerbose($"{det.Dataset}: {x.Description}; {x.EventsSelected} of {x.EventsInRun} L1Accept events selected, {x.EventsUsed} used, {x.SkippedIncomplete} lacking a segment, {x.DamagedEvents} damaged{(x.DamagedIncluded ? " (included)" : "")}.");
                var action = $"Analyse {det.FrameCount} frames of {det.Dataset} ({exp} run {runNo})";
                // One confirmation per detector, naming every file it would write.
                var planned = runner.PlannedOutputs(det, request, exp, runNo);
                var what = $"analyse {runner.SelectedEvents(det, request)} events and write {(planned.Count == 0 ? "nothing" : string.Join(", ", planned))}";
                if (!ShouldProcess(det.Dataset, what))
                    continue;
                var record = new ProgressRecord(activity, "Invoke-PixelStatus", action);
                var last = DateTime.MinValue;
                try
                {
                    var acc = runner.Accumulate(det, request, p =>
                    {
                        // Progress is written from the pipeline thread only (the runner calls back there).
                        if ((DateTime.UtcNow - last).TotalMilliseconds < 200 && p.FramesDone < p.FramesTotal) return;
                        last = DateTime.UtcNow;
                        record.PercentComplete = (int)(100 * p.FramesDone / Math.Max(1, p.FramesTotal));
                        record.StatusDescription = $"{p.FramesDone}/{p.FramesTotal} frames";
                        WriteProgress(record);
                    }, Cancel);
                    var result = runner.Finish(det, acc, request, exp, runNo);
                    results.Add(result);
                    if (result.ReplacedFile is not null)
                        WriteWarning($"{det.Source}: the deployed status of {exp} run {runNo} had {result.ReplacedBadPixels?.ToString() ?? "an unknown number of"} bad pixels, the new one has {result.BadPixels}; the old file is kept as {result.ReplacedFile}.");
                    else if (Deploy && !result.Deployed)
                        WriteWarning($"{det.Source}: the deployed status of {exp} run {runNo} was kept (replacement declined); the new one ({result.BadPixels} bad pixels) is in the output files only.");
                    WriteObject(result);
                }
                catch (FrameReadException ex)
                {
                    errors.Add($"{det.Dataset}: {ex.Message}");
                    WriteInputError(ex, "PixelFrameUnreadable", ErrorCategory.ReadError, target,
                        $"Frame {ex.Frame} of {ex.Dataset} in {ex.File} cannot be read; nothing was written for this detector. Re-copy or repair the file, or limit -Events.");
                }
                catch (OperationCanceledException) when (Cancel.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
                {
                    errors.Add($"{det.Dataset}: {ex.Message}");
                    WriteInputError(ex, "PixelStatusFailed", ErrorCategory.WriteError, target);
                }
                finally
                {
                    record.RecordType = ProgressRecordType.Completed;
                    WriteProgress(record);
                }
            }
            WriteResultRecord(request, exp, runNo, results, errors);
        }
    }

    /// <summary>The run's small result record beside the work files, for Get-ProcRun and the report.</summary>
    private void WriteResultRecord(PixelStatusRequest request, string exp, int run, List<PixelStatusResult> results, List<string> errors)
    {
        // A run that produced no result writes nothing at all (as for damaged files); its job log says why.
        if (request.OutputDirectory is null || !Names.IsExperiment(exp) || results.Count == 0)
            return;
        var path = RunResultRecord.PathFor(request.OutputDirectory, exp, run);
        try
        {
            new RunResultRecord
            {
                Experiment = exp, Run = run, JobName = JobName ?? "", Time = DateTimeOffset.Now, RunProcVersion = RunResultRecord.CurrentVersion,
                Detectors = results.Select(r => r.ToDetectorResult()).ToArray(), Errors = errors.ToArray(),
            }.Write(path, Config.FileMode, Config.DirectoryMode);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            WriteInputError(ex, "ResultRecordFailed", ErrorCategory.WriteError, path, "Check that the output directory is writable.");
        }
    }

    /// <summary>One part of a split run: its share of the files or events, as partial accumulator files for Merge-PixelStatus.</summary>
    private void AnalysePart(PixelStatusRunner runner, PixelStatusRequest request, string exp, int runNo, object target)
    {
        if (Part >= PartCount)
        {
            WriteInputError(new ArgumentOutOfRangeException(nameof(Part), Part, $"-Part {Part} is not one of the {PartCount} parts (0 to {PartCount - 1})."), "PartOutOfRange", ErrorCategory.InvalidArgument, Part);
            return;
        }
        if (string.IsNullOrEmpty(PartDirectory) || Deploy || OutputDirectory is not null || ImagePath is not null)
        {
            WriteInputError(new ArgumentException("a part (-Part/-PartCount) writes only its partial accumulator files to -PartDirectory; the outputs and -Deploy are Merge-PixelStatus's."),
                "PartArguments", ErrorCategory.InvalidArgument, target, "Give -PartDirectory and leave -OutputDirectory, -ImagePath and -Deploy to Merge-PixelStatus.");
            return;
        }
        var dir = GetUnresolvedProviderPathFromPSPath(PartDirectory);
        if (!ShouldProcess($"{exp} run {runNo}", $"analyse part {Part} of {PartCount} and write its partial accumulator files to {dir}"))
            return;
        var record = new ProgressRecord(1, "Invoke-PixelStatus", $"Part {Part} of {PartCount} of {exp} run {runNo}");
        var last = DateTime.MinValue;
        try
        {
            var headers = PixelStatusSplit.RunPart(runner, request, exp, runNo, Part, PartCount, dir, Config.FileMode, Config.DirectoryMode, p =>
            {
                if ((DateTime.UtcNow - last).TotalMilliseconds < 200 && p.FramesDone < p.FramesTotal) return;
                last = DateTime.UtcNow;
                record.PercentComplete = (int)(100 * p.FramesDone / Math.Max(1, p.FramesTotal));
                record.StatusDescription = $"{p.Detector}: {p.FramesDone}/{p.FramesTotal} frames";
                WriteProgress(record);
            }, Cancel);
            foreach (var h in headers)
                WriteObject(h);
        }
        catch (OperationCanceledException) when (Cancel.IsCancellationRequested)
        {
        }
        catch (FrameReadException ex)
        {
            WriteInputError(ex, "PixelFrameUnreadable", ErrorCategory.ReadError, target,
                $"Frame {ex.Frame} of {ex.Dataset} in {ex.File} cannot be read; this part wrote no manifest, so the merge will not run. Re-copy or repair the file.");
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            WriteInputError(ex, "PixelStatusPartFailed", ErrorCategory.WriteError, target);
        }
        finally
        {
            record.RecordType = ProgressRecordType.Completed;
            WriteProgress(record);
        }
    }
}
