using System.Text;
using System.Text.RegularExpressions;
using RunProc.Batch;
using Xunit;

namespace RunProc.Tests.Batch;

/// <summary>
/// LSF as its commands answer, for the command lines RunProc runs (no LSF here). The output formats
/// follow IBM Spectrum LSF 10.1's documentation: bsub's "Job &lt;id&gt; is submitted to queue &lt;q&gt;.",
/// job arrays (bsub -J "name[1-N]%M", indices from 1, all elements sharing the array's id),
/// bjobs' default columns (JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME SUBMIT_TIME, EXEC_HOST
/// blank while pending, an element shown as JOBID = the array's id and JOB_NAME = "name[index]", or
/// as JOBID "id[index]" with LSB_BJOBS_DISPLAY_ENH=Y), "Job &lt;id&gt; is not found", and bkill of an
/// array id killing every element (a killed job shows EXIT).
/// </summary>
internal sealed class LsfDouble : ICommandRunner
{
    private int _next = 100;

    /// <summary>Job (or element) → its name and STAT, keyed "id" or "id[index]".</summary>
    public Dictionary<string, (string Name, string Stat)> Jobs { get; } = new();

    /// <summary>Every command line run.</summary>
    public List<string[]> Calls { get; } = new();

    /// <summary>Array ids shown the LSB_BJOBS_DISPLAY_ENH=Y way (JOBID "id[index]").</summary>
    public bool IndexInJobId { get; set; }

    public IEnumerable<string[]> Runs(string command) => Calls.Where(c => c[0] == command);

    public CommandResult Run(IReadOnlyList<string> argv, TimeSpan timeout, CancellationToken cancel)
    {
        Calls.Add(argv.ToArray());
        switch (argv[0])
        {
            case "bsub":
            {
                var id = (_next++).ToString();
                var spec = Regex.Match(argv[argv.ToList().IndexOf("-J") + 1], @"^([^\[]+)(?:\[([\d,-]+)\](?:%\d+)?)?$");
                if (spec.Groups[2].Success)
                    foreach (var element in spec.Groups[2].Value.Split(','))
                    {
                        var r = element.Split('-').Select(int.Parse).ToArray();
                        for (var k = r[0]; k <= r[^1]; k++)
                            Jobs[$"{id}[{k}]"] = (spec.Groups[1].Value, "PEND");
                    }
                else
                    Jobs[id] = (spec.Groups[1].Value, "PEND");
                return new CommandResult(0, $"Job <{id}> is submitted to queue <normal>.\n", "");
            }
            case "bjobs":
            {
                var rows = new List<string>();
                var missing = new StringBuilder();
                var byName = argv.ToList().IndexOf("-J") is var j and > 0 ? argv[j + 1] : null;
                var asked = byName is null ? argv.Skip(3).ToList() : new List<string>();
                foreach (var (key, (name, stat)) in Jobs.OrderBy(k => k.Key, StringComparer.Ordinal))
                {
                    var baseId = key.Split('[')[0];
                    if (byName is not null ? name == byName : asked.Contains(key) || asked.Contains(baseId))
                        rows.Add(Row(key, name, stat));
                }
                foreach (var a in asked.Where(a => !Jobs.Keys.Any(k => k == a || k.Split('[')[0] == a)))
                    missing.Append($"Job <{a}> is not found\n");
                if (rows.Count == 0)
                    return new CommandResult(255, "", byName is null ? missing.ToString() : "No job found\n");
                return new CommandResult(missing.Length > 0 ? 255 : 0,
                    "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME\n" + string.Join("\n", rows) + "\n", missing.ToString());
            }
            case "bkill":
            {
                var killed = Jobs.Keys.Where(k => k == argv[1] || k.Split('[')[0] == argv[1]).ToList();
                foreach (var k in killed.Where(k => Jobs[k].Stat is "PEND" or "RUN"))
                    Jobs[k] = Jobs[k] with { Stat = "EXIT" };
                return killed.Count > 0 ? new CommandResult(0, $"Job <{argv[1]}> is being terminated\n", "") : new CommandResult(255, "", $"{argv[1]}: No matching job found\n");
            }
            default:
                throw new InvalidOperationException("unexpected command " + argv[0]);
        }
    }

