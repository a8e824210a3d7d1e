using RunProc.Catalog;
using RunProc.Config;
using RunProc.Formats;
using RunProc.Pixels.Split;
using RunProc.Results;

namespace RunProc.Pixels;

/// <summary>The kind of a failure; the cmdlets map it to PowerShell's ErrorCategory of the same name.</summary>
public enum PixelErrorCategory { InvalidArgument, ObjectNotFound, ReadError, WriteError, InvalidType, ResourceBusy, InvalidData }

/// <summary>The answer to "go ahead?": yes, no (declined), or only show what would be done (-WhatIf).</summary>
public enum Proceed { Yes, No, WhatIf }

/// <summary>
/// What the pixel use case reports to whoever runs it (the Invoke-PixelStatus / Merge-PixelStatus
/// cmdlets, or the runproc-pixel job entry): results, errors with a stable id, warnings, progress,
/// and the question whether to go ahead.
/// </summary>
public interface IPixelStatusHost
{
    /// <summary>A non-terminating error: the input it is about and, where known, what to do.</summary>
    void Error(Exception error, string errorId, PixelErrorCategory category, object? target, string? recommendedAction = null);
    void Warning(string message);
    void Verbose(string message);

    /// <summary>Progress of activity <paramref name="id"/>; <paramref name="percent"/> &lt; 0 ends it.</summary>
    void Progress(int id, string activity, string status, int percent);

    /// <summary>A result: <see cref="PixelStatusResult"/>, <see cref="PartialHeader"/> or (with -WhatIf) <see cref="PixelStatusPlan"/>.</summary>
    void Output(object item);

    /// <summary>Whether to do <paramref name="action"/> on <paramref name="target"/> (ShouldProcess).</summary>
    Proceed ShouldProcess(string target, string action);

    CancellationToken Cancel { get; }
}

/// <summary>A usage error that ends the whole call (the cmdlet's terminating error, the job entry's exit 1).</summary>
public sealed class PixelStatusUsageException(string errorId, Exception inner) : Exception(inner.Message, inner)
{
    public string ErrorId { get; } = errorId;
}

/// <summary>What -WhatIf shows for one detector: what would be read, written and deployed.</summary>
public sealed class PixelStatusPlan
{
    public required string Experiment { get; init; }
    public required int Run { get; init; }
    public required string Detector { get; init; }
    public required string Dataset { get; init; }

    /// <summary>The events that would be analysed (after -SkipEvents / -Events), and the parts merged (a merge; else 0).</summary>
    public required long Events { get; init; }
    public int MergedParts { get; init; }

    /// <summary>The files that would be read (run files; for a merge, the partial accumulator folder).</summary>
    public required IReadOnlyList<string> Reads { get; init; }

    /// <summary>The text arrays, HDF5 file and pictures that would be written.</summary>
    public required IReadOnlyList<string> Writes { get; init; }

    /// <summary>With -Deploy: the calibration file that would be deployed and the HISTORY file a line would be appended to.</summary>
    public string? DeployFile { get; init; }
    public string? History { get; init; }
}

/// <summary>The merge step of a split run (Merge-PixelStatus), PowerShell-free.</summary>
public sealed record PixelMergeRequest
{
    public required string PartDirectory { get; init; }
    public int? PartCount { get; init; }
    public string? Experiment { get; init; }
    public int? Run { get; init; }
    public string? OutputDirectory { get; init; }
    public string? ImageDirectory { get; init; }
    public IReadOnlyList<string> ArrayTypes { get; init; } = PixelStatusRunner.AllArrayTypes;
    public bool Deploy { get; init; }
}

/// <summary>
/// The pixel use case: one call per run (by experiment and run through the catalog, or by files),
/// with the request object; it checks the input, opens the files, asks before each detector,
/// accumulates, writes the outputs and the run's result record, or with -WhatIf reports a
/// <see cref="PixelStatusPlan"/> per detector. Every failure is reported through the host with a
/// stable id; nothing here knows PowerShell. The split run's parts and merge are here too.
/// </summary>
public sealed class PixelStatusJob
{
    private readonly RunProcConfig _config;
    private readonly IPixelStatusHost _host;
    private readonly PixelStatusRunner _runner;

