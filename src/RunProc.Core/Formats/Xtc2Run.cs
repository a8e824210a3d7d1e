using System.Globalization;
using System.Text.RegularExpressions;

namespace RunProc.Formats;

/// <summary>Which L1Accept events of an xtc2 run to read.</summary>
/// <param name="SkipEvents">Events of the detector's timeline (every L1Accept of its streams, joined by time) passed over first.</param>
/// <param name="Events">At most this many timeline events after them; null = all.</param>
/// <param name="IncludeDamaged">Analyse events with damage ≠ 0 too (they are counted either way).</param>
/// <param name="AllowTruncated">A chunk that ends inside a dgram (a DAQ crash, an interrupted copy) is read up to its last whole dgram, with an entry in <see cref="Xtc2Run.Truncations"/>, instead of failing the run.</param>
public sealed record Xtc2Selection(long SkipEvents = 0, long? Events = null, bool IncludeDamaged = false, bool AllowTruncated = false);

/// <summary>
/// One detector of an xtc2 run (Configure Names with alg <c>raw</c> and a field <c>raw</c>, one
/// Names per segment) and the events read for it.
/// </summary>
public sealed record Xtc2Detector
{
    public required string DetName { get; init; }
    public required string DetType { get; init; }

    /// <summary>psana's class name, &lt;detType&gt;_&lt;alg&gt;_&lt;maj&gt;_&lt;min&gt;_&lt;mic&gt; (e.g. epix10ka_raw_2_0_1).</summary>
    public required string PsanaClass { get; init; }

    /// <summary>Segment numbers, ascending (the frame stacks them in this order).</summary>
    public required IReadOnlyList<int> Segments { get; init; }

    /// <summary>Streams (sSSS) the segments are in.</summary>
    public required IReadOnlyList<int> Streams { get; init; }

    /// <summary>Shape of one segment's raw array as stored; empty when no event had all segments.</summary>
    public required int[] SegmentShape { get; init; }

    public required Xtc2DataType RawType { get; init; }

    /// <summary>L1Accept events of the detector's streams joined by time (the timeline -SkipEvents/-Events count).</summary>
    public required long EventsInRun { get; init; }

    /// <summary>Timeline events the selection took.</summary>
    public required long EventsSelected { get; init; }

    /// <summary>Selected events lacking a segment (not analysed).</summary>
    public required long SkippedIncomplete { get; init; }

    /// <summary>Selected, complete events with damage ≠ 0 (not analysed unless IncludeDamaged; then still counted here).</summary>
    public required long DamagedEvents { get; init; }

    public required bool DamagedIncluded { get; init; }

    /// <summary>Events handed on: complete, and undamaged unless damaged ones were included.</summary>
    public long EventsUsed => Frames?.FrameCount ?? 0;

    /// <summary>The frames of the used events; null when the raw field is not a frame (see <see cref="NotAFrame"/>).</summary>
    public Xtc2FrameSource? Frames { get; init; }

    /// <summary>Why this detector's raw is not read as frames, or null.</summary>
    public string? NotAFrame { get; init; }

    /// <summary>
    /// The detector family whose data bits RunProc knows (Epix10ka, Jungfrau), from the detType and
    /// psana's class: psana reads detType <c>epix</c> with raw 2.0.1 (the epix10ka's detType in older
    /// recordings) as epix10ka (<c>epix_raw_2_0_1 = epix10ka_raw_2_0_1</c> in psana/detector/epix10ka.py);
    /// null for other detectors (epix100, epixhr, …: not these data bits).
    /// </summary>
    public string? Family => FamilyOf(DetType, PsanaClass);

    /// <summary>The data bits of the raw word by detector family (epix10ka, jungfrau: 0x3FFF; the bits above are gain bits); null = all.</summary>
    public uint? DefaultDataMask => Family is null ? null : 0x3FFFu;

    /// <summary>The calibration group directory, &lt;DetType&gt;::CalibV1 (Epix10ka::CalibV1, Jungfrau::CalibV1; detType epix read as epix10ka: Epix10ka::CalibV1).</summary>
    public string CalibGroup => Family == "Epix10ka" && DetType.Equals("epix", StringComparison.OrdinalIgnoreCase) ? "Epix10ka::CalibV1" : CalibGroupOf(DetType);

    /// <summary>"epixquad (epix10ka_raw_2_0_1, 4 segments 0..3 of (352,384), streams 0)"</summary>
    public string Description =>
        $"{DetName} ({PsanaClass}, {Segments.Count} segment{(Segments.Count == 1 ? "" : "s")} {SegmentText(Segments)}" +
        (SegmentShape.Length > 0 ? $" of ({string.Join(",", SegmentShape)})" : "") + $" {RawType}, stream{(Streams.Count == 1 ? "" : "s")} {string.Join(",", Streams)})";

