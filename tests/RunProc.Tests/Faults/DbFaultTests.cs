using System.Text;
using RunProc.Catalog;
using RunProc.Db;
using RunProc.Tests.Catalog;
using Xunit;

namespace RunProc.Tests.Faults;

/// <summary>
/// Bad input and file-system faults for the catalog and the DB: hostile experiment names in
/// experiments.txt and on disk, binary and malformed DB lines, a read-only DB directory (a read-only
/// bind mount: tests run as root) and a full disk (a 256 KiB tmpfs, filled up). Each must give a clear error
/// naming the input, lose nothing and leave nothing half-written.
/// </summary>
public class DbFaultTests
{
    internal static readonly string[] HostileNames =
    {
        "../x", "a;rm -rf ~", "$(id)", "`id`", "xpp'tut", "xpp\"tut", "xpp tut15", "-rf", "..", ".", "xpp/../../etc",
        "xppé15", "ｘｐｐｔｕｔ１５", "xpp\u202etut", "xpp\u0000tut", "XPPTUT15", new string('x', 300),
        "xpp" + new string('é', 297), "x",
    };

    [Fact]
    public void ExperimentsTxt_HostileNames_AreReportedWithFileAndLine_AndNeverUsed()
    {
        using var f = new Facility();
        f.Run("XPP", "xpptut15", 1);
        var text = string.Join("\n", HostileNames) + "\n# comment\nxpptut15\n";
        f.WriteDb(text, "pixel_status", "experiments.txt");
        var db = new ProcDb(f.Config, "pixel_status");
        var warnings = new List<DbWarning>();
        Assert.Equal(new[] { "xpptut15" }, db.ReadExperimentList(warnings.Add));
        // Every hostile line is reported with its line number; blank-looking ones too.
        var expected = HostileNames.Select((n, i) => (n, i)).Where(x => !string.IsNullOrWhiteSpace(x.n)).Select(x => x.i + 1);
        Assert.Equal(expected, warnings.Select(w => w.Line));
        Assert.All(warnings, w => Assert.Equal(db.ExperimentListFile, w.File));
        Assert.All(warnings, w => Assert.DoesNotContain('\0', w.Message));
        Assert.All(warnings, w => Assert.True(w.Message.Length < 300, "a warning about a 300-character name must stay readable"));

        // LIST mode uses only the valid experiment, and nothing is created for the hostile names.
        var pending = new RunScan(db).Pending(new RunScanQuery());
        Assert.Equal(new[] { "xpptut15" }, pending.Select(r => r.Experiment).Distinct());
        AssertNoEscapes(f);

        // Removing the valid experiment rewrites the file keeping every hostile line byte for byte.
        var before = File.ReadAllBytes(db.ExperimentListFile);
        Assert.Equal(new[] { "xpptut15" }, db.RemoveExperiments(new[] { "xpptut15" }));
        var expectedAfter = Encoding.UTF8.GetString(before).Replace("xpptut15\n", "");
        Assert.Equal(Encoding.UTF8.GetBytes(expectedAfter), File.ReadAllBytes(db.ExperimentListFile));

        // The API refuses every hostile name before it touches a path.
        foreach (var n in HostileNames)
        {
            Assert.Throws<ArgumentException>(() => db.AddExperiments(new[] { n }));
            Assert.Throws<ArgumentException>(() => db.AppendProcessed(n, new[] { 1 }, "x"));
            Assert.Throws<ArgumentException>(() => db.ProcessedFile(n));
        }
        AssertNoEscapes(f);
    }