    /// <summary>
    /// The errors that say the run's input cannot be processed: its files are of a format this job
    /// does not read (LCLS-I .xtc, say), or hold no detector frames (matching -Detector). Running
    /// the same job on the same settled run again gives the same error, so the job entries exit 65
    /// (<see cref="ProcessDefinition.DataErrorExitCode"/>) when every error is one of these, and
    /// the cycle does not retry it (the process's NoRetryExitCodes).
    /// </summary>
    public static bool IsInputError(string errorId) => errorId is "PixelFileNotSupported" or "NoDetector";

    public PixelStatusJob(RunProcConfig config, IPixelStatusHost host)
    {
        _config = config;
        _host = host;
        _runner = new PixelStatusRunner(config);
    }

    /// <summary>A recorded run by experiment and run: its files from the catalog, analysed only when the run is ready.</summary>
    public void RunRecorded(string experiment, int run, PixelStatusRequest request)
    {
        string exp;
        try { exp = Names.Experiment(experiment, _config); }
        catch (ArgumentException ex)
        {
            _host.Error(ex, "InvalidExperimentName", PixelErrorCategory.InvalidArgument, experiment);
            return;
        }
        RunInfo? info;
        try { info = new RunCatalog(_config).Run(exp, run); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            _host.Error(ex, "RunCatalogFailed", PixelErrorCategory.ReadError, $"{exp}:{run}");
            return;
        }
        if (info is null)
        {
            _host.Error(new FileNotFoundException($"Run {run} of experiment {exp} has no files under {_config.DataRoot}."),
                "RunNotFound", PixelErrorCategory.ObjectNotFound, $"{exp}:{run}", "Check the experiment and run with Get-ProcRun or Get-PendingRun.");
            return;
        }
        if (!info.Ready)
        {
            _host.Error(new InvalidOperationException($"Run {run} of {exp} is not ready: {info.NotReadyReason}"),
                "RunNotReady", PixelErrorCategory.ResourceBusy, info, "Wait until the DAQ has finished writing the run.");
            return;
        }
        Run(request with { Files = info.Files, Experiment = exp, Run = info.Run, Instrument = info.Instrument }, info);
    }

    /// <summary>
    /// Null when every file named as a run file (<c>&lt;exp&gt;-rNNNN-...</c>) is of one experiment and run;
    /// else the runs found, with their files: files of several runs would be analysed as one run,
    /// named (and deployed) as the first file's.
    /// </summary>
    internal static string? SeveralRuns(IReadOnlyList<string> files)
    {
        var runs = new List<((string Experiment, int Run) Key, List<string> Files)>();
        foreach (var f in files)
        {
            if (PixelStatusRunner.ParseRunFileName(f) is not { } key)
                continue;
            var i = runs.FindIndex(r => r.Key == key);
            if (i < 0) runs.Add((key, new List<string> { Path.GetFileName(f) }));
            else runs[i].Files.Add(Path.GetFileName(f));
        }
        if (runs.Count < 2)
            return null;
        var list = string.Join("; ", runs.Take(4).Select(r => $"{r.Key.Experiment} run {r.Key.Run} ({string.Join(", ", r.Files.Take(2))}{(r.Files.Count > 2 ? $", ... {r.Files.Count} files" : "")})"));
        return $"The files given are of {runs.Count} runs, not one: {list}{(runs.Count > 4 ? "; ..." : "")}.";
    }

