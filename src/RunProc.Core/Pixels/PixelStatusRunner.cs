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
    /// <summary>The run's files in stream/chunk order (.h5/.hdf5/.nxs or .npy).</summary>
    public required IReadOnlyList<string> Files { get; init; }

    /// <summary>Experiment and run for names and deployment; derived from "&lt;exp&gt;-r&lt;NNNN&gt;-..." file names when null.</summary>
    public string? Experiment { get; init; }
    public int? Run { get; init; }

    /// <summary>The instrument the catalog found the experiment under; null = the old rule (first 3 letters).</summary>
    public string? Instrument { get; init; }

    /// <summary>Detectors whose dataset path contains any of these (case-insensitive); empty = all.</summary>
    public IReadOnlyList<string> Detectors { get; init; } = Array.Empty<string>();

    public long SkipEvents { get; init; }

    /// <summary>At most this many events after the skipped ones; null = all.</summary>
    public long? Events { get; init; }

    /// <summary>Data bits kept (e.g. 0x3FFF for gain-switching detectors); null = all bits.</summary>
    public uint? DataMask { get; init; }

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

    /// <summary>Threads for decoding and the kernel; default all cores.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Scan memory-mapped uint16 frames in place (false: always read through the buffers; for tests and benchmarks).</summary>
    public bool ZeroCopy { get; init; } = true;

    /// <summary>Bytes per read block (two blocks are in memory: one read while the other is scanned).</summary>
    public long BlockBytes { get; init; } = 128L << 20;
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

    /// <summary>Pixels per status bit (bit 0..7).</summary>
    public required long[] CountPerBit { get; init; }
    public required long BadPixels { get; init; }
    public long Pixels => Shape.Aggregate(1L, (a, b) => a * b);
    public required IReadOnlyList<string> Files { get; init; }
    public required PixelStatusSummary Summary { get; init; }
    public string ShapeText => PsanaTextArray.ShapeText(Shape);
}

/// <summary>Progress of one detector, per block of frames.</summary>
public readonly record struct PixelStatusProgress(string Detector, long FramesDone, long FramesTotal);

/// <summary>
/// The pixel_status process: finds the detectors of a run's files, reads their frames block by
/// block (the next block is read while the kernel scans the current one), summarises and writes
/// the text arrays, HDF5, pictures and the deployed calibration file.
/// </summary>
public sealed partial class PixelStatusRunner
{
    public static readonly IReadOnlyList<string> AllArrayTypes = new[] { "ave", "rms", "sta", "msk", "max", "min" };

    private readonly RunProcConfig _config;

    public PixelStatusRunner(RunProcConfig config) => _config = config;

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