    [Fact]
    public void HostileExperimentDirectories_OnDisk_AreIgnored_AndHostileFileNamesAreNotRuns()
    {
        using var f = new Facility();
        var ins = Path.Join(f.Config.DataRoot, "XPP");
        var made = new List<string>();
        foreach (var n in HostileNames.Where(n => !n.Contains('/') && n is not ("." or "..") && !n.Contains('\0')))
        {
            try
            {
                var d = Path.Join(ins, n, "xtc");
                Directory.CreateDirectory(d);
                File.WriteAllText(Path.Join(d, $"{n}-r0001-s00-c00.xtc"), "x");
                File.SetLastWriteTimeUtc(Path.Join(d, $"{n}-r0001-s00-c00.xtc"), Facility.Old);
                made.Add(n);
            }
            catch (PathTooLongException)
            {
                // NAME_MAX is 255 bytes: a 300-character (or 300-byte) name cannot exist as a directory.
                Assert.True(Encoding.UTF8.GetByteCount(n) > 255, n);
            }
        }
        // The longest name the file system allows.
        var longest = "xpp" + new string('1', 252);
        Directory.CreateDirectory(Path.Join(ins, longest, "xtc"));
        made.Add(longest);
        Assert.Contains("a;rm -rf ~", made);
        Assert.Contains("$(id)", made);

        f.Run("XPP", "xpptut15", 7);
        // Files in a valid experiment whose names only look like runs.
        f.Files("XPP", "xpptut15", null,
            "xpptut15-r0008-s00-c00.xtc;rm -rf ~", "$(id)-r0009-s00-c00.xtc", "xpptut15-r\u0660\u0660\u0661\u0660-s00-c00.xtc",
            "xpptut15-r0011-s00-c00.xtc\n", "xpptut15-r-001-s00-c00.xtc", "xpptut15-r0012-s00-c00.xtc.bak", "../xpptut15-r0013-s00-c00.xtc".Replace("/", "_"));

        var catalog = new RunCatalog(f.Config);
        var verbose = new List<string>();
        Assert.Equal(new[] { "xpptut15" }, catalog.Experiments("XPP", verbose.Add));
        Assert.Equal(made.Count, verbose.Count(v => v.StartsWith("Ignoring", StringComparison.Ordinal)));
        Assert.All(verbose, v => Assert.True(v.Length < 400));

        var db = new ProcDb(f.Config, "pixel_status");
        var pending = new RunScan(db).Pending(new RunScanQuery { All = true, UseCache = false });
        Assert.Equal(new[] { ("xpptut15", 7) }, pending.Select(r => (r.Experiment, r.Run)));
        // And the same through the scan cache, twice (the second from the cache).
        for (var i = 0; i < 2; i++)
            Assert.Equal(new[] { 7 }, new RunScan(db).Pending(new RunScanQuery { All = true }).Select(r => r.Run));
        AssertNoEscapes(f);
    }

    [Fact]
    public void BinaryAndMalformedLines_AreReportedWithFileAndLine_Skipped_AndKeptByEveryRewrite()
    {
        using var f = new Facility();
        f.Run("XPP", "xpptut15", 3);
        var db = new ProcDb(f.Config, "pixel_status");
        var file = db.ProcessedFile("xpptut15");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var rec = (int run) => Encoding.UTF8.GetBytes($"{run:D4} 2017-10-05T15:19:21 dubrovin psanaphi106 cwd:/reg cmd:proc_new_datasets");
        var lines = new List<byte[]>
        {
            new byte[] { 0xFF, 0xFE, 0x00, 0x30, 0x00, 0x31 },          // 1: a UTF-16 "BOM" and binary
            rec(1),                                                      // 2
            new byte[] { 0x00, 0x00, 0x00 },                             // 3: NULs
            Encoding.UTF8.GetBytes(new string('7', 1_000_000)),          // 4: a 1 MB line of digits
            rec(2),                                                      // 5
            new byte[] { 0x30, 0x30, 0x30, 0x34, 0x20, 0xC3, 0x28, 0xA0, 0xA1 }, // 6: "0004 " then invalid UTF-8: a record with a garbled tail
            Encoding.UTF8.GetBytes("\u0660\u0660\u0660\u0663 2017-10-05T15:19:21 a b cwd:/ cmd:x"), // 7: Arabic-Indic digits
            rec(3),                                                      // 8
            Encoding.UTF8.GetBytes("0005\u00a0x"),                      // 9: NBSP after the run
            new byte[] { 0x1B, 0x5B, 0x32, 0x4A, 0x0D },                 // 10: a terminal escape and CR
        };
        File.WriteAllBytes(file, lines.SelectMany(l => l.Append((byte)'\n')).ToArray());

        var warnings = new List<DbWarning>();
        var done = db.ReadDoneRuns("xpptut15", warnings.Add);
        Assert.Equal(new[] { 1, 2, 3, 4, 5 }, done.Order());
        Assert.Equal(new[] { 1, 3, 4, 7, 10 }, warnings.Select(w => w.Line));
        Assert.All(warnings, w => Assert.StartsWith(file + ":", w.ToString()));
        Assert.All(warnings, w => Assert.True(w.Message.Length < 300, $"warning too long: {w.Message.Length}"));
        var parsed = new List<DbWarning>();
        Assert.Equal(done.Order(), db.ReadRecords("xpptut15", parsed.Add).Select(r => r.Run).Order());
        Assert.Equal(warnings.Select(w => w.Line), parsed.Select(w => w.Line));

        // Runs 1 and 2 have no data: archive them. Every other line stays byte for byte, in order.
        var moved = db.MoveToArchive("xpptut15", new[] { 1, 2 });
        Assert.Equal(new[] { 1, 2 }, moved.Select(m => m.Run));
        var kept = lines.Where((_, i) => i is not (1 or 4)).SelectMany(l => l.Append((byte)'\n')).ToArray();
        Assert.Equal(kept, File.ReadAllBytes(file));
        Assert.Equal(rec(1).Append((byte)'\n').Concat(rec(2)).Append((byte)'\n').ToArray(), File.ReadAllBytes(db.ArchiveFile("xpptut15")));

        // Binary lines in experiments.txt survive Add and Remove too.
        var list = db.ExperimentListFile;
        var binary = new byte[] { 0xFF, 0xFE, 0x41, 0x00, (byte)'\n', 0xC3, 0x28, (byte)'\n', (byte)'#', 0xE9, (byte)'\n' };
        File.WriteAllBytes(list, binary);
        Assert.Equal(new[] { "xpptut15" }, db.AddExperiments(new[] { "xpptut15" }));
        Assert.Equal(new[] { "xpptut15" }, db.RemoveExperiments(new[] { "xpptut15" }));
        Assert.Equal(binary, File.ReadAllBytes(list));
    }

