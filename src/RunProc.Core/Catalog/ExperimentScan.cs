using System.Globalization;

namespace RunProc.Catalog;

/// <summary>One run file as listed: parsed name, size and write time (UTC ticks).</summary>
internal struct ScannedFile
{
    public RunFileName Name;
    public long Length;
    public long MtimeTicks;
}

/// <summary>The files of one run number in one listing, sorted in stream/chunk order.</summary>
internal sealed class ScannedRun
{
    public required int Run { get; init; }
    public required ScannedFile[] Files { get; set; }

    public bool InProgress => Files.Any(f => f.Name.InProgress);

    public long NewestTicks
    {
        get
        {
            long n = 0;
            foreach (var f in Files)
                n = Math.Max(n, f.MtimeTicks);
            return n;
        }
    }

    /// <summary>Readiness against <paramref name="nowUtc"/>; recomputed on every use so a cached run never has stale readiness.</summary>
    public (bool Ready, string? Reason) Readiness(DateTime nowUtc, int settleSeconds)
    {
        var inProgress = Files.Where(f => f.Name.InProgress).ToList();
        if (inProgress.Count > 0)
            return (false, inProgress.Count == 1
                ? $"file {inProgress[0].Name} is still being written"
                : $"{inProgress.Count} files are still being written ({inProgress[0].Name}, ...)");
        var newest = Files.MaxBy(f => f.MtimeTicks);
        var age = nowUtc - new DateTime(newest.MtimeTicks, DateTimeKind.Utc);
        if (age < TimeSpan.FromSeconds(settleSeconds))
            return (false, age < TimeSpan.Zero
                ? $"newest file {newest.Name} has a write time in the future ({-age.TotalSeconds:0} s ahead; clock skew?)"
                : string.Create(CultureInfo.InvariantCulture, $"newest file {newest.Name} was written {age.TotalSeconds:0} s ago; settle time is {settleSeconds} s"));
        return (true, null);
    }

    public static int CompareFiles(ScannedFile a, ScannedFile b)
    {
        var c = a.Name.Stream.CompareTo(b.Name.Stream);
        if (c != 0) return c;
        c = a.Name.Chunk.CompareTo(b.Name.Chunk);
        if (c != 0) return c;
        c = a.Name.Kind.CompareTo(b.Name.Kind);
        if (c != 0) return c;
        c = a.Name.InProgress.CompareTo(b.Name.InProgress);
        return c != 0 ? c : string.CompareOrdinal(a.Name.Prefix, b.Name.Prefix);
    }
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

    /// <summary>Runs in ascending run order.</summary>
    public required List<ScannedRun> Runs { get; init; }

    /// <summary>True when this scan came from the cache without listing the directory.</summary>
    public bool FromCache { get; set; }

    public ScannedRun? Find(int run)
    {
        int lo = 0, hi = Runs.Count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >> 1;
            var r = Runs[mid].Run;
            if (r == run) return Runs[mid];
            if (r < run) lo = mid + 1; else hi = mid - 1;
        }
        return null;
    }

    public RunInfo ToRunInfo(ScannedRun run, DateTime nowUtc, int settleSeconds)
    {
        var files = new string[run.Files.Length];
        long bytes = 0;
        for (var i = 0; i < files.Length; i++)
        {
            files[i] = Path.Join(Directory, run.Files[i].Name.ToString());
            bytes += run.Files[i].Length;
        }
        var (ready, reason) = run.Readiness(nowUtc, settleSeconds);
        return new RunInfo
        {
            Instrument = Instrument,
            Experiment = Experiment,
            Run = run.Run,
            Files = files,
            Bytes = bytes,
            LastWriteTimeUtc = new DateTime(run.NewestTicks, DateTimeKind.Utc),
            Ready = ready,
            NotReadyReason = reason,
        };
    }
}
