using System.Collections.Concurrent;
using RunProc.Formats;

namespace RunProc.Pixels;

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

/// <summary>
/// The read pipeline of pixel_status: opens a run's files (xtc2, HDF5, .npy), groups their frame
/// stacks by detector and accumulates a detector's selected events, either in place from the
/// memory map (uint16 frames that lie contiguous in the file) or block by block through two
/// buffers (the next block is read while the kernel scans the current one), where frames that
/// are a whole number of 4 KiB lie <see cref="FrameBuffer.FrameStride"/> apart instead of back
/// to back (the kernel reads 16 frames at one offset at once; at a 4 KiB-multiple stride their
/// lines share one cache set).
/// </summary>
public static partial class PixelReadPipeline
{
    /// <summary>Opens the files and groups their frame stacks by detector (disposed with the returned handle).</summary>
    public static (List<DetectorFrames> Detectors, IDisposable Handle) OpenDetectors(IReadOnlyList<string> files, IReadOnlyList<string> filter) =>
        OpenDetectors(files, filter, null);

    /// <summary>As above; <paramref name="skipped"/> receives "file: dataset is TYPE of rank N" for datasets that are not frame stacks.</summary>
    public static (List<DetectorFrames> Detectors, IDisposable Handle) OpenDetectors(IReadOnlyList<string> files, IReadOnlyList<string> filter, List<string>? skipped) =>
        OpenDetectors(files, filter, skipped, null, null);

