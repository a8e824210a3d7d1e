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

    public string FilePath(in RunRecord run, int i) => Path.Join(Directory, FileName(run, i).ToString());

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

    public RunInfo ToRunInfo(in RunRecord run, DateTime nowUtc, int settleSeconds)
    {
        var files = new string[run.FileCount];
        for (var i = 0; i < files.Length; i++)
            files[i] = FilePath(run, i);
        var reason = NotReadyReason(run, nowUtc, settleSeconds);
        return new RunInfo
        {
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

    /// <summary>Builds a scan from listed files (any order).</summary>
    public static ExperimentScan Build(string instrument, string experiment, string directory, long mtime, long listedAt,
        List<(RunFileName Name, long Length, long Mtime)> files)
    {
        files.Sort((a, b) =>
        {
            var c = a.Name.Run.CompareTo(b.Name.Run);
            if (c != 0) return c;
            c = a.Name.Stream.CompareTo(b.Name.Stream);
            if (c != 0) return c;
            c = a.Name.Chunk.CompareTo(b.Name.Chunk);
            if (c != 0) return c;
            c = a.Name.Kind.CompareTo(b.Name.Kind);
            if (c != 0) return c;
            c = a.Name.InProgress.CompareTo(b.Name.InProgress);
            return c != 0 ? c : string.CompareOrdinal(a.Name.Prefix, b.Name.Prefix);
        });
        var patterns = new List<RunFileName>();
        var patternIndex = new Dictionary<RunFileName, int>();
        var index = new int[files.Count];
        var runs = new List<RunRecord>();
        var i = 0;
        while (i < files.Count)
        {
            var start = i;
            var run = files[i].Name.Run;
            long bytes = 0, newest = long.MinValue;
            int newestFile = 0;
            var inProgress = false;
            for (; i < files.Count && files[i].Name.Run == run; i++)
            {
                var key = files[i].Name with { Run = 0 };
                if (!patternIndex.TryGetValue(key, out var p))
                {
                    patternIndex[key] = p = patterns.Count;
                    patterns.Add(key);
                }
                index[i] = p;
                bytes += files[i].Length;
                if (files[i].Mtime > newest) { newest = files[i].Mtime; newestFile = i - start; }
                inProgress |= files[i].Name.InProgress;
            }
            runs.Add(new RunRecord { Run = run, FileStart = start, FileCount = i - start, Bytes = bytes, NewestTicks = newest, NewestFile = newestFile, InProgress = inProgress ? (byte)1 : (byte)0 });
        }
        return new ExperimentScan
        {
            Instrument = instrument, Experiment = experiment, Directory = directory, DirectoryExists = true,
            DirectoryMtimeTicks = mtime, ListedAtTicks = listedAt, Patterns = patterns.ToArray(), FileIndex = index, Runs = runs.ToArray(),
        };
    }
}
