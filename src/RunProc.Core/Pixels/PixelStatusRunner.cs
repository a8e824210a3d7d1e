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

    /// <summary>The xtc2 event selection of this request (SkipEvents/Events count the run's L1Accepts).</summary>
    public Xtc2Selection Xtc2Selection => new(SkipEvents, Events, IncludeDamaged);

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

    /// <summary>
    /// Where a detector's status would be deployed, and the HISTORY file beside it. The group is
    /// config CalibGroup, else <paramref name="group"/> (xtc2: &lt;DetType&gt;::CalibV1 from the Names),
    /// else derived from the source name.
    /// </summary>
    public (string DataFile, string History) DeployPaths(string experiment, int run, string source, string? instrument = null, string? group = null)
    {
        group = !string.IsNullOrWhiteSpace(_config.CalibGroup) ? _config.CalibGroup : group ?? DeriveGroup(source);
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

        /// <summary>
        /// xtc2: the detector as the Names describe it, with its event counts. Its frames are the
        /// events the request selected (SkipEvents/Events already applied to the run's L1Accepts),
        /// incomplete and (unless included) damaged ones left out.
        /// </summary>
        public Xtc2Detector? Xtc2 { get; init; }

        /// <summary>Frames are already the request's selection (xtc2).</summary>
        public bool Preselected => Xtc2 is not null;

        /// <summary>The data mask to apply: the request's, else the detector's default (xtc2 epix10ka/jungfrau 0x3FFF), else none.</summary>
        public uint? DataMask(PixelStatusRequest req) => req.DataMask ?? Xtc2?.DefaultDataMask;
    }

    /// <summary>Opens the files and groups their frame stacks by detector (disposed with the returned handle).</summary>
    public static (List<DetectorFrames> Detectors, IDisposable Handle) OpenDetectors(IReadOnlyList<string> files, IReadOnlyList<string> filter) =>
        OpenDetectors(files, filter, null);

    /// <summary>As above; <paramref name="skipped"/> receives "file: dataset is TYPE of rank N" for datasets that are not frame stacks.</summary>
    public static (List<DetectorFrames> Detectors, IDisposable Handle) OpenDetectors(IReadOnlyList<string> files, IReadOnlyList<string> filter, List<string>? skipped) =>
        OpenDetectors(files, filter, skipped, null, null);

    /// <summary>
    /// As above; xtc2 chunk files (of every stream, in any order) are read together as one run,
    /// with <paramref name="selection"/> applied to its L1Accepts; <paramref name="notes"/> gets
    /// what the xtc2 reader chose on the way (for -Verbose).
    /// </summary>
    public static (List<DetectorFrames> Detectors, IDisposable Handle) OpenDetectors(IReadOnlyList<string> files, IReadOnlyList<string> filter, List<string>? skipped,
        Xtc2Selection? selection, List<string>? notes)
    {
        var handles = new List<IDisposable>();
        var byName = new Dictionary<string, DetectorFrames>(StringComparer.Ordinal);
        var order = new List<DetectorFrames>();
        files = DistinctFiles(files, notes);
        try
        {
            var xtc2 = files.Where(Xtc2Run.IsXtc2).ToList();
            if (xtc2.Count > 0)
            {
                var run = Xtc2Run.Open(xtc2, filter, selection);
                handles.Add(run);
                notes?.AddRange(run.Notes);
                skipped?.AddRange(run.Unmatched.Select(u => $"{run.Files[0]}: {u} does not match -Detector"));
                foreach (var d in run.Detectors)
                {
                    if (d.Frames is null)
                    {
                        skipped?.Add($"{run.Files[0]}: {d.Description}: {d.NotAFrame}");
                        continue;
                    }
                    order.Add(new DetectorFrames { Dataset = d.DetName, Source = SourceName(d.DetName), Parts = new() { d.Frames }, Xtc2 = d });
                }
            }
            foreach (var file in files.Where(f => !Xtc2Run.IsXtc2(f)))
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

    /// <summary>The files without repeats: a file given twice, or under another name through a symbolic link, is read once.</summary>
    private static List<string> DistinctFiles(IReadOnlyList<string> files, List<string>? notes)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        var list = new List<string>();
        foreach (var f in files)
        {
            var full = Path.GetFullPath(f);
            string key;
            try { key = new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full; }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { key = full; }
            if (seen.TryAdd(key, f))
                list.Add(f);
            else
                notes?.Add($"{f} is {seen[key]} again: read once.");
        }
        return list;
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
        var total = det.FrameCount;
        var (first, want) = Selection(det, req);
        // No frames is an error: an "analysis" of nothing would flag every pixel and be deployed.
        if (want <= 0)
            throw new FrameReadException(det.Parts[0].File, det.Dataset, first, det.Xtc2 is { } x
                ? $"no events to analyse: {x.EventsSelected} of the run's {x.EventsInRun} L1Accept events selected (-SkipEvents {req.SkipEvents}, -Events {(req.Events is { } n ? n : "all")}), {x.SkippedIncomplete} lacking a segment, {x.DamagedEvents} damaged{(x.DamagedIncluded ? "" : " (see -IncludeDamaged)")}; nothing was written."
                : $"no frames to analyse ({total} event(s) in {det.Parts.Count} file(s), {first} skipped, -Events {(req.Events is { } e ? e : "all")}); nothing was written.");
        var px = det.Parts[0].FramePixels;
        var acc = new PixelStatusAccumulator(px, lo, hi);
        var plan = Plan(det, first, want);
        var type = det.Parts[0].ElementType;
        var threads = Math.Max(1, req.Threads);
        var frameBytes = (long)px * (type == FrameElementType.UInt16 ? 2 : 4);
        var blockFrames = (int)Math.Clamp(req.BlockBytes / frameBytes, 1, 4096);
        var mask = det.DataMask(req) ?? uint.MaxValue;

        // Zero copy: memory-mapped uint16 frames (.npy, contiguous HDF5, xtc2 segments) go to the
        // kernel in place, with all cores on the kernel. Nothing is copied, so blocks can be long:
        // the wide arrays are folded once per block.
        if (type == FrameElementType.UInt16 && req.ZeroCopy && plan.All(p => HasPieces(p.Source)))
            return AccumulateInPlace(acc, det, plan, (ushort)(mask & 0xFFFF), threads, (int)Math.Clamp(4 * req.BlockBytes / frameBytes, 1, 4096), want, progress, cancel);

        // Pipeline: a reader task fills one buffer while the kernel scans the other.
        long done = 0;
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

    /// <summary>
    /// The in-place scan: per block, the address of every frame piece (one piece for a contiguous
    /// frame, one per segment for xtc2), each piece scanned where it lies into its pixel range of
    /// the one accumulator.
    /// The page tables of the next block are filled on a helper thread while the kernel scans this
    /// one (a first touch costs a fault per 4 KiB page otherwise).
    /// </summary>
    private static unsafe PixelStatusAccumulator AccumulateInPlace(PixelStatusAccumulator acc, DetectorFrames det, List<(FrameSource Source, long Start, long Count)> plan,
        ushort mask, int threads, int blockFrames, long want, Action<PixelStatusProgress>? progress, CancellationToken cancel)
    {
        var pieces = plan[0].Source.FramePieces;
        var piecePx = acc.PixelCount / pieces;
        // Frames that are not one contiguous stack (xtc2: arrays inside dgrams) come in blocks of
        // at most 64 MiB, so filling the next block's page tables overlaps the scan of this one.
        if (plan.Any(p => p.Source.TryGetUInt16Pointer(0, 1) == null))
            blockFrames = (int)Math.Clamp((64L << 20) / (acc.PixelCount * 2L), 16, blockFrames);
        var blocks = new List<(FrameSource Src, long Start, int Count)>();
        foreach (var (src, start, count) in plan)
            for (long f = 0; f < count;)
            {
                // A short first block: its page tables are filled before the scan starts.
                var n = (int)Math.Min(blocks.Count == 0 ? Math.Min(16, blockFrames) : blockFrames, count - f);
                blocks.Add((src, start + f, n));
                f += n;
            }
        var pieceBytes = piecePx * 2L;
        nint[][] Pointers(int b)
        {
            var (src, start, n) = blocks[b];
            var ptrs = new nint[pieces][];
            for (var k = 0; k < pieces; k++)
            {
                ptrs[k] = new nint[n];
                if (!src.TryGetUInt16Pieces(start, n, k, ptrs[k]))
                    throw new InvalidOperationException($"{src.Where}: frames {start}..{start + n} cannot be scanned in place.");
            }
            return ptrs;
        }
        // The mapped range a block's pieces lie in; not populated where it is mostly other data
        // (a dgram holding other detectors too), which the scan would not touch.
        void Populate(nint[][] ptrs)
        {
            nint lo = nint.MaxValue, hi = 0;
            foreach (var list in ptrs)
                foreach (var p in list) { lo = Math.Min(lo, p); hi = Math.Max(hi, p); }
            var range = hi + (nint)pieceBytes - lo;
            if (range <= 2L * pieces * ptrs[0].Length * pieceBytes + MappedPages.HugePage)
                MappedPages.Populate((void*)lo, range);
        }
        var current = Pointers(0);
        Task populate = Task.Run(() => Populate(current));
        acc.Touch();
        long done = 0;
        for (var b = 0; b < blocks.Count; b++)
        {
            cancel.ThrowIfCancellationRequested();
            populate.Wait(cancel);
            var ptrs = current;
            if (b + 1 < blocks.Count)
            {
                var next = current = Pointers(b + 1);
                populate = Task.Run(() => Populate(next));
            }
            acc.CheckEventBudget(blocks[b].Count);
            for (var k = 0; k < pieces; k++)
                PixelStatusKernel.AccumulatePiece(acc, ptrs[k], k * piecePx, piecePx, mask, threads, KernelPath.Auto, countEvents: false);
            acc.Events += blocks[b].Count;
            done += blocks[b].Count;
            progress?.Invoke(new PixelStatusProgress(det.Dataset, done, want));
        }
        populate.Wait(cancel);
        return acc;
    }

    private static unsafe bool HasPieces(FrameSource s)
    {
        if (s.FrameCount == 0 || s.FramePixels % s.FramePieces != 0)
            return false;
        Span<nint> one = stackalloc nint[1];
        return s.TryGetUInt16Pieces(0, 1, 0, one);
    }

    /// <summary>The first frame and the frame count a request selects (xtc2 frames are the selection already).</summary>
    private static (long First, long Want) Selection(DetectorFrames det, PixelStatusRequest req)
    {
        if (det.Preselected)
            return (0, det.FrameCount);
        var first = Math.Min(Math.Max(0, req.SkipEvents), det.FrameCount);
        return (first, Math.Min(det.FrameCount - first, req.Events ?? long.MaxValue));
    }

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
    public long SelectedEvents(DetectorFrames det, PixelStatusRequest req) => Selection(det, req).Want;

    /// <summary>Every file <see cref="Finish"/> would write for this detector (for -WhatIf / -Confirm).</summary>
    public IReadOnlyList<string> PlannedOutputs(DetectorFrames det, PixelStatusRequest req, string experiment, int run)
    {
        var list = new List<string>();
        Finish(new OutputDetector(det.Source, det.Dataset, det.FrameShape, det.Xtc2), SelectedEvents(det, req), null, req, experiment, run, list);
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
        var summary = acc is null ? null! : PixelStatusSummary.Compute(acc, req.Options);
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
        if (req.OutputDirectory is not null)
        {
            foreach (var type in req.ArrayTypes)
            {
                var path = Path.Combine(req.OutputDirectory, $"{baseName}-{type}.txt");
                if (!shouldWrite(path, $"write the {type} array of {det.Source}"))
                    continue;
                SafeFile.EnsureDirectory(req.OutputDirectory, _config.DirectoryMode);
                var allComments = comments.Append($"ARR_TYPE {ArrTypeName(type)}").ToArray();
                ReadOnlyMemory<int> ints = type switch
                {
                    "ave" or "rms" => default,
                    "sta" => summary.Status, "msk" => summary.Mask, "max" => summary.Max, "min" => summary.Min,
                    _ => throw new ArgumentException($"unknown array type '{type}'; use ave, rms, sta, msk, max or min."),
                };
                var doubles = type == "ave" ? summary.Mean : type == "rms" ? summary.Rms : null;
                writes.Add(() =>
                {
                    if (doubles is not null)
                        PsanaTextArray.WriteFile(path, doubles, shape, path, allComments, _config.FileMode);
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
                    writes.Add(() => PixelStatusHdf5.Write(h5, det.Source, shape, summary, new Dictionary<string, object>
                    {
                        ["experiment"] = experiment, ["run"] = run, ["dataset"] = det.Dataset,
                    }));
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
                writes.Add(() => pictures = PixelStatusImages.Write(prefix, shape, summary, new PictureTitle(experiment, run, det.Source, events, req.Options), _config.FileMode));
            }
        }
        string? deployed = null;
        string? replaced = null;
        long? replacedBad = null;
        if (req.Deploy)
        {
            var (data, history) = DeployPaths(experiment, run, det.Source, req.Instrument, det.Xtc2?.CalibGroup);
            plan?.Add(history + " (append)");
            if (shouldWrite(data, $"deploy the pixel status of {det.Source}"))
            {
                // Asked here, on the caller's thread (ShouldProcess), before the parallel writes.
                bool go;
                (go, replaced, replacedBad) = KeepReplaced(data, summary, events, req);
                if (go)
                {
                    SafeFile.EnsureDirectory(Path.GetDirectoryName(data)!, _config.DirectoryMode);
                    var (header, historyLine) = Provenance(data, summary, events, req, comments, replaced, replacedBad);
                    writes.Add(() =>
                    {
                        SafeFile.WriteAllBytesAtomic(data, PsanaTextArray.Utf8(summary.Status.AsSpan(), shape, data, header), _config.FileMode);
                        // HISTORY names a file only once it is in place.
                        SafeFile.AppendLines(history, new[] { historyLine }, _config.FileMode);
                    });
                    deployed = data;
                }
            }
        }
        WriteInParallel(writes);
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
        };
    }

    private static string MethodText(PixelStatusOptions o) =>
        o.Method == PixelLimitMethod.Robust ? string.Create(CultureInfo.InvariantCulture, $"Robust SnrMax {o.SnrMax:G6}") : "Absolute";

    /// <summary>
    /// Before a deployed status is replaced: asks (the message names old and new bad-pixel counts)
    /// and keeps a copy as &lt;run&gt;-end.data.replaced-&lt;time&gt;. False when declined.
    /// </summary>
    private static (bool Go, string? Kept, long? OldBad) KeepReplaced(string data, PixelStatusSummary summary, long events, PixelStatusRequest req)
    {
        if (!File.Exists(data))
            return (true, null, null);
        long? oldBad;
        try { oldBad = PsanaTextArray.Read(data).Values.LongCount(v => v != 0); }
        catch (Exception ex) when (ex is IOException or FormatException or InvalidDataException or ArgumentException) { oldBad = null; }
        var message = $"replace {data} ({(oldBad is { } b ? b.ToString(CultureInfo.InvariantCulture) : "unreadable, unknown")} bad pixels) with the new status ({summary.BadPixels} bad pixels, {MethodText(req.Options)}, {events} events); the old file is kept beside it";
        if (req.ConfirmReplace is { } confirm && !confirm(message))
            return (false, null, oldBad);
        // A copy, not a move: the deployed file stays in place until the new one replaces it atomically.
        var kept = $"{data}.replaced-{DateTime.Now:yyyyMMdd'T'HHmmss}";
        File.Copy(data, kept, overwrite: true);
        return (true, kept, oldBad);
    }

    /// <summary>The deployed file's header and HISTORY line: method, limits, events, RunProc version and job.</summary>
    private static (string[] Header, string HistoryLine) Provenance(string data, PixelStatusSummary summary, long events, PixelStatusRequest req, string[] comments, string? kept, long? oldBad)
    {
        var limits = string.Create(CultureInfo.InvariantCulture, $"mean {summary.MeanLimits.Low:G6}..{summary.MeanLimits.High:G6} rms {summary.RmsLimits.Low:G6}..{summary.RmsLimits.High:G6}");
        var method = MethodText(req.Options);
        var version = Results.RunResultRecord.CurrentVersion;
        var job = string.IsNullOrEmpty(req.JobName) ? "-" : req.JobName;
        var header = comments.Concat(new[] { "ARR_TYPE status", $"METHOD {method}", $"LIMITS {limits}", $"RUNPROC {version} job {job}" }).ToArray();
        var line = $"file: {Path.GetFileName(data)}  user: {Environment.UserName}  host: {Environment.MachineName}  time: {DateTime.Now:yyyy-MM-dd'T'HH:mm:ss}  events: {events}  bad: {summary.BadPixels}  method: {method}  limits: {limits}  by: RunProc {version} Invoke-PixelStatus  job: {job}"
            + (kept is null ? "" : $"  replaced: {(oldBad is { } ob ? ob.ToString(CultureInfo.InvariantCulture) : "?")} bad, kept as {Path.GetFileName(kept)}");
        return (header, line);
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
