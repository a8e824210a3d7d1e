using System.Collections;
using RunProc.Batch;
using Xunit;

namespace RunProc.Tests.Batch;

public class BatchControllerTests
{
    private sealed class Killed : Exception { }

    public static TheoryData<string> Steps => new() { "locked", "log", "intent", "proc-runs", "submit", "submitted" };

    /// <summary>A controller killed between any two steps neither loses the run nor submits it twice.</summary>
    [Theory]
    [MemberData(nameof(Steps))]
    public void Exactly_once_when_the_controller_is_killed_at_any_step(string step)
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1);
        var first = fx.Controller();
        first.StepHook = s => { if (s == step) throw new Killed(); };
        Assert.Throws<Killed>(() => first.Submit("xpptut15", 1, force: false, null, default));

        // The next cron cycles, in a "new process": until the run is done.
        for (var cycle = 0; cycle < 5; cycle++)
        {
            var c = fx.Controller();
            c.RunCycle(default);
            fx.Scheduler.EndAll(JobState.Done, "COMPLETED", 0);
        }
        fx.Controller().RunCycle(default);

        Assert.Equal(1, fx.Scheduler.CountFor("xpptut15", 1));
        Assert.Single(fx.ProcRunsLines("xpptut15"), l => l.StartsWith("0001 ", StringComparison.Ordinal));
        var jobs = fx.Controller().Jobs("xpptut15");
        Assert.Single(jobs, j => j.State == JobState.Done);
        Assert.All(jobs, j => Assert.True(j.State is JobState.Done or JobState.NotSubmitted));
    }

    [Fact]
    public void A_transient_submit_error_that_created_a_job_never_leads_to_a_second_job()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1);
        fx.Scheduler.Mode = FakeScheduler.SubmitMode.CreateThenTransientError;
        var o = fx.Controller().Submit("xpptut15", 1, false, null, default);
        Assert.Equal(SubmitDecision.Failed, o.Decision);
        Assert.Equal(JobState.Submitting, o.Job!.State); // unresolved: the next pass asks by name
        fx.Scheduler.Mode = FakeScheduler.SubmitMode.Ok;
        var s = fx.Controller().RunCycle(default);
        Assert.Equal(0, s.Submitted);
        Assert.Equal(1, fx.Scheduler.CountFor("xpptut15", 1));
        Assert.Equal("100", fx.Controller().Jobs("xpptut15").Single().JobId);
    }

    [Fact]
    public void A_permanent_submit_error_is_checked_by_name_at_once()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1, 2);
        fx.Scheduler.Mode = FakeScheduler.SubmitMode.CreateThenPermanentError;
        var o = fx.Controller().Submit("xpptut15", 1, false, null, default);
        Assert.Equal(SubmitDecision.Submitted, o.Decision); // the job exists after all: tracked
        fx.Scheduler.Mode = FakeScheduler.SubmitMode.FailWithoutJob;
        var o2 = fx.Controller().Submit("xpptut15", 2, false, null, default);
        Assert.Equal(SubmitDecision.Failed, o2.Decision);
        Assert.Equal((JobState.Failed, "REFUSED"), (o2.Job!.State, o2.Job.SchedulerState));
        Assert.EndsWith("-REFUSED", o2.Job.LogFile);
        fx.Scheduler.Mode = FakeScheduler.SubmitMode.Ok;
        var s = fx.Controller().RunCycle(default);
        Assert.Equal(1, s.Submitted); // run 2 again (attempt 2), not run 1
        Assert.Equal(2, fx.Controller().Jobs("xpptut15").Single(j => j.Run == 2 && j.State.IsActive()).Attempt);
        Assert.Equal(1, fx.Scheduler.CountFor("xpptut15", 1));
        Assert.Equal(1, fx.Scheduler.CountFor("xpptut15", 2));
    }

    [Fact]
    public void Failed_runs_are_retried_up_to_attempts_with_a_new_log_each_time_then_stay_failed()
    {
        using var fx = new BatchFixture(attempts: 2);
        fx.Runs("xpptut15", 3);
        var c = fx.Controller();
        Assert.Equal(1, c.RunCycle(default).Submitted);
        fx.Scheduler.EndAll(JobState.Failed, "FAILED", 3);
        var s2 = fx.Controller().RunCycle(default);
        Assert.Equal((1, 1, 1), (s2.Failed, s2.Submitted, s2.Retried));
        fx.Scheduler.EndAll(JobState.Failed, "FAILED", 3);
        var s3 = fx.Controller().RunCycle(default);
        Assert.Equal((1, 0), (s3.Failed, s3.Submitted));
        Assert.Equal(0, fx.Controller().RunCycle(default).Submitted);

        var jobs = fx.Controller().Jobs("xpptut15");
        Assert.Equal(new[] { 1, 2 }, jobs.Select(j => j.Attempt));
        Assert.All(jobs, j => Assert.Equal((JobState.Failed, 3), (j.State, j.ExitCode)));
        Assert.All(jobs, j => Assert.EndsWith("-FAILED", j.LogFile));
        Assert.All(jobs, j => Assert.True(File.Exists(j.LogFile)));
        Assert.NotEqual(jobs[0].LogFile, jobs[1].LogFile);
        var lines = File.ReadAllLines(jobs[0].LogFile);
        Assert.Matches(@"^   1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d default job 100 status FAILED$", lines[^1]);
        Assert.Single(fx.ProcRunsLines("xpptut15")); // the old record: once

        // Explicit resubmission on request.
        var forced = fx.Controller().Submit("xpptut15", 3, force: true, null, default);
        Assert.Equal((SubmitDecision.Submitted, 3), (forced.Decision, forced.Attempt));
    }

    [Fact]
    public void A_failed_status_query_never_changes_a_job()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1);
        fx.Controller().RunCycle(default);
        fx.Scheduler.FailQueries = true;
        var r = fx.Controller().Reconcile(default);
        Assert.Contains(r.Problems, p => p.Contains("controller down"));
        Assert.Equal(JobState.Pending, fx.Controller().Jobs("xpptut15").Single().State);
        fx.Scheduler.FailQueries = false;
        fx.Scheduler.EndAll(JobState.Done, "COMPLETED", 0);
        Assert.Equal(JobState.Done, fx.Controller().Reconcile(default).Finished.Single().State);
    }

    [Fact]
    public void A_job_the_scheduler_forgot_is_lost_not_done_and_is_retried()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1);
        fx.Controller().RunCycle(default);
        fx.Scheduler.Jobs.Clear();
        var s = fx.Controller().RunCycle(default);
        var jobs = fx.Controller().Jobs("xpptut15");
        Assert.Equal(JobState.Lost, jobs[0].State);
        Assert.EndsWith("-LOST", jobs[0].LogFile);
        Assert.Equal((1, 1), (s.Failed, s.Retried));
    }

    [Fact]
    public void Reconciliation_is_one_batched_query_per_pass()
    {
        using var fx = new BatchFixture(maxJobs: 50);
        fx.Runs("xpptut15", Enumerable.Range(1, 30).ToArray());
        fx.Controller().RunCycle(default);
        var before = fx.Scheduler.QueryCalls;
        var r = fx.Controller().Reconcile(default);
        Assert.Equal(30, r.Jobs.Count);
        Assert.Equal(1, fx.Scheduler.QueryCalls - before);
    }

    [Theory]
    [InlineData(2, 0, 2)]
    [InlineData(2, 1, 1)]
    [InlineData(2, 2, 0)]
    [InlineData(2, 5, 0)]
    [InlineData(10, 3, 7)]
    public void Free_slots(int max, int active, int free) => Assert.Equal(free, BatchPolicy.FreeSlots(max, active));

    [Fact]
    public void MaxJobs_counts_active_jobs_and_defers_the_rest()
    {
        using var fx = new BatchFixture(maxJobs: 2);
        fx.Runs("xpptut15", 1, 2, 3, 4, 5);
        var s1 = fx.Controller().RunCycle(default);
        Assert.Equal((2, 3, 2), (s1.Submitted, s1.Deferred, s1.Active));
        var s2 = fx.Controller().RunCycle(default);
        Assert.Equal((0, 3), (s2.Submitted, s2.Deferred)); // nothing ended: no room
        var first = fx.Scheduler.Jobs.Keys.Min()!;
        fx.Scheduler.Set(first, JobState.Done, "COMPLETED");
        var s3 = fx.Controller().RunCycle(default);
        Assert.Equal((1, 2, 2), (s3.Submitted, s3.Deferred, s3.Active));
        Assert.Equal(SubmitDecision.Deferred, fx.Controller().Submit("xpptut15", 5, false, null, default).Decision);
        Assert.Equal(SubmitDecision.Submitted, fx.Controller().Submit("xpptut15", 5, false, 3, default).Decision);
    }

    [Fact]
    public void Two_cycles_at_the_same_instant_submit_each_run_once()
    {
        using var fx = new BatchFixture(maxJobs: 100);
        fx.Runs("xpptut15", Enumerable.Range(1, 20).ToArray());
        fx.Runs("xppl1316", Enumerable.Range(1, 20).ToArray());
        using var start = new Barrier(2);
        var results = new ProcCycleSummary[2];
        var threads = Enumerable.Range(0, 2).Select(i => new Thread(() =>
        {
            var c = fx.Controller();
            start.SignalAndWait();
            results[i] = c.RunCycle(default);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        // Whichever cycles ran, every run has exactly one job.
        for (var r = 1; r <= 20; r++)
        {
            Assert.Equal(1, fx.Scheduler.CountFor("xpptut15", r));
            Assert.Equal(1, fx.Scheduler.CountFor("xppl1316", r));
        }
        Assert.Equal(40, results.Sum(s => s.Submitted));
        // And a concurrent Submit-ProcJob of the same run while a cycle runs is refused, not doubled.
        Assert.Equal(SubmitDecision.Skipped, fx.Controller().Submit("xpptut15", 1, false, null, default).Decision);
    }

    [Fact]
    public void Submit_skips_done_and_old_tool_runs_unless_forced()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1, 2);
        fx.Db.AppendProcessed("xpptut15", new[] { 2 }, "proc_new_datasets");
        var c = fx.Controller();
        Assert.Equal(SubmitDecision.Submitted, c.Submit("xpptut15", 1, false, null, default).Decision);
        Assert.Equal(SubmitDecision.Skipped, c.Submit("xpptut15", 1, false, null, default).Decision); // active
        fx.Scheduler.EndAll(JobState.Done, "COMPLETED", 0);
        c.Reconcile(default);
        var again = c.Submit("xpptut15", 1, false, null, default);
        Assert.Equal(SubmitDecision.Skipped, again.Decision);
        Assert.Contains("-Force", again.Message);
        Assert.Contains("old tool", c.Submit("xpptut15", 2, false, null, default).Message);
        Assert.Equal(SubmitDecision.Submitted, c.Submit("xpptut15", 2, true, null, default).Decision);
        var plan = c.PlanSubmit("xpptut15", 1, true);
        Assert.Equal("fake-submit", plan.Argv[0]);
        Assert.Equal(new[] { "/bin/sh", "-c", "exit 0", "xpptut15", "1" }, plan.Argv.Skip(2));
    }

    [Fact]
    public void A_refused_submission_uses_an_attempt_so_a_broken_setup_is_not_resubmitted_forever()
    {
        using var fx = new BatchFixture(attempts: 2);
        fx.Runs("xpptut15", 1);
        fx.Scheduler.Mode = FakeScheduler.SubmitMode.FailWithoutJob;
        for (var i = 0; i < 4; i++)
            fx.Controller().RunCycle(default);
        Assert.Equal(2, fx.Controller().Jobs("xpptut15").Count);
    }

    [Fact]
    public void A_cancel_asked_before_the_job_id_was_known_is_delivered_when_it_is_found()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1);
        var c = fx.Controller();
        c.StepHook = s => { if (s == "submit") throw new InvalidOperationException("killed"); };
        Assert.Throws<InvalidOperationException>(() => c.Submit("xpptut15", 1, false, null, default));
        var job = fx.Controller().Jobs("xpptut15").Single();
        Assert.Equal(JobState.Submitting, job.State);
        fx.Controller().Cancel("xpptut15", job.Name, default);
        fx.Controller().Reconcile(default);
        fx.Controller().Reconcile(default);
        Assert.Equal(JobState.Cancelled, fx.Controller().Jobs("xpptut15").Single().State);
        Assert.Equal(1, fx.Scheduler.CountFor("xpptut15", 1));
    }

    [Fact]
    public void A_scheduler_client_that_is_not_installed_refuses_the_submission_at_once()
    {
        // No LSF here (nor on CI): bsub cannot start, so no job can exist and no lookup is needed.
        using var fx = new BatchFixture(scheduler: "Lsf", attempts: 1);
        fx.Runs("xpptut15", 1);
        var o = fx.Controller(realSchedulers: true).Submit("xpptut15", 1, false, null, default);
        Assert.Equal(SubmitDecision.Failed, o.Decision);
        Assert.Contains("cannot run 'bsub'", o.Message);
        Assert.Equal((JobState.Failed, "REFUSED"), (o.Job!.State, o.Job.SchedulerState));
        Assert.Equal(0, fx.Controller(realSchedulers: true).ActiveCount());
    }

    [Fact]
    public void Logs_status_files_and_journals_get_the_configured_group_writable_mode()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1);
        var job = fx.Controller().RunCycle(default).Jobs.Single();
        var mode = (UnixFileMode)Convert.ToInt32("664", 8);
        Assert.Equal(mode, File.GetUnixFileMode(job.LogFile));
        Assert.Equal(mode, File.GetUnixFileMode(job.StatusFile));
        Assert.Equal(mode, File.GetUnixFileMode(RunProc.Db.ProcDbTree.JournalFile(fx.Config.DbRoot, "p", "xpptut15")));
    }

    [Fact]
    public void Cancel_is_recorded_and_the_run_is_not_retried()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1);
        var job = fx.Controller().RunCycle(default).Jobs.Single();
        fx.Controller().Cancel("xpptut15", job.Name, default);
        var s = fx.Controller().RunCycle(default);
        Assert.Equal(0, s.Submitted);
        var j = fx.Controller().Jobs("xpptut15").Single();
        Assert.Equal(JobState.Cancelled, j.State);
        Assert.True(j.CancelRequested);
        Assert.EndsWith("-CANCELLED", j.LogFile);
    }

    /// <summary>
    /// Random kills at random steps, failing queries and random job outcomes over many cycles (fixed
    /// seeds): no run is ever lost, no attempt ever has two jobs, every run ends Done or out of attempts,
    /// and -proc-runs.txt records each run once.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Random_kills_failures_and_outcomes_never_lose_or_double_a_run(int seed)
    {
        var rnd = new Random(seed);
        var steps = new[] { "locked", "log", "intent", "proc-runs", "submit", "submitted" };
        const int runs = 20;
        using var fx = new BatchFixture(attempts: 3, maxJobs: 3);
        fx.Runs("xpptut15", Enumerable.Range(1, runs).ToArray());
        var kills = new Dictionary<string, int>();
        var nextStep = rnd.Next(steps.Length);
        for (var cycle = 0; cycle < 300; cycle++)
        {
            var c = fx.Controller();
            if (rnd.Next(2) == 0)
            {
                // Steps in turn (a planned kill that is not reached stays planned), at the 1st or 2nd time reached.
                var step = steps[nextStep % steps.Length];
                var skip = rnd.Next(2);
                c.StepHook = st =>
                {
                    if (st == step && skip-- == 0)
                    {
                        kills[st] = kills.GetValueOrDefault(st) + 1;
                        nextStep++;
                        throw new Killed();
                    }
                };
            }
            fx.Scheduler.FailQueries = rnd.Next(5) == 0;
            try { c.RunCycle(default); } catch (Killed) { }
            // Never two live scheduler jobs for one run.
            Assert.All(fx.Scheduler.Jobs.Values.Where(v => v.State.IsActive()).GroupBy(v => v.Name[..v.Name.IndexOf(".a", StringComparison.Ordinal)]), g => Assert.Single(g));
            foreach (var id in fx.Scheduler.Jobs.Keys.ToList())
            {
                if (!fx.Scheduler.Jobs[id].State.IsActive()) continue;
                switch (rnd.Next(16))
                {
                    case 0: case 1: fx.Scheduler.Set(id, JobState.Failed, "FAILED"); break;
                    case 2: fx.Scheduler.Jobs.Remove(id); break; // forgotten
                    case 3: case 4: fx.Scheduler.Set(id, JobState.Done, "COMPLETED"); break;
                    case 5: case 6: case 7: fx.Scheduler.Set(id, JobState.Running, "RUNNING"); break;
                }
            }
        }
        // Settle: no more faults.
        fx.Scheduler.FailQueries = false;
        for (var i = 0; i < 20; i++)
        {
            fx.Controller().RunCycle(default);
            fx.Scheduler.EndAll(JobState.Done, "COMPLETED", 0);
        }
        Assert.All(steps, st => Assert.True(kills.GetValueOrDefault(st) > 0, $"no kill at {st}: the random walk is too short"));
        var jobs = fx.Controller().Jobs("xpptut15");
        for (var run = 1; run <= runs; run++)
        {
            var mine = jobs.Where(j => j.Run == run).ToList();
            Assert.DoesNotContain(mine, j => j.State.IsActive());
            Assert.True(mine.Any(j => j.State == JobState.Done) || mine.Count(j => j.State.CountsAsAttempt()) == 3, $"run {run} lost: {string.Join(", ", mine)}");
            // One scheduler job per attempt: every job name the scheduler saw is distinct and belongs to one journal entry.
            var names = fx.Scheduler.Jobs.Values.Select(v => v.Name).Where(n => n.Contains($".xpptut15.r{run:0000}.")).ToList();
            Assert.Equal(names.Count, names.Distinct().Count());
            // No job the journal voided or does not know: a voided intent that had a job would be a double submission.
            Assert.All(names, n => Assert.Contains(mine, j => j.Name == n && j.State != JobState.NotSubmitted));
            Assert.True(mine.Count(j => j.State == JobState.Done) <= 1);
        }
        Assert.Equal(runs, fx.ProcRunsLines("xpptut15").Length);
    }
}