    public static string? FamilyOf(string detType, string psanaClass) =>
        detType.StartsWith("epix10k", StringComparison.OrdinalIgnoreCase) || psanaClass.Equals("epix_raw_2_0_1", StringComparison.OrdinalIgnoreCase) ? "Epix10ka"
        : detType.StartsWith("jungfrau", StringComparison.OrdinalIgnoreCase) ? "Jungfrau"
        : null;

    public static string CalibGroupOf(string detType)
    {
        var t = Regex.Replace(detType, "[^A-Za-z0-9_]", "");
        if (t.Length == 0) t = "Detector";
        return char.ToUpperInvariant(t[0]) + t[1..] + "::CalibV1";
    }

    private static string SegmentText(IReadOnlyList<int> s) =>
        s.Count > 2 && s[^1] - s[0] == s.Count - 1 ? $"{s[0]}..{s[^1]}" : string.Join(",", s);
}

/// <summary>
/// An LCLS-II xtc2 run: every stream (sSSS) and chunk (cCCC) of it, read in place from memory
/// maps. Each stream has its own Names table, from the Configure at the start of its c000 (later
/// chunks have none); a detector's segments are found by NamesId within their stream and joined
/// across streams by timestamp. Where a stream's smalldata index (xtc/smalldata/*.smd.xtc2) is
/// there, the L1Accepts are found from it, so only the selected events of the big files are read.
/// Every extent, shape and size is checked against its parent and the file before use.
/// </summary>
public sealed unsafe partial class Xtc2Run : IDisposable
{
    private readonly List<Xtc2File> _files = new();
    private readonly List<Stream> _streams = new();

    public IReadOnlyList<Xtc2Detector> Detectors { get; private set; } = Array.Empty<Xtc2Detector>();

    /// <summary>Raw detectors that -Detector left out, as "file: detName (detType)" (the file: their stream's c000).</summary>
    public List<string> Unmatched { get; } = new();

    /// <summary>What the reader chose on the way (e.g. an unreadable smalldata index it did without), for -Verbose.</summary>
    public List<string> Notes { get; } = new();

    /// <summary>With <see cref="Xtc2Selection.AllowTruncated"/>: the chunks read only up to a cut, each named with where it ends (for a warning).</summary>
    public List<string> Truncations { get; } = new();

    /// <summary>Files of the same run beside the ones given that were not given (one entry per run): the result covers part of the run.</summary>
    public List<string> NotGiven { get; } = new();

    private bool _allowTruncated;

    /// <summary>The chunk files, streams in order, chunks in order.</summary>
    public IReadOnlyList<string> Files => _streams.SelectMany(s => s.Chunks.Select(c => c.File.Path)).ToArray();

    [GeneratedRegex(@"^(?<base>.+)-s(?<s>\d{1,4})-c(?<c>\d{1,4})\.xtc2(\.inprogress)?$", RegexOptions.CultureInvariant)]
    private static partial Regex ChunkName();

    /// <summary>True for a name RunProc reads as xtc2 (.xtc2, or .xtc2.inprogress while the DAQ writes it).</summary>
    public static bool IsXtc2(string path) =>
        path.EndsWith(".xtc2", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".xtc2.inprogress", StringComparison.OrdinalIgnoreCase);

    private sealed class Stream
    {
        public required string Key { get; init; }
        public required int Number { get; init; }
        public List<(int Chunk, Xtc2File File)> Chunks { get; } = new();
        public Dictionary<uint, Xtc2Names> Names { get; } = new();
        public List<EventRef> Events { get; } = new();
    }

    /// <summary>
    /// An L1Accept of one stream: time, env, which chunk (index into the stream's list), where, how
    /// big, its dgram index in the chunk; FromIndex = taken from the smalldata index (so its dgram
    /// is checked against the entry when read).
    /// </summary>
    private readonly record struct EventRef(ulong Time, uint Env, int Chunk, long Offset, long Size, long Index, bool FromIndex = false);

    /// <summary>
    /// Opens the run's chunk files (any order; grouped by stream, chunks sorted) and reads the
    /// detectors matching <paramref name="filter"/> (detName or detType substring; empty = all).
    /// </summary>
    public static Xtc2Run Open(IReadOnlyList<string> files, IReadOnlyList<string> filter, Xtc2Selection? selection = null)
    {
        selection ??= new Xtc2Selection();
        var run = new Xtc2Run { _allowTruncated = selection.AllowTruncated };
        try
        {
            run.OpenStreams(files);
            foreach (var s in run._streams)
                run.ReadConfigure(s);
            foreach (var s in run._streams)
                run.ListEvents(s);
            run.Detectors = run.FindDetectors(filter, selection);
        }
        catch
        {
            run.Dispose();
            throw;
        }
        return run;
    }

