using RunProc.Batch;
using Xunit;

namespace RunProc.Tests.Batch;

/// <summary>Issue 15 item 3 on the scheduler double: a split run's job array, merge dependency, part retries, cancel and exactly-once.</summary>
public class BatchSplitTests
{
    private sealed class Killed : Exception { }

    private static ProcJob Only(BatchFixture fx)
    {
        var jobs = fx.Controller().Jobs("xpptut15");
        Assert.True(jobs.Count == 1, string.Join("\n", jobs.Select(j => j + " " + j.SchedulerState + " " + string.Join(", ", j.PartJobs))));
        return jobs[0];
    }

    [Fact]
    public void A_split_run_is_one_array_and_one_merge_waiting_for_it_and_is_done_when_the_merge_is()
    {
        using var fx = new BatchFixture(parts: 4, maxJobs: 3);
        fx.Runs("xpptut15", 1);
        var o = fx.Controller().Submit("xpptut15", 1, false, null, default);
        Assert.Equal(SubmitDecision.Submitted, o.Decision);
        var array = fx.Scheduler.Specs["100"];
        Assert.Equal(("0-3", 3), (array.ArrayIndices, array.ArrayThrottle)); // throttled by MaxJobs
        Assert.Contains(CommandTemplate.PartToken, array.Command);           // each task puts its index there
        var merge = fx.Scheduler.Specs["101"];
        Assert.Equal(new[] { "100" }, merge.AfterOk);
        Assert.Null(merge.ArrayIndices);
        Assert.Equal(new[] { "/bin/sh", "-c", "exit 0", "merge", "xpptut15", "1", "4" }, merge.Command);

        var job = Only(fx);
        Assert.Equal((4, 0, JobState.Pending, "100"), (job.Parts, job.PartsDone, job.State, job.JobId));
        foreach (var k in new[] { "100_0", "100_1", "100_2" })
            fx.Scheduler.Set(k, JobState.Done, "COMPLETED");
        fx.Scheduler.Set("100_3", JobState.Running, "RUNNING");
        var r = fx.Controller().Reconcile(default);
        Assert.Equal(1, r.QueryCommands); // one query for the array's tasks and the merge
        job = Only(fx);
        Assert.Equal((3, JobState.Running), (job.PartsDone, job.State));
        fx.Scheduler.Set("100_3", JobState.Done, "COMPLETED");
        fx.Controller().Reconcile(default);
        Assert.Equal((4, JobState.Pending), (Only(fx).PartsDone, Only(fx).State)); // parts done, merge not yet: not Done
        fx.Scheduler.Set("101", JobState.Done, "COMPLETED");
        fx.Controller().Reconcile(default);
        Assert.Equal(JobState.Done, Only(fx).State);
        Assert.Equal(2, fx.Scheduler.Specs.Count);
    }

    [Fact]
    public void A_failed_part_is_retried_alone_and_the_merge_then_waits_for_the_retry()
    {
        using var fx = new BatchFixture(parts: 3, attempts: 2);
        fx.Runs("xpptut15", 1);
        fx.Controller().Submit("xpptut15", 1, false, null, default);
        fx.Scheduler.Set("100_0", JobState.Running, "RUNNING");
        fx.Scheduler.Set("100_1", JobState.Failed, "FAILED");
        fx.Scheduler.Set("100_2", JobState.Done, "COMPLETED");
        fx.Controller().RunCycle(default);
        Assert.Contains("101", fx.Scheduler.Cancelled);                     // the merge that could never start
        var retry = fx.Scheduler.Specs["102"];
        Assert.Equal("1", retry.ArrayIndices);                              // part 1 alone
        // The new merge waits for the tasks still to succeed, not for the array (its failed task never would).
        Assert.Equal(new[] { "100_0", "102_1" }, fx.Scheduler.Specs["103"].AfterOk.Order());
        fx.Scheduler.Set("100_0", JobState.Done, "COMPLETED");
        fx.Controller().RunCycle(default);
        var job = Only(fx);
        Assert.Equal((JobState.Pending, 2, 1), (job.State, job.PartsDone, job.Attempt));
        Assert.Equal(2, job.PartJobs[1].Tries);

        // The retry fails too: past Attempts (2) the attempt is Failed and not retried as a whole.
        fx.Scheduler.Set("102_1", JobState.Failed, "FAILED");
        fx.Controller().RunCycle(default);
        fx.Controller().RunCycle(default);
        job = Only(fx);
        Assert.Equal(JobState.Failed, job.State);
        Assert.Contains("part 1", job.SchedulerState);
        Assert.Contains("103", fx.Scheduler.Cancelled);
        Assert.Equal(4, fx.Scheduler.Specs.Count);
        Assert.Empty(fx.Controller().RetryCandidates());
    }

