using System.Collections;
using System.Runtime.CompilerServices;
using RunProc.Catalog;
using RunProc.Db;
using Xunit;

namespace RunProc.Tests.Catalog;

/// <summary>
/// What a scan stats (counted through <see cref="RunFileStat.Counter"/>): a full scan lists every run
/// directory but stats only the files of runs not yet recorded; experiment counts need no stat of a
/// recorded run; sizes come with -Size. And symbolic run files are judged by their targets.
/// </summary>
public class ScanStatTests
{
    private const string Rec = " 2026-01-01T00:00:00 op host cwd:/x cmd:proc_new_datasets\n";

    /// <summary>Two experiments of 10 runs x 3 files, runs 1..9 recorded.</summary>
    private static (Facility F, ProcDb Db) Tree(int concurrency = 4)
    {
        var f = new Facility(extra: new Hashtable { ["Instruments"] = new object[] { "XPP" }, ["ScanConcurrency"] = concurrency });
        foreach (var exp in new[] { "xppa0001", "xppb0002" })
        {
            for (var r = 1; r <= 10; r++)
                f.Run("XPP", exp, r);
            f.WriteDb(string.Concat(Enumerable.Range(1, 9).Select(r => $"{r:D4}{Rec}")), "pixel_status", "XPP", exp + "-proc-runs.txt");
        }
        return (f, new ProcDb(f.Config, "pixel_status"));
    }

    private static T Counted<T>(Func<T> scan, out long stats)
    {
        var box = new StrongBox<long>();
        RunFileStat.Counter.Value = box;
        try { return scan(); }
        finally
        {
            RunFileStat.Counter.Value = null;
            stats = box.Value;
        }
    }

    [Fact]
    public void FullScan_StatsOnlyTheFilesOfUnrecordedRuns()
    {
        var (f, db) = Tree();
        using var _ = f;
        var pending = Counted(() => new RunScan(db).Pending(new RunScanQuery { All = true, UseCache = false }), out var stats);
        Assert.Equal(new[] { "xppa0001/10", "xppb0002/10" }, pending.Select(r => $"{r.Experiment}/{r.Run}"));
        Assert.Equal(2 * 3, stats);
        Assert.All(pending, r => Assert.Equal(r.Files.Sum(p => new FileInfo(p).Length), r.Bytes));
    }

    [Fact]
    public void ExperimentCounts_NeedNoStatOfRecordedRuns_SizesOnlyWhenAsked()
    {
        var (f, db) = Tree();
        using var _ = f;
        var counts = Counted(() => new RunScan(db).Counts(new RunScanQuery { All = true, UseCache = false }).ToList(), out var stats);
        Assert.Equal(2 * 3, stats);
        Assert.All(counts, s => { Assert.Equal(10, s.Runs); Assert.Equal(9, s.Processed); Assert.Equal(1, s.Pending); Assert.Null(s.Bytes); Assert.Null(s.LastWriteTime); });

        var sized = Counted(() => new RunScan(db).Counts(new RunScanQuery { All = true, UseCache = false, Sizes = true }).ToList(), out stats);
        Assert.Equal(2 * 10 * 3, stats);
        foreach (var s in sized)
        {
            var dir = f.RunDir("XPP", s.Experiment);
            Assert.Equal(Directory.GetFiles(dir).Sum(p => new FileInfo(p).Length), s.Bytes);
            Assert.NotNull(s.LastWriteTime);
            Assert.Equal(1, s.Pending);
        }
    }

    [Fact]
    public void SizesComeFromTheScanCache_OnceEveryRunWasStatted()
    {
        var (f, db) = Tree();
        using var _ = f;
        foreach (var exp in new[] { "xppa0001", "xppb0002" })
            Directory.SetLastWriteTimeUtc(f.RunDir("XPP", exp), Facility.Old);
        new RunScan(db).Counts(new RunScanQuery { All = true, Sizes = true }).ToList();
        var again = Counted(() => new RunScan(db).Counts(new RunScanQuery { All = true }).ToList(), out var stats);
        Assert.Equal(0, stats);
        Assert.All(again, s => Assert.NotNull(s.Bytes));
    }

