using RunProc.Catalog;
using Xunit;

namespace RunProc.Tests.Catalog;

public class CatalogCacheTests
{
    private static void Age(Facility f, string ins, string exp) =>
        Directory.SetLastWriteTimeUtc(f.RunDir(ins, exp), Facility.Old);

    [Fact]
    public void UnchangedDirectory_IsNotListedAgain_AcrossInstances()
    {
        using var f = new Facility();
        var files = f.Run("XPP", "xpptut15", 1);
        Age(f, "XPP", "xpptut15");
        var c1 = CatalogCache.ForConfig(f.Config);
        Assert.Single(new RunCatalog(f.Config, c1).Runs("xpptut15"));
        Assert.Equal(1, c1.Misses);
        c1.Save();
        Assert.True(File.Exists(c1.FileOf("XPP", "xpptut15")));

        // A size change that does not touch the directory is invisible: proof that the listing was reused.
        File.AppendAllText(files[0], "more");
        File.SetLastWriteTimeUtc(files[0], Facility.Old);
        var c2 = CatalogCache.ForConfig(f.Config);
        var run = Assert.Single(new RunCatalog(f.Config, c2).Runs("xpptut15"));
        Assert.Equal(1, c2.Hits);
        Assert.Equal(0, c2.Misses);
        Assert.Equal(files.Sum(p => new FileInfo(p).Length) - 4, run.Bytes);
        Assert.Equal(files, run.Files);
    }

    [Fact]
    public void ChangedDirectory_IsListedAgain()
    {
        using var f = new Facility();
        f.Run("XPP", "xpptut15", 1);
        Age(f, "XPP", "xpptut15");
        var c1 = CatalogCache.ForConfig(f.Config);
        new RunCatalog(f.Config, c1).Runs("xpptut15");
        c1.Save();

        f.Run("XPP", "xpptut15", 2);          // new files change the directory's mtime
        var c2 = CatalogCache.ForConfig(f.Config);
        Assert.Equal(new[] { 1, 2 }, new RunCatalog(f.Config, c2).Runs("xpptut15").Select(r => r.Run));
        Assert.Equal(1, c2.Misses);

        File.Delete(f.Run("XPP", "xpptut15", 1)[0]);
        foreach (var p in Directory.GetFiles(f.RunDir("XPP", "xpptut15"), "*-r0001-*")) File.Delete(p);
        Assert.Equal(new[] { 2 }, new RunCatalog(f.Config, c2).Runs("xpptut15").Select(r => r.Run));
    }

    [Fact]
    public void DirectoryModifiedWithinGranularityOfTheListing_IsListedAgain()
    {
        using var f = new Facility();
        f.Run("XPP", "xpptut15", 1);
        Directory.SetLastWriteTimeUtc(f.RunDir("XPP", "xpptut15"), DateTime.UtcNow);
        var cache = CatalogCache.ForConfig(f.Config);
        var cat = new RunCatalog(f.Config, cache);
        cat.Runs("xpptut15");
        cat.Runs("xpptut15");
        Assert.Equal(2, cache.Misses);
        Assert.Equal(0, cache.Hits);
    }

    [Fact]
    public void NotReadyRuns_AreRechecked_EvenWhenTheDirectoryIsUnchanged()
    {
        using var f = new Facility(settleSeconds: 600);
        var now = DateTime.UtcNow;
        var files = f.Files("XPP", "xpptut15", now.AddSeconds(-10), "xpptut15-r0001-s00-c00.xtc");
        Age(f, "XPP", "xpptut15");
        var cache = CatalogCache.ForConfig(f.Config);
        var cat = new RunCatalog(f.Config, cache);
        var r = Assert.Single(cat.Runs("xpptut15", now));
        Assert.False(r.Ready);

        // The file keeps growing (no directory change), then settles.
        File.AppendAllText(files[0], "0123456789");
        File.SetLastWriteTimeUtc(files[0], now.AddSeconds(-900));
        r = Assert.Single(cat.Runs("xpptut15", now));
        Assert.Equal(1, cache.Hits);
        Assert.True(r.Ready);
        Assert.Equal(new FileInfo(files[0]).Length, r.Bytes);
    }