    [Fact]
    public void A_part_that_exits_with_a_no_retry_code_fails_the_attempt_without_retries()
    {
        var notes = Directory.CreateTempSubdirectory("runproc-notes-").FullName;
        using var fx = new BatchFixture(parts: 3, attempts: 3, process: new System.Collections.Hashtable { ["OnFailure"] = new object[] { "/usr/bin/touch", notes + "/{exp}-r{run}-{state}" } });
        fx.Runs("xpptut15", 1);
        fx.Controller().Submit("xpptut15", 1, false, null, default);
        fx.Scheduler.Set("100_0", JobState.Done, "COMPLETED", 0);
        fx.Scheduler.Set("100_1", JobState.Failed, "FAILED", 65); // EX_DATAERR: its input cannot be processed
        fx.Scheduler.Set("100_2", JobState.Running, "RUNNING");
        fx.Controller().RunCycle(default);
        Assert.Contains("100", fx.Scheduler.Cancelled);  // what is left of the attempt is stopped
        Assert.Equal(2, fx.Scheduler.Specs.Count);       // no retry of part 1
        fx.Controller().RunCycle(default);
        var job = Only(fx);
        Assert.Equal(JobState.Failed, job.State);
        Assert.Contains("part 1", job.SchedulerState);
        Assert.Equal(65, job.ExitCode);
        Assert.Empty(fx.Controller().RetryCandidates());
        Assert.Equal(2, fx.Scheduler.Specs.Count);
        // The run failed for good: OnFailure ran, once.
        Assert.Equal(new[] { "xpptut15-r1-Failed" }, Directory.GetFiles(notes).Select(Path.GetFileName));
        Directory.Delete(notes, recursive: true);
    }

    [Fact]
    public void Stop_cancels_the_array_and_the_merge_and_the_attempt_ends_cancelled()
    {
        using var fx = new BatchFixture(parts: 2);
        fx.Runs("xpptut15", 1);
        var o = fx.Controller().Submit("xpptut15", 1, false, null, default);
        fx.Controller().Cancel("xpptut15", o.Job!.Name, default);
        Assert.Equal(new[] { "100", "101" }, fx.Scheduler.Cancelled.Order());
        fx.Controller().RunCycle(default);
        Assert.Equal(JobState.Cancelled, Only(fx).State);
        Assert.Equal(2, fx.Scheduler.Specs.Count);
    }

    public static TheoryData<string> Steps => new() { "intent", "proc-runs", "parts-intent", "parts-submitted", "merge-intent", "merge-submitted" };

    /// <summary>A controller killed at any step of a split submission (between the array and the merge included) neither loses the merge nor submits anything twice.</summary>
    [Theory]
    [MemberData(nameof(Steps))]
    public void Exactly_once_when_the_controller_is_killed_during_a_split_submission(string step)
    {
        using var fx = new BatchFixture(parts: 3);
        fx.Runs("xpptut15", 1);
        var first = fx.Controller();
        first.StepHook = s => { if (s == step) throw new Killed(); };
        Assert.Throws<Killed>(() => first.Submit("xpptut15", 1, false, null, default));
        for (var cycle = 0; cycle < 4; cycle++)
        {
            fx.Controller().RunCycle(default);
            fx.Scheduler.EndAll(JobState.Done, "COMPLETED", 0);
        }
        fx.Controller().RunCycle(default);
        var job = Only(fx);
        Assert.Equal(JobState.Done, job.State);
        Assert.Single(fx.Scheduler.Specs.Values, s => s.ArrayIndices is not null);
        Assert.Single(fx.Scheduler.Specs.Values, s => s.ArrayIndices is null);
        Assert.Single(fx.ProcRunsLines("xpptut15"), l => l.StartsWith("0001 ", StringComparison.Ordinal));
    }

    [Fact]
    public void WhatIf_shows_the_array_and_the_merge_submission()
    {
        using var fx = new BatchFixture(parts: 2);
        fx.Runs("xpptut15", 1);
        var plan = fx.Controller(new SlurmScheduler(new RecordedRunner())).PlanSubmit("xpptut15", 1, false);
        Assert.Contains("--array=0-1%2", plan.Argv);
        Assert.Contains("--dependency=afterok:<parts job id>", plan.MergeArgv);
        Assert.Contains(plan.Argv, a => a.EndsWith("runproc-part.sh", StringComparison.Ordinal));
    }

    [Fact]
    public void The_journal_of_a_split_run_survives_compaction()
    {
        using var fx = new BatchFixture(parts: 2);
        fx.Runs("xpptut15", 1);
        fx.Controller().Submit("xpptut15", 1, false, null, default);
        fx.Scheduler.Set("100_0", JobState.Done, "COMPLETED");
        fx.Controller().Reconcile(default);
        var before = Only(fx);
        var j = new JobJournal(RunProc.Db.ProcDbTree.JournalFile(fx.Config.DbRoot, "p", "xpptut15"), "p", "xpptut15");
        j.Compact();
        var after = Only(fx);
        Assert.Equal(before.PartJobs.Select(p => (p.JobId, p.State, p.Tries, p.StatusFile)), after.PartJobs.Select(p => (p.JobId, p.State, p.Tries, p.StatusFile)));
        Assert.Equal((2, 1), (after.Parts, after.PartsDone));
    }
}
