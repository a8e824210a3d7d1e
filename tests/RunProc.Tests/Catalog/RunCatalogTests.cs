using RunProc.Catalog;
using Xunit;

namespace RunProc.Tests.Catalog;

public class RunCatalogTests
{
    [Fact]
    public void Experiments_AreValidNamesOnly_Sorted()
    {
        using var f = new Facility();
        f.RunDir("XPP", "xpptut15");
        f.RunDir("XPP", "xpplv1234");
        Directory.CreateDirectory(Path.Join(f.Config.DataRoot, "XPP", "Not An Exp"));
        Directory.CreateDirectory(Path.Join(f.Config.DataRoot, "XPP", "..hidden"));
        File.WriteAllText(Path.Join(f.Config.DataRoot, "XPP", "readme"), "x");
        var verbose = new List<string>();
        var exps = new RunCatalog(f.Config).Experiments("XPP", verbose.Add);
        Assert.Equal(new[] { "xpplv1234", "xpptut15" }, exps);
        Assert.Contains(verbose, v => v.Contains("Not An Exp"));
        Assert.Empty(new RunCatalog(f.Config).Experiments("CXI"));
    }

    [Fact]
    public void Runs_GroupFilesByRun_InStreamChunkOrder_IgnoringOtherFiles()
    {
        using var f = new Facility();
        f.Files("XPP", "xpptut15", null,
            "xpptut15-r0002-s01-c00.xtc", "xpptut15-r0002-s00-c01.xtc", "xpptut15-r0002-s00-c00.xtc",
            "xpptut15-r0010-s00-c00.xtc", "notes.txt", "xpptut15-r0003-s00-c00.xtc.bak", "other-r0004-s00-c00.xtc");
        Directory.CreateDirectory(Path.Join(f.RunDir("XPP", "xpptut15"), "smalldata"));
        var verbose = new List<string>();
        var runs = new RunCatalog(f.Config).Runs("xpptut15", verbose: verbose.Add);
        Assert.Equal(new[] { 2, 10 }, runs.Select(r => r.Run));
        var r2 = runs[0];
        Assert.Equal("XPP", r2.Instrument);
        Assert.Equal("exp=xpptut15:run=2", r2.DataSetName);
        Assert.Equal(new[] { "s00-c00", "s00-c01", "s01-c00" }, r2.Files.Select(p => Path.GetFileName(p)[15..22]));
        Assert.All(r2.Files, p => Assert.True(Path.IsPathRooted(p) && File.Exists(p)));
        Assert.Equal(r2.Files.Sum(p => new FileInfo(p).Length), r2.Bytes);
        Assert.True(r2.Ready);
        Assert.Null(r2.NotReadyReason);
        Assert.Equal(4, verbose.Count(v => v.StartsWith("Ignoring", StringComparison.Ordinal)));
    }

    [Fact]
    public void Lcls2AndH5AndOldPrefix_AreRuns_AndLongExperimentNamesWork()
    {
        using var f = new Facility();
        f.Files("MFX", "mfx101332224", null, "mfx101332224-r0007-s000-c000.xtc2", "mfx101332224-r0007-s001-c000.xtc2", "mfx101332224-r0008-s00-c00.h5");
        f.Files("CXI", "cxil2316", null, "e512-r0151-s00-c00.xtc");
        var cat = new RunCatalog(f.Config);
        Assert.Equal(new[] { 7, 8 }, cat.Runs("mfx101332224").Select(r => r.Run));
        Assert.Equal(2, cat.Run("mfx101332224", 7)!.Files.Count);
        Assert.Equal(151, Assert.Single(cat.Runs("cxil2316")).Run);
        Assert.Null(cat.Run("mfx101332224", 9));
    }

    [Fact]
    public void Readiness_InProgressFile_AndSettleTime()
    {
        using var f = new Facility(settleSeconds: 600);
        var now = DateTime.UtcNow;
        f.Run("XPP", "xpptut15", 1);
        f.Files("XPP", "xpptut15", null, "xpptut15-r0002-s00-c00.xtc");
        f.Files("XPP", "xpptut15", now, "xpptut15-r0002-s01-c00.xtc.inprogress");
        f.Files("XPP", "xpptut15", now.AddSeconds(-100), "xpptut15-r0003-s00-c00.xtc");
        f.Files("XPP", "xpptut15", now.AddSeconds(-700), "xpptut15-r0004-s00-c00.xtc");
        var runs = new RunCatalog(f.Config).Runs("xpptut15", now).ToDictionary(r => r.Run);
        Assert.True(runs[1].Ready);
        Assert.False(runs[2].Ready);
        Assert.Contains("xpptut15-r0002-s01-c00.xtc.inprogress", runs[2].NotReadyReason);
        Assert.Equal(2, runs[2].Files.Count);
        Assert.False(runs[3].Ready);
        Assert.Contains("settle", runs[3].NotReadyReason);
        Assert.True(runs[4].Ready);
        // The same run becomes ready once the settle time has passed.
        Assert.True(new RunCatalog(f.Config).Runs("xpptut15", now.AddSeconds(600)).Single(r => r.Run == 3).Ready);
    }

    [Fact]
    public void Experiment_IsFound_UnderAnotherConfiguredInstrument()
    {
        using var f = new Facility();
        f.Run("DET", "xppdaq01", 5);
        var cat = new RunCatalog(f.Config);
        Assert.Equal("DET", cat.InstrumentOf("xppdaq01"));
        var r = Assert.Single(cat.Runs("xppdaq01"));
        Assert.Equal("DET", r.Instrument);
        Assert.Equal("XPP", cat.InstrumentOf("xppnone1"));
        Assert.Empty(cat.Runs("xppnone1"));
    }

    [Fact]
    public void InvalidExperimentName_IsRejectedBeforeTouchingAPath()
    {
        using var f = new Facility();
        var cat = new RunCatalog(f.Config);
        Assert.Throws<ArgumentException>(() => cat.Runs("../etc"));
        Assert.Throws<ArgumentException>(() => cat.Runs("XPPtut15"));
    }
}
