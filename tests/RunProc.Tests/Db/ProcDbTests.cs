using System.Globalization;
using RunProc.Catalog;
using RunProc.Db;
using RunProc.Tests.Catalog;
using Xunit;

namespace RunProc.Tests.Db;

public class ProcDbTests
{
    [Fact]
    public void Record_IsWrittenExactlyInTheOriginalFormat()
    {
        var line = ProcRecord.Format(151, new DateTime(2017, 10, 5, 15, 19, 21), "dubrovin", "psanaphi106", "/reg/neh/home/dubrovin", "proc_new_datasets");
        Assert.Equal("0151 2017-10-05T15:19:21 dubrovin psanaphi106 cwd:/reg/neh/home/dubrovin cmd:proc_new_datasets", line);
        var rec = ProcRecord.TryParse(line, "f", 1, RecordState.Processed, out var problem)!;
        Assert.Null(problem);
        Assert.Equal(151, rec.Run);
        Assert.Equal(new DateTime(2017, 10, 5, 15, 19, 21), rec.Time);
        Assert.Equal("dubrovin", rec.Login);
        Assert.Equal("psanaphi106", rec.Host);
        Assert.Equal("/reg/neh/home/dubrovin", rec.Cwd);
        Assert.Equal("proc_new_datasets", rec.Command);
    }

    [Fact]
    public void OldToolFiles_AreReadAsTheyAre_BlankLines_NoFinalNewline_ExtraFields_Malformed()
    {
        using var f = new Facility();
        f.WriteDb("0151 2017-10-05T15:19:21 dubrovin psanaphi106 cwd:/reg/neh/home/dubrovin cmd:proc_new_datasets\n\n   \n" +
                  "0152 2017-10-05T15:19:22 dubrovin psanaphi106 cwd:/home cmd:proc_new_datasets -s extra fields\r\n" +
                  "garbage line here\n" +
                  "0153", "pixel_status", "XPP", "xpptut15-proc-runs.txt");
        var db = new ProcDb(f.Config, "pixel_status");
        var warnings = new List<DbWarning>();
        var recs = db.ReadProcessed("xpptut15", warnings.Add);
        Assert.Equal(new[] { 151, 152, 153 }, recs.Keys.OrderBy(k => k));
        Assert.Equal("proc_new_datasets -s extra fields", recs[152].Command);
        Assert.Null(recs[153].Time);
        var w = Assert.Single(warnings);
        Assert.Equal(5, w.Line);
        Assert.EndsWith("xpptut15-proc-runs.txt", w.File);
        Assert.Contains(":5:", w.ToString());
        Assert.Equal(new[] { 151, 152, 153 }, db.ReadDoneRuns("xpptut15").OrderBy(r => r));
    }

