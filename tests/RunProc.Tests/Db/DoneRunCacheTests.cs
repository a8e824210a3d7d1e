using RunProc.Catalog;
using RunProc.Db;
using RunProc.IO;
using RunProc.Tests.Catalog;
using Xunit;

namespace RunProc.Tests.Db;

/// <summary>The cached done-run sets behind incremental Get-PendingRun must never hide a record change.</summary>
public class DoneRunCacheTests
{
    private static Facility Setup(out ProcDb db, out string procFile)
    {
        var f = new Facility();
        f.Run("XPP", "xpptut15", 1);
        f.Run("XPP", "xpptut15", 2);
        Directory.SetLastWriteTimeUtc(f.RunDir("XPP", "xpptut15"), Facility.Old);
        db = new ProcDb(f.Config, "pixel_status");
        procFile = db.ProcessedFile("xpptut15");
        Directory.CreateDirectory(Path.GetDirectoryName(procFile)!);
        return f;
    }

    private static int[] Pending(ProcDb db, List<DbWarning>? w = null) =>
        new RunScan(db).Pending(new RunScanQuery { All = true }, w is null ? null : w.Add).Select(r => r.Run).ToArray();

    [Fact]
    public void AppendedAndRewrittenRecords_AreSeen()
    {
        using var f = Setup(out var db, out var file);
        File.WriteAllText(file, "0001 2017-10-05T15:19:21 a b cwd:/ cmd:x\n");
        File.SetLastWriteTimeUtc(file, Facility.Old);
        Assert.Equal(new[] { 2 }, Pending(db));
        Assert.Equal(new[] { 2 }, Pending(db));
        // One file for every instrument.
        Assert.Equal(new[] { "records.cache" }, Directory.GetFiles(db.DoneCacheDirectory).Select(Path.GetFileName));

        File.AppendAllText(file, "0002 2017-10-05T15:19:22 a b cwd:/ cmd:x\n");
        File.SetLastWriteTimeUtc(file, Facility.Old); // even with an unchanged mtime, the size tells
        Assert.Empty(Pending(db));

        File.WriteAllText(file, "");
        Assert.Equal(new[] { 1, 2 }, Pending(db));
        File.WriteAllText(db.LegacyArchiveFile("xpptut15"), "0001 2017-10-05T15:19:21 a b cwd:/ cmd:x");
        Assert.Equal(new[] { 2 }, Pending(db));
    }

    [Fact]
    public void RecordFileWrittenWithinGranularityOfTheRead_IsReadAgain()
    {
        using var f = Setup(out var db, out var file);
        File.WriteAllText(file, "0001 2017-10-05T15:19:21 a b cwd:/ cmd:x\n");
        var mtime = File.GetLastWriteTimeUtc(file);
        Assert.Equal(new[] { 2 }, Pending(db));
        // Same size, same mtime (a coarse-timestamp file system): only the granularity rule catches it.
        File.WriteAllText(file, "0002 2017-10-05T15:19:21 a b cwd:/ cmd:x\n");
        File.SetLastWriteTimeUtc(file, mtime);
        Assert.Equal(new[] { 1 }, Pending(db));
    }

    [Fact]
    public void MalformedLines_AreWarnedOnEveryScan_AndACorruptCacheIsIgnored()
    {
        using var f = Setup(out var db, out var file);
        File.WriteAllText(file, "0001 2017-10-05T15:19:21 a b cwd:/ cmd:x\nbroken\n");
        File.SetLastWriteTimeUtc(file, Facility.Old);
        for (var i = 0; i < 2; i++)
        {
            var w = new List<DbWarning>();
            Assert.Equal(new[] { 2 }, Pending(db, w));
            Assert.Equal(2, Assert.Single(w).Line);
        }
        File.WriteAllText(file, "0001 2017-10-05T15:19:21 a b cwd:/ cmd:x\n");
        File.SetLastWriteTimeUtc(file, Facility.Old);
        Assert.Equal(new[] { 2 }, Pending(db));
        foreach (var cacheFile in Directory.GetFiles(db.DoneCacheDirectory))
        {
            var bytes = File.ReadAllBytes(cacheFile);
            bytes[^1] ^= 0xFF;
            File.WriteAllBytes(cacheFile, bytes);
        }
        var verbose = new List<string>();
        Assert.Equal(new[] { 2 }, new RunScan(db).Pending(new RunScanQuery { All = true, Verbose = verbose.Add }).Select(r => r.Run));
        Assert.Contains(verbose, v => v.Contains("Ignoring record cache"));
    }