    [Fact]
    public void A_link_planted_in_place_of_a_cache_file_is_not_followed()
    {
        // Issue 13: the DB tree is group-writable; a cache file is read like every DB file, never through a link.
        using var f = new Facility();
        var files = f.Run("XPP", "xpptut15", 1);
        Age(f, "XPP", "xpptut15");
        var c1 = CatalogCache.ForConfig(f.Config);
        new RunCatalog(f.Config, c1).Runs("xpptut15");
        c1.Save();
        // The real cache moves elsewhere and a link to it takes its place: followed, it would be a valid cache hit.
        var shard = c1.FileOf("XPP", "xpptut15");
        var elsewhere = Path.Join(f.Root, "elsewhere.cache");
        File.Move(shard, elsewhere);
        File.CreateSymbolicLink(shard, elsewhere);
        File.AppendAllText(files[0], "more");     // visible only if the directory is listed and stat'ed again
        File.SetLastWriteTimeUtc(files[0], Facility.Old);

        var c2 = CatalogCache.ForConfig(f.Config);
        var run = Assert.Single(new RunCatalog(f.Config, c2).Runs("xpptut15"));
        Assert.Equal(0, c2.Hits);
        Assert.Equal(1, c2.Misses);
        Assert.Equal(files.Sum(p => new FileInfo(p).Length), run.Bytes);
        var message = Assert.Single(c2.LoadMessages);
        Assert.Contains(shard, message);
        Assert.Contains("symbolic link", message);
        // Saving neither writes through the link nor replaces it with a file.
        var before = File.ReadAllBytes(elsewhere);
        var verbose = new List<string>();
        c2.Save(verbose.Add);
        Assert.Equal(before, File.ReadAllBytes(elsewhere));
        Assert.NotNull(new FileInfo(shard).LinkTarget);
        Assert.Contains(verbose, v => v.Contains(shard, StringComparison.Ordinal));
    }

    [Fact]
    public void CorruptOrForeignCache_IsIgnored()
    {
        using var f = new Facility();
        f.Run("XPP", "xpptut15", 1);
        Age(f, "XPP", "xpptut15");
        var c1 = CatalogCache.ForConfig(f.Config);
        new RunCatalog(f.Config, c1).Runs("xpptut15");
        c1.Save();
        var path = c1.FileOf("XPP", "xpptut15");
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x5A;
        File.WriteAllBytes(path, bytes);

        var c2 = CatalogCache.ForConfig(f.Config);
        Assert.Single(new RunCatalog(f.Config, c2).Runs("xpptut15"));
        Assert.Equal(1, c2.Misses);
        Assert.Contains(c2.LoadMessages, m => m.Contains("checksum"));

        File.WriteAllText(path, "garbage");
        var c3 = CatalogCache.ForConfig(f.Config);
        Assert.Single(new RunCatalog(f.Config, c3).Runs("xpptut15"));
        Assert.Equal(1, c3.Misses);
        c3.Save();
        var c4 = CatalogCache.ForConfig(f.Config);
        Assert.Single(new RunCatalog(f.Config, c4).Runs("xpptut15"));
        Assert.Equal(1, c4.Hits);
    }

    [Fact]
    public void RemovedExperimentDirectory_HasNoRuns()
    {
        using var f = new Facility();
        f.Run("XPP", "xpptut15", 1);
        Age(f, "XPP", "xpptut15");
        var cache = CatalogCache.ForConfig(f.Config);
        var cat = new RunCatalog(f.Config, cache);
        Assert.Single(cat.Runs("xpptut15"));
        Directory.Delete(f.RunDir("XPP", "xpptut15"), true);
        Assert.Empty(cat.Runs("xpptut15"));
    }