    [Fact]
    public void ARecordRemovedAfterACachedScan_IsStattedThenAndReportedWithItsSize()
    {
        var (f, db) = Tree();
        using var _ = f;
        foreach (var exp in new[] { "xppa0001", "xppb0002" })
            Directory.SetLastWriteTimeUtc(f.RunDir("XPP", exp), Facility.Old);
        Assert.Equal(2, new RunScan(db).Pending(new RunScanQuery { All = true }).Count); // caches written; runs 1..9 listed by name only

        // Run 5 of xppa0001 loses its record (an operator wants it processed again).
        f.WriteDb(string.Concat(Enumerable.Range(1, 9).Where(r => r != 5).Select(r => $"{r:D4}{Rec}")), "pixel_status", "XPP", "xppa0001-proc-runs.txt");
        var pending = Counted(() => new RunScan(db).Pending(new RunScanQuery { All = true }), out var stats);
        var run5 = Assert.Single(pending, r => r.Run == 5);
        Assert.Equal(run5.Files.Sum(p => new FileInfo(p).Length), run5.Bytes);
        Assert.True(run5.Bytes > 0);
        Assert.Equal(Facility.Old, run5.LastWriteTimeUtc, TimeSpan.FromSeconds(1));
        Assert.Equal(3, stats); // run 5's files; the rest came from the caches
    }

    [Fact]
    public void ExperimentsScannedConcurrently_ComeInOrder_WithMessagesOnTheCallersThread()
    {
        var f = new Facility(extra: new Hashtable { ["Instruments"] = new object[] { "XPP" }, ["ScanConcurrency"] = 8 });
        using var _ = f;
        var names = Enumerable.Range(0, 40).Select(i => $"xppc{i:D4}").ToList();
        foreach (var exp in names)
        {
            f.Run("XPP", exp, 1);
            File.WriteAllText(Path.Join(f.RunDir("XPP", exp), "junk.txt"), "x");
        }
        var db = new ProcDb(f.Config, "pixel_status");
        var caller = Environment.CurrentManagedThreadId;
        var messages = new List<string>();
        var runs = new RunScan(db).Pending(new RunScanQuery
        {
            All = true, UseCache = false,
            Verbose = m => { Assert.Equal(caller, Environment.CurrentManagedThreadId); messages.Add(m); },
        });
        Assert.Equal(names, runs.Select(r => r.Experiment));
        var junk = messages.Where(m => m.Contains("junk.txt")).ToList();
        Assert.Equal(names, junk.Select(m => names.Single(n => m.Contains("/" + n + "/"))));
    }

    [Fact]
    public void SymlinkedRunFile_IsJudgedByItsTarget()
    {
        using var f = new Facility(settleSeconds: 120);
        var elsewhere = Path.Join(f.Root, "tier2");
        Directory.CreateDirectory(elsewhere);
        var target = Path.Join(elsewhere, "big.xtc");
        File.WriteAllBytes(target, new byte[12345]);
        File.SetLastWriteTimeUtc(target, Facility.Old);
        f.Run("XPP", "xpptut15", 1, streams: 1);
        // The link is made now (its own time is new, its own size the length of the path).
        File.CreateSymbolicLink(Path.Join(f.RunDir("XPP", "xpptut15"), "xpptut15-r0001-s01-c00.xtc"), target);
        var run = Assert.Single(new RunCatalog(f.Config).Runs("xpptut15"));
        Assert.Equal(2, run.Files.Count);
        Assert.Equal(12345 + new FileInfo(run.Files[0]).Length, run.Bytes);
        Assert.True(run.Ready, run.NotReadyReason);
        Assert.True(run.LastWriteTimeUtc < DateTime.UtcNow.AddHours(-1));
    }

    [Fact]
    public void SymlinkedRunFile_ToAFreshTarget_IsNotReady()
    {
        using var f = new Facility(settleSeconds: 120);
        var target = Path.Join(f.Root, "fresh.xtc");
        File.WriteAllText(target, "x");
        var dir = f.RunDir("XPP", "xpptut15");
        var link = Path.Join(dir, "xpptut15-r0001-s00-c00.xtc");
        File.CreateSymbolicLink(link, target);
        File.SetLastWriteTimeUtc(target, DateTime.UtcNow);
        var run = Assert.Single(new RunCatalog(f.Config).Runs("xpptut15"));
        Assert.False(run.Ready);
        Assert.Equal(1, run.Bytes);
    }

    [Fact]
    public void DanglingOrNonFileLink_IsSkippedWithAVerboseMessage()
    {
        using var f = new Facility();
        f.Run("XPP", "xpptut15", 1, streams: 1);
        var dir = f.RunDir("XPP", "xpptut15");
        File.CreateSymbolicLink(Path.Join(dir, "xpptut15-r0001-s01-c00.xtc"), Path.Join(f.Root, "gone.xtc"));
        File.CreateSymbolicLink(Path.Join(dir, "xpptut15-r0002-s00-c00.xtc"), Path.Join(f.Root, "gone2.xtc"));
        var messages = new List<string>();
        var runs = new RunCatalog(f.Config).Runs("xpptut15", verbose: messages.Add);
        var run = Assert.Single(runs); // run 2 has no run file at all
        Assert.Equal(1, run.Run);
        Assert.Single(run.Files);
        Assert.True(messages.Any(m => m.Contains("xpptut15-r0001-s01-c00.xtc") && m.Contains("does not exist")), string.Join("\n", messages));
        Assert.Contains(messages, m => m.Contains("xpptut15-r0002-s00-c00.xtc") && m.Contains("does not exist"));
    }