    [Fact]
    public void ArchiveFileCreatedAfterTheEntry_IsSeen_ByTheNextQuerysListing()
    {
        using var f = new Facility();
        var dir = Path.Join(f.Config.DbRoot, "pixel_status", "XPP");
        Directory.CreateDirectory(dir);
        string[] Files(string exp) => new[] { Path.Join(dir, exp + "-proc-runs.txt"), Path.Join(dir, exp + "-arch-runs.txt"), Path.Join(dir, exp + "-proc-arch.txt") };
        var db = new ProcDb(f.Config, "pixel_status");
        // One record file set per query: it lists the DB instrument directory once.
        FileStamp[] StampsOf(string exp)
        {
            using var records = new RecordFileSet(db);
            return records.Stamps(exp);
        }
        var cacheDir = Path.Join(f.Config.DbRoot, "pixel_status", ".done-cache");
        var g = TimeSpan.FromMilliseconds(20);
        File.WriteAllText(Files("xpptut15")[0], "0001\n");
        File.WriteAllText(Files("xppother1")[0], "0001\n");
        Thread.Sleep(60);

        var c1 = new DoneRunCache(cacheDir, 0x1B4, 0x5FD, g);
        var s1 = StampsOf("xpptut15");
        c1.Put("xpptut15", s1, DateTime.UtcNow.Ticks, new[] { 1 });
        c1.Save(null);
        Thread.Sleep(60);
        File.WriteAllText(Files("xpptut15")[1], "0002\n"); // the archive file appears: the directory changes
        Thread.Sleep(60);

        var c2 = new DoneRunCache(cacheDir, 0x1B4, 0x5FD, g);         // a query of another experiment sees the new directory state
        var s2 = StampsOf("xppother1");
        c2.Put("xppother1", s2, DateTime.UtcNow.Ticks, new[] { 1 });
        c2.Save(null);
        Thread.Sleep(60);

        var c3 = new DoneRunCache(cacheDir, 0x1B4, 0x5FD, g);
        var s3 = StampsOf("xpptut15");
        Assert.True(s3[1].Exists);
        Assert.Null(c3.TryGet("xpptut15", s3));
        // and an unchanged experiment is served from the cache
        Assert.Equal(new[] { 1 }, c3.TryGet("xppother1", StampsOf("xppother1")));
    }

    [Fact]
    public void UnchangedDataAndRecords_AreServedFromThePendingMemo_AndEveryChangeIsSeen()
    {
        using var f = new Facility(settleSeconds: 600);
        var now = DateTime.UtcNow;
        f.Run("XPP", "xpptut15", 1);
        var run2 = f.Files("XPP", "xpptut15", now.AddSeconds(-30), "xpptut15-r0002-s00-c00.xtc");
        Directory.SetLastWriteTimeUtc(f.RunDir("XPP", "xpptut15"), Facility.Old);
        var db = new ProcDb(f.Config, "pixel_status");
        var file = db.ProcessedFile("xpptut15");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, "0001 2017-10-05T15:19:21 a b cwd:/ cmd:x\n");
        File.SetLastWriteTimeUtc(file, Facility.Old);

        (int[] Runs, string Verbose) Q(DateTime at, bool notReady = false)
        {
            var v = new List<string>();
            var runs = new RunScan(db).Pending(new RunScanQuery { All = true, NowUtc = at, IncludeNotReady = notReady, Verbose = v.Add }).Select(r => r.Run).ToArray();
            return (runs, string.Join("\n", v));
        }

        Assert.Empty(Q(now).Runs);
        var second = Q(now, notReady: true);
        Assert.Equal(new[] { 2 }, second.Runs);
        Assert.Contains("1 experiment(s) with unchanged data and records", second.Verbose);

        // Run 2 keeps growing, then settles: the memo re-stats it.
        File.AppendAllText(run2[0], "more");
        File.SetLastWriteTimeUtc(run2[0], now.AddSeconds(-20));
        var later = Q(now.AddSeconds(700));
        Assert.Equal(new[] { 2 }, later.Runs);
        Assert.Contains("1 experiment(s) with unchanged data and records", later.Verbose);
        Assert.Equal(new FileInfo(run2[0]).Length, new RunScan(db).Pending(new RunScanQuery { All = true, NowUtc = now.AddSeconds(700) }).Single().Bytes);