    [Fact]
    public void MissingDbRoot_IsNotCreatedByASave()
    {
        using var f = new Facility();
        f.Run("XPP", "xpptut15", 1);
        Directory.Delete(f.Config.DbRoot);
        var cache = CatalogCache.ForConfig(f.Config);
        new RunCatalog(f.Config, cache).Runs("xpptut15");
        cache.Save();
        Assert.False(Directory.Exists(f.Config.DbRoot));
    }

    [Fact]
    public void ManyRunsAndOldPrefixes_SurviveTheCacheRoundTrip()
    {
        using var f = new Facility();
        var names = new List<string>();
        for (var r = 1; r <= 50; r++)
            for (var s = 0; s < 3; s++)
                names.Add($"xpptut15-r{r:D4}-s{s:D2}-c00.xtc");
        names.Add("e77-r0051-s00-c00.xtc");
        names.Add("xpptut15-r0052-s000-c001.xtc2");
        names.Add("xpptut15-r0052-s000-c000.xtc2.inprogress");
        f.Files("XPP", "xpptut15", null, names.ToArray());
        Directory.SetLastWriteTimeUtc(f.RunDir("XPP", "xpptut15"), Facility.Old);
        var c1 = CatalogCache.ForConfig(f.Config);
        var listed = new RunCatalog(f.Config, c1).Runs("xpptut15");
        c1.Save();
        var c2 = CatalogCache.ForConfig(f.Config);
        var cached = new RunCatalog(f.Config, c2).Runs("xpptut15");
        Assert.Equal(1, c2.Hits);
        Assert.Equal(52, cached.Count);
        for (var i = 0; i < listed.Count; i++)
        {
            Assert.Equal(listed[i].Run, cached[i].Run);
            Assert.Equal(listed[i].Files, cached[i].Files);
            Assert.Equal(listed[i].Bytes, cached[i].Bytes);
            Assert.Equal(listed[i].LastWriteTimeUtc, cached[i].LastWriteTimeUtc);
            Assert.Equal(listed[i].Ready, cached[i].Ready);
        }
        Assert.All(cached.SelectMany(r => r.Files), p => Assert.True(File.Exists(p), p));
        Assert.False(cached[^1].Ready);
    }

    [Fact]
    public void ChangedDirectory_RestatsNewFilesAndNotReadyRuns()
    {
        using var f = new Facility(settleSeconds: 600);
        var now = DateTime.UtcNow;
        f.Files("XPP", "xpptut15", Facility.Old, "xpptut15-r0001-s00-c00.xtc");
        var run2 = f.Files("XPP", "xpptut15", now.AddSeconds(-30), "xpptut15-r0002-s00-c00.xtc");
        Directory.SetLastWriteTimeUtc(f.RunDir("XPP", "xpptut15"), Facility.Old);
        var cache = CatalogCache.ForConfig(f.Config);
        var cat = new RunCatalog(f.Config, cache);
        var runs = cat.Runs("xpptut15", now);
        Assert.True(runs[0].Ready);
        Assert.False(runs[1].Ready);

        // A late chunk for run 1 (new file: stat'ed, run 1 is no longer settled) and run 2 growing.
        f.Files("XPP", "xpptut15", now.AddSeconds(-5), "xpptut15-r0001-s00-c01.xtc");
        File.AppendAllText(run2[0], "more data");
        File.SetLastWriteTimeUtc(run2[0], now.AddSeconds(-1));
        runs = cat.Runs("xpptut15", now);
        Assert.Equal(2, cache.Misses);
        Assert.Equal(2, runs[0].Files.Count);
        Assert.False(runs[0].Ready);
        Assert.Equal(runs[0].Files.Sum(p => new FileInfo(p).Length), runs[0].Bytes);
        Assert.Equal(new FileInfo(run2[0]).Length, runs[1].Bytes);
        Assert.Contains("1 s ago", runs[1].NotReadyReason);
    }

