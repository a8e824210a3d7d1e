using System.Collections;
using RunProc.Batch;
using RunProc.Config;
using Xunit;

namespace RunProc.Tests.Batch;

/// <summary>Issue 15 item 1: batch resources per process, in the config and in each scheduler's recorded argv.</summary>
public class BatchResourcesTests
{
    private static RunProcConfig Config(Hashtable process, string name = "p") =>
        RunProcConfig.FromDictionary(new Hashtable { ["Processes"] = new Hashtable { [name] = process } }, "/site/runproc.psd1");

    private static Hashtable Site(string scheduler) => new()
    {
        ["Command"] = new object[] { "/opt/bin/prog", "{exp}", "{run}" },
        ["Scheduler"] = scheduler,
        ["Queue"] = "milano",
        ["Account"] = "lcls:{exp}",
        ["Qos"] = scheduler == "Lsf" ? null : "preemptable",
        ["Cpus"] = 8,
        ["MemoryGB"] = 32,
        ["Gpus"] = 1,
        ["Constraint"] = "a100",
        ["Reservation"] = "maint_{ins}",
        ["Nodes"] = scheduler == "Lsf" ? 1 : 2,
        ["SchedulerArguments"] = new object[] { "--exclusive", "--comment=run{run}" },
        ["Environment"] = new Hashtable { ["OMP_NUM_THREADS"] = 8, ["HDF5_USE_FILE_LOCKING"] = "FALSE" },
    };

    [Theory]
    [InlineData("Cpu", "Cpus")]
    [InlineData("Acount", "Account")]
    [InlineData("memorygb2", "MemoryGB")]
    [InlineData("Partition", null)]
    public void An_unknown_process_key_is_an_error_naming_it_and_the_nearest_known_key(string key, string? nearest)
    {
        var ex = Assert.Throws<ConfigException>(() => Config(new Hashtable { ["Command"] = new object[] { "x" }, [key] = 1 }));
        Assert.Equal("Processes.p." + key, ex.Key);
        Assert.Contains($"unknown key '{key}'", ex.Message);
        if (nearest is null) Assert.DoesNotContain("Did you mean", ex.Message);
        else Assert.Contains($"Did you mean '{nearest}'?", ex.Message);
        Assert.Contains("/site/runproc.psd1", ex.Message);
    }

    [Fact]
    public void Several_unknown_keys_are_named_in_one_error_each_with_its_nearest_known_key()
    {
        var ex = Assert.Throws<ConfigException>(() => Config(new Hashtable { ["Command"] = new object[] { "x" }, ["Cpu"] = 1, ["Acount"] = "a", ["Partition"] = "p" }));
        Assert.Equal("Processes.p.Acount", ex.Key);
        Assert.Contains("3 unknown keys in Processes.p: 'Acount' (did you mean 'Account'?), 'Cpu' (did you mean 'Cpus'?), 'Partition'.", ex.Message);
        Assert.Contains("Known keys: ", ex.Message);
    }

    [Fact]
    public void Every_key_in_the_one_list_is_accepted()
    {
        // The one list the check uses holds every batch key of issue 15 (other keys are added there by other features).
        foreach (var key in Site("Slurm").Keys.Cast<string>().Concat(new[] { "Parts", "MergeCommand" }))
            Assert.Contains(key, ProcessDefinition.Keys);
        var def = Config(Site("Slurm")).GetProcess("p");
        var p = def.Resources;
        Assert.Equal(("lcls:{exp}", "preemptable", 8, 32, 1, "a100", "maint_{ins}", 2), (p.Account, p.Qos, p.Cpus, p.MemoryGB, p.Gpus, p.Constraint, p.Reservation, p.Nodes));
        Assert.Equal(new[] { "--exclusive", "--comment=run{run}" }, p.SchedulerArguments);
        Assert.Equal("8", def.Environment["OMP_NUM_THREADS"]);
    }

