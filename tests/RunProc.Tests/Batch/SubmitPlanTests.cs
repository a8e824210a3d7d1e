using Xunit;
using RunProc.Batch;

namespace RunProc.Tests.Batch;

/// <summary>The plan -WhatIf/-Confirm show is the job that is submitted; MaxJobs counted once per pipeline.</summary>
public class SubmitPlanTests
{
    [Fact]
    public void A_submitted_plan_keeps_its_job_name_log_and_argv()
    {
        using var fx = new BatchFixture(command: new object[] { "/bin/sh", "-c", "exit 0", "{jobname}", "{logfile}" });
        fx.Runs("xpptut15", 1);
        var c = fx.Controller();
        var plan = c.PlanSubmit("xpptut15", 1, force: false);
        Assert.Equal(SubmitDecision.Submitted, plan.Decision);
        Assert.False(File.Exists(plan.LogFile)); // a plan creates nothing
        var o = c.Submit(plan, null, default);
        Assert.Equal(SubmitDecision.Submitted, o.Decision);
        Assert.Equal(plan.JobName, o.Job!.Name);
        Assert.Equal(plan.LogFile, o.Job.LogFile);
        Assert.Equal(plan.Argv, o.Argv);
        Assert.Equal(plan.JobName, fx.Scheduler.Jobs.Values.Single().Name);
        Assert.Contains(plan.JobName, plan.Argv);
    }

    [Fact]
    public void A_plan_whose_run_changed_is_not_submitted()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1);
        var c = fx.Controller();
        var plan = c.PlanSubmit("xpptut15", 1, force: false);
        Assert.Equal(SubmitDecision.Submitted, c.Submit("xpptut15", 1, false, null, default).Decision); // e.g. a cycle in between
        var late = c.Submit(plan, null, default);
        Assert.Equal(SubmitDecision.Skipped, late.Decision);
        Assert.Single(fx.Scheduler.Jobs);
        Assert.Throws<ArgumentException>(() => c.Submit(late, null, default)); // only a Submitted plan can be submitted
    }

    [Fact]
    public void A_session_counts_whatif_plans_but_not_declined_ones()
    {
        using var fx = new BatchFixture(maxJobs: 1);
        fx.Runs("xpptut15", 1, 2, 3);
        var whatIf = new SubmitSession(fx.Controller(), null);
        var p1 = whatIf.Plan("xpptut15", 1, false);
        whatIf.ShownOnly(p1);
        Assert.Equal(SubmitDecision.Deferred, whatIf.Plan("xpptut15", 2, false).Decision); // a real pipeline would be full
        Assert.Equal(1, whatIf.Deferred);

        // -Confirm answered No for run 1: it takes no slot, run 2 goes.
        var confirm = new SubmitSession(fx.Controller(), null);
        confirm.Plan("xpptut15", 1, false);
        var p2 = confirm.Plan("xpptut15", 2, false);
        Assert.Equal(SubmitDecision.Submitted, p2.Decision);
        Assert.Equal(SubmitDecision.Submitted, confirm.Submit(p2, default).Decision);
        Assert.Equal(SubmitDecision.Deferred, confirm.Plan("xpptut15", 3, false).Decision);
        Assert.Equal(0, fx.Scheduler.CountFor("xpptut15", 1));
        Assert.Equal(1, fx.Scheduler.CountFor("xpptut15", 2));
    }

    [Fact]
    public void A_session_limit_overrides_the_process_MaxJobs()
    {
        using var fx = new BatchFixture(maxJobs: 1);
        fx.Runs("xpptut15", 1, 2, 3);
        var s = new SubmitSession(fx.Controller(), 2);
        foreach (var r in new[] { 1, 2, 3 })
        {
            var p = s.Plan("xpptut15", r, false);
            if (p.Decision == SubmitDecision.Submitted)
                s.Submit(p, default);
        }
        Assert.Equal(2, fx.Scheduler.Jobs.Count);
        Assert.Equal(1, s.Deferred);
        Assert.Contains("MaxJobs 2", s.DeferReason);
    }

    [Fact]
    public void The_module_folder_is_made_ready_before_a_submission_and_never_for_a_plan()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1);
        var ensured = 0;
        var c = new BatchController(fx.Db, fx.Config.GetProcess("p"),
            new BatchEnvironment { WrapperScript = BatchFixture.Wrapper, ConfigPath = fx.Config.SourcePath, EnsureModule = () => ensured++ },
            _ => fx.Scheduler);
        var plan = c.PlanSubmit("xpptut15", 1, false);
        Assert.Equal(0, ensured);
        c.Submit(plan, null, default);
        Assert.Equal(1, ensured);
    }
}
