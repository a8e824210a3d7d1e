using RunProc.Catalog;
using RunProc.Db;
using Xunit;

namespace RunProc.Tests.Catalog;

/// <summary>
/// The scan cache files a process last loaded or saved are used again by its next scan as it left
/// them (no read, no decode), only while the files are unchanged, and never at the cost of a change.
/// </summary>
public class WarmCacheFilesTests
{
    private static (int[] Runs, List<string> Verbose) Scan(ProcDb db)
    {
        var verbose = new List<string>();
        var runs = new RunScan(db).Pending(new RunScanQuery { All = true, Verbose = verbose.Add }).Select(r => r.Run).ToArray();
        return (runs, verbose);
    }

    private static string? Warm(List<string> verbose) => verbose.FirstOrDefault(v => v.Contains("unchanged since this process's last scan"));

    private static Facility Setup(out ProcDb db)
    {
        var f = new Facility();
        f.Run("XPP", "xpptut15", 1);
        f.Run("XPP", "xpptut15", 2);
        Directory.SetLastWriteTimeUtc(f.RunDir("XPP", "xpptut15"), Facility.Old);
        db = new ProcDb(f.Config, "pixel_status");
        var file = db.ProcessedFile("xpptut15");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, "0001 2017-10-05T15:19:21 a b cwd:/ cmd:x\n");
        File.SetLastWriteTimeUtc(file, Facility.Old);
        return f;
    }

    [Fact]
    public void The_next_scan_uses_the_files_as_this_process_left_them_and_still_sees_every_change()
    {
        using var f = Setup(out var db);
        var listings = Path.Join(ProcDbTree.CatalogCacheDirectory(f.Config), CatalogCache.FileName + ".cache");
        var (runs, verbose) = Scan(db);
        Assert.Equal(new[] { 2 }, runs);
        Assert.Null(Warm(verbose));
        Assert.True(WarmCacheFiles.IsKept(listings));

        (runs, verbose) = Scan(db);
        Assert.Equal(new[] { 2 }, runs);
        // The records' file (the listings are not even needed: the experiment's memo answers).
        Assert.Contains("1 cache file(s) unchanged since this process's last scan", Warm(verbose));

        // A record appended (same mtime) and a new run: the kept entries are checked like loaded ones.
        var file = db.ProcessedFile("xpptut15");
        File.AppendAllText(file, "0002 2017-10-05T15:19:22 a b cwd:/ cmd:x\n");
        File.SetLastWriteTimeUtc(file, Facility.Old);
        Assert.Empty(Scan(db).Runs);
        f.Run("XPP", "xpptut15", 3);
        Directory.SetLastWriteTimeUtc(f.RunDir("XPP", "xpptut15"), Facility.Old.AddMinutes(1));
        (runs, verbose) = Scan(db);
        Assert.Equal(new[] { 3 }, runs);
        Assert.Contains("2 cache file(s) unchanged", Warm(verbose)); // now the listings too
        Assert.Equal(new[] { 3 }, Scan(db).Runs);
    }

    [Fact]
    public void A_cache_file_another_process_wrote_is_read_again()
    {
        using var f = Setup(out var db);
        Scan(db);
        Assert.NotNull(Warm(Scan(db).Verbose));

        // Another writer (here: a damaged file): read when next needed (a new run), found corrupt,
        // ignored; the answer is right.
        var listings = Path.Join(ProcDbTree.CatalogCacheDirectory(f.Config), CatalogCache.FileName + ".cache");
        var bytes = File.ReadAllBytes(listings);
        bytes[^1] ^= 0xFF;
        File.WriteAllBytes(listings, bytes);
        var runDir = f.RunDir("XPP", "xpptut15");
        void NewRun(int run)
        {
            f.Run("XPP", "xpptut15", run);
            Directory.SetLastWriteTimeUtc(runDir, Facility.Old.AddMinutes(run));
        }
        NewRun(3);
        var (runs, verbose) = Scan(db);
        Assert.Equal(new[] { 2, 3 }, runs);
        Assert.Contains(verbose, v => v.StartsWith("Ignoring scan cache", StringComparison.Ordinal));
        Assert.Contains("1 cache file(s) unchanged", Warm(verbose)); // the record cache was not touched

        // Rewritten by that scan's save: kept again.
        NewRun(4);
        (runs, verbose) = Scan(db);
        Assert.Equal(new[] { 2, 3, 4 }, runs);
        Assert.DoesNotContain(verbose, v => v.StartsWith("Ignoring", StringComparison.Ordinal));
        Assert.Contains("2 cache file(s) unchanged", Warm(verbose));

        // A deleted cache: nothing kept is used for it.
        Directory.Delete(ProcDbTree.CatalogCacheDirectory(f.Config), recursive: true);
        NewRun(5);
        (runs, verbose) = Scan(db);
        Assert.Equal(new[] { 2, 3, 4, 5 }, runs);
        Assert.Contains("1 cache file(s) unchanged", Warm(verbose));
    }

    [Fact]
    public void A_kept_state_is_given_to_one_scan_at_a_time()
    {
        var path = Path.Join(Path.GetTempPath(), "runproc-warm-" + Guid.NewGuid().ToString("N"), "x.cache");
        var id = new RunProc.IO.FileIdentity(1, 2, 3, 4, 5);
        var journal = default(RunProc.IO.FileIdentity);
        var state = new object();
        WarmCacheFiles.Keep(path, state, id, journal);
        Assert.Same(state, WarmCacheFiles.Take<object>(path, id, journal));
        Assert.Null(WarmCacheFiles.Take<object>(path, id, journal)); // taken: a concurrent scan reads the file
        WarmCacheFiles.Keep(path, state, id, journal);
        Assert.Null(WarmCacheFiles.Take<object>(path, id with { Length = 4 }, journal));
        Assert.Null(WarmCacheFiles.Take<object>(path, id, journal)); // a mismatch drops it
        WarmCacheFiles.Keep(path, state, default, journal);
        Assert.False(WarmCacheFiles.IsKept(path)); // nothing on disk: nothing to keep
    }
}
