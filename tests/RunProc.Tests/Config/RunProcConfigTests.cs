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
        Assert.Equal(Convert.ToInt32("664", 8), (int)cfg.FileMode);
        Assert.Equal(Convert.ToInt32("2775", 8), (int)cfg.DirectoryMode);
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
    public void CalibType_DefaultsToTheDescribedDirectory_AndIsSet()
    {
        Assert.Equal("pixel_datastat", RunProcConfig.FromDictionary(new Hashtable(), "/site/runproc.psd1").CalibType);
        Assert.Equal("pixel_datast", RunProcConfig.FromDictionary(new Hashtable { ["CalibType"] = "pixel_datast" }, "/site/runproc.psd1").CalibType);
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
    [InlineData("CalibType", "../pixel_status", "CalibType")]
    [InlineData("CalibType", "", "CalibType")]
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

    [Fact]
    public void NoRetryExitCodes_DefaultTo65_AndAreValidated()
    {
        RunProcConfig With(object value) => RunProcConfig.FromDictionary(new Hashtable { ["Processes"] = new Hashtable { ["pixel_status"] = new Hashtable { ["NoRetryExitCodes"] = value } } }, "/site/runproc.psd1");
        Assert.Equal(new[] { 65 }, RunProcConfig.FromDictionary(new Hashtable(), "/site/runproc.psd1").GetProcess("pixel_status").NoRetryExitCodes);
        Assert.Equal(new[] { 65, 3 }, With(new object[] { 65, 3, 65 }).GetProcess("pixel_status").NoRetryExitCodes);
        Assert.Equal(new[] { 7 }, With(7).GetProcess("pixel_status").NoRetryExitCodes);
        Assert.Empty(With(Array.Empty<object>()).GetProcess("pixel_status").NoRetryExitCodes);
        foreach (var bad in new object[] { 0, 256, "sixty", new object[] { 65, -1 }, 1.5 })
        {
            var ex = Assert.Throws<ConfigException>(() => With(bad));
            Assert.Equal("Processes.pixel_status.NoRetryExitCodes", ex.Key);
            Assert.Contains("exit codes from 1 to 255", ex.Message);
        }
    }

    [Theory]
    [InlineData("Schedular", "Scheduler")]
    [InlineData("MaxJob", "MaxJobs")]
    [InlineData("timelimit", "TimeLimitMinutes")]
    public void Unknown_process_keys_are_errors_naming_the_nearest_valid_key(string typo, string nearest)
    {
        var procs = new Hashtable { ["pixel_status"] = new Hashtable { [typo] = 1 } };
        var ex = Assert.Throws<ConfigException>(() => RunProcConfig.FromDictionary(new Hashtable { ["Processes"] = procs }, "/site/runproc.psd1"));
        Assert.Equal("Processes.pixel_status." + typo, ex.Key);
        Assert.Contains($"'{typo}'", ex.Message);
        Assert.Contains($"Did you mean '{nearest}'?", ex.Message);
    }

    [Fact]
    public void Unknown_top_level_keys_name_the_nearest_valid_key()
    {
        var ex = Assert.Throws<ConfigException>(() => RunProcConfig.FromDictionary(new Hashtable { ["DataRot"] = "/d" }, "/site/runproc.psd1"));
        Assert.Equal("DataRot", ex.Key);
        Assert.Contains("Did you mean 'DataRoot'?", ex.Message);
    }

    [Fact]
    public void A_placeholder_typo_is_an_error_when_the_config_is_loaded()
    {
        var procs = new Hashtable { ["mine"] = new Hashtable { ["Command"] = new object[] { "/bin/prog", "{expt}", "{run}" } } };
        var ex = Assert.Throws<ConfigException>(() => RunProcConfig.FromDictionary(new Hashtable { ["Processes"] = procs }, "/site/runproc.psd1"));
        Assert.Equal("Processes.mine.Command", ex.Key);
        Assert.Contains("{expt}", ex.Message);
    }

    [Theory]
    [InlineData(664, "'0664'")]
    [InlineData(2775, "'02775'")]
    [InlineData(436, "'0436'")]
    [InlineData(999, "'0664'")]
    public void A_mode_written_as_a_number_is_an_error_showing_how_to_write_it(int number, string shown)
    {
        var ex = Assert.Throws<ConfigException>(() => RunProcConfig.FromDictionary(new Hashtable { ["FileMode"] = number }, "/site/runproc.psd1"));
        Assert.Equal("FileMode", ex.Key);
        Assert.Contains($"FileMode = {shown}", ex.Message);
    }

    [Fact]
    public void Modes_are_octal_strings_and_show_in_octal()
    {
        var cfg = RunProcConfig.FromDictionary(new Hashtable { ["FileMode"] = "0640", ["DirectoryMode"] = "2770" }, "/site/runproc.psd1");
        Assert.Equal(Convert.ToInt32("640", 8), (int)cfg.FileMode);
        Assert.Equal("0640", cfg.FileMode.ToString());
        Assert.Equal("02770", cfg.DirectoryMode.ToString());
        Assert.Throws<ConfigException>(() => RunProcConfig.FromDictionary(new Hashtable { ["FileMode"] = "0689" }, "/site/runproc.psd1"));
        Assert.Throws<ConfigException>(() => RunProcConfig.FromDictionary(new Hashtable { ["FileMode"] = "017777" }, "/site/runproc.psd1"));
    }
}

public class InstrumentRuleTests
{
    private static readonly Hashtable Wide = new() { ["ExperimentPattern"] = "^[a-z][a-z0-9_]{2,39}$", ["Instruments"] = new object[] { "XPP", "MFX" } };

    [Fact]
    public void The_rule_is_the_prefix_and_it_must_be_a_configured_instrument()
    {
        var cfg = RunProcConfig.FromDictionary(Wide, "/site/runproc.psd1");
        Assert.Equal("XPP", cfg.InstrumentOf("xpptut15"));
        var ex = Assert.Throws<ArgumentException>(() => cfg.InstrumentOf("x_yz"));
        Assert.Contains("x_yz", ex.Message);
        Assert.Contains("InstrumentMap", ex.Message);
        Assert.Throws<ArgumentException>(() => cfg.InstrumentOf("cxitut13")); // CXI is not configured here
        Assert.Throws<ArgumentException>(() => Names.InstrumentOf("x_yz"));
    }

    [Fact]
    public void InstrumentMap_maps_other_schemes_longest_prefix_first_and_is_validated()
    {
        var data = new Hashtable(Wide) { ["InstrumentMap"] = new Hashtable { ["x_"] = "XPP", ["x_m"] = "MFX" } };
        var cfg = RunProcConfig.FromDictionary(data, "/site/runproc.psd1");
        Assert.Equal("XPP", cfg.InstrumentOf("x_yz"));
        Assert.Equal("MFX", cfg.InstrumentOf("x_mq1"));
        var bad = new Hashtable(Wide) { ["InstrumentMap"] = new Hashtable { ["x_"] = "CXI" } };
        var ex = Assert.Throws<ConfigException>(() => RunProcConfig.FromDictionary(bad, "/site/runproc.psd1"));
        Assert.Equal("InstrumentMap.x_", ex.Key);
    }
}