    private string Row(string key, string name, string stat)
    {
        var index = key.Contains('[') ? key[key.IndexOf('[')..] : "";
        var jobId = IndexInJobId ? key : key.Split('[')[0];
        var exec = stat == "PEND" ? "           " : "psana1507  ";
        return $"{jobId,-10} dubrovin {stat,-5} normal     psanaphi106 {exec} {name}{(IndexInJobId ? "" : index)} Dec  1 23:30";
    }

    public void Set(string key, string stat) => Jobs[key] = Jobs[key] with { Stat = stat };
}

public class LsfArrayTests
{
    private static JobSpec ArraySpec(string dir, string parts = "0-3", int throttle = 2, IReadOnlyList<string>? afterOk = null) => new()
    {
        Name = "rp.p.xpptut15.r0001.a1.abc123.p1",
        Command = new[] { "/opt/bin/prog", "-Part", CommandTemplate.PartToken },
        LogFile = Path.Join(dir, "log-xpptut15-r0001-T.txt"),
        StatusFile = Path.Join(dir, $"log-xpptut15-r0001-T-s1-p{CommandTemplate.PartToken}.status"),
        WorkDirectory = dir, TimeLimitMinutes = 30, WrapperScript = "/m/scripts/runproc-job.sh", PartScript = "/m/scripts/runproc-part.sh",
        ArrayIndices = parts, ArrayThrottle = throttle, AfterOk = afterOk ?? Array.Empty<string>(),
    };

    [Fact]
    public void An_array_is_one_bsub_with_lsf_indices_from_1_a_throttle_and_one_output_file_per_element()
    {
        var spec = ArraySpec("/db/p/XPP/xpptut15");
        var argv = new LsfScheduler(new LsfDouble()).SubmitArgv(spec);
        Assert.Equal(new[]
        {
            "bsub", "-o", "/db/p/XPP/xpptut15/log-xpptut15-r0001-T-s1-task%I.txt", "-J", "rp.p.xpptut15.r0001.a1.abc123.p1[1-4]%2",
            "-cwd", "/db/p/XPP/xpptut15", "-W", "30", "/bin/sh", "/db/p/XPP/xpptut15/log-xpptut15-r0001-T-s1.lsf.sh",
        }, argv);
        // Each element learns its part from LSB_JOBINDEX through runproc-part.sh (part = index - 1).
        Assert.Equal("#!/bin/sh\n# RunProc LSF job rp.p.xpptut15.r0001.a1.abc123.p1: every word below is POSIX-quoted; nothing in it is expanded.\n" +
            "exec /bin/sh /m/scripts/runproc-part.sh -- /bin/sh /m/scripts/runproc-job.sh /db/p/XPP/xpptut15/log-xpptut15-r0001-T-s1-p@RUNPROC_PART@.status - 0 - 0 -- /opt/bin/prog -Part @RUNPROC_PART@\n",
            LsfScheduler.JobScript(spec));
    }

    [Theory]
    [InlineData("0-3", "1-4")]
    [InlineData("2", "3")]       // one part retried alone: name[3]
    [InlineData("2,5", "3,6")]
    [InlineData("0,1,2,7", "1-3,8")]
    [InlineData("0-999", "1-1000")] // a 1,000-part array stays one short -J (LSF allows 255 characters)
    public void Lsf_index_lists_count_from_1(string parts, string lsf) => Assert.Equal(lsf, LsfOutput.IndexList(parts));