    [Theory]
    [InlineData("SchedulerArguments", new object[] { "--exclusive", "rm" }, "SchedulerArguments")]
    [InlineData("Account", "lcls {exp}", "Account")]
    [InlineData("Account", "lcls:{expx}", "Account")]
    [InlineData("Cpus", -1, "Cpus")]
    [InlineData("Nodes", 0, "Nodes")]
    [InlineData("Constraint", "a100;reboot", "Constraint")]
    public void Bad_resources_are_errors_naming_the_key(string key, object value, string expected)
    {
        var t = Site("Slurm");
        t[key] = value;
        var ex = Assert.Throws<ConfigException>(() => Config(t));
        Assert.Equal("Processes.p." + expected, ex.Key);
    }

    [Fact]
    public void Lsf_refuses_what_it_cannot_express()
    {
        var t = Site("Lsf");
        t["Qos"] = "normal";
        Assert.Equal("Processes.p.Qos", Assert.Throws<ConfigException>(() => Config(t)).Key);
        t = Site("Lsf");
        t["Nodes"] = 4;
        Assert.Equal("Processes.p.Nodes", Assert.Throws<ConfigException>(() => Config(t)).Key);
    }

    private static (BatchController Controller, BatchFixture Fixture) Controller(Hashtable process, IScheduler scheduler)
    {
        var fx = new BatchFixture();
        var cfg = RunProcConfig.FromDictionary(new Hashtable
        {
            ["DataRoot"] = fx.Config.DataRoot, ["DbRoot"] = fx.Config.DbRoot, ["SettleSeconds"] = 0,
            ["Processes"] = new Hashtable { ["p"] = process },
        }, fx.Config.SourcePath);
        var c = new BatchController(new RunProc.Db.ProcDb(cfg, "p"), cfg.GetProcess("p"),
            new BatchEnvironment { WrapperScript = "/m/scripts/runproc-job.sh", ConfigPath = "/site/runproc.psd1" }, _ => scheduler);
        return (c, fx);
    }

    [Fact]
    public void Slurm_argv_carries_every_resource_with_placeholders_expanded()
    {
        var (c, fx) = Controller(Site("Slurm"), new SlurmScheduler(new RecordedRunner()));
        using var _ = fx;
        var argv = c.PlanSubmit("xpptut15", 7, force: false).Argv.ToList();
        var wrapper = argv.IndexOf("/m/scripts/runproc-job.sh");
        Assert.Equal(new[]
        {
            "-p", "milano", "--account=lcls:xpptut15", "--qos=preemptable", "--cpus-per-task=8", "--mem=32G", "--gpus=1",
            "--constraint=a100", "--reservation=maint_XPP", "--nodes=2", "--exclusive", "--comment=run7",
        }, argv.Skip(wrapper - 12).Take(12));
        // Environment: set for the command itself, after the wrapper's "--", by env (no shell).
        Assert.Equal(new[] { "--", "/usr/bin/env", "--", "HDF5_USE_FILE_LOCKING=FALSE", "OMP_NUM_THREADS=8", "/opt/bin/prog", "xpptut15", "7" }, argv.Skip(argv.Count - 8));
    }

    [Fact]
    public void Lsf_argv_carries_account_slots_memory_gpus()
    {
        var (c, fx) = Controller(Site("Lsf"), new LsfScheduler(new RecordedRunner()));
        using var _ = fx;
        var argv = c.PlanSubmit("xpptut15", 7, force: false).Argv.ToList();
        Assert.Equal(new[]
        {
            "bsub", "-q", "milano", "-P", "lcls:xpptut15", "-n", "8", "-R", "rusage[mem=32GB]", "-R", "select[a100]",
            "-gpu", "num=1", "-U", "maint_XPP", "--exclusive", "--comment=run7", "-o",
        }, argv.Take(18));
    }

    [Fact]
    public void Local_cpus_take_local_slots_and_nothing_else_is_passed()
    {
        var local = new LocalScheduler("/spool", "/slots", 4);
        var (c, fx) = Controller(Site("Local"), local);
        using var _ = fx;
        var argv = c.PlanSubmit("xpptut15", 7, force: false).Argv.ToList();
        var env = argv.IndexOf("RUNPROC_JOB_SLOTS=4"); // Cpus 8 on a 4-slot machine: all 4 slots
        Assert.True(env > 0 && argv[env - 1] == "/usr/bin/env", string.Join(" ", argv));
        Assert.DoesNotContain(argv, a => a.StartsWith("--account", StringComparison.Ordinal) || a.StartsWith("--mem", StringComparison.Ordinal));
    }
}