    private void OpenStreams(IReadOnlyList<string> files)
    {
        var byKey = new Dictionary<string, Stream>(StringComparer.Ordinal);
        foreach (var f in files)
        {
            var full = Path.GetFullPath(f);
            var name = Path.GetFileName(full);
            if (name.Contains(".smd.xtc2", StringComparison.OrdinalIgnoreCase))
                throw new FrameReadException(full, "", -1, "is a smalldata index (.smd.xtc2), not a chunk of event data; give the run's <exp>-rNNNN-sSSS-cCCC.xtc2 files (the index beside them in smalldata/ is found and used).");
            var m = ChunkName().Match(name);
            var key = m.Success ? Path.Combine(Path.GetDirectoryName(full)!, $"{m.Groups["base"].Value}-s{m.Groups["s"].Value}") : full;
            var chunk = m.Success ? int.Parse(m.Groups["c"].Value, CultureInfo.InvariantCulture) : 0;
            if (!byKey.TryGetValue(key, out var s))
            {
                s = new Stream { Key = key, Number = m.Success ? int.Parse(m.Groups["s"].Value, CultureInfo.InvariantCulture) : byKey.Count };
                byKey[key] = s;
                _streams.Add(s);
            }
            if (s.Chunks.Any(c => c.Chunk == chunk))
                throw new FrameReadException(full, "", -1, $"chunk c{chunk:D3} of stream s{s.Number:D3} is given twice ({s.Chunks.First(c => c.Chunk == chunk).File.Path}).");
            var file = Xtc2File.Open(full);
            _files.Add(file);
            s.Chunks.Add((chunk, file));
        }
        foreach (var s in _streams)
        {
            s.Chunks.Sort((a, b) => a.Chunk.CompareTo(b.Chunk));
            if (s.Chunks[0].Chunk != 0)
                throw new FrameReadException(s.Chunks[0].File.Path, "", -1,
                    $"chunk c{s.Chunks[0].Chunk:D3} needs its stream's c000 (chunks after the first have no Configure; their Names are in c000): give c000 too.");
        }
        _streams.Sort((a, b) => a.Number != b.Number ? a.Number.CompareTo(b.Number) : string.CompareOrdinal(a.Key, b.Key));
        NoteSiblingsNotGiven(files);
    }