    private static ExperimentScan Listing(string exp, int runs, int salt, string ins = "XPP") => new()
    {
        Instrument = ins, Experiment = exp, Directory = $"/data/{ins}/{exp}/xtc", DirectoryExists = true,
        DirectoryMtimeTicks = Facility.Old.Ticks + salt, ListedAtTicks = Facility.Old.Ticks + TimeSpan.TicksPerMinute,
        Patterns = [new RunFileName(exp, 0, 0, 0, RunFileKind.Xtc, false, 4, 2, 2), new RunFileName("e77", 0, 1, 0, RunFileKind.Xtc, true, 4, 2, 2)],
        FileIndex = Enumerable.Range(0, runs).SelectMany(r => r % 5 == 0 ? new[] { 0, 1 } : new[] { 0 }).ToArray(),
        Runs = Enumerable.Range(0, runs).Select(r => new RunRecord
        {
            Run = 3 * r + 1, FileCount = r % 5 == 0 ? 2 : 1, Bytes = r % 2 == 0 ? 0 : 1000 + r + salt, NewestTicks = r % 2 == 0 ? 0 : Facility.Old.Ticks + r,
            InProgress = (byte)(r % 5 == 0 ? 1 : 0), Settled = r % 2 == 0 ? RunRecord.NotStatted : (byte)1,
        }).ToArray() is var rs ? Fix(rs) : null!,
    };

    private static RunRecord[] Fix(RunRecord[] runs)
    {
        var start = 0;
        for (var i = 0; i < runs.Length; i++) { runs[i].FileStart = start; start += runs[i].FileCount; }
        return runs;
    }

    [Fact]
    public void ListingsLoadedButNotUsed_AreWrittenBackAsTheyWere_AndDecodeWhenUsed()
    {
        using var f = new Facility();
        var dir = Path.Join(f.Config.DbRoot, ".catalog-cache");
        Directory.CreateDirectory(f.Config.DbRoot);
        var c1 = new CatalogCache(dir);
        var exps = Enumerable.Range(1, 100).Select(i => $"xpplazy{i}").Where(e => c1.FileOf("XPP", e) == c1.FileOf("XPP", "xpplazy1")).Take(3).ToArray();
        Assert.Equal(3, exps.Length);
        for (var k = 0; k < exps.Length; k++)
            c1.Put("XPP", Listing(exps[k], 50 + k, k));
        c1.Save();

        var c2 = new CatalogCache(dir);
        Assert.NotNull(c2.TryGet("XPP", exps[1], $"/data/XPP/{exps[1]}/xtc"));
        c2.Put("XPP", Listing(exps[1], 7, 99));
        c2.Save();
        Assert.Empty(c2.LoadMessages);

        var c3 = new CatalogCache(dir);
        Assert.Null(c3.TryGet("XPP", exps[0], "/elsewhere/xtc"));
        foreach (var (exp, want) in new[] { (exps[0], Listing(exps[0], 50, 0)), (exps[1], Listing(exps[1], 7, 99)), (exps[2], Listing(exps[2], 52, 2)) })
        {
            var got = c3.TryGet("XPP", exp, want.Directory);
            Assert.NotNull(got);
            Assert.Equal(want.DirectoryMtimeTicks, got.DirectoryMtimeTicks);
            Assert.Equal(want.Runs, got.Runs);
            Assert.Equal(want.Patterns, got.Patterns);
            Assert.Equal(want.FileIndex, got.FileIndex);
        }
        Assert.Empty(c3.LoadMessages);
    }