        // A new run (directory changes) and a new record (file grows) are both seen.
        f.Run("XPP", "xpptut15", 3);
        Assert.Equal(new[] { 2, 3 }, Q(now.AddSeconds(700)).Runs);
        File.AppendAllText(file, "0003 2017-10-05T15:19:21 a b cwd:/ cmd:x\n");
        File.SetLastWriteTimeUtc(file, Facility.Old);
        Assert.Equal(new[] { 2 }, Q(now.AddSeconds(700)).Runs);
        // Run 1's data removed: nothing pending changes, and the run directory change is noticed.
        foreach (var p in Directory.GetFiles(f.RunDir("XPP", "xpptut15"), "*-r0002-*")) File.Delete(p);
        Assert.Empty(Q(now.AddSeconds(700)).Runs);
    }

    private static ExperimentScan PendingScan(string exp, params int[] runs) => new()
    {
        Instrument = "XPP", Experiment = exp, Directory = $"/data/XPP/{exp}/xtc", DirectoryExists = true,
        DirectoryMtimeTicks = Facility.Old.Ticks, ListedAtTicks = Facility.Old.Ticks + TimeSpan.TicksPerMinute,
        Patterns = [new RunFileName(exp, 0, 0, 0, RunFileKind.Xtc, false, 4, 2, 2), new RunFileName(exp, 0, 1, 0, RunFileKind.Xtc, false, 4, 2, 2)],
        FileIndex = runs.SelectMany(_ => new[] { 0, 1 }).ToArray(),
        Runs = runs.Select((r, i) => new RunRecord { Run = r, FileStart = 2 * i, FileCount = 2, Bytes = 100 + r, NewestTicks = Facility.Old.Ticks + r, NewestFile = 1, Settled = 1 }).ToArray(),
    };

    [Fact]
    public void EntriesLoadedButNotUsed_AreWrittenBackIntact_AndDecodeWhenUsed()
    {
        using var f = new Facility();
        var dir = Path.Join(f.Config.DbRoot, "pixel_status", ".done-cache");
        Directory.CreateDirectory(f.Config.DbRoot);
        var g = TimeSpan.FromSeconds(2);
        // Experiments sharing one cache file with the one that is changed later.
        var exps = Enumerable.Range(1, 200).Select(i => $"xpptest{i}").Where(e => DoneRunCache.KeyOf(e) == DoneRunCache.KeyOf("xpptest1")).Take(4).ToArray();
        Assert.Equal(4, exps.Length);
        var stamps = new[] { new FileStamp(true, 4242, Facility.Old.Ticks), default, default };
        var readAt = DateTime.UtcNow.Ticks;
        int[] Done(int k) => k == 0 ? [1, 2, 3, 7, 9, 10, 11, 99999] : Enumerable.Range(1, 150 + k).ToArray();

        var c1 = new DoneRunCache(dir, 0x1B4, 0x5FD, g);
        for (var k = 0; k < exps.Length; k++)
        {
            c1.Put(exps[k], stamps, readAt, Done(k));
            if (k != 3)
                c1.SetPending(exps[k], stamps, PendingScan(exps[k], 200 + k, 300 + k));
        }
        c1.Save(null);

        // A second cache changes only exps[1]: the shard is rewritten with the others as loaded.
        var c2 = new DoneRunCache(dir, 0x1B4, 0x5FD, g);
        Assert.True(c2.Has(exps[0]));
        c2.Put(exps[1], stamps, readAt, [5, 6]);
        // A memo used as it was is written back as loaded; one re-stat'ed in place is encoded again.
        Assert.Equal(202, c2.TryGetPending(exps[2], stamps)!.Runs[0].Run);
        var restatted = c2.TryGetPending(exps[0], stamps)!;
        restatted.Runs[1].Bytes = 123456;
        c2.MarkDirty(exps[0]);
        c2.Save(null);
        Assert.Empty(c2.LoadMessages);

        var c3 = new DoneRunCache(dir, 0x1B4, 0x5FD, g);
        Assert.Equal(Done(0), c3.TryGet(exps[0], stamps));
        Assert.Equal(new[] { 5, 6 }, c3.TryGet(exps[1], stamps));
        Assert.Null(c3.TryGetPending(exps[1], stamps)); // a new done set drops the memo made with the old one
        Assert.Equal(Done(2), c3.TryGet(exps[2], stamps));
        Assert.Null(c3.TryGetPending(exps[3], stamps));
        foreach (var k in new[] { 0, 2 })
        {
            var memo = c3.TryGetPending(exps[k], stamps);
            Assert.NotNull(memo);
            var want = PendingScan(exps[k], 200 + k, 300 + k);
            if (k == 0)
                want.Runs[1].Bytes = 123456;
            Assert.Equal(want.Experiment, memo.Experiment);
            Assert.Equal(want.Directory, memo.Directory);
            Assert.Equal(want.DirectoryMtimeTicks, memo.DirectoryMtimeTicks);
            Assert.Equal(want.Runs, memo.Runs);
            Assert.Equal(want.Patterns, memo.Patterns);
            Assert.Equal(want.FileIndex, memo.FileIndex);
        }
        // Other stamps: nothing is served.
        var changed = new[] { new FileStamp(true, 4243, Facility.Old.Ticks), default, default };
        Assert.Null(c3.TryGet(exps[0], changed));
        Assert.Null(c3.TryGetPending(exps[0], changed));
    }

    [Fact]
    public void OlderPerInstrumentCacheFiles_AreRemovedAtTheFirstWrite()
    {
        using var f = new Facility();
        var dir = Path.Join(f.Config.DbRoot, "pixel_status", ".done-cache");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Join(dir, "XPP-00.cache"), "version 9");
        var stamps = new[] { new FileStamp(true, 42, Facility.Old.Ticks), default, default };
        var c1 = new DoneRunCache(dir, 0x1B4, 0x5FD, TimeSpan.FromSeconds(2));
        c1.Put("xpptut15", stamps, DateTime.UtcNow.Ticks, [1, 2]);
        c1.Put("amotut15", stamps, DateTime.UtcNow.Ticks, [3]);
        c1.Save(null);
        Assert.Equal(new[] { "records.cache" }, Directory.GetFiles(dir).Select(Path.GetFileName));
        var c2 = new DoneRunCache(dir, 0x1B4, 0x5FD, TimeSpan.FromSeconds(2));
        Assert.Equal(new[] { 1, 2 }, c2.TryGet("xpptut15", stamps));
        Assert.Equal(new[] { 3 }, c2.TryGet("amotut15", stamps));
        Assert.Empty(c2.LoadMessages);
    }

    [Fact]
    public void ChangedEntries_AreAppendedToTheJournal_ATornRecordIsNotUsed()
    {
        using var f = new Facility();
        var dir = Path.Join(f.Config.DbRoot, "pixel_status", ".done-cache");
        Directory.CreateDirectory(dir);
        var g = TimeSpan.FromSeconds(2);
        var file = Path.Join(dir, "records.cache");
        var journal = Path.Join(dir, "records.journal");
        var s1 = new[] { new FileStamp(true, 42, Facility.Old.Ticks), default, default };
        var s2 = new[] { new FileStamp(true, 84, Facility.Old.Ticks), default, default };
        var readAt = DateTime.UtcNow.Ticks;
        var c1 = new DoneRunCache(dir, 0x1B4, 0x5FD, g);
        c1.Put("xpptut15", s1, readAt, [1, 2]);
        c1.Put("amotut15", s1, readAt, [3]);
        c1.Save(null);
        Assert.False(File.Exists(journal));
        var fileBytes = File.ReadAllBytes(file);

        // One experiment's records grew: its new entry is appended, the file stays as it was.
        var c2 = new DoneRunCache(dir, 0x1B4, 0x5FD, g);
        Assert.Null(c2.TryGet("xpptut15", s2));
        c2.Put("xpptut15", s2, readAt, [1, 2, 4]);
        c2.SetPending("xpptut15", s2, PendingScan("xpptut15", 5));
        c2.Save(null);
        Assert.Equal(fileBytes, File.ReadAllBytes(file));
        Assert.True(File.Exists(journal));
        var c3 = new DoneRunCache(dir, 0x1B4, 0x5FD, g);
        Assert.Null(c3.TryGet("xpptut15", s1)); // the stamps it was read with are gone: never served
        Assert.Equal(new[] { 1, 2, 4 }, c3.TryGet("xpptut15", s2));
        Assert.Equal(5, c3.TryGetPending("xpptut15", s2)!.Runs.Single().Run);
        Assert.Equal(new[] { 3 }, c3.TryGet("amotut15", s1));
        Assert.Empty(c3.LoadMessages);

        // A torn append: the entry it carried is not used (the older one is, with its own stamps only).
        var c4 = new DoneRunCache(dir, 0x1B4, 0x5FD, g);
        c4.Put("amotut15", s2, readAt, [3, 6]);
        c4.Save(null);
        var bytes = File.ReadAllBytes(journal);
        File.WriteAllBytes(journal, bytes.AsSpan(0, bytes.Length - 2).ToArray());
        var c5 = new DoneRunCache(dir, 0x1B4, 0x5FD, g);
        Assert.Null(c5.TryGet("amotut15", s2));
        Assert.Equal(new[] { 3 }, c5.TryGet("amotut15", s1));
        Assert.Equal(new[] { 1, 2, 4 }, c5.TryGet("xpptut15", s2));
        // ... and the next save writes the whole file again.
        c5.Put("amotut15", s2, readAt, [3, 6]);
        c5.Save(null);
        Assert.False(File.Exists(journal));
        var c6 = new DoneRunCache(dir, 0x1B4, 0x5FD, g);
        Assert.Equal(new[] { 3, 6 }, c6.TryGet("amotut15", s2));
        Assert.Equal(new[] { 1, 2, 4 }, c6.TryGet("xpptut15", s2));
    }
}