    [Fact]
    public void ALinkThatDanglesLater_IsDroppedFromTheCachedListing()
    {
        using var f = new Facility(settleSeconds: 120);
        var target = Path.Join(f.Root, "t.xtc");
        File.WriteAllText(target, "x");
        var dir = f.RunDir("XPP", "xpptut15");
        File.CreateSymbolicLink(Path.Join(dir, "xpptut15-r0001-s00-c00.xtc"), target);
        Directory.SetLastWriteTimeUtc(dir, Facility.Old);
        var cache = CatalogCache.ForConfig(f.Config);
        var run = Assert.Single(new RunCatalog(f.Config, cache).Runs("xpptut15"));
        Assert.False(run.Ready); // the target is fresh: re-stat'ed on every use
        File.Delete(target);
        Assert.Empty(new RunCatalog(f.Config, cache).Runs("xpptut15"));
    }

    [Fact]
    public void OrderedParallel_YieldsInOrder_RethrowsAtTheFailingIndex_AndStopsWhenAbandoned()
    {
        Assert.Equal(Enumerable.Range(0, 100).Select(i => i * 2), OrderedParallel.Run(100, 7, i => { Thread.Sleep(i % 3); return i * 2; }));
        var seen = new List<int>();
        var ex = Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (var x in OrderedParallel.Run(50, 4, i => i == 20 ? throw new InvalidOperationException("item 20") : i))
                seen.Add(x);
        });
        Assert.Equal("item 20", ex.Message);
        Assert.Equal(Enumerable.Range(0, 20), seen);
        var started = 0;
        Assert.Equal(new[] { 0, 1, 2 }, OrderedParallel.Run(10_000, 4, i => { Interlocked.Increment(ref started); Thread.Sleep(1); return i; }).Take(3));
        Assert.True(Volatile.Read(ref started) < 10_000);

        // The caller works too (while it waits for a result), but never more than the degree run at once.
        foreach (var degree in new[] { 2, 3, 8 })
        {
            int inFlight = 0, most = 0;
            Assert.Equal(Enumerable.Range(0, 300), OrderedParallel.Run(300, degree, i =>
            {
                var n = Interlocked.Increment(ref inFlight);
                for (var m = Volatile.Read(ref most); n > m; m = Volatile.Read(ref most))
                    Interlocked.CompareExchange(ref most, n, m);
                Thread.SpinWait(2000);
                Interlocked.Decrement(ref inFlight);
                return i;
            }));
            Assert.InRange(most, 1, degree);
        }

        // Items that take long (a round trip each): threads are started, and the order still holds.
        var threadsSeen = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        Assert.Equal(Enumerable.Range(0, 60), OrderedParallel.Run(60, 4, i =>
        {
            threadsSeen[Environment.CurrentManagedThreadId] = true;
            Thread.Sleep(3);
            return i;
        }));
        Assert.True(threadsSeen.Count > 1, "slow items ran on the caller alone");

        // Short items with two slow ones among them (a scan's cache loads) and two that stall for
        // 2 ms (the caller descheduled on a busy machine): no thread is started.
        var caller = Environment.CurrentManagedThreadId;
        var elsewhere = 0;
        Assert.Equal(Enumerable.Range(0, 2000), OrderedParallel.Run(2000, 4, i =>
        {
            if (Environment.CurrentManagedThreadId != caller)
                Interlocked.Increment(ref elsewhere);
            if (i is 0 or 90)
                Thread.Sleep(20);
            if (i is 300 or 700)
                Thread.Sleep(2);
            return i;
        }));
        Assert.Equal(0, elsewhere);

        // Many short CPU-bound items (an incremental scan: ~20 ms in all, below ParallelAfter but
        // above CoresAfter): one thread per other core works beside the caller, not the full degree.
        var threadsOnCpu = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        Assert.Equal(Enumerable.Range(0, 1000), OrderedParallel.Run(1000, 8, i =>
        {
            threadsOnCpu[Environment.CurrentManagedThreadId] = true;
            var until = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 50_000; // 20 us
            while (System.Diagnostics.Stopwatch.GetTimestamp() < until) { }
            return i;
        }));
        Assert.InRange(threadsOnCpu.Count, 1, Math.Min(8, Environment.ProcessorCount));
        if (Environment.ProcessorCount > 1)
            Assert.True(threadsOnCpu.Count > 1, "short CPU-bound items ran on the caller alone");
    }
}