    /// <summary>
    /// Chunk files of the same run beside the ones given (another stream, a later chunk) that were
    /// not given: a warning, since the run is then read in part (one stream's segments, or the events of
    /// the chunks given) — the easy mistake of -Path on one file of a multi-file run.
    /// </summary>
    private void NoteSiblingsNotGiven(IReadOnlyList<string> files)
    {
        var given = new HashSet<string>(files.Select(Path.GetFullPath), StringComparer.Ordinal);
        var runs = new HashSet<(string Dir, string Base)>();
        foreach (var f in given)
            if (ChunkName().Match(Path.GetFileName(f)) is { Success: true } m)
                runs.Add((Path.GetDirectoryName(f)!, m.Groups["base"].Value));
        foreach (var (dir, runBase) in runs)
        {
            string[] beside;
            try { beside = Directory.GetFiles(dir, runBase + "-s*-c*.xtc2*"); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { continue; }
            var missing = beside.Where(b => ChunkName().Match(Path.GetFileName(b)) is { Success: true } m && m.Groups["base"].Value == runBase && !given.Contains(b))
                .Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
            if (missing.Count > 0)
                NotGiven.Add($"{Path.Combine(dir, runBase)}: {missing.Count} more file{(missing.Count == 1 ? "" : "s")} of this run {(missing.Count == 1 ? "is" : "are")} beside the ones given and not read ({string.Join(", ", missing.Take(4))}{(missing.Count > 4 ? ", ..." : "")}): " +
                    $"the result covers only the streams and chunks given. Give them all (-Path {Path.Combine(dir, runBase)}-s*-c*.xtc2) or use -Experiment/-Run.");
        }
    }

    /// <summary>The stream's Names, from the Configure that must open its c000.</summary>
    private void ReadConfigure(Stream s)
    {
        var file = s.Chunks[0].File;
        if (file.Length == 0)
            throw new FrameReadException(file.Path, "", -1, "is empty: a stream's first chunk starts with its Configure.");
        var d = file.DgramAt(0, 0);
        if (d.Transition != Xtc2Transition.Configure)
            throw file.Error(0, 0, $"the first dgram is {d.Transition}, not Configure: a stream's c000 starts with the Configure that holds its Names.");
        ReadNames(file, d, s.Names);
    }

    /// <summary>Adds the Names of a Configure to <paramref name="names"/> (one NamesId once; a ShapesData must follow its Names).</summary>
    private static void ReadNames(Xtc2File file, in Xtc2Dgram d, Dictionary<uint, Xtc2Names> names)
    {
        foreach (var x in file.Blocks(d, out _))
        {
            if (x.TypeId == Xtc2TypeId.Names)
            {
                var n = file.ParseNames(x, d.Index);
                if (!names.TryAdd(n.NamesId, n))
                    throw file.Error(d.Index, x.Offset, $"NamesId 0x{n.NamesId:X} ({n.DetName}) is defined twice in the Configure.");
            }
            else if (!names.ContainsKey(x.NamesId))
                throw file.Error(d.Index, x.Offset, $"a ShapesData with NamesId 0x{x.NamesId:X} before (or without) its Names.");
        }
    }

    /// <summary>The stream's L1Accepts: from its smalldata index when there is a usable one, else by walking its chunks.</summary>
    private void ListEvents(Stream s)
    {
        if (SmallDataPath(s) is { } smd)
        {
            try
            {
                if (ReadSmallData(s, smd))
                    return;
            }
            catch (FrameReadException ex)
            {
                Notes.Add($"{smd}: the smalldata index cannot be used ({ex.Message}); the chunks are walked instead.");
            }
            s.Events.Clear();
        }
        for (var c = 0; c < s.Chunks.Count; c++)
            foreach (var d in Walk(s.Chunks[c].File))
                if (d.Transition == Xtc2Transition.L1Accept)
                    s.Events.Add(new EventRef(d.Time, d.Env, c, d.Offset, d.Size, d.Index));
    }

    /// <summary>
    /// A chunk's dgrams from <paramref name="offset"/>; with AllowTruncated a file that ends inside
    /// a dgram ends the walk there, with a <see cref="Truncations"/> entry naming the file, the dgram and its byte offset.
    /// </summary>
    private IEnumerable<Xtc2Dgram> Walk(Xtc2File file, long offset = 0, long index = 0) =>
        file.Dgrams(offset, index, !_allowTruncated ? null : ex =>
        {
            long whole = ex.DgramIndex, after = file.Length - ex.Offset;
            Truncations.Add($"{ex.Message} -AllowTruncated: the {whole} whole dgram{(whole == 1 ? "" : "s")} before it {(whole == 1 ? "is" : "are")} read, the {after} byte{(after == 1 ? "" : "s")} after not.");
        });

    private static string? SmallDataPath(Stream s)
    {
        var c000 = s.Chunks[0].File.Path;
        var name = Path.GetFileName(c000);
        var stem = name.EndsWith(".inprogress", StringComparison.Ordinal) ? name[..^".inprogress".Length] : name;
        if (!stem.EndsWith(".xtc2", StringComparison.OrdinalIgnoreCase))
            return null;
        var smd = Path.Combine(Path.GetDirectoryName(c000)!, "smalldata", stem[..^".xtc2".Length] + ".smd.xtc2");
        return File.Exists(smd) ? smd : File.Exists(smd + ".inprogress") ? smd + ".inprogress" : null;
    }

    /// <summary>
    /// Reads a stream's smalldata index: its Configure names the smdinfo block (intOffset,
    /// intDgramSize), each L1Accept gives the offset and size of the event in the current chunk,
    /// and an Enable with chunkinfo moves on to the next chunk. Every entry is checked against its
    /// chunk's size now; each selected event's dgram is checked against its entry when read. The
    /// chunks' tails after their last indexed event are walked, so a cut file is still found.
    /// </summary>
    private bool ReadSmallData(Stream s, string path)
    {
        using var smd = Xtc2File.Open(path);
        if (smd.Length == 0)
            return false;
        var configure = smd.DgramAt(0, 0);
        if (configure.Transition != Xtc2Transition.Configure)
            throw smd.Error(0, 0, $"the first dgram is {configure.Transition}, not Configure.");
        var names = new Dictionary<uint, Xtc2Names>();
        ReadNames(smd, configure, names);
        static bool U64Scalar(Xtc2Names n, string field) => n.IndexOf(field) is >= 0 and var i && n.Fields[i] is { Rank: 0, Type: Xtc2DataType.UInt64 };
        var info = names.Values.FirstOrDefault(n => n.DetName == "smdinfo" && U64Scalar(n, "intOffset") && U64Scalar(n, "intDgramSize"));
        if (info is null)
            throw smd.Error(0, 0, "its Configure has no smdinfo Names with UINT64 scalars intOffset and intDgramSize.");
        var chunkInfo = names.Values.Where(n => n.DetName == "chunkinfo").Select(n => n.NamesId).ToHashSet();
        var chunk = 0;
        var chunkIndex = s.Chunks.ToDictionary(c => c.Chunk, c => s.Chunks.IndexOf(c));
        var lastEnd = new long[s.Chunks.Count];
        var nextIndex = new long[s.Chunks.Count];
        var cutEntries = new int[s.Chunks.Count];
        // The index holds the chunks' dgrams one for one, so a dgram's index in its chunk is its
        // index here less the index where the chunk began (after the Enable that switched to it).
        long chunkStart = 0;
        foreach (var d in smd.Dgrams(configure.Size, 1))
        {
            if (d.Transition == Xtc2Transition.Enable && chunkInfo.Count > 0)
            {
                foreach (var x in smd.Blocks(d, out _))
                    if (x.TypeId == Xtc2TypeId.ShapesData && chunkInfo.Contains(x.NamesId))
                    {
                        var n = names[x.NamesId];
                        var id = n.IndexOf("chunkid");
                        chunk = id >= 0 && n.Fields[id] is { Rank: 0, Type: Xtc2DataType.UInt32 }
                            ? (int)Math.Min(Xtc2Format.U32(smd.At(smd.LocateField(x, n, id, d.Index, out _).Offset)), int.MaxValue)
                            : chunk + 1;
                        chunkStart = d.Index + 1;
                    }
                continue;
            }
            if (d.Transition != Xtc2Transition.L1Accept)
                continue;
            long offset = -1, size = -1;
            foreach (var x in smd.Blocks(d, out _))
            {
                if (x.TypeId != Xtc2TypeId.ShapesData)
                    continue;
                if (!names.ContainsKey(x.NamesId))
                    throw smd.Error(d.Index, x.Offset, $"a ShapesData with NamesId 0x{x.NamesId:X}, which the Configure does not define.");
                if (x.NamesId != info.NamesId)
                    continue;
                offset = (long)Math.Min(Xtc2Format.U64(smd.At(smd.LocateField(x, info, info.IndexOf("intOffset"), d.Index, out _).Offset)), long.MaxValue);
                size = (long)Math.Min(Xtc2Format.U64(smd.At(smd.LocateField(x, info, info.IndexOf("intDgramSize"), d.Index, out _).Offset)), long.MaxValue);
            }
            if (offset < 0)
                throw smd.Error(d.Index, d.Offset, "an L1Accept without its smdinfo offset.");
            if (!chunkIndex.TryGetValue(chunk, out var c))
                continue; // a chunk not given (a -Path selection): its events are not read
            var file = s.Chunks[c].File;
            if (size >= Xtc2Format.MinDgram && offset > file.Length - size && _allowTruncated)
            {
                cutEntries[c]++; // an event past the end of a cut chunk: not there to read
                continue;
            }
            if (size < Xtc2Format.MinDgram || offset > file.Length - size)
                throw file.Error(d.Index - chunkStart, offset, $"the smalldata index {path} (its dgram {d.Index}) puts an L1Accept of {size} bytes here, past the end of this {file.Length}-byte chunk: the chunk is truncated (cut, or still being written).");
            s.Events.Add(new EventRef(d.Time, d.Env, c, offset, size, d.Index - chunkStart, FromIndex: true));
            if (offset + size > lastEnd[c])
            {
                lastEnd[c] = offset + size;
                nextIndex[c] = d.Index - chunkStart + 1;
            }
        }
        for (var c = 0; c < s.Chunks.Count; c++)
            if (cutEntries[c] > 0)
                Truncations.Add($"{s.Chunks[c].File.Path}: the smalldata index {path} lists {cutEntries[c]} L1Accept{(cutEntries[c] == 1 ? "" : "s")} past the end of this {s.Chunks[c].File.Length}-byte chunk (cut); -AllowTruncated: the events before the cut are read.");
        // Each chunk after its last indexed event is walked: a cut there is an error too, and
        // L1Accepts the index does not list yet (an index still being written, or cut at a dgram
        // boundary: the DAQ buffers its writes) are taken from the chunk, after the indexed ones.
        var tail = new List<EventRef>();
        for (var c = 0; c < s.Chunks.Count; c++)
        {
            var before = tail.Count;
            foreach (var d in Walk(s.Chunks[c].File, lastEnd[c], nextIndex[c]))
                if (d.Transition == Xtc2Transition.L1Accept)
                    tail.Add(new EventRef(d.Time, d.Env, c, d.Offset, d.Size, d.Index));
            if (tail.Count > before)
                Notes.Add($"{path}: the smalldata index lists {tail.Count - before} fewer L1Accept{(tail.Count - before == 1 ? "" : "s")} than {s.Chunks[c].File.Path} holds (an index still being written, or cut); they were read from the chunk.");
        }
        if (tail.Count > 0)
        {
            // Chunk by chunk in order (OrderBy is stable): the index's events of a chunk, then those found after them.
            var all = s.Events.Concat(tail).OrderBy(e => e.Chunk).ToList();
            s.Events.Clear();
            s.Events.AddRange(all);
        }
        return true;
    }

    /// <summary>A raw segment: its stream, NamesId, Names and the index of its field 'raw'.</summary>
    private sealed record SegmentDef(Stream Stream, Xtc2Names Names, int Field);

    private List<Xtc2Detector> FindDetectors(IReadOnlyList<string> filter, Xtc2Selection sel)
    {
        var defs = new Dictionary<string, List<SegmentDef>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var s in _streams)
            foreach (var n in s.Names.Values.OrderBy(n => n.NamesId))
            {
                var raw = n.IndexOf("raw");
                if (n.Alg != "raw" || raw < 0)
                    continue;
                if (filter.Count > 0 && !filter.Any(f => n.DetName.Contains(f, StringComparison.OrdinalIgnoreCase) || n.DetType.Contains(f, StringComparison.OrdinalIgnoreCase)))
                {
                    // Named with the file that holds it (its stream's c000): streams hold different detectors.
                    var what = $"{s.Chunks[0].File.Path}: {n.DetName} ({n.DetType})";
                    if (!Unmatched.Contains(what)) Unmatched.Add(what);
                    continue;
                }
                if (!defs.TryGetValue(n.DetName, out var list))
                {
                    defs[n.DetName] = list = new();
                    order.Add(n.DetName);
                }
                list.Add(new SegmentDef(s, n, raw));
            }
        var result = new List<Xtc2Detector>();
        foreach (var name in order)
            result.Add(ReadDetector(defs[name], sel));
        return result;
    }