/// <summary>An experiment outside the instrument rule is never submitted (its jobs could be neither tracked nor counted).</summary>
public class InstrumentRuleBatchTests
{
    private static BatchFixture Fixture(Hashtable? map = null)
    {
        var extra = new Hashtable { ["ExperimentPattern"] = "^[a-z][a-z0-9_]{2,39}$" };
        if (map is not null) extra["InstrumentMap"] = map;
        return new BatchFixture(maxJobs: 5, extra: extra);
    }

    [Fact]
    public void An_unmapped_experiment_is_rejected_with_a_clear_error_and_never_submitted()
    {
        using var fx = Fixture();
        fx.Facility.Run("XPP", "x_yz", 1, streams: 1);
        fx.Runs("xpptut15", 1);
        var s = fx.Controller().RunCycle(default);
        Assert.Equal(1, s.Submitted);
        Assert.Equal(0, fx.Scheduler.CountFor("x_yz", 1));
        var ex = Assert.Throws<ArgumentException>(() => fx.Controller().Submit("x_yz", 1, force: false, null, default));
        Assert.Contains("InstrumentMap", ex.Message);
        Assert.Equal(0, fx.Scheduler.CountFor("x_yz", 1));
    }

    [Fact]
    public void A_mapped_experiment_is_tracked_and_counted_against_MaxJobs()
    {
        using var fx = Fixture(new Hashtable { ["x_"] = "XPP" });
        fx.Facility.Run("XPP", "x_yz", 1, streams: 1);
        var s = fx.Controller().RunCycle(default);
        Assert.Equal(1, s.Submitted);
        Assert.Equal(1, fx.Controller().ActiveCount());
        Assert.True(File.Exists(Path.Join(fx.Config.DbRoot, "p", "XPP", "x_yz-jobs.txt")));
    }
}

public class PollNumberingTests
{
    [Fact]
    public void Status_lines_are_numbered_on_across_processes_even_without_a_state_change()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1);
        Assert.Equal(1, fx.Controller().RunCycle(default).Submitted);
        // Each pass by a fresh controller is a separate cron cycle; the job stays PENDING throughout.
        for (var i = 0; i < 3; i++)
            fx.Controller().Reconcile(default);
        var job = Assert.Single(fx.Controller().Jobs());
        var numbers = File.ReadAllLines(job.LogFile).Where(l => l.Contains(" status ", StringComparison.Ordinal))
            .Select(l => int.Parse(l.TrimStart().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(Enumerable.Range(1, numbers.Count), numbers);
        Assert.True(numbers.Count >= 3);
        Assert.Equal(numbers.Count, job.Polls);
    }
}