    [Fact]
    public void ReadOnlyDbDirectory_GivesAClearErrorNamingIt_AndChangesNothing()
    {
        using var f = new Facility();
        f.Run("XPP", "xpptut15", 1);
        f.Run("XPP", "xpptut15", 2);
        var db = new ProcDb(f.Config, "pixel_status");
        db.AddExperiments(new[] { "xpptut15" });
        db.AppendProcessed("xpptut15", new[] { 1 }, "x");
        db.AppendProcessed("xpptut15", new[] { 9 }, "x"); // data gone: an archive candidate
        var snapshot = Snapshot(f.Config.DbRoot);

        using (Mounts.ReadOnly(f.Config.DbRoot))
        {
            var errors = new List<Exception>
            {
                Record(() => db.AppendProcessed("xpptut15", new[] { 2 }, "x")),
                Record(() => db.MoveToArchive("xpptut15", new[] { 9 })),
                Record(() => db.AddExperiments(new[] { "xpptut16" })),
                Record(() => db.RemoveExperiments(new[] { "xpptut15" })),
            };
            foreach (var e in errors)
            {
                Assert.NotNull(e);
                // Not "the lock is held by another process" after a minute's wait: the real cause, with the path.
                Assert.IsNotType<TimeoutException>(e);
                Assert.True(e is IOException or UnauthorizedAccessException, e.ToString());
                Assert.Contains("Read-only file system", e.Message);
                Assert.Contains(db.ProcessDirectory, e.Message);
            }
            // Reading still works on a read-only DB (the scan cache is just not saved).
            Assert.Equal(new[] { 2 }, new RunScan(db).Pending(new RunScanQuery()).Select(r => r.Run));
            Assert.Equal(new[] { 1, 9 }, db.ReadDoneRuns("xpptut15").Order());
        }
        Assert.Equal(snapshot, Snapshot(f.Config.DbRoot).Where(kv => !kv.Key.Contains(".catalog-cache")).ToDictionary());
        // Writable again: everything works.
        Assert.Equal(new[] { 2 }, db.AppendProcessed("xpptut15", new[] { 2 }, "x"));
    }

