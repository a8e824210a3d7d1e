using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using RunProc.Formats;
using RunProc.IO;

namespace RunProc.Pixels.Split;

/// <summary>How a run is split: by whole files (streams/chunks) or by event ranges.</summary>
public enum SplitMode
{
    Files,
    Events,
}

/// <summary>
/// Which share of the run a part holds. Files: file indices [First, First+Count) of the run's
/// <see cref="Total"/> files. Events: events [First, First+Count) of one detector's sequence, out
/// of [TotalFirst, TotalFirst+Total) selected for the whole run.
/// </summary>
public sealed record PartCoverage(SplitMode By, long First, long Count, long TotalFirst, long Total);

/// <summary>What a part leaves beside its accumulator files once every detector is written: the merge's proof that the part finished.</summary>
public sealed record PartManifest
{
    public required string RunProcVersion { get; init; }
    public required string Experiment { get; init; }
    public required int Run { get; init; }
    public required int Part { get; init; }
    public required int PartCount { get; init; }

    /// <summary>The coverage of the whole part (for Events: in units of the run's own split, per detector in each header).</summary>
    public required PartCoverage Coverage { get; init; }

    /// <summary>Every file of the run, in order (the same list in every part of one run).</summary>
    public required IReadOnlyList<string> RunFiles { get; init; }

    /// <summary>The accumulator files of this part, one per detector (names inside the part directory).</summary>
    public required IReadOnlyList<string> Partials { get; init; }
}

/// <summary>One detector's merged accumulator, with the header its parts agreed on.</summary>
public sealed record MergedDetector(PartialHeader Header, PixelStatusAccumulator Accumulator, IReadOnlyList<string> SourceFiles);