    /// <summary>
    /// Warnings for HDF5/.npy run files given whose run has a file still being written
    /// (<c>*.inprogress</c>) beside them: the result would cover a run the DAQ has not finished
    /// (-Experiment/-Run refuses such a run; xtc2 runs get their own warning from the reader).
    /// </summary>
    internal static IEnumerable<string> InProgressBeside(IReadOnlyList<string> files)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in files)
        {
            if (Xtc2Run.IsXtc2(f) || PixelStatusRunner.ParseRunFileName(f) is not { } key)
                continue;
            var dir = Path.GetDirectoryName(Path.GetFullPath(f))!;
            var prefix = $"{key.Experiment}-r{key.Run:D4}-";
            if (!seen.Add(Path.Join(dir, prefix)))
                continue;
            string[] busy;
            try { busy = Directory.GetFiles(dir, prefix + "*.inprogress"); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { continue; }
            if (busy.Length > 0)
                yield return $"Run {key.Run} of {key.Experiment} is still being written: {Path.GetFileName(busy.Order(StringComparer.Ordinal).First())}{(busy.Length > 1 ? $" and {busy.Length - 1} more" : "")} beside the files given. " +
                    "The result covers only the files given; wait until the DAQ has closed the run (-Experiment/-Run waits for a ready run).";
        }
    }

    /// <summary>The run of <paramref name="request"/>'s files (all one run); <paramref name="target"/> is what errors name (default: the first file).</summary>
    public void Run(PixelStatusRequest request, object? target = null)
    {
        var files = request.Files;
        target ??= files.Count > 0 ? files[0] : "";
        try { request.Options.Validate(); }
        catch (ArgumentException ex) { throw new PixelStatusUsageException("InvalidLimits", ex); }
        var lcls1 = files.FirstOrDefault(f => f.EndsWith(".xtc", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".xtc.inprogress", StringComparison.OrdinalIgnoreCase));
        if (lcls1 is not null)
        {
            _host.Error(new NotSupportedException($"'{lcls1}' is an LCLS-I .xtc file: LCLS-I xtc is not read yet (LCLS-II .xtc2 is). Convert the run to HDF5 first (psana's xtc-to-HDF5 translator) and give the .h5 files."),
                "PixelFileNotSupported", PixelErrorCategory.InvalidType, target);
            return;
        }
        var unreadable = files.FirstOrDefault(f => !f.EndsWith(".h5", StringComparison.OrdinalIgnoreCase)
            && !f.EndsWith(".hdf5", StringComparison.OrdinalIgnoreCase) && !f.EndsWith(".nxs", StringComparison.OrdinalIgnoreCase)
            && !f.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) && !Xtc2Run.IsXtc2(f));
        if (unreadable is not null)
        {
            _host.Error(new NotSupportedException($"'{unreadable}' is not a frame file RunProc reads (LCLS-II .xtc2, HDF5 .h5/.hdf5/.nxs or NumPy .npy)."),
                "PixelFileNotSupported", PixelErrorCategory.InvalidType, target);
            return;
        }
        if (SeveralRuns(files) is { } several)
        {
            _host.Error(new ArgumentException(several), "PixelFilesOfSeveralRuns", PixelErrorCategory.InvalidArgument, target,
                "Give one run's files at a time (e.g. -Path ./xtc/<exp>-r0007-*), or -Experiment/-Run for each run: a result and its deployed file are one run's. Nothing was read or written.");
            return;
        }
        if (request.Experiment is null && files.Count > 0 && PixelStatusRunner.ParseRunFileName(files[0]) is { } parsed)
            request = request with { Experiment = parsed.Experiment, Run = parsed.Run };
        if (request.Deploy && (request.Experiment is null || request.Run is null || !Names.IsExperiment(request.Experiment)))
        {
            _host.Error(new ArgumentException($"-Deploy needs the experiment and run: use -Experiment/-Run, or run files named <exp>-rNNNN-sNN-cNN.h5 (got '{Path.GetFileName(files[0])}')."),
                "DeployNeedsRun", PixelErrorCategory.InvalidArgument, target);
            return;
        }
        var exp = request.Experiment ?? "unknown";
        var runNo = request.Run ?? 0;
        // A deployed status is replaced only through ShouldProcess, which names old and new bad-pixel counts.
        var name = target.ToString() ?? "";
        request = request with { ConfirmReplace = request.ConfirmReplace ?? (message => _host.ShouldProcess(name, message) == Proceed.Yes) };
        if (request.PartCount > 0)
        {
            RunPart(request, exp, runNo, target);
            return;
        }
        List<DetectorFrames> detectors;
        IDisposable handle;
        var skipped = new List<string>();
        var notes = new List<string>();
        var warnings = new List<string>();
        try { (detectors, handle) = PixelReadPipeline.OpenDetectors(files, request.Detectors, skipped, request.Xtc2Selection, notes, warnings); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _host.Error(ex, ex is FrameReadException ? "PixelFileDamaged" : "PixelFileUnreadable", PixelErrorCategory.ReadError, target,
                ex is Xtc2FormatException { Truncated: true } && !request.AllowTruncated
                    ? "Re-copy the file if the copy was cut, or wait until the DAQ has closed it; if it stays cut (a DAQ crash), -AllowTruncated analyses the events before the cut. Nothing was written."
                    : ex is Xtc2FormatException { Truncated: true }
                    ? "Re-copy the file if the copy was cut, or wait until the DAQ has closed it (-AllowTruncated keeps the events before a cut, but the cut is in the first dgrams: there are none to keep). Nothing was written."
                    : "Check that the file is a complete xtc2/HDF5/.npy file; re-copy it if it was truncated, or wait until the DAQ has closed it. Nothing was written.");
            return;
        }
        foreach (var n in notes)
            _host.Verbose(n);
        foreach (var w in warnings)
            _host.Warning(w);
        foreach (var w in InProgressBeside(files))
            _host.Warning(w);
        using (handle)
        {
            if (detectors.Count == 0)
            {
                // Name the files and say what each dataset is, so a wrong rank or type is obvious.
                var seen = skipped.Count == 0 ? "no datasets" : string.Join("; ", skipped.Take(10)) + (skipped.Count > 10 ? $"; ... ({skipped.Count} in all)" : "");
                var filter = request.Detectors;
                _host.Error(new FileNotFoundException($"No detector frame stacks (uint8/uint16/int16/uint32/int32/float32 datasets of rank >= 3, or xtc2 'raw' fields of rank 2-3) {(filter.Count > 0 ? $"matching '{string.Join("', '", filter)}' " : "")}in {string.Join(", ", files)} ({exp}:{runNo}): {seen}."),
                    "NoDetector", PixelErrorCategory.ObjectNotFound, target, filter.Count > 0
                        ? "Pass a -Detector that matches one of the frame stacks the error lists (a substring of the HDF5 dataset path, or of the xtc2 detName/detType)."
                        : "Check that these are the run's detector files (an HDF5 frame stack is a dataset of rank >= 3; h5ls -r lists them).");
                return;
            }
            var activity = 0;
            var results = new List<PixelStatusResult>();
            var errors = new List<string>();
            foreach (var det in detectors)
            {
                activity++;
                if (det.Xtc2 is { } x)
                    _host.Verbose($"{det.Dataset}: {x.Description}; {x.EventsSelected} of {x.EventsInRun} L1Accept events selected, {x.EventsUsed} used, {x.SkippedIncomplete} lacking a segment, {x.DamagedEvents} damaged{(x.DamagedIncluded ? " (included)" : "")}.");
                // One confirmation per detector, naming every file it would write.
                var planned = _runner.PlannedOutputs(det, request, exp, runNo);
                var events = PixelReadPipeline.SelectedEvents(det, request);
                var answer = _host.ShouldProcess(det.Dataset, $"analyse {events} events and write {(planned.Count == 0 ? "nothing" : string.Join(", ", planned))}");
                if (answer == Proceed.WhatIf)
                    _host.Output(PlanOf(new PixelStatusRunner.OutputDetector(det.Source, det.Dataset, det.FrameShape, det.Xtc2), events, 0,
                        det.Parts.Select(p => p.File).Distinct().ToList(), planned, request, exp, runNo));
                if (answer != Proceed.Yes)
                    continue;
                var progress = new ProgressThrottle(_host, activity, "Invoke-PixelStatus", $"Analyse {det.FrameCount} frames of {det.Dataset} ({exp} run {runNo})", detail: false);
                try
                {
                    PixelStatusRunner.PrepareOutputs(request);
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    var acc = PixelReadPipeline.Accumulate(det, request, progress.Report, _host.Cancel);
                    var read = clock.Elapsed;
                    var result = _runner.Finish(det, acc, request, exp, runNo);
                    _host.Verbose($"{det.Dataset}: {acc.Events} frames read and accumulated in {read.TotalSeconds:F3} s; summary in {result.SummaryTime.TotalSeconds:F3} s; {result.Files.Count} output files in {result.OutputTime.TotalSeconds:F3} s.");
                    results.Add(result);
                    WarnAboutReplacement(result, request.Deploy, exp, runNo);
                    _host.Output(result);
                }
                catch (NoEventsSelectedException ex)
                {
                    errors.Add($"{det.Dataset}: {ex.Message}");
                    _host.Error(ex, "NoEventsSelected", PixelErrorCategory.InvalidArgument, target,
                        $"Select events the run has: lower -SkipEvents or raise -Events ({det.Dataset} has {det.FrameCount} usable event(s)); nothing was written for this detector.");
                }
                catch (FrameReadException ex)
                {
                    errors.Add($"{det.Dataset}: {ex.Message}");
                    _host.Error(ex, "PixelFrameUnreadable", PixelErrorCategory.ReadError, target,
                        $"Frame {ex.Frame} of {ex.Dataset} in {ex.File} cannot be read; nothing was written for this detector. Re-copy or repair the file, or limit -Events.");
                }
                catch (OperationCanceledException) when (_host.Cancel.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
                {
                    errors.Add($"{det.Dataset}: {ex.Message}");
                    _host.Error(ex, "PixelStatusFailed", PixelErrorCategory.WriteError, target);
                }
                finally
                {
                    progress.Done();
                }
            }
            WriteResultRecord(request, exp, runNo, results, errors);
        }
    }

    /// <summary>The merge of a split run's parts: the outputs and deployment of the unsplit run, one result per detector.</summary>
    public void Merge(PixelMergeRequest merge)
    {
        var dir = merge.PartDirectory;
        string? exp = null;
        if (!string.IsNullOrEmpty(merge.Experiment))
        {
            try { exp = Names.Experiment(merge.Experiment, _config); }
            catch (ArgumentException ex)
            {
                _host.Error(ex, "InvalidExperimentName", PixelErrorCategory.InvalidArgument, merge.Experiment);
                return;
            }
        }
        IReadOnlyList<MergedDetector> merged;
        try
        {
            merged = PixelStatusSplit.Merge(dir, merge.PartCount, exp, merge.Run, _host.Cancel);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            _host.Error(ex, "PartsNotMergeable", PixelErrorCategory.InvalidData, dir,
                "Run the parts named in the message again (Invoke-PixelStatus -Part k -PartCount N), then merge; nothing was written.");
            return;
        }
        catch (OperationCanceledException) when (_host.Cancel.IsCancellationRequested)
        {
            return;
        }
        foreach (var m in merged)
        {
            var h = m.Header;
            var request = new PixelStatusRequest
            {
                Files = m.SourceFiles, Experiment = h.Experiment, Run = h.Run, Instrument = h.Instrument, Options = h.Options, DataMask = h.DataMask,
                OutputDirectory = merge.OutputDirectory, ImageDirectory = merge.ImageDirectory, ArrayTypes = merge.ArrayTypes, Deploy = merge.Deploy,
            };
            var det = PixelStatusSplit.OutputDetectorOf(m);
            var planned = _runner.PlannedOutputs(det, m.Accumulator.Events, request, h.Experiment, h.Run);
            var answer = _host.ShouldProcess(h.Dataset, $"merge {h.PartCount} parts ({m.Accumulator.Events} events) and write {(planned.Count == 0 ? "nothing" : string.Join(", ", planned))}");
            if (answer == Proceed.WhatIf)
                _host.Output(PlanOf(det, m.Accumulator.Events, h.PartCount, new[] { dir }, planned, request, h.Experiment, h.Run));
            if (answer != Proceed.Yes)
                continue;
            try
            {
                var result = _runner.Finish(det, m.Accumulator, request, h.Experiment, h.Run);
                WarnAboutReplacement(result, merge.Deploy, h.Experiment, h.Run);
                _host.Output(result);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
            {
                _host.Error(ex, "PixelStatusFailed", PixelErrorCategory.WriteError, h.Dataset);
            }
        }
    }

    private void WarnAboutReplacement(PixelStatusResult result, bool deploy, string exp, int run)
    {
        if (result.ReplacedFile is not null)
            _host.Warning($"{result.Detector}: the deployed status of {exp} run {run} had {result.ReplacedBadPixels?.ToString() ?? "an unknown number of"} bad pixels, the new one has {result.BadPixels}; the old file is kept as {result.ReplacedFile}.");
        else if (deploy && !result.Deployed)
            _host.Warning($"{result.Detector}: the deployed status of {exp} run {run} was kept (replacement declined); the new one ({result.BadPixels} bad pixels) is in the output files only.");
    }

    /// <summary>The plan of one detector: the planned outputs split into the files written and the deployment.</summary>
    private PixelStatusPlan PlanOf(PixelStatusRunner.OutputDetector det, long events, int parts, IReadOnlyList<string> reads, IReadOnlyList<string> planned,
        PixelStatusRequest request, string exp, int run)
    {
        string? data = null, history = null;
        if (request.Deploy)
            (data, history) = _runner.Store.Paths(exp, run, det.Source, request.Instrument, det.Xtc2?.CalibGroup);
        return new PixelStatusPlan
        {
            Experiment = exp, Run = run, Detector = det.Source, Dataset = det.Dataset, Events = events, MergedParts = parts, Reads = reads,
            Writes = planned.Where(p => p != data && p != history + " (append)").ToList(), DeployFile = data, History = history,
        };
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
                Experiment = exp, Run = run, JobName = request.JobName ?? "", Time = DateTimeOffset.Now, RunProcVersion = RunResultRecord.CurrentVersion,
                Detectors = results.Select(r => r.ToDetectorResult()).ToArray(), Errors = errors.ToArray(),
            }.Write(path, _config.FileMode, _config.DirectoryMode);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _host.Error(ex, "ResultRecordFailed", PixelErrorCategory.WriteError, path, "Check that the output directory is writable.");
        }
    }

    /// <summary>One part of a split run: its share of the files or events, as partial accumulator files for the merge.</summary>
    private void RunPart(PixelStatusRequest request, string exp, int runNo, object target)
    {
        int part = request.Part, parts = request.PartCount;
        if (part >= parts)
        {
            _host.Error(new ArgumentOutOfRangeException("Part", part, $"-Part {part} is not one of the {parts} parts (0 to {parts - 1})."), "PartOutOfRange", PixelErrorCategory.InvalidArgument, part);
            return;
        }
        if (string.IsNullOrEmpty(request.PartDirectory) || request.Deploy || request.OutputDirectory is not null || request.ImageDirectory is not null)
        {
            _host.Error(new ArgumentException("a part (-Part/-PartCount) writes only its partial accumulator files to -PartDirectory; the outputs and -Deploy are Merge-PixelStatus's."),
                "PartArguments", PixelErrorCategory.InvalidArgument, target, "Give -PartDirectory and leave -OutputDirectory, -ImagePath and -Deploy to Merge-PixelStatus.");
            return;
        }
        var dir = request.PartDirectory;
        if (_host.ShouldProcess($"{exp} run {runNo}", $"analyse part {part} of {parts} and write its partial accumulator files to {dir}") != Proceed.Yes)
            return;
        var progress = new ProgressThrottle(_host, 1, "Invoke-PixelStatus", $"Part {part} of {parts} of {exp} run {runNo}", detail: true);
        try
        {
            foreach (var h in PixelStatusSplit.RunPart(_runner, request, exp, runNo, part, parts, dir, _config.FileMode, _config.DirectoryMode, progress.Report, _host.Cancel))
                _host.Output(h);
        }
        catch (OperationCanceledException) when (_host.Cancel.IsCancellationRequested)
        {
        }
        catch (FrameReadException ex)
        {
            _host.Error(ex, "PixelFrameUnreadable", PixelErrorCategory.ReadError, target,
                $"Frame {ex.Frame} of {ex.Dataset} in {ex.File} cannot be read; this part wrote no manifest, so the merge will not run. Re-copy or repair the file.");
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            _host.Error(ex, "PixelStatusPartFailed", PixelErrorCategory.WriteError, target);
        }
        finally
        {
            progress.Done();
        }
    }

    /// <summary>Progress at most every 200 ms (and at the end), from the thread that calls back (the runner calls back on the caller's thread).</summary>
    private sealed class ProgressThrottle(IPixelStatusHost host, int id, string activity, string what, bool detail)
    {
        private DateTime _last = DateTime.MinValue;

        public void Report(PixelStatusProgress p)
        {
            if ((DateTime.UtcNow - _last).TotalMilliseconds < 200 && p.FramesDone < p.FramesTotal) return;
            _last = DateTime.UtcNow;
            host.Progress(id, activity, $"{(detail ? p.Detector + ": " : "")}{p.FramesDone}/{p.FramesTotal} frames", (int)(100 * p.FramesDone / Math.Max(1, p.FramesTotal)));
        }

        public void Done() => host.Progress(id, activity, what, -1);
    }
}