    /// <summary>
    /// The calibration group dir when config CalibGroup is empty, as the old tool: &lt;Type&gt;::CalibV1,
    /// Type from the source's last meaningful component (after a ':' if any, trailing ".N" dropped,
    /// first letter upper case): "XppGon.0:Epix100a.0" → "Epix100a::CalibV1", "entry.jungfrau.data" → "Jungfrau::CalibV1".
    /// </summary>
    public static string DeriveGroup(string source)
    {
        var generic = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "data", "raw", "image", "images", "frames", "value", "entry", "instrument", "detector" };
        var parts = source.Split('.', StringSplitOptions.RemoveEmptyEntries).ToList();
        // Rejoin "Name.N" pairs: a numeric component belongs to the one before it.
        var comps = new List<string>();
        foreach (var p in parts)
        {
            if (p.All(char.IsAsciiDigit) && comps.Count > 0) continue;
            comps.Add(p);
        }
        var pick = comps.LastOrDefault(c => !generic.Contains(c.Contains(':') ? c[(c.LastIndexOf(':') + 1)..] : c)) ?? comps.LastOrDefault() ?? "Detector";
        if (pick.Contains(':')) pick = pick[(pick.LastIndexOf(':') + 1)..];
        pick = Regex.Replace(pick, "[^A-Za-z0-9_]", "");
        if (pick.Length == 0) pick = "Detector";
        return char.ToUpperInvariant(pick[0]) + pick[1..] + "::CalibV1";
    }

    /// <summary>The calibration dir of an experiment: config CalibDir ({ins} {exp} expanded) or &lt;DataRoot&gt;/&lt;INS&gt;/&lt;exp&gt;/calib.</summary>
    public string CalibDir(string experiment, string? instrument = null)
    {
        var ins = instrument is null ? Names.InstrumentOf(experiment, _config) : Names.Instrument(instrument);
        if (string.IsNullOrWhiteSpace(_config.CalibDir))
            return Path.Combine(_config.DataRoot, ins, experiment, "calib");
        return Path.GetFullPath(_config.CalibDir.Replace("{ins}", ins, StringComparison.Ordinal).Replace("{exp}", experiment, StringComparison.Ordinal));
    }

    /// <summary>Where a detector's status would be deployed, and the HISTORY file beside it.</summary>
    public (string DataFile, string History) DeployPaths(string experiment, int run, string source, string? instrument = null)
    {
        var group = string.IsNullOrWhiteSpace(_config.CalibGroup) ? DeriveGroup(source) : _config.CalibGroup;
        if (group.Contains('/') || group.Contains("..") || group.Contains('\0'))
            throw new ArgumentException($"CalibGroup '{Names.Show(group)}' must be a single directory name.");
        var typeDir = Path.Combine(CalibDir(experiment, instrument), group, Names.Detector(source), "pixel_datastat");
        return (Path.Combine(typeDir, $"{Names.Run(run)}-end.data"), Path.Combine(typeDir, "HISTORY"));
    }

    /// <summary>A detector's frame stacks across the run's files, in file order.</summary>
    public sealed class DetectorFrames
    {
        public required string Dataset { get; init; }
        public required string Source { get; init; }
        public required List<FrameSource> Parts { get; init; }
        public int[] FrameShape => Parts[0].FrameShape;
        public long FrameCount => Parts.Sum(p => p.FrameCount);
    }

    /// <summary>Opens the files and groups their frame stacks by detector (disposed with the returned handle).</summary>
    public static (List<DetectorFrames> Detectors, IDisposable Handle) OpenDetectors(IReadOnlyList<string> files, IReadOnlyList<string> filter) =>
        OpenDetectors(files, filter, null);

    /// <summary>As above; <paramref name="skipped"/> receives "file: dataset is TYPE of rank N" for datasets that are not frame stacks.</summary>
    public static (List<DetectorFrames> Detectors, IDisposable Handle) OpenDetectors(IReadOnlyList<string> files, IReadOnlyList<string> filter, List<string>? skipped)
    {
        var handles = new List<IDisposable>();
        var byName = new Dictionary<string, DetectorFrames>(StringComparer.Ordinal);
        var order = new List<DetectorFrames>();
        try
        {
            foreach (var file in files)
            {
                IEnumerable<FrameSource> sources;
                bool npy = file.EndsWith(".npy", StringComparison.OrdinalIgnoreCase);
                if (npy)
                {
                    var s = NpyFrameSource.Open(file);
                    handles.Add(s);
                    sources = new[] { s };
                }
                else
                {
                    var h = Hdf5FrameFile.Open(file);
                    handles.Add(h);
                    sources = h.Sources;
                    skipped?.AddRange(h.Skipped.Select(x => $"{h.Path}: {x}"));
                }
                foreach (var s in sources)
                {
                    var key = npy ? "npy:" + Path.GetFileNameWithoutExtension(file) : s.Dataset;
                    var display = npy ? Path.GetFileNameWithoutExtension(file) : s.Dataset;
                    if (filter.Count > 0 && !filter.Any(f => display.Contains(f, StringComparison.OrdinalIgnoreCase)))
                        continue;
                    if (!byName.TryGetValue(key, out var d))
                    {
                        d = new DetectorFrames { Dataset = display, Source = SourceName(npy ? file : s.Dataset, npy), Parts = new() };
                        byName[key] = d;
                        order.Add(d);
                    }
                    else if (!d.FrameShape.SequenceEqual(s.FrameShape) || d.Parts[0].ElementType != s.ElementType)
                    {
                        throw new FrameReadException(s.File, s.Dataset, -1,
                            $"frames are {s.ElementType} {PsanaTextArray.ShapeText(s.FrameShape)} here but {d.Parts[0].ElementType} {PsanaTextArray.ShapeText(d.FrameShape)} in {d.Parts[0].File}.");
                    }
                    d.Parts.Add(s);
                }
            }
        }
        catch
        {
            foreach (var h in handles) h.Dispose();
            throw;
        }
        return (order, new Disposer(handles));
    }

    private sealed class Disposer(List<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var i in items) i.Dispose();
        }
    }

    /// <summary>Accumulates one detector's selected events. Any unreadable frame fails the whole detector.</summary>
    public PixelStatusAccumulator Accumulate(DetectorFrames det, PixelStatusRequest req, Action<PixelStatusProgress>? progress, CancellationToken cancel)
    {
        var (lo, hi) = req.Options.Gates();
        var px = det.Parts[0].FramePixels;
        var acc = new PixelStatusAccumulator(px, lo, hi);
        var total = det.FrameCount;
        var first = Math.Min(Math.Max(0, req.SkipEvents), total);
        var want = Math.Min(total - first, req.Events ?? long.MaxValue);
        // No frames is an error: an "analysis" of nothing would flag every pixel and be deployed.
        if (want <= 0)
            throw new FrameReadException(det.Parts[0].File, det.Dataset, first,
                $"no frames to analyse ({total} event(s) in {det.Parts.Count} file(s), {first} skipped, -Events {(req.Events is { } e ? e : "all")}); nothing was written.");
        var plan = Plan(det, first, want);
        var type = det.Parts[0].ElementType;
        var threads = Math.Max(1, req.Threads);
        var frameBytes = (long)px * (type == FrameElementType.UInt16 ? 2 : 4);
        var blockFrames = (int)Math.Clamp(req.BlockBytes / frameBytes, 1, 4096);
        long done = 0;

        // Zero copy: memory-mapped uint16 frames (.npy, contiguous HDF5) go to the kernel in place,
        // with all cores on the kernel.
        if (type == FrameElementType.UInt16 && req.ZeroCopy && plan.All(p => HasPointer(p.Source)))
        {
            // Nothing is copied, so blocks can be long: the wide arrays are folded once per block.
            blockFrames = (int)Math.Clamp(4 * req.BlockBytes / frameBytes, 1, 4096);
            {
                unsafe
                {
                    var zc = new List<(nint Ptr, int Count)>();
                    foreach (var (src, start, count) in plan)
                        for (long f = 0; f < count;)
                        {
                            // A short first block: its page tables are filled before the scan
                            // starts; every later block's are filled during the previous scan.
                            var n = (int)Math.Min(zc.Count == 0 ? Math.Min(16, blockFrames) : blockFrames, count - f);
                            zc.Add(((nint)src.TryGetUInt16Pointer(start + f, n), n));
                            f += n;
                        }
                    // The page tables of the next block are filled on a helper thread while the
                    // kernel scans this one (a first touch costs a fault per 4 KiB page otherwise).
                    var frameBytesZc = px * 2L;
                    Task populate = Task.Run(() => MappedPages.Populate((void*)zc[0].Ptr, zc[0].Count * frameBytesZc));
                    acc.Touch();
                    for (var b = 0; b < zc.Count; b++)
                    {
                        cancel.ThrowIfCancellationRequested();
                        populate.Wait(cancel);
                        if (b + 1 < zc.Count)
                        {
                            var next = zc[b + 1];
                            populate = Task.Run(() => MappedPages.Populate((void*)next.Ptr, next.Count * frameBytesZc));
                        }
                        var (ptr, n) = zc[b];
                        var ptrs = new nint[n];
                        for (var i = 0; i < n; i++) ptrs[i] = ptr + (nint)(i * frameBytesZc);
                        PixelStatusKernel.AccumulateUInt16(acc, ptrs, (ushort)(req.DataMask ?? 0xFFFF), threads, KernelPath.Auto);
                        done += n;
                        progress?.Invoke(new PixelStatusProgress(det.Dataset, done, want));
                    }
                    populate.Wait(cancel);
                }
                return acc;
            }
        }

        // Pipeline: a reader task fills one buffer while the kernel scans the other.
        var wide = type != FrameElementType.UInt16;
        var blocks = new List<(FrameSource Src, long Start, int Count)>();
        foreach (var (src, start, count) in plan)
            for (long f = 0; f < count; f += blockFrames)
                blocks.Add((src, start + f, (int)Math.Min(blockFrames, count - f)));
        var bufLen = checked(blockFrames * px);
        // Blocks live in native memory on huge pages (FrameBuffer): the kernel scans them faster.
        using var buf0 = new FrameBuffer(bufLen * (wide ? 4L : 2L));
        using var buf1 = blocks.Count > 1 ? new FrameBuffer(bufLen * (wide ? 4L : 2L)) : null;
        var free = new BlockingCollection<FrameBuffer>();
        free.Add(buf0);
        if (buf1 is not null)
            free.Add(buf1);
        var full = new BlockingCollection<(FrameBuffer Buf, int Count)>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var mask = req.DataMask ?? uint.MaxValue;
        var reader = Task.Run(() =>
        {
            try
            {
                foreach (var (src, start, count) in blocks)
                {
                    var buf = free.Take(stop.Token);
                    // Compressed chunks decode on all cores: split the block's frames over threads
                    // (PureHDF reads one dataset from two threads byte-identically).
                    var parts = src.Compressed ? Math.Min(threads, count) : 1;
                    try
                    {
                        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts, CancellationToken = stop.Token }, t =>
                        {
                            var a = count * t / parts;
                            var b = count * (t + 1) / parts;
                            if (b <= a) return;
                            if (wide) src.ReadInt32(start + a, b - a, buf.AsSpan<int>((long)a * px, (b - a) * px), mask);
                            else src.ReadUInt16(start + a, b - a, buf.AsSpan<ushort>((long)a * px, (b - a) * px));
                        });
                    }
                    catch (AggregateException ae)
                    {
                        // Report the earliest bad frame of the block.
                        var first = ae.InnerExceptions.OfType<FrameReadException>().OrderBy(e => e.Frame).FirstOrDefault() ?? ae.InnerExceptions[0];
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
                    }
                    full.Add((buf, count), stop.Token);
                }
            }
            finally
            {
                full.CompleteAdding();
            }
        }, stop.Token);

        // The kernel uses the cores the reader leaves: one while an uncompressed block is being
        // read (the reader is the bottleneck there), all of them otherwise.
        var kernelThreads = det.Parts.Any(p => p.Compressed) ? 1 : Math.Max(1, threads - 1);
        acc.Touch(); // while the reader reads the first block
        try
        {
            foreach (var (buf, count) in full.GetConsumingEnumerable(stop.Token))
            {
                if (wide)
                    PixelStatusKernel.Accumulate(acc, buf.AsSpan<int>(0, count * px), kernelThreads);
                else
                    PixelStatusKernel.Accumulate(acc, buf.AsSpan<ushort>(0, count * px), (ushort)(mask & 0xFFFF), kernelThreads, KernelPath.Auto);
                done += count;
                progress?.Invoke(new PixelStatusProgress(det.Dataset, done, want));
                free.Add(buf);
            }
        }
        catch
        {
            stop.Cancel();
            try { reader.Wait(); } catch (AggregateException) { }
            throw;
        }
        try { reader.Wait(); }
        catch (AggregateException ex) when (ex.InnerException is not null)
        {
            // The accumulator holds frames read before the failure: it is dropped, not used.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerException).Throw();
        }
        return acc;
    }

    private static unsafe bool HasPointer(FrameSource s) => s.FrameCount > 0 && s.TryGetUInt16Pointer(0, 1) != null;

    private static List<(FrameSource Source, long Start, long Count)> Plan(DetectorFrames det, long first, long want)
    {
        var plan = new List<(FrameSource, long, long)>();
        foreach (var part in det.Parts)
        {
            if (want <= 0) break;
            if (first >= part.FrameCount) { first -= part.FrameCount; continue; }
            var n = Math.Min(part.FrameCount - first, want);
            plan.Add((part, first, n));
            want -= n;
            first = 0;
        }
        return plan;
    }

    /// <summary>The base of output names, by the old template nda-#exp-#run-#src-#evts (then -#type.txt).</summary>
    public static string OutputBase(string experiment, int run, string source, long events) =>
        $"nda-{experiment}-r{run:0000}-{source}-e{events:000000}";

    /// <summary>The events a request selects from a detector.</summary>
    public long SelectedEvents(DetectorFrames det, PixelStatusRequest req)
    {
        var first = Math.Min(Math.Max(0, req.SkipEvents), det.FrameCount);
        return Math.Min(det.FrameCount - first, req.Events ?? long.MaxValue);
    }

    /// <summary>Every file <see cref="Finish"/> would write for this detector (for -WhatIf / -Confirm).</summary>
    public IReadOnlyList<string> PlannedOutputs(DetectorFrames det, PixelStatusRequest req, string experiment, int run)
    {
        var list = new List<string>();
        Finish(det, null, req, experiment, run, list);
        return list;
    }

    /// <summary>Summarises and writes the outputs of one detector; returns the result object.</summary>
    public PixelStatusResult Finish(DetectorFrames det, PixelStatusAccumulator acc, PixelStatusRequest req, string experiment, int run) =>
        Finish(det, acc, req, experiment, run, null)!;

    private PixelStatusResult? Finish(DetectorFrames det, PixelStatusAccumulator? acc, PixelStatusRequest req, string experiment, int run, List<string>? plan)
    {
        // With a plan list nothing is computed or written: the paths are only collected.
        bool shouldWrite(string path, string what)
        {
            if (plan is null) return true;
            plan.Add(path);
            return false;
        }
        var events = acc?.Events ?? SelectedEvents(det, req);
        var summary = acc is null ? null! : PixelStatusSummary.Compute(acc, req.Options);
        var shape = det.FrameShape;
        var files = new List<string>();
        var baseName = OutputBase(experiment, run, det.Source, events);
        var comments = new[]
        {
            $"DATASET exp={experiment}:run={run}",
            $"STATISTICS {events}",
        };
        if (req.OutputDirectory is not null)
        {
            foreach (var type in req.ArrayTypes)
            {
                var path = Path.Combine(req.OutputDirectory, $"{baseName}-{type}.txt");
                if (!shouldWrite(path, $"write the {type} array of {det.Source}"))
                    continue;
                SafeFile.EnsureDirectory(req.OutputDirectory, _config.DirectoryMode);
                var allComments = comments.Append($"ARR_TYPE {ArrTypeName(type)}");
                var text = type switch
                {
                    "ave" => PsanaTextArray.Format(summary.Mean, shape, path, allComments),
                    "rms" => PsanaTextArray.Format(summary.Rms, shape, path, allComments),
                    "sta" => PsanaTextArray.Format(summary.Status.Select(v => (long)v).ToArray(), shape, path, allComments),
                    "msk" => PsanaTextArray.Format(summary.Mask.Select(v => (long)v).ToArray(), shape, path, allComments),
                    "max" => PsanaTextArray.Format(summary.Max.Select(v => (long)v).ToArray(), shape, path, allComments),
                    "min" => PsanaTextArray.Format(summary.Min.Select(v => (long)v).ToArray(), shape, path, allComments),
                    _ => throw new ArgumentException($"unknown array type '{type}'; use ave, rms, sta, msk, max or min."),
                };
                SafeFile.WriteAllTextAtomic(path, text, _config.FileMode);
                files.Add(path);
            }
            if (req.WriteHdf5)
            {
                var h5 = Path.Combine(req.OutputDirectory, baseName + "-status.h5");
                if (shouldWrite(h5, $"write the HDF5 status of {det.Source}"))
                {
                    SafeFile.EnsureDirectory(req.OutputDirectory, _config.DirectoryMode);
                    PixelStatusHdf5.Write(h5, det.Source, shape, summary, new Dictionary<string, object>
                    {
                        ["experiment"] = experiment, ["run"] = run, ["dataset"] = det.Dataset,
                    });
                    files.Add(h5);
                }
            }
        }
        if (req.ImageDirectory is not null)
        {
            var prefix = Path.Combine(req.ImageDirectory, baseName);
            if (plan is not null)
                plan.AddRange(new[] { "status", "mean", "rms", "hist" }.Select(k => $"{prefix}-{k}.png"));
            else
            {
                SafeFile.EnsureDirectory(req.ImageDirectory, _config.DirectoryMode);
                files.AddRange(PixelStatusImages.Write(prefix, shape, summary));
            }
        }
        if (req.Deploy)
        {
            var (data, history) = DeployPaths(experiment, run, det.Source, req.Instrument);
            plan?.Add(history + " (append)");
            if (shouldWrite(data, $"deploy the pixel status of {det.Source}"))
            {
                SafeFile.EnsureDirectory(Path.GetDirectoryName(data)!, _config.DirectoryMode);
                var text = PsanaTextArray.Format(summary.Status.Select(v => (long)v).ToArray(), shape, data, comments.Append("ARR_TYPE status"));
                SafeFile.WriteAllTextAtomic(data, text, _config.FileMode);
                SafeFile.AppendLines(history, new[]
                {
                    $"file: {Path.GetFileName(data)}  user: {Environment.UserName}  host: {Environment.MachineName}  time: {DateTime.Now:yyyy-MM-dd'T'HH:mm:ss}  events: {events}  bad: {summary.BadPixels}  by: RunProc Invoke-PixelStatus",
                }, _config.FileMode);
                files.Add(data);
            }
        }
        if (plan is not null)
            return null;
        return new PixelStatusResult
        {
            Detector = det.Source, Dataset = det.Dataset, Experiment = experiment, Run = run, Shape = shape,
            Events = events, CountPerBit = summary.CountPerBit, BadPixels = summary.BadPixels, Files = files, Summary = summary,
        };
    }

    private static string ArrTypeName(string type) => type switch
    {
        "ave" => "average", "rms" => "rms", "sta" => "status", "msk" => "mask", "max" => "max", _ => "min",
    };
}