    [Fact]
    public void The_merge_waits_with_done_on_the_array_or_on_the_elements_still_to_succeed()
    {
        var merge = new JobSpec
        {
            Name = "rp.p.xpptut15.r0001.a1.abc123.m2", Command = new[] { "/opt/bin/merge" }, LogFile = "/db/log.txt", StatusFile = "/db/log-s2-merge.status",
            WorkDirectory = "/db", WrapperScript = "/m/scripts/runproc-job.sh", AfterOk = new[] { "849160" },
        };
        var argv = new LsfScheduler(new LsfDouble()).SubmitArgv(merge).ToList();
        Assert.Equal("done(849160)", argv[argv.IndexOf("-w") + 1]);
        Assert.Equal("rp.p.xpptut15.r0001.a1.abc123.m2", argv[argv.IndexOf("-J") + 1]); // a single job: no index list
        Assert.Equal("/db/log.txt", argv[argv.IndexOf("-o") + 1]);
        Assert.Equal("done(849160[1]) && done(849170[2])", LsfOutput.DoneCondition(new[] { "849160_0", "849170_1" }));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // LSB_BJOBS_DISPLAY_ENH=Y
    public void Bjobs_rows_of_array_elements_are_returned_as_task_ids(bool indexInJobId)
    {
        var lsf = new LsfDouble { IndexInJobId = indexInJobId };
        lsf.Jobs["849160[1]"] = ("rp.x.p1", "RUN");
        lsf.Jobs["849160[2]"] = ("rp.x.p1", "PEND");
        lsf.Jobs["849160[3]"] = ("rp.x.p1", "EXIT");
        lsf.Jobs["849160[4]"] = ("rp.x.p1", "DONE");
        lsf.Jobs["849161"] = ("rp.x.m1", "PEND");
        var q = new LsfScheduler(lsf).Query(new[] { "849160", "849161", "849999" }, default);
        Assert.Equal(new[] { "bjobs", "-a", "-w", "849160", "849161", "849999" }, Assert.Single(lsf.Calls)); // one bjobs for every element
        Assert.Equal(new[] { JobState.Running, JobState.Pending, JobState.Failed, JobState.Done },
            new[] { "849160_0", "849160_1", "849160_2", "849160_3" }.Select(k => q.Known[k].State));
        Assert.Equal(JobState.Pending, q.Known["849161"].State);
        Assert.Equal("rp.x.p1", q.Known["849160_1"].Name); // a pending row (no EXEC_HOST) still names its array
        Assert.False(q.Known.ContainsKey("849999"));          // not found: gone, not a failed query
        Assert.Empty(q.Unanswered);
        Assert.Equal(new[] { "849160_3" }, LsfOutput.ParseNotFound("Job <849160[4]> is not found\n"));
    }

    [Fact]
    public void Cancel_kills_a_whole_array_by_its_id_and_one_element_as_id_index()
    {
        var lsf = new LsfDouble();
        lsf.Jobs["849160[1]"] = ("rp.x.p1", "RUN");
        lsf.Jobs["849160[2]"] = ("rp.x.p1", "PEND");
        new LsfScheduler(lsf).Cancel("849160", default);
        Assert.Equal(new[] { "bkill", "849160" }, lsf.Calls[0]);
        Assert.All(lsf.Jobs.Values, j => Assert.Equal("EXIT", j.Stat));
        lsf.Jobs["849170[3]"] = ("rp.x.p2", "RUN");
        new LsfScheduler(lsf).Cancel("849170_2", default);
        Assert.Equal(new[] { "bkill", "849170[3]" }, lsf.Calls[1]);
    }

    [Fact]
    public void Find_by_name_finds_the_elements_of_an_array()
    {
        var lsf = new LsfDouble();
        lsf.Jobs["849160[1]"] = ("rp.x.p1", "RUN");
        lsf.Jobs["849160[2]"] = ("rp.x.p1", "PEND");
        var found = new LsfScheduler(lsf).FindByName("rp.x.p1", default);
        Assert.Equal(new[] { "849160_0", "849160_1" }, found.Select(f => f.JobId));
        Assert.Equal(new[] { "bjobs", "-a", "-w", "-J", "rp.x.p1" }, lsf.Calls[0]);
        Assert.Empty(new LsfScheduler(lsf).FindByName("rp.none", default));
    }

    [Fact]
    public void Submit_creates_each_elements_status_and_output_file_and_refuses_a_planted_link()
    {
        using var f = new RunProc.Tests.Catalog.Facility();
        var dir = Directory.CreateDirectory(Path.Join(f.Root, "db")).FullName;
        RunProc.IO.SafeFile.GuardTree(dir);
        var lsf = new LsfDouble();
        Assert.Equal("100", new LsfScheduler(lsf).Submit(ArraySpec(dir, "0-2"), default));
        foreach (var k in new[] { 0, 1, 2 })
        {
            Assert.True(File.Exists(Path.Join(dir, $"log-xpptut15-r0001-T-s1-p{k}.status")));
            Assert.True(File.Exists(Path.Join(dir, $"log-xpptut15-r0001-T-s1-task{k + 1}.txt")));
        }

        // A link planted where part 3's status file will be: refused before bsub runs, the target untouched.
        var target = Path.Join(f.Root, "victim.txt");
        File.WriteAllText(target, "precious\n");
        var spec = ArraySpec(dir, "3");
        File.CreateSymbolicLink(Path.Join(dir, "log-xpptut15-r0001-T-s1-p3.status"), target);
        var ex = Assert.Throws<SchedulerException>(() => new LsfScheduler(lsf).Submit(spec, default));
        Assert.Contains("log-xpptut15-r0001-T-s1-p3.status", ex.Message);
        Assert.True(ex.CommandNotRun);
        Assert.Single(lsf.Runs("bsub"));
        Assert.Equal("precious\n", File.ReadAllText(target));
    }

    /// <summary>
    /// The controller on LSF: the parts as one array and the merge with done(), one bjobs per pass,
    /// a failed part retried alone as name[k] with the merge replaced, and Stop killing the array.
    /// </summary>
    [Fact]
    public void A_split_run_on_lsf_is_an_array_a_done_merge_and_a_part_retried_alone()
    {
        using var fx = new BatchFixture(parts: 3, attempts: 2, scheduler: "Lsf");
        fx.Runs("xpptut15", 1);
        var lsf = new LsfDouble();
        var scheduler = new LsfScheduler(lsf);
        var o = fx.Controller(scheduler).Submit("xpptut15", 1, false, null, default);
        Assert.Equal(SubmitDecision.Submitted, o.Decision);
        var bsubs = lsf.Runs("bsub").ToList();
        Assert.Equal(2, bsubs.Count);
        Assert.Matches(@"^rp\.p\.xpptut15\.r0001\.a1\.[0-9a-f]{6}\.p1\[1-3\]%2$", J(bsubs[0]));
        Assert.Contains(bsubs[0], a => a.EndsWith("-task%I.txt", StringComparison.Ordinal));
        Assert.Equal("done(100)", W(bsubs[1]));
        var job = fx.Controller(scheduler).Jobs("xpptut15").Single();
        Assert.Equal(new[] { "100_0", "100_1", "100_2" }, job.PartJobs.Where(p => !p.IsMerge).Select(p => p.JobId));
        Assert.All(job.PartJobs.Where(p => !p.IsMerge), p => Assert.True(File.Exists(p.StatusFile), p.StatusFile));

        lsf.Set("100[1]", "RUN");
        lsf.Set("100[2]", "EXIT");
        lsf.Set("100[3]", "DONE");
        lsf.Calls.Clear();
        var r = fx.Controller(scheduler).Reconcile(default);
        Assert.Equal(1, r.QueryCommands);
        Assert.Single(lsf.Runs("bjobs"));
        Assert.Contains(new[] { "bkill", "101" }, lsf.Runs("bkill"));          // the merge that could never start
        var retry = lsf.Runs("bsub").ToList();
        Assert.Equal(2, retry.Count);
        Assert.EndsWith(".p3[2]%1", J(retry[0]));                              // part 1 alone, LSF index 2
        Assert.Equal("done(100[1]) && done(102[2])", W(retry[1]));           // the new merge: the elements still to succeed

        lsf.Set("100[1]", "DONE");
        lsf.Set("102[2]", "DONE");
        fx.Controller(scheduler).Reconcile(default);
        lsf.Set("103", "DONE");
        fx.Controller(scheduler).Reconcile(default);
        job = fx.Controller(scheduler).Jobs("xpptut15").Single();
        Assert.Equal((JobState.Done, 3), (job.State, job.PartsDone));
        Assert.Equal(2, lsf.Runs("bsub").Count()); // since the first pass: the retry and its merge, nothing more
    }

    [Fact]
    public void Stop_on_lsf_kills_the_array_and_the_merge()
    {
        using var fx = new BatchFixture(parts: 2, scheduler: "Lsf");
        fx.Runs("xpptut15", 1);
        var lsf = new LsfDouble();
        var scheduler = new LsfScheduler(lsf);
        var o = fx.Controller(scheduler).Submit("xpptut15", 1, false, null, default);
        fx.Controller(scheduler).Cancel("xpptut15", o.Job!.Name, default);
        Assert.Equal(new[] { "100", "101" }, lsf.Runs("bkill").Select(c => c[1]).Order());
        fx.Controller(scheduler).RunCycle(default);
        Assert.Equal(JobState.Cancelled, fx.Controller(scheduler).Jobs("xpptut15").Single().State);
    }

    private sealed class Killed : Exception { }

    /// <summary>A controller killed between the array and the merge submission on LSF: the array is found by name (its elements), the merge submitted once.</summary>
    [Theory]
    [InlineData("parts-intent")]
    [InlineData("parts-submitted")]
    [InlineData("merge-intent")]
    public void Exactly_once_on_lsf_when_the_controller_dies_between_array_and_merge(string step)
    {
        using var fx = new BatchFixture(parts: 3, scheduler: "Lsf");
        fx.Runs("xpptut15", 1);
        var lsf = new LsfDouble();
        var first = fx.Controller(new LsfScheduler(lsf));
        first.StepHook = s => { if (s == step) throw new Killed(); };
        Assert.Throws<Killed>(() => first.Submit("xpptut15", 1, false, null, default));
        for (var pass = 0; pass < 3; pass++)
        {
            fx.Controller(new LsfScheduler(lsf)).RunCycle(default);
            foreach (var k in lsf.Jobs.Keys.ToList())
                lsf.Set(k, "DONE");
        }
        fx.Controller(new LsfScheduler(lsf)).RunCycle(default);
        var job = fx.Controller(new LsfScheduler(lsf)).Jobs("xpptut15").Single();
        Assert.Equal(JobState.Done, job.State);
        Assert.Single(lsf.Runs("bsub"), c => J(c).Contains('['));   // one array
        Assert.Single(lsf.Runs("bsub"), c => !J(c).Contains('['));  // one merge
    }

    [Fact]
    public void WhatIf_on_lsf_shows_the_array_and_the_merge_waiting_with_done()
    {
        using var fx = new BatchFixture(parts: 2, scheduler: "Lsf");
        fx.Runs("xpptut15", 1);
        var plan = fx.Controller(new LsfScheduler(new LsfDouble())).PlanSubmit("xpptut15", 1, false);
        Assert.Matches(@"\.p1\[1-2\]%2$", J(plan.Argv.ToArray()));
        Assert.Equal("done(<parts job id>)", W(plan.MergeArgv.ToArray()));
    }

    private static string J(string[] argv) => argv[Array.IndexOf(argv, "-J") + 1];

    private static string W(string[] argv) => argv[Array.IndexOf(argv, "-w") + 1];
}
