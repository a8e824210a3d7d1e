using System.Runtime.CompilerServices;
using System.Globalization;
using System.Runtime.InteropServices;

namespace RunProc.Catalog;

/// <summary>
/// One run number of one listing. File names live in the experiment's pattern table (a run's files
/// differ from another run's only by the run number), so a cached catalog of 600k files needs no
/// per-file strings or objects; the record is blittable so the cache stores and loads an
/// experiment's runs as one block of bytes.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct RunRecord
{
    public int Run;

    /// <summary>First index of this run's files in <see cref="ExperimentScan.FileIndex"/>, in stream/chunk order.</summary>
    public int FileStart;
    public int FileCount;
    public long Bytes;
    public long NewestTicks;

    /// <summary>Which of the run's files (0-based) is the newest.</summary>
    public int NewestFile;

    /// <summary>1 when any file of the run is *.inprogress.</summary>
    public byte InProgress;

    /// <summary>
    /// 1 when the run was ready when its files were last stat'ed. Only such runs are trusted without a
    /// new stat; a run that was not ready is re-checked (its files may have grown since).
    /// <see cref="NotStatted"/>: a run recorded as done, listed by name only (size and time unknown).
    /// </summary>
    public byte Settled;

    /// <summary><see cref="Settled"/> of a run whose files were listed but not stat'ed (a full scan does not stat recorded runs).</summary>
    public const byte NotStatted = 2;

    public readonly bool Statted => Settled != NotStatted;
}

/// <summary>
/// The run files of one experiment's run directory as of one listing, plus what the incremental
/// scan needs to decide whether the listing is still valid (directory mtime, listing time).
/// </summary>
internal sealed class ExperimentScan
{
    public required string Instrument { get; init; }
    public required string Experiment { get; init; }

    /// <summary>Full path of the run directory (&lt;DataRoot&gt;/&lt;INS&gt;/&lt;exp&gt;/&lt;RunDirectory&gt;).</summary>
    public required string Directory { get; init; }

    public bool DirectoryExists { get; init; }

    /// <summary>Directory write time (UTC ticks) when listed.</summary>
    public long DirectoryMtimeTicks { get; init; }

    /// <summary>UTC ticks taken just before the listing began.</summary>
    public long ListedAtTicks { get; init; }

    /// <summary>Distinct file names with the run number left out (Run = 0).</summary>
    public required RunFileName[] Patterns { get; init; }

    /// <summary>Pattern index of every file, runs after each other.</summary>
    public required int[] FileIndex { get; init; }

    /// <summary>Runs in ascending run order.</summary>
    public required RunRecord[] Runs { get; init; }

    /// <summary>True when this scan came from the cache without listing the directory.</summary>
    public bool FromCache { get; set; }

    public static ExperimentScan Missing(string instrument, string experiment, string directory) => new()
    {
        Instrument = instrument, Experiment = experiment, Directory = directory, DirectoryExists = false,
        Patterns = Array.Empty<RunFileName>(), FileIndex = Array.Empty<int>(), Runs = Array.Empty<RunRecord>(),
    };

    public RunFileName FileName(in RunRecord run, int i) => Patterns[FileIndex[run.FileStart + i]] with { Run = run.Run };

    public string FilePath(in RunRecord run, int i) => FileName(run, i).PathIn(Directory);