    [Fact]
    public void FullDisk_AppendsAndRewritesFailWithAClearError_NothingLostOrHalfWritten()
    {
        using var f = new Facility();
        f.Run("XPP", "xpptut15", 1);
        var db = new ProcDb(f.Config, "pixel_status");
        using (Mounts.SmallDisk(f.Config.DbRoot, 256))
        {
            db.AddExperiments(new[] { "xpptut15", "xpptut16" });
            db.AppendProcessed("xpptut15", new[] { 5, 6, 7 }, "x");
            new RunScan(new ProcDb(f.Config, "pixel_status")).Pending(new RunScanQuery()); // creates the scan cache while there is room
            var filler = Mounts.Fill(f.Config.DbRoot);
            var snapshot = Snapshot(f.Config.DbRoot, except: filler);

            // 400 records (~40 KB) cannot fit: the append fails and leaves no partial record.
            var append = Record(() => db.AppendProcessed("xpptut15", Enumerable.Range(100, 400), "x"));
            AssertDiskFull(append, db.ProcessedFile("xpptut15"));
            Assert.Equal(snapshot, Snapshot(f.Config.DbRoot, except: filler));
            Assert.Equal(new[] { 5, 6, 7 }, db.ReadDoneRuns("xpptut15").Order());

            // A small append can fail too; each attempt leaves the file as it was.
            for (var run = 600; run < 660; run++)
            {
                var e = Record(() => db.AppendProcessed("xpptut15", new[] { run }, "x"));
                if (e is null) continue; // fitted in the last page: it must then be complete
                AssertDiskFull(e, db.ProcessedFile("xpptut15"));
            }
            var done = db.ReadDoneRuns("xpptut15", w => Assert.Fail($"half-written line: {w}"));
            Assert.All(db.ReadRecords("xpptut15"), r => Assert.NotNull(r.Command));
            snapshot = Snapshot(f.Config.DbRoot, except: filler);

            // Rewrites fail before they replace anything; no temp file is left behind.
            var move = Record(() => db.MoveToArchive("xpptut15", new[] { 5, 6 }));
            AssertDiskFull(move, db.ProcessDirectory);
            var remove = Record(() => db.RemoveExperiments(new[] { "xpptut16" }));
            AssertDiskFull(remove, db.ProcessDirectory);
            var now = Snapshot(f.Config.DbRoot, except: filler);
            Assert.DoesNotContain(now.Keys, k => k.Contains(".tmp-"));
            // An empty archive file may have been created by the failed append; nothing else changed.
            Assert.Equal(snapshot, now.Where(kv => !(kv.Key.EndsWith("-arch-runs.txt") && kv.Value.Length == 0)).ToDictionary());
            Assert.Equal(done.Order(), db.ReadDoneRuns("xpptut15").Order());

            // Reading and scanning still work on a full disk (the cache is just not saved).
            Assert.Equal(new[] { 1 }, new RunScan(db).Pending(new RunScanQuery()).Select(r => r.Run));

            // Room again: every operation completes.
            File.Delete(filler);
            Assert.Equal(400, db.AppendProcessed("xpptut15", Enumerable.Range(100, 400), "x").Count);
            Assert.Equal(2, db.MoveToArchive("xpptut15", new[] { 5, 6 }).Count);
            Assert.Equal(new[] { "xpptut16" }, db.RemoveExperiments(new[] { "xpptut16" }));
            db.ReadDoneRuns("xpptut15", w => Assert.Fail($"malformed line after recovery: {w}"));
        }
    }

    private static void AssertDiskFull(Exception? e, string path)
    {
        Assert.NotNull(e);
        Assert.True(e is IOException, e!.ToString());
        Assert.Contains("No space left on device", e.Message);
        Assert.Contains(path, e.Message);
    }

    private static Exception? Record(Action a)
    {
        try { a(); return null; }
        catch (Exception e) { return e; }
    }

    /// <summary>Every file under a directory with its bytes (lock files excluded: they are empty by design).</summary>
    internal static Dictionary<string, byte[]> Snapshot(string dir, string? except = null) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Where(p => p != except && !p.EndsWith(ProcDb.LockFileName, StringComparison.Ordinal))
            .ToDictionary(p => p, File.ReadAllBytes);

    /// <summary>Nothing was created outside the facility or for a hostile name in the DB tree (a name like ../x must never become a path).</summary>
    private static void AssertNoEscapes(Facility f)
    {
        var parent = Path.GetDirectoryName(f.Root)!;
        Assert.False(File.Exists(Path.Join(parent, "x")) || Directory.Exists(Path.Join(parent, "x")));
        Assert.False(Directory.Exists(Path.Join(f.Config.DbRoot, "x")) || Directory.Exists(Path.Join(f.Root, "x")));
        if (!Directory.Exists(f.Config.DbRoot))
            return;
        foreach (var p in Directory.EnumerateFileSystemEntries(f.Config.DbRoot, "*", SearchOption.AllDirectories))
        {
            var name = Path.GetFileName(p);
            Assert.False(name.Contains('$') || name.Contains(';') || name.Contains('`'), $"created {p}");
        }
    }
}