    /// <summary>
    /// As above; xtc2 chunk files (of every stream, in any order) are read together as one run,
    /// with <paramref name="selection"/> applied to its L1Accepts; <paramref name="notes"/> gets
    /// what the xtc2 reader chose on the way (for -Verbose), <paramref name="warnings"/> what the user
    /// must see: the chunks read only up to a cut (<see cref="Xtc2Selection.AllowTruncated"/>) and the
    /// files of the run not given (null: into the notes).
    /// </summary>
    public static (List<DetectorFrames> Detectors, IDisposable Handle) OpenDetectors(IReadOnlyList<string> files, IReadOnlyList<string> filter, List<string>? skipped,
        Xtc2Selection? selection, List<string>? notes, List<string>? warnings = null)
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
                (warnings ?? notes)?.AddRange(run.Truncations);
                (warnings ?? notes)?.AddRange(run.NotGiven);
                skipped?.AddRange(run.Unmatched.Select(u => $"{u} does not match -Detector"));
                foreach (var d in run.Detectors)
                {
                    if (d.Frames is null)
                    {
                        skipped?.Add($"{run.Files[0]}: {d.Description}: {d.NotAFrame}");
                        continue;
                    }
                    order.Add(new DetectorFrames { Dataset = d.DetName, Source = PixelStatusRunner.SourceName(d.DetName), Parts = new() { d.Frames }, Xtc2 = d });
                }
            }
            // Frame stacks -Detector leaves out are listed first: with no match, they are what the user meant to pick from.
            var unmatched = new List<string>();
            var firstNonFrame = skipped?.Count ?? 0;
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
                    {
                        unmatched.Add($"{s.File}: {display} ({s.FrameCount} {s.ElementType.ToString().ToLowerInvariant()} frames of {PsanaTextArray.ShapeText(s.FrameShape)}) does not match -Detector");
                        continue;
                    }
                    if (!byName.TryGetValue(key, out var d))
                    {
                        d = new DetectorFrames { Dataset = display, Source = npy ? PixelStatusRunner.SourceName(file, true) : SourceOf(s.Dataset, sources), Parts = new() };
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
            skipped?.InsertRange(firstNonFrame, unmatched);
        }
        catch
        {
            foreach (var h in handles) h.Dispose();
            throw;
        }
        return (order, new Disposer(handles));
    }

    /// <summary>
    /// The source name of an HDF5 dataset: the LCLS-I DetInfo its path names (psana's source, as the
    /// old tool named its outputs and calibration dirs: <c>/Configure:0000/…/XppGon.0:Epix100a.0/data</c>
    /// → <c>XppGon.0:Epix100a.0</c>) where no other frame dataset of the file names the same one;
    /// else the whole path, dotted (<c>/entry/data/epix10ka</c> → <c>entry.data.epix10ka</c>).
    /// </summary>
    internal static string SourceOf(string dataset, IEnumerable<FrameSource> fileSources)
    {
        static string? DetInfo(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries).LastOrDefault(c => DetInfoName().IsMatch(c));
        var info = DetInfo(dataset);
        if (info is not null && fileSources.Count(o => DetInfo(o.Dataset) == info) == 1)
            return PixelStatusRunner.SourceName(info);
        return PixelStatusRunner.SourceName(dataset);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^[A-Za-z][A-Za-z0-9]*\.\d+:[A-Za-z][A-Za-z0-9]*\.\d+$", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex DetInfoName();

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

    /// <summary>Whether sources that read by pread take the buffered path (default false: scanned in place; `h5lab` compares both).</summary>
    internal static bool PreferPread;

    /// <summary>Accumulates one detector's selected events. Any unreadable frame fails the whole detector.</summary>
    public static unsafe PixelStatusAccumulator Accumulate(DetectorFrames det, PixelStatusRequest req, Action<PixelStatusProgress>? progress, CancellationToken cancel)
    {
        var (lo, hi) = req.Options.Gates();
        var total = det.FrameCount;
        var (first, want) = Selection(det, req);
        // No frames is an error: an "analysis" of nothing would flag every pixel and be deployed.
        if (NothingSelected(det, req) is { } none)
            throw SelectionLeavesNothing(det)
                ? new NoEventsSelectedException(det.Parts[0].File, det.Dataset, first, none)
                : new FrameReadException(det.Parts[0].File, det.Dataset, first, none); // the data has none to give (no frames, all incomplete or damaged)
        var px = det.Parts[0].FramePixels;
        var plan = Plan(det, first, want);
        var type = det.Parts[0].ElementType;
        var threads = Math.Max(1, req.Threads);
        var frameBytes = (long)px * (type == FrameElementType.UInt16 ? 2 : 4);
        var blockFrames = (int)Math.Clamp(req.BlockBytes / frameBytes, 1, 4096);
        var mask = det.DataMask(req) ?? uint.MaxValue;

        // Zero copy: memory-mapped uint16 frames (.npy, contiguous HDF5, xtc2 segments) go to the
        // kernel in place, with all cores on the kernel. Nothing is copied, so blocks can be long:
        // the wide arrays are folded once per block.
        // Sources that read by pread (contiguous HDF5) could take the buffered path instead (copy
        // into reused blocks rather than a first pass over a fresh mapping); not by default: on the
        // 300-frame 2.16 Mpx run it was no faster (`RunProc.Benchmarks h5lab`, 2026-12-02 05:23,
        // load 2-3: warm 246/403 ms against 368/540/413 in place; a fresh process 1.04 s against
        // ~0.8 in place, its 2 × 134 MB blocks being fresh memory).
        if (type == FrameElementType.UInt16 && req.ZeroCopy && plan.All(p => HasPieces(p.Source)) && !(PreferPread && plan.All(p => p.Source.ReadsByPread)))
            return AccumulateInPlace(() => PixelStatusAccumulator.Uninitialized(px, lo, hi), px, det, plan, (ushort)(mask & 0xFFFF), threads, (int)Math.Clamp(4 * req.BlockBytes / frameBytes, 1, 4096), want, req.Options, progress, cancel);

        // Pipeline: a reader task fills one buffer while the kernel scans the other.
        long done = 0;
        var wide = type != FrameElementType.UInt16;
        var blocks = new List<(FrameSource Src, long Start, int Count)>();
        foreach (var (src, start, count) in plan)
            for (long f = 0; f < count; f += blockFrames)
                blocks.Add((src, start + f, (int)Math.Min(blockFrames, count - f)));
        // Frames lie FrameStride apart in a block, not back to back: a frame that is a whole
        // number of 4 KiB (this facility's detectors) would otherwise put the 16 lines the kernel
        // reads at one pixel offset into one cache set. The kernel takes the frames' addresses.
        var elem = wide ? 4 : 2;
        var stride = FrameBuffer.FrameStride(px, elem);
        // Blocks live in native memory on huge pages (FrameBuffer): the kernel scans them faster.
        using var buf0 = new FrameBuffer(checked(blockFrames * stride * elem));
        using var buf1 = blocks.Count > 1 ? new FrameBuffer(checked(blockFrames * stride * elem)) : null;
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
                            if (stride == px)
                                ReadFrames(src, start + a, b - a, buf, a * stride, wide, mask, px);
                            else
                                for (var f = a; f < b; f++)
                                    ReadFrames(src, start + f, 1, buf, f * stride, wide, mask, px);
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
        PixelStatusAccumulator acc;
        try
        {
            // Set up while the reader reads the first block (its first writes are page faults);
            // inside the try, so a failure here stops the reader before its buffers are freed.
            acc = new PixelStatusAccumulator(px, lo, hi);
            // The frames' addresses in each buffer, made once (nothing is allocated per block).
            var addresses = new Dictionary<FrameBuffer, nint[]>();
            foreach (var b in buf1 is null ? new[] { buf0 } : new[] { buf0, buf1 })
                addresses[b] = Enumerable.Range(0, blockFrames).Select(f => (nint)b.Pointer + (nint)(f * stride * elem)).ToArray();
            foreach (var (buf, count) in full.GetConsumingEnumerable(stop.Token))
            {
                var frames = addresses[buf].AsSpan(0, count);
                if (wide)
                    PixelStatusKernel.AccumulateInt32(acc, frames, kernelThreads);
                else
                    PixelStatusKernel.AccumulateUInt16(acc, frames, (ushort)(mask & 0xFFFF), kernelThreads, KernelPath.Auto);
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
    /// one (a first touch of a small-folio page cache costs a fault per 16 pages otherwise).
    /// <paramref name="newAccumulator"/> gives an uninitialized accumulator: the first block's
    /// scan sets each tile's lines to the empty state as it reaches them.
    /// </summary>
    private static unsafe PixelStatusAccumulator AccumulateInPlace(Func<PixelStatusAccumulator> newAccumulator, int pixels, DetectorFrames det, List<(FrameSource Source, long Start, long Count)> plan,
        ushort mask, int threads, int blockFrames, long want, PixelStatusOptions options, Action<PixelStatusProgress>? progress, CancellationToken cancel)
    {
        var pieces = plan[0].Source.FramePieces;
        var piecePx = pixels / pieces;
        // Blocks are long (up to 4 × BlockBytes): each block ends with a fold that reads and writes
        // the whole accumulator (40 B/px: ~21.6 MB for an epix10ka quad, as much as 20 of its
        // events), so xtc2's former 64 MiB blocks spent about as much time on folds as on frames.
        // Filling a block's page tables is cheap where the page cache holds the file in large
        // folios (1.5 ms for 219 MB; measured 2026-12-02), so it need not be cut finer to overlap.
        var blocks = new List<(FrameSource Src, long Start, int Count)>();
        foreach (var (src, start, count) in plan)
            for (long f = 0; f < count;)
            {
                var n = (int)Math.Min(blockFrames, count - f);
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
        // The first block is not populated ahead: nothing would run beside it on the kernel's
        // threads, and their own first touches map the page cache's large folios a folio per
        // fault (~530 faults for 216 MB); populating it first was a serial ~5 ms before the scan
        // (xtc2 bench 2026-12-03: ratio 0.38 with, 0.46 without).
        var current = Pointers(0);
        Task populate = Task.CompletedTask;
        var acc = newAccumulator();
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
            // The last block: the events are counted first, and each tile's status is computed as
            // the scan finishes it (the summary then need not read the whole accumulator again).
            PixelStatusAccumulator.StatusInScan? status = null;
            if (b == blocks.Count - 1)
            {
                acc.Events += blocks[b].Count;
                if (PixelStatusSummary.LimitsWithoutArrays(options, acc.Events) is { } limits)
                    status = acc.BeginStatusInScan(limits);
            }
            for (var k = 0; k < pieces; k++)
                PixelStatusKernel.AccumulatePiece(acc, ptrs[k], k * piecePx, piecePx, mask, threads, KernelPath.Auto, countEvents: false, status is null ? null : status.Tile, mapped: true, initialize: b == 0);
            if (b < blocks.Count - 1)
                acc.Events += blocks[b].Count;
            status?.Complete();
            done += blocks[b].Count;
            progress?.Invoke(new PixelStatusProgress(det.Dataset, done, want));
        }
        populate.Wait(cancel);
        return acc;
    }

    /// <summary>Reads <paramref name="count"/> frames (back to back) into <paramref name="buf"/> from element <paramref name="at"/>.</summary>
    private static void ReadFrames(FrameSource src, long first, int count, FrameBuffer buf, long at, bool wide, uint mask, int px)
    {
        if (wide) src.ReadInt32(first, count, buf.AsSpan<int>(at, checked(count * px)), mask);
        else src.ReadUInt16(first, count, buf.AsSpan<ushort>(at, checked(count * px)));
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

    /// <summary>The events a request selects from a detector.</summary>
    public static long SelectedEvents(DetectorFrames det, PixelStatusRequest req) => Selection(det, req).Want;

    /// <summary>True when the detector has events but -SkipEvents/-Events select none of them (a usage error, not the data's).</summary>
    private static bool SelectionLeavesNothing(DetectorFrames det) =>
        det.Xtc2 is { } x ? x.EventsInRun > 0 && x.EventsSelected == 0 : det.FrameCount > 0;

    /// <summary>Why no event of <paramref name="det"/> is selected for analysis (the selection, the events lacking a segment or damaged), or null when some are.</summary>
    public static string? NothingSelected(DetectorFrames det, PixelStatusRequest req)
    {
        var (first, want) = Selection(det, req);
        if (want > 0)
            return null;
        return det.Xtc2 is { } x
            ? $"no events to analyse: {x.EventsSelected} of the run's {x.EventsInRun} L1Accept events selected (-SkipEvents {req.SkipEvents}, -Events {(req.Events is { } n ? n : "all")}), {x.SkippedIncomplete} lacking a segment, {x.DamagedEvents} damaged{(x.DamagedIncluded ? "" : " (see -IncludeDamaged)")}; nothing was written."
            : $"no frames to analyse ({det.FrameCount} event(s) in {det.Parts.Count} file(s), {first} skipped, -Events {(req.Events is { } e ? e : "all")}); nothing was written.";
    }
}