    /// <summary>Index of <paramref name="run"/> in <see cref="Runs"/>, or -1.</summary>
    public int Find(int run)
    {
        int lo = 0, hi = Runs.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >> 1;
            var r = Runs[mid].Run;
            if (r == run) return mid;
            if (r < run) lo = mid + 1; else hi = mid - 1;
        }
        return -1;
    }

    /// <summary>
    /// A run's record from its files: sizes and newest time as summed and found, or as <paramref name="reused"/>
    /// (a cached listing whose files did not change) has them; not stat'ed, no time and "not stat'ed".
    /// </summary>
    private static RunRecord Record(int run, int fileStart, int count, long bytes, long newest, int newestFile, bool inProgress,
        RunRecord? reused, bool statted, DateTime nowUtc, int settleSeconds)
    {
        var record = new RunRecord { Run = run, FileStart = fileStart, FileCount = count, Bytes = bytes, NewestTicks = newest, NewestFile = newestFile, InProgress = inProgress ? (byte)1 : (byte)0 };
        if (reused is { } rr)
        {
            record.Bytes = rr.Bytes;
            record.NewestTicks = rr.NewestTicks;
            record.NewestFile = rr.NewestFile;
        }
        if (!statted)
        {
            record.NewestTicks = 0;
            record.Settled = RunRecord.NotStatted;
        }
        else
            record.Settled = IsReady(record, nowUtc, settleSeconds) ? (byte)1 : (byte)0;
        return record;
    }

    /// <summary>Readiness against <paramref name="nowUtc"/>; recomputed on every use so a cached run never has stale readiness.</summary>
    public static bool IsReady(in RunRecord run, DateTime nowUtc, int settleSeconds) =>
        run.InProgress == 0 && nowUtc.Ticks - run.NewestTicks >= TimeSpan.TicksPerSecond * settleSeconds;

    /// <summary>Why a run is not ready, or null.</summary>
    public string? NotReadyReason(in RunRecord run, DateTime nowUtc, int settleSeconds)
    {
        if (run.InProgress != 0)
        {
            var names = new List<RunFileName>();
            for (var i = 0; i < run.FileCount; i++)
                if (FileName(run, i).InProgress) names.Add(FileName(run, i));
            return names.Count == 1
                ? $"file {names[0]} is still being written"
                : $"{names.Count} files are still being written ({names[0]}, ...)";
        }
        var age = new TimeSpan(nowUtc.Ticks - run.NewestTicks);
        if (age >= TimeSpan.FromSeconds(settleSeconds))
            return null;
        var newest = FileName(run, run.NewestFile);
        return age < TimeSpan.Zero
            ? string.Create(CultureInfo.InvariantCulture, $"newest file {newest} has a write time in the future ({-age.TotalSeconds:0} s ahead; clock skew?)")
            : string.Create(CultureInfo.InvariantCulture, $"newest file {newest} was written {age.TotalSeconds:0} s ago; settle time is {settleSeconds} s");
    }

    public RunInfo ToRunInfo(in RunRecord run, DateTime nowUtc, int settleSeconds, string process = "")
    {
        var files = new string[run.FileCount];
        for (var i = 0; i < files.Length; i++)
            files[i] = FilePath(run, i);
        var reason = NotReadyReason(run, nowUtc, settleSeconds);
        return new RunInfo
        {
            Process = process,
            Instrument = Instrument,
            Experiment = Experiment,
            Run = run.Run,
            Files = files,
            Bytes = run.Bytes,
            LastWriteTimeUtc = new DateTime(run.NewestTicks, DateTimeKind.Utc),
            Ready = reason is null,
            NotReadyReason = reason,
        };
    }

    /// <summary>The same listing restricted to the runs <paramref name="keep"/> selects (own pattern table and file index).</summary>
    public ExperimentScan Subset(Func<RunRecord, bool> keep)
    {
        var patterns = new List<RunFileName>();
        var map = new Dictionary<int, int>();
        var index = new List<int>();
        var runs = new List<RunRecord>();
        foreach (var r in Runs)
        {
            if (!keep(r))
                continue;
            var start = index.Count;
            for (var k = 0; k < r.FileCount; k++)
            {
                var old = FileIndex[r.FileStart + k];
                if (!map.TryGetValue(old, out var neu))
                {
                    map[old] = neu = patterns.Count;
                    patterns.Add(Patterns[old]);
                }
                index.Add(neu);
            }
            runs.Add(r with { FileStart = start });
        }
        return new ExperimentScan
        {
            Instrument = Instrument, Experiment = Experiment, Directory = Directory, DirectoryExists = DirectoryExists,
            DirectoryMtimeTicks = DirectoryMtimeTicks, ListedAtTicks = ListedAtTicks,
            Patterns = patterns.ToArray(), FileIndex = index.ToArray(), Runs = runs.ToArray(),
        };
    }

    /// <summary>
    /// Equality of file name patterns without the record struct's field-by-field default (the
    /// prefix is almost always the experiment's own string: a reference compare).
    /// </summary>
    private sealed class PatternComparer : IEqualityComparer<RunFileName>
    {
        public static readonly PatternComparer Instance = new();

        public bool Equals(RunFileName a, RunFileName b) => Same(a, b);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool Same(in RunFileName a, in RunFileName b) =>
            a.Run == b.Run && a.Stream == b.Stream && a.Chunk == b.Chunk && a.Kind == b.Kind && a.InProgress == b.InProgress
            && a.RunWidth == b.RunWidth && a.StreamWidth == b.StreamWidth && a.ChunkWidth == b.ChunkWidth
            && (ReferenceEquals(a.Prefix, b.Prefix) || string.Equals(a.Prefix, b.Prefix, StringComparison.Ordinal));

        public int GetHashCode(RunFileName n) =>
            HashCode.Combine(n.Run, n.Stream, n.Chunk,
                (int)n.Kind | (n.InProgress ? 0x100 : 0) | (n.RunWidth << 9) | (n.StreamWidth << 13) | (n.ChunkWidth << 17), n.Prefix.Length);
    }

    /// <summary>Run, then stream/chunk order: the order of <see cref="RunInfo.Files"/>.</summary>
    public static int CompareNames(RunFileName a, RunFileName b)
    {
        var c = a.Run.CompareTo(b.Run);
        if (c != 0) return c;
        c = a.Stream.CompareTo(b.Stream);
        if (c != 0) return c;
        c = a.Chunk.CompareTo(b.Chunk);
        if (c != 0) return c;
        c = a.Kind.CompareTo(b.Kind);
        if (c != 0) return c;
        c = a.InProgress.CompareTo(b.InProgress);
        return c != 0 ? c : string.CompareOrdinal(a.Prefix, b.Prefix);
    }

    /// <summary>
    /// Sorts listed names by <see cref="CompareNames"/>. When every name has the same prefix (the
    /// usual case) the order is that of one packed integer key: the names are placed by run number
    /// (a counting sort: run numbers are dense) and the few files of a run sorted by the key, in
    /// linear time and without a generic comparer (the listing comes in hash order).
    /// </summary>
    public static void SortNames(List<RunFileName> names)
    {
        var n = names.Count;
        if (n < 2)
            return;
        var span = CollectionsMarshal.AsSpan(names);
        var prefix = span[0].Prefix;
        int min = int.MaxValue, max = int.MinValue;
        var sorted = true;
        for (var i = 0; i < span.Length; i++)
        {
            if (!ReferenceEquals(span[i].Prefix, prefix) && span[i].Prefix != prefix)
            {
                names.Sort(CompareNames);
                return;
            }
            var run = span[i].Run;
            if (run < min) min = run;
            if (run > max) max = run;
            sorted &= i == 0 || Key(span[i - 1]) <= Key(span[i]);
        }
        if (sorted)
            return;
        var range = (long)max - min + 1;
        if (range > 4L * n + 1024)
        {
            // Sparse run numbers: sort by the packed key.
            var keys = new long[n];
            for (var i = 0; i < n; i++)
                keys[i] = Key(span[i]);
            var all = span.ToArray();
            Array.Sort(keys, all);
            all.CopyTo(span);
            return;
        }
        // Per-thread scratch: a full scan sorts 1,000 listings (see RunCatalog.List).
        var starts = RunFileKey.Scratch(ref t_starts, (int)range + 1);
        starts.AsSpan(0, (int)range + 1).Clear();
        foreach (ref readonly var name in span)
            starts[name.Run - min + 1]++;
        for (var r = 1; r <= range; r++)
            starts[r] += starts[r - 1];
        var items = RunFileKey.Scratch(ref t_items, n);
        foreach (ref readonly var name in span)
            items[starts[name.Run - min]++] = name;
        // Within a run (a few files): insertion sort by the key.
        for (var i = 1; i < n; i++)
        {
            var item = items[i];
            var key = Key(item);
            var j = i - 1;
            while (j >= 0 && items[j].Run == item.Run && Key(items[j]) > key)
            {
                items[j + 1] = items[j];
                j--;
            }
            items[j + 1] = item;
        }
        items.AsSpan(0, n).CopyTo(span);
        // No references kept from a scratch buffer (the prefixes are the experiments' names).
        items.AsSpan(0, n).Clear();
    }

    [ThreadStatic] private static int[]? t_starts;
    [ThreadStatic] private static RunFileName[]? t_items;
    [ThreadStatic] private static List<int>? t_index;
    [ThreadStatic] private static List<RunRecord>? t_runs;


    // run < 2^21 (Names.IsRun), stream and chunk < 2^10 (3 digits), kind 2 bits, in progress 1 bit
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static long Key(RunFileName n) =>
        ((long)n.Run << 23) | ((long)n.Stream << 13) | ((long)n.Chunk << 3) | ((long)n.Kind << 1) | (n.InProgress ? 1L : 0L);

    /// <summary>True when run <paramref name="i"/> has exactly the files <paramref name="names"/>[start..end) (sorted).</summary>
    public bool SameFiles(int i, List<RunFileName> names, int start, int end)
    {
        ref readonly var r = ref Runs[i];
        if (r.FileCount != end - start)
            return false;
        for (var k = 0; k < r.FileCount; k++)
            if (FileName(r, k) != names[start + k])
                return false;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FindPattern(List<RunFileName> patterns, Dictionary<RunFileName, int>? index, in RunFileName key)
    {
        if (index is not null)
            return index.TryGetValue(key, out var p) ? p : -1;
        var span = CollectionsMarshal.AsSpan(patterns);
        for (var i = 0; i < span.Length; i++)
            if (PatternComparer.Same(span[i], key))
                return i;
        return -1;
    }

    /// <summary>True when run <paramref name="i"/> has exactly the files <paramref name="keys"/>[start..end) (sorted, the experiment's own prefix).</summary>
    public bool SameFiles(int i, ReadOnlySpan<ulong> keys, int start, int end)
    {
        ref readonly var r = ref Runs[i];
        if (r.FileCount != end - start)
            return false;
        for (var k = 0; k < r.FileCount; k++)
        {
            var name = FileName(r, k);
            if (!string.Equals(name.Prefix, Experiment, StringComparison.Ordinal) || !RunFileKey.Fits(name) || RunFileKey.Pack(name) != keys[start + k])
                return false;
        }
        return true;
    }

    /// <summary>
    /// <see cref="Build"/> for a listing whose names all have the experiment's own prefix, given as
    /// sorted <see cref="RunFileKey"/>s (the common case: no string-holding struct is copied per file).
    /// </summary>
    public static ExperimentScan BuildOwn(string instrument, string experiment, string directory, long mtime, long listedAt,
        ReadOnlySpan<ulong> sorted, Func<RunFileName, (long Length, long Mtime)?> stat, DateTime nowUtc, int settleSeconds,
        Func<int, int, RunRecord?>? reuse = null, Func<int, bool>? needsStat = null)
    {
        // A run's files differ from another run's only by the run number: a few patterns, found by a
        // linear search; a dictionary only for a directory with many.
        var patterns = t_patterns ??= new List<ulong>(16);
        patterns.Clear();
        Dictionary<ulong, int>? patternIndex = null;
        var index = t_index ??= new List<int>(1024);
        var runs = t_runs ??= new List<RunRecord>(512);
        index.Clear();
        runs.Clear();
        var i = 0;
        while (i < sorted.Length)
        {
            var start = i;
            var run = RunFileKey.Run(sorted[i]);
            while (i < sorted.Length && RunFileKey.Run(sorted[i]) == run) i++;
            var fileStart = index.Count;
            var reused = reuse?.Invoke(start, i);
            var statted = reused is not null || needsStat is null || needsStat(run);
            long bytes = 0, newest = long.MinValue;
            int newestFile = 0, count = 0;
            var inProgress = false;
            for (var k = start; k < i; k++)
            {
                long length = 0, fmtime = 0;
                if (reused is null && statted)
                {
                    if (stat(RunFileKey.Unpack(sorted[k], experiment)) is not { } st)
                        continue; // removed between listing and stat
                    (length, fmtime) = st;
                }
                var key = sorted[k] & RunFileKey.PatternMask;
                int p;
                if (patternIndex is not null)
                {
                    if (!patternIndex.TryGetValue(key, out p))
                        patternIndex[key] = p = Add(patterns, key);
                }
                else
                {
                    p = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(patterns).IndexOf(key);
                    if (p < 0)
                    {
                        p = Add(patterns, key);
                        if (patterns.Count > 16)
                        {
                            patternIndex = new Dictionary<ulong, int>();
                            for (var q = 0; q < patterns.Count; q++)
                                patternIndex[patterns[q]] = q;
                        }
                    }
                }
                index.Add(p);
                bytes += length;
                if (fmtime > newest) { newest = fmtime; newestFile = count; }
                inProgress |= ((sorted[k] >> 20) & 1) != 0;
                count++;
            }
            if (count == 0)
                continue;
            runs.Add(Record(run, fileStart, count, bytes, newest, newestFile, inProgress, reused, statted, nowUtc, settleSeconds));
        }
        var names = new RunFileName[patterns.Count];
        for (var p = 0; p < names.Length; p++)
            names[p] = RunFileKey.Unpack(patterns[p], experiment);
        var result = new ExperimentScan
        {
            Instrument = instrument, Experiment = experiment, Directory = directory, DirectoryExists = true,
            DirectoryMtimeTicks = mtime, ListedAtTicks = listedAt, Patterns = names, FileIndex = index.ToArray(), Runs = runs.ToArray(),
        };
        if (index.Capacity > 1 << 16) t_index = null; else index.Clear();
        if (runs.Capacity > 1 << 14) t_runs = null; else runs.Clear();
        return result;
    }

    private static int Add(List<ulong> patterns, ulong key)
    {
        patterns.Add(key);
        return patterns.Count - 1;
    }

    [ThreadStatic] private static List<ulong>? t_patterns;

    /// <summary>
    /// Builds a scan from listed files sorted by <see cref="CompareNames"/>. <paramref name="stat"/>
    /// gives a file's size and write time (null if it vanished); <paramref name="reuse"/> may supply a
    /// run's sizes and times from an earlier scan instead (so its files need no stat);
    /// <paramref name="needsStat"/> false for a run: its files are not stat'ed at all
    /// (<see cref="RunRecord.NotStatted"/>; null: every run is).
    /// </summary>
    public static ExperimentScan Build(string instrument, string experiment, string directory, long mtime, long listedAt,
        List<RunFileName> sorted, Func<RunFileName, (long Length, long Mtime)?> stat, DateTime nowUtc, int settleSeconds,
        Func<int, int, RunRecord?>? reuse = null, Func<int, bool>? needsStat = null)
    {
        var patterns = new List<RunFileName>();
        // A run's files differ from another run's only by the run number: a few patterns, found by a
        // linear search; a dictionary only for a directory with many (a long-running stream/chunk set).
        Dictionary<RunFileName, int>? patternIndex = null;
        // Per-thread scratch, copied out once at the end.
        var index = t_index ??= new List<int>(1024);
        var runs = t_runs ??= new List<RunRecord>(512);
        index.Clear();
        runs.Clear();
        var i = 0;
        while (i < sorted.Count)
        {
            var start = i;
            var run = sorted[i].Run;
            while (i < sorted.Count && sorted[i].Run == run) i++;
            var fileStart = index.Count;
            var reused = reuse?.Invoke(start, i);
            var statted = reused is not null || needsStat is null || needsStat(run);
            long bytes = 0, newest = long.MinValue;
            int newestFile = 0, count = 0;
            var inProgress = false;
            for (var k = start; k < i; k++)
            {
                long length = 0, fmtime = 0;
                if (reused is null && statted)
                {
                    if (stat(sorted[k]) is not { } st)
                        continue; // removed between listing and stat
                    (length, fmtime) = st;
                }
                var key = sorted[k] with { Run = 0 };
                var p = FindPattern(patterns, patternIndex, key);
                if (p < 0)
                {
                    p = patterns.Count;
                    patterns.Add(key);
                    if (patternIndex is not null)
                        patternIndex[key] = p;
                    else if (patterns.Count > 16)
                    {
                        patternIndex = new Dictionary<RunFileName, int>(PatternComparer.Instance);
                        for (var q = 0; q < patterns.Count; q++)
                            patternIndex[patterns[q]] = q;
                    }
                }
                index.Add(p);
                bytes += length;
                if (fmtime > newest) { newest = fmtime; newestFile = count; }
                inProgress |= sorted[k].InProgress;
                count++;
            }
            if (count == 0)
                continue;
            runs.Add(Record(run, fileStart, count, bytes, newest, newestFile, inProgress, reused, statted, nowUtc, settleSeconds));
        }
        var result = new ExperimentScan
        {
            Instrument = instrument, Experiment = experiment, Directory = directory, DirectoryExists = true,
            DirectoryMtimeTicks = mtime, ListedAtTicks = listedAt, Patterns = patterns.ToArray(), FileIndex = index.ToArray(), Runs = runs.ToArray(),
        };
        if (index.Capacity > 1 << 16) t_index = null; else index.Clear();
        if (runs.Capacity > 1 << 14) t_runs = null; else runs.Clear();
        return result;
    }
}