    private Xtc2Detector ReadDetector(List<SegmentDef> defs, Xtc2Selection sel)
    {
        var first = defs[0];
        var psanaClass = $"{first.Names.DetType}_{first.Names.Alg}_{first.Names.AlgVersionText.Replace('.', '_')}";
        // A definition RunProc cannot stack into frames leaves this detector out (listed with the
        // reason) and lets the run's other detectors be read.
        string? badDefinition = null;
        foreach (var d in defs)
        {
            var where = d.Stream.Chunks[0].File.Path;
            if (d.Names.DetType != first.Names.DetType)
                badDefinition ??= $"it is '{first.Names.DetType}' in one Names and '{d.Names.DetType}' in another ({where}, NamesId 0x{d.Names.NamesId:X})";
            else if (d.Names.Segment < 0 || defs.Count(o => o.Names.Segment == d.Names.Segment) > 1)
                badDefinition ??= $"it has segment {d.Names.Segment} {(d.Names.Segment < 0 ? "(not a segment number)" : "in more than one Names")} ({where}, NamesId 0x{d.Names.NamesId:X})";
        }
        defs.Sort((a, b) => a.Names.Segment.CompareTo(b.Names.Segment));
        var rawField = first.Names.Fields[first.Field];
        var notAFrame = badDefinition is not null ? badDefinition
            : defs.Select(d => d.Names.Fields[d.Field]).Any(f => f != rawField)
            ? "its segments' raw fields differ in type or rank"
            : rawField.Rank is not (2 or 3) ? $"raw is {rawField.Type} of rank {rawField.Rank}, not a frame (rank 2 or 3)"
            : rawField.Type != Xtc2DataType.UInt16 && Xtc2Detector.FamilyOf(first.Names.DetType, psanaClass) is { } family
                ? $"raw is {rawField.Type}, but a {family.ToLowerInvariant()}'s raw is a UINT16 word (data bits and gain bits): not read as this detector"
            : ElementTypeOf(rawField.Type) is null ? $"raw is {rawField.Type}, not a pixel type RunProc reads (uint8, uint16, int16, uint32, int32, float)"
            : null;
        var streams = defs.Select(d => d.Stream).Distinct().ToList();
        var timeline = Join(streams);
        var skip = Math.Min(Math.Max(0, sel.SkipEvents), timeline.Count);
        var take = (int)Math.Min(timeline.Count - skip, sel.Events ?? long.MaxValue);
        long incomplete = 0, damaged = 0;
        int[] shape = Array.Empty<int>();
        var pointers = new List<nint>();
        if (notAFrame is null)
        {
            var segs = new nint[defs.Count];
            var bySegment = new Dictionary<(Stream, uint), int>();
            for (var i = 0; i < defs.Count; i++) bySegment[(defs[i].Stream, defs[i].Names.NamesId)] = i;
            for (var e = (int)skip; e < skip + take; e++)
            {
                ushort damage = 0;
                Array.Clear(segs);
                var (refs, _) = timeline[e];
                foreach (var (stream, ev) in refs)
                    damage |= ReadEvent(stream, ev, bySegment, defs, segs, ref shape);
                if (segs.Any(p => p == 0))
                    incomplete++;
                else if (damage != 0 && !sel.IncludeDamaged)
                    damaged++;
                else
                {
                    if (damage != 0) damaged++;
                    pointers.AddRange(segs);
                }
            }
        }
        var segPixels = shape.Aggregate(1L, (a, b) => a * b);
        Xtc2FrameSource? frames = null;
        if (notAFrame is null && shape.Length == 0)
        {
            // No event had the segments at all: an empty source, so the detector is listed with its counts.
            frames = new Xtc2FrameSource(Array.Empty<nint>(), defs.Count, 0)
            {
                File = first.Stream.Chunks[0].File.Path, Dataset = first.Names.DetName, FrameShape = new[] { 0 },
                FrameCount = 0, ElementType = ElementTypeOf(rawField.Type)!.Value,
            };
        }
        else if (notAFrame is null)
        {
            if (segPixels * defs.Count > int.MaxValue)
                throw first.Stream.Chunks[0].File.Error(-1, 0, $"a frame of {defs.Count} segments of ({string.Join(",", shape)}) is too large.");
            var frameShape = defs.Count == 1 ? shape
                : shape.Length == 2 ? new[] { defs.Count, shape[0], shape[1] }
                : new[] { checked(defs.Count * shape[0]), shape[1], shape[2] };
            frames = new Xtc2FrameSource(pointers.ToArray(), defs.Count, (int)segPixels)
            {
                File = first.Stream.Chunks[0].File.Path, Dataset = first.Names.DetName, FrameShape = frameShape,
                FrameCount = pointers.Count / defs.Count, ElementType = ElementTypeOf(rawField.Type)!.Value,
            };
        }
        return new Xtc2Detector
        {
            DetName = first.Names.DetName, DetType = first.Names.DetType,
            PsanaClass = psanaClass,
            Segments = defs.Select(d => d.Names.Segment).ToArray(), Streams = streams.Select(s => s.Number).ToArray(),
            SegmentShape = shape, RawType = rawField.Type, EventsInRun = timeline.Count, EventsSelected = take,
            SkippedIncomplete = incomplete, DamagedEvents = damaged, DamagedIncluded = sel.IncludeDamaged,
            Frames = frames, NotAFrame = notAFrame,
        };
    }

