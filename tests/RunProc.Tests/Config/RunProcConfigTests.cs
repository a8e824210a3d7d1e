using System.Collections;
using RunProc.Config;
using Xunit;

namespace RunProc.Tests.Config;

public class RunProcConfigTests
{
    [Fact]
    public void Defaults_AreTheOldToolsValues()
    {
        var cfg = RunProcConfig.FromDictionary(new Hashtable(), "/x/runproc.psd1");
        Assert.Equal(11, cfg.Instruments.Count);
        Assert.Equal("xtc", cfg.RunDirectory);
        Assert.Equal(Convert.ToInt32("664", 8), cfg.FileMode);
        Assert.Equal(Convert.ToInt32("2775", 8), cfg.DirectoryMode);
        var p = cfg.GetProcess("pixel_status");
        Assert.Equal(2, p.MaxJobs);
        Assert.Equal(SchedulerKind.Local, p.Scheduler);
    }

    [Fact]
    public void ScanConcurrency_DefaultsToEight_AndIsSet()
    {
        Assert.Equal(8, RunProcConfig.FromDictionary(new Hashtable(), "/site/runproc.psd1").ScanConcurrency);
        Assert.Equal(32, RunProcConfig.FromDictionary(new Hashtable { ["ScanConcurrency"] = 32 }, "/site/runproc.psd1").ScanConcurrency);
    }

    [Fact]
    public void RelativeRoots_AreRelativeToTheConfigFile()
    {
        var cfg = RunProcConfig.FromDictionary(new Hashtable { ["DataRoot"] = "data", ["DbRoot"] = "/abs/db" }, "/site/runproc.psd1");
        Assert.Equal("/site/data", cfg.DataRoot);
        Assert.Equal("/abs/db", cfg.DbRoot);
    }

    [Theory]
    [InlineData("SettleSeconds", "soon", "SettleSeconds")]
    [InlineData("FileMode", "rw-rw-r--", "FileMode")]
    [InlineData("Bogus", 1, "Bogus")]
    [InlineData("RunDirectory", "../etc", "RunDirectory")]
    [InlineData("ScanConcurrency", 0, "ScanConcurrency")]
    [InlineData("ScanConcurrency", "many", "ScanConcurrency")]
    public void InvalidValues_NameFileAndKey(string key, object value, string expectedKey)
    {
        var ex = Assert.Throws<ConfigException>(() => RunProcConfig.FromDictionary(new Hashtable { [key] = value }, "/site/runproc.psd1"));
        Assert.Equal(expectedKey, ex.Key);
        Assert.Contains("/site/runproc.psd1", ex.Message);
    }

    [Fact]
    public void Process_SchedulerAndLimits_AreValidated()
    {
        var procs = new Hashtable { ["pixel_status"] = new Hashtable { ["Scheduler"] = "Torque" } };
        var ex = Assert.Throws<ConfigException>(() => RunProcConfig.FromDictionary(new Hashtable { ["Processes"] = procs }, "f.psd1"));
        Assert.Equal("Processes.pixel_status.Scheduler", ex.Key);

        procs = new Hashtable { ["other"] = new Hashtable { ["Command"] = new object[] { "echo", "{exp}" }, ["MaxJobs"] = 4, ["Scheduler"] = "slurm" } };
        var cfg = RunProcConfig.FromDictionary(new Hashtable { ["Processes"] = procs }, "f.psd1");
        var p = cfg.GetProcess("other");
        Assert.Equal(4, p.MaxJobs);
        Assert.Equal(SchedulerKind.Slurm, p.Scheduler);
        Assert.Equal(new[] { "echo", "{exp}" }, p.Command);
        Assert.NotNull(cfg.GetProcess("pixel_status"));
    }
}