/// <summary>
/// Split runs of pixel_status: part k of N analyses its share of the run and writes one partial
/// accumulator file per detector plus a manifest into the part directory; the merge checks every
/// part and adds the accumulators. They are exact integers, so the merged accumulator is the one
/// the unsplit run would have built, and its outputs are bit-identical.
/// </summary>
public static class PixelStatusSplit
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Split by whole files when the run has at least <paramref name="parts"/> files and no event selection, else by events.</summary>
    public static SplitMode ModeFor(int files, int parts, PixelStatusRequest req) =>
        files >= parts && req.SkipEvents == 0 && req.Events is null ? SplitMode.Files : SplitMode.Events;

    /// <summary>The files part <paramref name="part"/> of <paramref name="parts"/> reads when splitting by files: a contiguous share, as even as possible.</summary>
    public static (int First, int Count) FileShare(int files, int part, int parts)
    {
        var a = (int)((long)files * part / parts);
        var b = (int)((long)files * (part + 1) / parts);
        return (a, b - a);
    }

    /// <summary>The events part <paramref name="part"/> of <paramref name="parts"/> takes out of a detector's selected [first, first+count).</summary>
    public static (long First, long Count) EventShare(long first, long count, int part, int parts)
    {
        var a = first + (long)((Int128)count * part / parts);
        var b = first + (long)((Int128)count * (part + 1) / parts);
        return (a, b - a);
    }

    public static string PartialName(string source, int part, int parts) =>
        $"{source}.part-{part.ToString("0000", CultureInfo.InvariantCulture)}-of-{parts.ToString("0000", CultureInfo.InvariantCulture)}{PartialAccumulatorFile.Extension}";

    public static string ManifestName(int part, int parts) =>
        $"part-{part.ToString("0000", CultureInfo.InvariantCulture)}-of-{parts.ToString("0000", CultureInfo.InvariantCulture)}.json";

    /// <summary>
    /// Runs one part: opens its files (its share of the files, or all of them when splitting by
    /// events), accumulates each detector's share and writes the partial files, then the manifest.
    /// Returns the headers written. A detector with no events in this share gets an empty partial.
    /// </summary>
    public static IReadOnlyList<PartialHeader> RunPart(PixelStatusRunner runner, PixelStatusRequest req, string experiment, int run,
        int part, int parts, string partDirectory, int fileMode, int directoryMode, Action<PixelStatusProgress>? progress, CancellationToken cancel)
    {
        if (parts < 1 || part < 0 || part >= parts)
            throw new ArgumentOutOfRangeException(nameof(part), $"part {part} of {parts}: the part is 0 to PartCount-1.");
        // xtc2 is split by events only: a later chunk needs its stream's c000, and segments in
        // different streams are joined by time, so a share of the files is no share of the events.
        var xtc2 = req.Files.Any(Xtc2Run.IsXtc2);
        var mode = xtc2 ? SplitMode.Events : ModeFor(req.Files.Count, parts, req);
        var (fileFirst, fileCount) = mode == SplitMode.Files ? FileShare(req.Files.Count, part, parts) : (0, req.Files.Count);
        var files = req.Files.Skip(fileFirst).Take(fileCount).ToList();
        var (lo, hi) = req.Options.Gates();
        var written = new List<PartialHeader>();
        // xtc2: first only the detectors and their L1Accept counts (no events read), then each
        // detector is opened again with its share of the run's L1Accepts.
        var (detectors, handle) = PixelReadPipeline.OpenDetectors(files, req.Detectors, null, xtc2 ? new Xtc2Selection(0, 0, req.IncludeDamaged) : null, null);
        using (handle)
        {
            if (detectors.Count == 0)
                throw new InvalidDataException($"part {part} of {parts}: no detector frame stacks in {string.Join(", ", files)}{(req.Detectors.Count > 0 ? " matching " + string.Join(", ", req.Detectors) : "")}.");
            SafeFile.EnsureDirectory(partDirectory, directoryMode);
            foreach (var listed in detectors)
            {
                cancel.ThrowIfCancellationRequested();
                var det = listed;
                long first, count, totalFirst, total;
                if (mode == SplitMode.Files)
                {
                    (first, count) = (0, det.FrameCount);
                    (totalFirst, total) = (0, req.Files.Count);
                }
                else
                {
                    var inRun = det.Xtc2?.EventsInRun ?? det.FrameCount;
                    totalFirst = Math.Min(Math.Max(0, req.SkipEvents), inRun);
                    total = Math.Min(inRun - totalFirst, req.Events ?? long.MaxValue);
                    (first, count) = EventShare(totalFirst, total, part, parts);
                }
                PixelStatusAccumulator acc;
                IDisposable? share = null;
                if (det.Xtc2 is { } x)
                {
                    (var one, share) = PixelReadPipeline.OpenDetectors(files, new[] { x.DetName }, null, new Xtc2Selection(first, count, req.IncludeDamaged), null);
                    det = one.Single(d => d.Xtc2!.DetName == x.DetName);
                    acc = det.FrameCount > 0
                        ? PixelReadPipeline.Accumulate(det, req, progress, cancel)
                        : new PixelStatusAccumulator(Math.Max(1, det.Parts[0].FramePixels), lo, hi);
                }
                else
                    acc = count > 0
                        ? PixelReadPipeline.Accumulate(det, req with { SkipEvents = first, Events = count }, progress, cancel)
                        : new PixelStatusAccumulator(det.Parts[0].FramePixels, lo, hi);
                using var shareHandle = share;
                using var accumulator = acc; // its 2 MiB pages freed once the file is written, not at a finalizer's leisure
                var header = new PartialHeader
                {
                    RunProcVersion = PartialAccumulatorFile.RunProcVersion, Experiment = experiment, Run = run, Instrument = req.Instrument,
                    Dataset = det.Dataset, Source = det.Source, Shape = det.FrameShape, ElementType = det.Parts[0].ElementType.ToString(),
                    DataMask = det.DataMask(req), GateLow = lo, GateHigh = hi, Options = req.Options, Part = part, PartCount = parts,
                    Coverage = mode == SplitMode.Files ? new PartCoverage(mode, fileFirst, fileCount, 0, req.Files.Count) : new PartCoverage(mode, first, count, totalFirst, total),
                    Events = acc.Events, EventFirst = first,
                    SourceFiles = det.Xtc2 is not null ? files : FilesOf(det, first, count),
                    SkippedIncomplete = det.Xtc2?.SkippedIncomplete ?? 0, DamagedEvents = det.Xtc2?.DamagedEvents ?? 0, DamagedIncluded = det.Xtc2?.DamagedIncluded ?? false,
                };
                PartialAccumulatorFile.Write(Path.Combine(partDirectory, PartialName(det.Source, part, parts)), header, acc, fileMode);
                written.Add(header);
            }
        }
        var manifest = new PartManifest
        {
            RunProcVersion = PartialAccumulatorFile.RunProcVersion, Experiment = experiment, Run = run, Part = part, PartCount = parts,
            Coverage = mode == SplitMode.Files ? new PartCoverage(mode, fileFirst, fileCount, 0, req.Files.Count) : new PartCoverage(mode, part, 1, 0, parts),
            RunFiles = req.Files.Select(Path.GetFileName).ToList()!,
            Partials = written.Select(h => PartialName(h.Source, part, parts)).ToList(),
        };
        // Last: a manifest exists only for a part whose every partial file is complete.
        SafeFile.WriteAllTextAtomic(Path.Combine(partDirectory, ManifestName(part, parts)), JsonSerializer.Serialize(manifest, Json), fileMode);
        return written;
    }

    private static List<string> FilesOf(DetectorFrames det, long first, long count)
    {
        var list = new List<string>();
        long at = 0;
        foreach (var s in det.Parts)
        {
            if (at < first + count && at + s.FrameCount > first && count > 0)
                list.Add(s.File);
            at += s.FrameCount;
        }
        return list;
    }

    /// <summary>
    /// Checks every part in <paramref name="partDirectory"/> and merges them per detector. Refuses,
    /// naming the part and what is wrong: a missing part (no manifest), a damaged file (checksum),
    /// parts of another run, shape, detector type, data mask, gates, limits or RunProc version, and
    /// shares that do not cover the run exactly once.
    /// </summary>
    /// <param name="expectedParts">The number of parts the run was split into; null = as the manifests say.</param>
    public static IReadOnlyList<MergedDetector> Merge(string partDirectory, int? expectedParts, string? experiment, int? run, CancellationToken cancel)
    {
        if (!Directory.Exists(partDirectory))
            throw new InvalidDataException($"the part directory {partDirectory} does not exist: no part of this run has finished.");
        var parts = expectedParts ?? InferParts(partDirectory);
        var manifests = new List<PartManifest>();
        var missing = new List<int>();
        for (var k = 0; k < parts; k++)
        {
            var path = Path.Combine(partDirectory, ManifestName(k, parts));
            if (!File.Exists(path)) { missing.Add(k); continue; }
            PartManifest m;
            try { m = JsonSerializer.Deserialize<PartManifest>(File.ReadAllText(path), Json) ?? throw new JsonException("empty"); }
            catch (JsonException ex) { throw new InvalidDataException($"{path}: unreadable part manifest ({ex.Message}); run part {k} again."); }
            if (m.Part != k || m.PartCount != parts)
                throw new InvalidDataException($"{path}: says part {m.Part} of {m.PartCount}, expected part {k} of {parts}.");
            manifests.Add(m);
        }
        if (missing.Count > 0)
            throw new InvalidDataException($"{missing.Count} of {parts} part(s) missing in {partDirectory}: part(s) {string.Join(", ", missing)} did not finish (no manifest); run them again, then merge.");
        var first = manifests[0];
        foreach (var m in manifests)
        {
            var where = Path.Combine(partDirectory, ManifestName(m.Part, parts));
            if (m.Experiment != first.Experiment || m.Run != first.Run || !m.RunFiles.SequenceEqual(first.RunFiles))
                throw new InvalidDataException($"{where}: part {m.Part} is of {m.Experiment} run {m.Run} ({m.RunFiles.Count} files), part 0 of {first.Experiment} run {first.Run} ({first.RunFiles.Count} files): parts of different runs.");
            if (m.Coverage.By != first.Coverage.By)
                throw new InvalidDataException($"{where}: part {m.Part} is split by {m.Coverage.By}, part 0 by {first.Coverage.By}.");
        }
        if (experiment is not null && first.Experiment != experiment || run is not null && first.Run != run)
            throw new InvalidDataException($"{partDirectory}: the parts are of {first.Experiment} run {first.Run}, not {experiment} run {run}.");
        if (first.Coverage.By == SplitMode.Files)
            CheckCover(manifests.Select(m => (m.Part, m.Coverage)), 0, first.RunFiles.Count, "files", partDirectory);

        // Per detector, in the order part 0 found them, then any only later parts have.
        var byDetector = new Dictionary<string, List<(PartialHeader H, string Path)>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var m in manifests)
            foreach (var name in m.Partials)
            {
                if (name.Contains('/') || name.Contains('\0') || name.StartsWith('.'))
                    throw new InvalidDataException($"{Path.Combine(partDirectory, ManifestName(m.Part, parts))}: '{Names.Show(name)}' is not a partial file name.");
                var path = Path.Combine(partDirectory, name);
                var h = PartialAccumulatorFile.ReadHeader(path);
                if (h.Part != m.Part || h.PartCount != parts)
                    throw new InvalidDataException($"{path}: says part {h.Part} of {h.PartCount}, listed by part {m.Part} of {parts}.");
                if (!byDetector.TryGetValue(h.Source, out var list))
                {
                    byDetector[h.Source] = list = new();
                    order.Add(h.Source);
                }
                list.Add((h, path));
            }

        var result = new List<MergedDetector>();
        foreach (var source in order)
        {
            cancel.ThrowIfCancellationRequested();
            var list = byDetector[source];
            var h0 = list[0].H;
            foreach (var (h, path) in list)
                CheckSame(h0, h, path);
            if (h0.Coverage.By == SplitMode.Events)
                CheckCover(list.Select(x => (x.H.Part, x.H.Coverage)), h0.Coverage.TotalFirst, h0.Coverage.Total, $"events of {source}", partDirectory, parts);
            // Every part's file opened and its header read again: it must be the file checked above.
            var opened = new List<PartialAccumulatorFile.OpenPartial>(list.Count);
            PixelStatusAccumulator acc;
            var files = new List<string>();
            long incomplete = 0, damaged = 0;
            try
            {
                foreach (var (h0Part, path) in list.OrderBy(x => x.H.Part))
                {
                    var part = PartialAccumulatorFile.OpenPartial.Open(path);
                    opened.Add(part);
                    var h = part.Header;
                    if (h.Part != h0Part.Part || h.Events != h0Part.Events || h.Coverage != h0Part.Coverage)
                        throw new InvalidDataException($"{path}: the file changed while it was merged; merge again.");
                    CheckSame(h0, h, path);
                    files.AddRange(h.SourceFiles);
                    incomplete += h.SkippedIncomplete;
                    damaged += h.DamagedEvents;
                }
                cancel.ThrowIfCancellationRequested();
                acc = PartialAccumulatorFile.Sum(opened, Environment.ProcessorCount); // checksums checked here
            }
            finally
            {
                foreach (var m in opened) m.Dispose();
            }
            result.Add(new MergedDetector(h0 with { Part = -1, Events = acc.Events, SourceFiles = files, SkippedIncomplete = incomplete, DamagedEvents = damaged }, acc, files));
        }
        return result;
    }

    /// <summary>
    /// The detector a merged result is written as: for an xtc2 run its description from the run's
    /// Names (type, so calibration group and default mask; no event is read) with the event counts
    /// of the parts added up, so the merged result reports the unsplit run's skipped-incomplete and
    /// skipped-damaged events. Without xtc2 files (or when they are gone) no xtc2 description.
    /// </summary>
    public static PixelStatusRunner.OutputDetector OutputDetectorOf(MergedDetector merged)
    {
        var h = merged.Header;
        var xtc2 = merged.SourceFiles.Where(Xtc2Run.IsXtc2).Distinct(StringComparer.Ordinal).ToList();
        Xtc2Detector? det = null;
        if (xtc2.Count > 0)
        {
            try
            {
                using var run = Xtc2Run.Open(xtc2, new[] { h.Dataset }, new Xtc2Selection(0, 0, h.DamagedIncluded));
                det = run.Detectors.FirstOrDefault(d => d.DetName == h.Dataset) is { } d
                    ? d with { SkippedIncomplete = h.SkippedIncomplete, DamagedEvents = h.DamagedEvents, DamagedIncluded = h.DamagedIncluded, EventsSelected = h.Coverage.Total }
                    : null;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                det = null; // the run's files are gone: the group is derived from the source name
            }
        }
        return new PixelStatusRunner.OutputDetector(h.Source, h.Dataset, h.Shape, det);
    }

    private static int InferParts(string dir)
    {
        var any = Directory.EnumerateFiles(dir, "part-*-of-*.json").Select(Path.GetFileName).FirstOrDefault();
        var m = any is null ? null : System.Text.RegularExpressions.Regex.Match(any, @"-of-(\d{4,})\.json$");
        if (m is null || !m.Success)
            throw new InvalidDataException($"no part manifest (part-NNNN-of-NNNN.json) in {dir}: no part of this run has finished.");
        return int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private static void CheckSame(PartialHeader a, PartialHeader b, string path)
    {
        string? diff =
            b.Experiment != a.Experiment || b.Run != a.Run ? $"run {b.Experiment}:{b.Run}, not {a.Experiment}:{a.Run}" :
            b.Dataset != a.Dataset ? $"dataset {b.Dataset}, not {a.Dataset}" :
            !b.Shape.SequenceEqual(a.Shape) ? $"shape {PsanaTextArray.ShapeText(b.Shape)}, not {PsanaTextArray.ShapeText(a.Shape)}" :
            b.ElementType != a.ElementType ? $"{b.ElementType} frames, not {a.ElementType}" :
            b.DataMask != a.DataMask ? $"data mask {b.DataMask?.ToString("X", CultureInfo.InvariantCulture) ?? "none"}, not {a.DataMask?.ToString("X", CultureInfo.InvariantCulture) ?? "none"}" :
            b.GateLow != a.GateLow || b.GateHigh != a.GateHigh ? $"gates [{b.GateLow},{b.GateHigh}], not [{a.GateLow},{a.GateHigh}]" :
            b.Options != a.Options ? "other status limits (IntensityLow/High, Rms, FractionLimit, Method...)" :
            b.DamagedIncluded != a.DamagedIncluded ? $"damaged events {(b.DamagedIncluded ? "included" : "skipped")}, not {(a.DamagedIncluded ? "included" : "skipped")} (-IncludeDamaged)" :
            b.RunProcVersion != a.RunProcVersion ? $"RunProc {b.RunProcVersion}, not {a.RunProcVersion}" :
            b.Coverage.By != a.Coverage.By || b.Coverage.TotalFirst != a.Coverage.TotalFirst || b.Coverage.Total != a.Coverage.Total ? "another split of the run" :
            null;
        if (diff is not null)
            throw new InvalidDataException($"{path}: part {b.Part} does not match part {a.Part}: {diff}. Run every part with the same settings.");
    }

    /// <summary>The shares must tile [totalFirst, totalFirst+total) exactly once (and, with <paramref name="parts"/>, come from every part).</summary>
    private static void CheckCover(IEnumerable<(int Part, PartCoverage C)> shares, long totalFirst, long total, string what, string dir, int? parts = null)
    {
        var sorted = shares.OrderBy(s => s.C.First).ThenBy(s => s.C.Count).ToList();
        if (parts is { } n && sorted.Select(s => s.Part).Distinct().Count() != n)
            throw new InvalidDataException($"{dir}: {what}: {sorted.Count} part(s) of {n} have it; the missing ones must be run again.");
        var at = totalFirst;
        foreach (var (part, c) in sorted)
        {
            if (c.Count < 0 || c.First != at)
                throw new InvalidDataException($"{dir}: {what}: part {part} starts at {c.First}, expected {at}: the parts {(c.First < at ? "overlap" : "leave a gap")}.");
            at += c.Count;
        }
        if (at != totalFirst + total)
            throw new InvalidDataException($"{dir}: {what}: the parts cover up to {at}, the run has {totalFirst + total}.");
    }
}