    /// <summary>
    /// Reads one stream's dgram of an event: checks it (against its smalldata entry too), finds
    /// the ShapesData of this detector's segments, checks each raw field against its Data, and
    /// puts its address into <paramref name="segs"/>. Returns the event's damage.
    /// </summary>
    private static unsafe ushort ReadEvent(Stream s, in EventRef ev, Dictionary<(Stream, uint), int> bySegment, List<SegmentDef> defs, nint[] segs, ref int[] shape)
    {
        var file = s.Chunks[ev.Chunk].File;
        var d = file.DgramAt(ev.Offset, ev.Index);
        if (ev.FromIndex && (d.Time != ev.Time || d.Env != ev.Env || d.Size != ev.Size))
            throw file.Error(ev.Index, ev.Offset, $"the smalldata index puts an L1Accept of {ev.Size} bytes at time {ev.Time >> 32}.{ev.Time & 0xFFFFFFFF:D9} here, but the dgram here is a {d.Transition} of {d.Size} bytes at {d.Seconds}.{d.Nanoseconds:D9}: the index does not describe this chunk.");
        var blocks = file.Blocks(d, out var damage);
        foreach (var x in blocks)
        {
            if (x.TypeId != Xtc2TypeId.ShapesData)
                continue;
            // A ShapesData the DAQ marked Corrupted is not trusted (as the C++ iterator does not
            // descend into it): its segment counts as missing, the event as damaged.
            if ((x.Damage & Xtc2Format.DamageCorrupted) != 0)
            {
                damage |= x.Damage;
                continue;
            }
            if (!s.Names.ContainsKey(x.NamesId))
                throw file.Error(d.Index, x.Offset, $"a ShapesData with NamesId 0x{x.NamesId:X}, which the Configure of stream s{s.Number:D3} does not define (a corrupt dgram).");
            if (!bySegment.TryGetValue((s, x.NamesId), out var seg))
                continue;
            var def = defs[seg];
            if (segs[seg] != 0)
                throw file.Error(d.Index, x.Offset, $"segment {def.Names.Segment} of {def.Names.DetName} appears twice in one event.");
            var (offset, dims) = file.LocateField(x, def.Names, def.Field, d.Index, out var dd);
            damage |= dd;
            if (dims.Any(v => v > int.MaxValue))
                throw file.Error(d.Index, x.Offset, $"segment {def.Names.Segment} of {def.Names.DetName} has a raw shape ({string.Join(",", dims)}) with an oversized dimension.");
            if (dims.Any(v => v == 0))
                continue; // an empty raw (no pixels read out): the segment counts as missing
            if (shape.Length == 0)
                shape = dims.Select(v => (int)v).ToArray();
            else if (!shape.SequenceEqual(dims.Select(v => (int)v)))
                throw file.Error(d.Index, x.Offset, $"segment {def.Names.Segment} of {def.Names.DetName} has raw shape ({string.Join(",", dims)}) here but ({string.Join(",", shape)}) in earlier events.");
            segs[seg] = (nint)file.At(offset);
        }
        return damage;
    }