    [Fact]
    public void OneFileForEveryInstrument_KeyedByInstrumentAndExperiment_OlderFilesRemoved()
    {
        using var f = new Facility();
        var dir = Path.Join(f.Config.DbRoot, ".catalog-cache");
        Directory.CreateDirectory(dir);
        // The per-instrument files of cache version 8: never read now, removed at the first write.
        File.WriteAllText(Path.Join(dir, "XPP-00.cache"), "old");
        File.WriteAllText(Path.Join(dir, "AMO-00.cache"), "old");
        var c1 = new CatalogCache(dir);
        Assert.Equal(c1.FileOf("XPP", "xpptut15"), c1.FileOf("AMO", "amotut15"));
        var xpp = Listing("xpptut15", 5, 1);
        // The same experiment name listed under another instrument's directory is a listing of its own.
        var other = Listing("xpptut15", 9, 2, "AMO");
        c1.Put("XPP", xpp);
        c1.Put("AMO", other);
        c1.Save();
        Assert.Equal(new[] { "listings.cache" }, Directory.GetFiles(dir).Select(Path.GetFileName));

        var c2 = new CatalogCache(dir);
        Assert.Equal(xpp.Runs, c2.TryGet("XPP", "xpptut15", xpp.Directory)!.Runs);
        Assert.Equal(other.Runs, c2.TryGet("AMO", "xpptut15", other.Directory)!.Runs);
        Assert.Null(c2.TryGet("AMO", "xpptut15", xpp.Directory));
        Assert.Empty(c2.LoadMessages);
        c2.Remove("AMO", "xpptut15");
        c2.Save();
        var c3 = new CatalogCache(dir);
        Assert.NotNull(c3.TryGet("XPP", "xpptut15", xpp.Directory));
        Assert.Null(c3.TryGet("AMO", "xpptut15", other.Directory));
    }

    [Fact]
    public void ChangedListings_AreAppendedToTheJournal_ATornOrForeignJournalIsNotTrusted()
    {
        using var f = new Facility();
        var dir = Path.Join(f.Config.DbRoot, ".catalog-cache");
        Directory.CreateDirectory(f.Config.DbRoot);
        var c1 = new CatalogCache(dir);
        var file = c1.FileOf("XPP", "xppjour1");
        var journal = Path.ChangeExtension(file, ".journal");
        c1.Put("XPP", Listing("xppjour1", 5, 1));
        c1.Put("XPP", Listing("xppjour2", 6, 2));
        c1.Save();
        Assert.False(File.Exists(journal)); // a first save writes the file
        var fileBytes = File.ReadAllBytes(file);

        // A cycle that changed one listing appends it; the file is not written again.
        var c2 = new CatalogCache(dir);
        Assert.NotNull(c2.TryGet("XPP", "xppjour1", "/data/XPP/xppjour1/xtc"));
        c2.Put("XPP", Listing("xppjour1", 9, 3));
        c2.Save();
        Assert.Equal(fileBytes, File.ReadAllBytes(file));
        Assert.True(File.Exists(journal));
        var c3 = new CatalogCache(dir);
        Assert.Equal(Listing("xppjour1", 9, 3).Runs, c3.TryGet("XPP", "xppjour1", "/data/XPP/xppjour1/xtc")!.Runs);
        Assert.Equal(Listing("xppjour2", 6, 2).Runs, c3.TryGet("XPP", "xppjour2", "/data/XPP/xppjour2/xtc")!.Runs);
        Assert.Empty(c3.LoadMessages);

        // A torn append: the good records before it are used, the torn one not; the next save writes the file again.
        var c4 = new CatalogCache(dir);
        c4.Put("XPP", Listing("xppjour2", 11, 4));
        c4.Save();
        var good = File.ReadAllBytes(journal);
        File.WriteAllBytes(journal, good.AsSpan(0, good.Length - 3).ToArray());
        var c5 = new CatalogCache(dir);
        Assert.Equal(Listing("xppjour1", 9, 3).Runs, c5.TryGet("XPP", "xppjour1", "/data/XPP/xppjour1/xtc")!.Runs);
        Assert.Equal(Listing("xppjour2", 6, 2).Runs, c5.TryGet("XPP", "xppjour2", "/data/XPP/xppjour2/xtc")!.Runs);
        c5.Put("XPP", Listing("xppjour3", 4, 5));
        c5.Save();
        Assert.False(File.Exists(journal));
        Assert.NotEqual(fileBytes, File.ReadAllBytes(file));

        // A journal of an earlier file (another id) is not read.
        File.WriteAllBytes(journal, good);
        var c6 = new CatalogCache(dir);
        Assert.Equal(Listing("xppjour2", 6, 2).Runs, c6.TryGet("XPP", "xppjour2", "/data/XPP/xppjour2/xtc")!.Runs);
        Assert.Equal(Listing("xppjour1", 9, 3).Runs, c6.TryGet("XPP", "xppjour1", "/data/XPP/xppjour1/xtc")!.Runs);
        Assert.NotNull(c6.TryGet("XPP", "xppjour3", "/data/XPP/xppjour3/xtc"));
    }