    [Fact]
    public void AppendProcessed_WritesWholeLines_SkipsRecordedRuns_AndFixesAMissingFinalNewline()
    {
        using var f = new Facility();
        f.WriteDb("0001 2017-10-05T15:19:21 a b cwd:/ cmd:x", "pixel_status", "XPP", "xpptut15-proc-runs.txt");
        var db = new ProcDb(f.Config, "pixel_status");
        var t = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Local);
        var added = db.AppendProcessed("xpptut15", new[] { 1, 2, 3, 2 }, "Register-ProcRun", t, "/work");
        Assert.Equal(new[] { 2, 3 }, added);
        var lines = File.ReadAllLines(db.ProcessedFile("xpptut15"));
        Assert.Equal(3, lines.Length);
        Assert.Equal($"0002 2026-01-02T03:04:05 {Environment.UserName} {Environment.MachineName} cwd:/work cmd:Register-ProcRun", lines[1]);
        Assert.EndsWith("\n", File.ReadAllText(db.ProcessedFile("xpptut15")));
        Assert.Empty(db.AppendProcessed("xpptut15", new[] { 3 }, "x"));
        Assert.Throws<ArgumentException>(() => db.AppendProcessed("../x", new[] { 1 }, "x"));
    }

    [Fact]
    public void ExperimentList_SkipsCommentsAndBlankLines_WarnsOnBadNames()
    {
        using var f = new Facility();
        f.WriteDb("# experiments under control\n\nxpptut15\n  cxil2316   # comment\nBAD NAME\nxpptut15\nmfx101332224", "pixel_status", "experiments.txt");
        var db = new ProcDb(f.Config, "pixel_status");
        var w = new List<DbWarning>();
        Assert.Equal(new[] { "xpptut15", "cxil2316", "mfx101332224" }, db.ReadExperimentList(w.Add));
        Assert.Equal(5, Assert.Single(w).Line);
    }

    [Fact]
    public void AddAndRemoveExperiments_KeepCommentsAndOtherLines()
    {
        using var f = new Facility();
        f.WriteDb("# head\nxpptut15\nBAD NAME\ncxil2316 # keep me? no: removed with it\n# tail", "pixel_status", "experiments.txt");
        var db = new ProcDb(f.Config, "pixel_status");
        Assert.Equal(new[] { "mfx101332224" }, db.AddExperiments(new[] { "xpptut15", "mfx101332224" }));
        Assert.Equal(new[] { "cxil2316" }, db.RemoveExperiments(new[] { "cxil2316", "amo12345" }));
        Assert.Equal("# head\nxpptut15\nBAD NAME\n# tail\nmfx101332224\n", File.ReadAllText(db.ExperimentListFile));
    }

    [Fact]
    public void PendingRuns_ListMode_AllMode_Filters_AndReadiness()
    {
        using var f = new Facility();
        f.Run("XPP", "xpptut15", 1);
        f.Run("XPP", "xpptut15", 2);
        f.Run("XPP", "xpptut15", 3);
        f.Files("XPP", "xpptut15", DateTime.UtcNow, "xpptut15-r0004-s00-c00.xtc.inprogress");
        f.Run("CXI", "cxil2316", 7);
        f.Run("MFX", "mfx101332224", 9);
        f.WriteDb("xpptut15\n", "pixel_status", "experiments.txt");
        f.WriteDb("0002 2017-10-05T15:19:21 a b cwd:/ cmd:x\n", "pixel_status", "XPP", "xpptut15-proc-runs.txt");
        f.WriteDb("0003 2017-10-05T15:19:21 a b cwd:/ cmd:x", "pixel_status", "XPP", "xpptut15-proc-arch.txt");
        var db = new ProcDb(f.Config, "pixel_status");

        var list = new RunScan(db).Pending(new RunScanQuery());
        Assert.Equal(new[] { "xpptut15/1" }, list.Select(r => $"{r.Experiment}/{r.Run}"));
        Assert.Equal("pixel_status", list[0].Process);

        var all = new RunScan(db).Pending(new RunScanQuery { All = true });
        // instrument order of the config (XPP, CXI, MFX), then experiment
        Assert.Equal(new[] { "xpptut15/1", "cxil2316/7", "mfx101332224/9" }, all.Select(r => $"{r.Experiment}/{r.Run}"));

        var notReady = new RunScan(db).Pending(new RunScanQuery { All = true, IncludeNotReady = true, Instruments = new[] { "xpp" } });
        Assert.Equal(new[] { 1, 4 }, notReady.Select(r => r.Run));
        Assert.False(notReady[1].Ready);
        Assert.Contains("inprogress", notReady[1].NotReadyReason);

        Assert.Equal(new[] { 9 }, new RunScan(db).Pending(new RunScanQuery { Experiments = new[] { "mfx*" } }).Select(r => r.Run));
        Assert.Equal(new[] { 7 }, new RunScan(db).Pending(new RunScanQuery { Experiments = new[] { "cxil2316" } }).Select(r => r.Run));
    }

    [Fact]
    public void PendingRuns_ListedExperimentWithoutData_IsAWarning()
    {
        using var f = new Facility();
        f.WriteDb("# x\nxppgone12\n", "pixel_status", "experiments.txt");
        var w = new List<DbWarning>();
        Assert.Empty(new RunScan(new ProcDb(f.Config, "pixel_status")).Pending(new RunScanQuery(), w.Add));
        Assert.Equal(2, Assert.Single(w).Line);
    }

    [Fact]
    public void PendingRuns_WithCache_SeesNewRunsAndNewRecords()
    {
        using var f = new Facility();
        f.Run("XPP", "xpptut15", 1);
        Directory.SetLastWriteTimeUtc(f.RunDir("XPP", "xpptut15"), Facility.Old);
        var db = new ProcDb(f.Config, "pixel_status");
        var q = new RunScanQuery { All = true };
        Assert.Single(new RunScan(db).Pending(q));
        db.AppendProcessed("xpptut15", new[] { 1 }, "test");
        Assert.Empty(new RunScan(db).Pending(q));
        f.Run("XPP", "xpptut15", 2);
        Assert.Equal(2, Assert.Single(new RunScan(db).Pending(q)).Run);
        Assert.True(File.Exists(CatalogCache.ForConfig(f.Config).FileOf("XPP", "xpptut15")));
    }

    [Fact]
    public void MoveToArchive_MovesRecords_KeepsMalformedAndOtherLines_IsRepeatable()
    {
        using var f = new Facility();
        var proc = "0001 2017-10-05T15:19:21 a b cwd:/ cmd:x\n# odd line\n0002 2017-10-05T15:19:22 a b cwd:/ cmd:x extra\n\n0003 2017-10-05T15:19:23 a b cwd:/ cmd:x";
        f.WriteDb(proc, "pixel_status", "XPP", "xpptut15-proc-runs.txt");
        var db = new ProcDb(f.Config, "pixel_status");
        var w = new List<DbWarning>();
        var moved = db.MoveToArchive("xpptut15", new[] { 2, 3 }, w.Add);
        Assert.Equal(new[] { 2, 3 }, moved.Select(m => m.Run));
        Assert.Equal(2, Assert.Single(w).Line);
        Assert.Equal("0001 2017-10-05T15:19:21 a b cwd:/ cmd:x\n# odd line\n\n", File.ReadAllText(db.ProcessedFile("xpptut15")));
        Assert.Equal("0002 2017-10-05T15:19:22 a b cwd:/ cmd:x extra\n0003 2017-10-05T15:19:23 a b cwd:/ cmd:x\n", File.ReadAllText(db.ArchiveFile("xpptut15")));

        // A crash after the archive append but before the rewrite leaves run 1 in both; running again does not duplicate it.
        File.AppendAllText(db.ArchiveFile("xpptut15"), "0001 2017-10-05T15:19:21 a b cwd:/ cmd:x\n");
        db.MoveToArchive("xpptut15", new[] { 1 });
        Assert.Equal(3, File.ReadAllLines(db.ArchiveFile("xpptut15")).Length);
        Assert.Equal("# odd line\n\n", File.ReadAllText(db.ProcessedFile("xpptut15")));
        Assert.Equal(new[] { 1, 2, 3 }, db.ReadArchived("xpptut15").Keys.OrderBy(k => k));
    }

    [Fact]
    public void Paths_FollowTheOldLayout()
    {
        using var f = new Facility();
        var db = new ProcDb(f.Config, "pixel_status");
        Assert.Equal(Path.Join(f.Config.DbRoot, "pixel_status", "MFX", "mfx101332224-proc-runs.txt"), db.ProcessedFile("mfx101332224"));
        Assert.Equal(Path.Join(f.Config.DbRoot, "pixel_status", "MFX", "mfx101332224-arch-runs.txt"), db.ArchiveFile("mfx101332224"));
        var work = db.WorkDirectory("mfx101332224");
        Assert.Equal(Path.Join(f.Config.DbRoot, "pixel_status", "MFX", "mfx101332224", "work"), work);
        Assert.True(Directory.Exists(work));
        if (!OperatingSystem.IsWindows())
            Assert.Equal((UnixFileMode)f.Config.DirectoryMode, File.GetUnixFileMode(work) & (UnixFileMode)0xFFF);
        Assert.Throws<ArgumentException>(() => new ProcDb(f.Config, "../x"));
        Assert.Equal(new[] { "mfx101332224" }, EmptyThenRecord(db));
    }

    private static IReadOnlyList<string> EmptyThenRecord(ProcDb db)
    {
        Assert.Empty(db.RecordedExperiments());
        db.AppendProcessed("mfx101332224", new[] { 1 }, "x");
        return db.RecordedExperiments();
    }
}