    /// <summary>The L1Accepts of <paramref name="streams"/> merged by time: per timeline event, each stream's dgram at that time.</summary>
    private static List<(List<(Stream, EventRef)> Refs, ulong Time)> Join(List<Stream> streams)
    {
        var timeline = new List<(List<(Stream, EventRef)>, ulong)>();
        var at = new int[streams.Count];
        while (true)
        {
            var t = ulong.MaxValue;
            var any = false;
            for (var i = 0; i < streams.Count; i++)
                if (at[i] < streams[i].Events.Count)
                {
                    any = true;
                    t = Math.Min(t, streams[i].Events[at[i]].Time);
                }
            if (!any)
                return timeline;
            var refs = new List<(Stream, EventRef)>(streams.Count);
            for (var i = 0; i < streams.Count; i++)
                if (at[i] < streams[i].Events.Count && streams[i].Events[at[i]].Time == t)
                    refs.Add((streams[i], streams[i].Events[at[i]++]));
            timeline.Add((refs, t));
        }
    }

    internal static FrameElementType? ElementTypeOf(Xtc2DataType t) => t switch
    {
        Xtc2DataType.UInt8 => FrameElementType.UInt8,
        Xtc2DataType.UInt16 => FrameElementType.UInt16,
        Xtc2DataType.Int16 => FrameElementType.Int16,
        Xtc2DataType.UInt32 => FrameElementType.UInt32,
        Xtc2DataType.Int32 => FrameElementType.Int32,
        Xtc2DataType.Float => FrameElementType.Float32,
        _ => null,
    };

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
    }
}