    [Fact]
    public void AGrownJournal_IsFoldedIntoTheFile()
    {
        using var f = new Facility();
        var dir = Path.Join(f.Config.DbRoot, ".catalog-cache");
        Directory.CreateDirectory(f.Config.DbRoot);
        var c0 = new CatalogCache(dir);
        c0.Put("XPP", Listing("xppgrow0", 3, 0));
        c0.Save();
        var journal = Path.ChangeExtension(c0.FileOf("XPP", "xppgrow0"), ".journal");
        var rewritten = false;
        for (var k = 1; k <= 100 && !rewritten; k++)
        {
            var c = new CatalogCache(dir);
            c.Put("XPP", Listing("xppgrow1", 200, k));
            c.Save();
            rewritten = !File.Exists(journal);
            Assert.True(rewritten || new FileInfo(journal).Length <= 16 * 1024 + new FileInfo(c0.FileOf("XPP", "x")).Length / 4 + 4096);
        }
        Assert.True(rewritten);
        var last = new CatalogCache(dir);
        Assert.NotNull(last.TryGet("XPP", "xppgrow0", "/data/XPP/xppgrow0/xtc"));
        Assert.NotNull(last.TryGet("XPP", "xppgrow1", "/data/XPP/xppgrow1/xtc"));
    }

    [Fact]
    public void AListingChangedInPlace_IsEncodedAgain_OneUsedAsItWasIsCopied()
    {
        using var f = new Facility();
        var dir = Path.Join(f.Config.DbRoot, ".catalog-cache");
        Directory.CreateDirectory(f.Config.DbRoot);
        var c1 = new CatalogCache(dir);
        c1.Put("XPP", Listing("xppself1", 8, 1));
        c1.Put("XPP", Listing("xppself2", 8, 2));
        c1.Save();
        foreach (var rewrite in new[] { false, true })
        {
            // Decoded, re-stat'ed in place (as a not-ready run's files are), marked: the change is what is saved.
            var c2 = new CatalogCache(dir);
            var got = c2.TryGet("XPP", "xppself1", "/data/XPP/xppself1/xtc")!;
            Assert.NotNull(c2.TryGet("XPP", "xppself2", "/data/XPP/xppself2/xtc"));
            got.Runs[1].Bytes = rewrite ? 777 : 555;
            c2.MarkDirty("XPP", "xppself1");
            if (rewrite)
                c2.Remove("XPP", "xppnone"); // nothing removed: still a journal append
            c2.Save();
            var c3 = new CatalogCache(dir);
            Assert.Equal(rewrite ? 777 : 555, c3.TryGet("XPP", "xppself1", "/data/XPP/xppself1/xtc")!.Runs[1].Bytes);
            Assert.Equal(Listing("xppself2", 8, 2).Runs, c3.TryGet("XPP", "xppself2", "/data/XPP/xppself2/xtc")!.Runs);
        }
    }
}