/// <summary>
/// The frames of one xtc2 detector: per event, the in-place address of each segment's raw array
/// in the mapped chunk files (segments ascending). uint16 segments go to the kernel in place;
/// reading a frame into a buffer stacks its segments.
/// </summary>
public sealed unsafe class Xtc2FrameSource : FrameSource
{
    private readonly nint[] _segments;
    private readonly int _pieces;
    private readonly int _piecePixels;

    internal Xtc2FrameSource(nint[] segments, int pieces, int piecePixels)
    {
        _segments = segments;
        _pieces = pieces;
        _piecePixels = piecePixels;
    }

    public override int FramePieces => _pieces;

    private void Check(long first, int count)
    {
        if (first < 0 || count < 0 || first + count > FrameCount)
            throw new ArgumentOutOfRangeException(nameof(first), $"frames {first}..{first + count} are outside 0..{FrameCount}.");
    }

    public override bool TryGetUInt16Pieces(long first, int count, int piece, Span<nint> dest)
    {
        Check(first, count);
        if (ElementType != FrameElementType.UInt16 || piece < 0 || piece >= _pieces)
            return false;
        for (var i = 0; i < count; i++)
            dest[i] = _segments[(first + i) * _pieces + piece];
        return true;
    }

    public override ushort* TryGetUInt16Pointer(long first, int count) => null;

    public override void ReadUInt16(long first, int count, Span<ushort> dest)
    {
        if (ElementType != FrameElementType.UInt16)
            throw new InvalidOperationException($"{Where} holds {ElementType}, not uint16.");
        Check(first, count);
        for (var f = 0; f < count; f++)
            for (var s = 0; s < _pieces; s++)
                new ReadOnlySpan<ushort>((void*)_segments[(first + f) * _pieces + s], _piecePixels)
                    .CopyTo(dest.Slice((f * _pieces + s) * _piecePixels, _piecePixels));
    }

    public override void ReadInt32(long first, int count, Span<int> dest, uint dataMask)
    {
        Check(first, count);
        for (var f = 0; f < count; f++)
            for (var s = 0; s < _pieces; s++)
            {
                var p = (void*)_segments[(first + f) * _pieces + s];
                var d = dest.Slice((f * _pieces + s) * _piecePixels, _piecePixels);
                var n = _piecePixels;
                switch (ElementType)
                {
                    case FrameElementType.UInt8: Convert(new ReadOnlySpan<byte>(p, n), d, dataMask); break;
                    case FrameElementType.UInt16: Convert(new ReadOnlySpan<ushort>(p, n), d, dataMask); break;
                    case FrameElementType.Int16: Convert(new ReadOnlySpan<short>(p, n), d, dataMask); break;
                    case FrameElementType.UInt32: Convert(new ReadOnlySpan<uint>(p, n), d, dataMask); break;
                    case FrameElementType.Int32: Convert(new ReadOnlySpan<int>(p, n), d, dataMask); break;
                    default: Convert(new ReadOnlySpan<float>(p, n), d); break;
                }
            }
    }
}
