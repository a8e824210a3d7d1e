using RunProc.Batch;
using Xunit;

namespace RunProc.Tests.Batch;

/// <summary>The batch rules on job lists alone: no DB tree, no scheduler, no files.</summary>
public class BatchPolicyTests
{
    private static int _serial;

    private static ProcJob Job(JobState state, int run = 1, string exp = "xpptut15", int attempt = 1, int parts = 1, string id = "") =>
        new() { Process = "p", Experiment = exp, Run = run, Name = $"rp.p.{exp}.r{run:0000}.a{attempt}.{++_serial:x6}", Attempt = attempt, State = state, Parts = parts, JobId = id };

    private static readonly Func<bool> NotRecorded = () => false;

    [Fact]
    public void A_new_run_is_attempt_one()
    {
        var e = new BatchPolicy(3).Decide("xpptut15", 1, Array.Empty<ProcJob>(), force: false, NotRecorded);
        Assert.True(e.Ok);
        Assert.Equal(1, e.Attempt);
    }

    [Fact]
    public void An_active_job_blocks_even_with_force()
    {
        var e = new BatchPolicy(3).Decide("xpptut15", 1, new[] { Job(JobState.Running, id: "42") }, force: true, NotRecorded);
        Assert.False(e.Ok);
        Assert.Contains("already has an active job (Running, job 42)", e.Message);
    }

    [Fact]
    public void A_done_run_needs_force_and_then_is_the_next_attempt()
    {
        var jobs = new[] { Job(JobState.Failed), Job(JobState.Done, attempt: 2, id: "7") };
        var p = new BatchPolicy(3);
        var refused = p.Decide("xpptut15", 1, jobs, force: false, NotRecorded);
        Assert.False(refused.Ok);
        Assert.Contains("was processed by job 7 (attempt 2)", refused.Message);
        var forced = p.Decide("xpptut15", 1, jobs, force: true, NotRecorded);
        Assert.True(forced.Ok);
        Assert.Equal(3, forced.Attempt);
    }

    [Fact]
    public void The_old_record_is_read_only_for_a_run_without_jobs()
    {
        var asked = 0;
        var p = new BatchPolicy(3);
        var e = p.Decide("xpptut15", 1, Array.Empty<ProcJob>(), force: false, () => { asked++; return true; });
        Assert.False(e.Ok);
        Assert.Contains("without a RunProc job", e.Message);
        Assert.True(p.Decide("xpptut15", 1, new[] { Job(JobState.Failed) }, force: false, () => { asked++; return true; }).Ok);
        Assert.Equal(1, asked);
    }

    [Fact]
    public void A_cancelled_last_job_is_not_resubmitted_without_force()
    {
        var e = new BatchPolicy(3).Decide("xpptut15", 1, new[] { Job(JobState.Cancelled) }, force: false, NotRecorded);
        Assert.False(e.Ok);
        Assert.Contains("was cancelled", e.Message);
    }

    [Fact]
    public void Attempts_run_out_and_an_intent_that_never_became_a_job_does_not_count()
    {
        var p = new BatchPolicy(2);
        var used = new[] { Job(JobState.Failed), Job(JobState.NotSubmitted, attempt: 2), Job(JobState.TimedOut, attempt: 2) };
        Assert.Equal(2, p.AttemptsUsed(used));
        var e = p.Decide("xpptut15", 1, used, force: false, NotRecorded);
        Assert.False(e.Ok);
        Assert.Contains("failed 2 time(s), the configured Attempts (2); it stays TimedOut", e.Message);
        Assert.Equal(1, p.AttemptsUsed(new[] { Job(JobState.Failed), Job(JobState.NotSubmitted, attempt: 2) }));
    }

    [Fact]
    public void A_failed_split_attempt_uses_every_attempt()
    {
        var p = new BatchPolicy(3);
        Assert.Equal(3, p.AttemptsUsed(new[] { Job(JobState.Failed, parts: 4) }));
        Assert.Equal(1, p.AttemptsUsed(new[] { Job(JobState.Cancelled, parts: 4) }));
        Assert.Empty(p.RetryCandidates(new[] { Job(JobState.Failed, parts: 4) }));
    }

    [Fact]
    public void A_job_that_exits_with_a_no_retry_code_uses_every_attempt()
    {
        var p = new BatchPolicy(3, new[] { 65 });
        ProcJob Exited(JobState state, int? code, int attempt = 1) { var j = Job(state, attempt: attempt); j.ExitCode = code; j.LogFile = "/db/logs/x.log"; return j; }
        var data = new[] { Exited(JobState.Failed, 65) };
        Assert.Equal(3, p.AttemptsUsed(data));
        Assert.Empty(p.RetryCandidates(data));
        var e = p.Decide("xpptut15", 1, data, force: false, NotRecorded);
        Assert.False(e.Ok);
        Assert.Contains("failed with exit code 65, which the process's NoRetryExitCodes mark as not worth retrying", e.Message);
        Assert.Contains("/db/logs/x.log", e.Message);
        Assert.True(p.Decide("xpptut15", 1, data, force: true, NotRecorded) is { Ok: true, Attempt: 2 });
        // Another exit code, a timeout with that code, or the code on an earlier attempt only: retried as before.
        Assert.Single(p.RetryCandidates(new[] { Exited(JobState.Failed, 1) }));
        Assert.Single(p.RetryCandidates(new[] { Exited(JobState.TimedOut, 65) }));
        Assert.Equal(2, p.AttemptsUsed(new[] { Exited(JobState.Failed, 65), Exited(JobState.Failed, 1, attempt: 2) }));
        // Without the list (NoRetryExitCodes = @()), 65 is an ordinary failure.
        Assert.Single(new BatchPolicy(3).RetryCandidates(data));
    }

    [Fact]
    public void Retry_candidates_are_failed_or_unsubmitted_runs_with_attempts_left_in_experiment_then_run_order()
    {
        var jobs = new[]
        {
            Job(JobState.Failed, run: 5, exp: "xpptut15"),
            Job(JobState.Lost, run: 2, exp: "xpptut15"),
            Job(JobState.NotSubmitted, run: 9, exp: "mfxc00118"),
            Job(JobState.Failed, run: 3, exp: "xpptut15"), Job(JobState.Running, run: 3, exp: "xpptut15", attempt: 2),
            Job(JobState.Failed, run: 4, exp: "xpptut15"), Job(JobState.Done, run: 4, exp: "xpptut15", attempt: 2),
            Job(JobState.Cancelled, run: 6, exp: "xpptut15"),
            Job(JobState.Failed, run: 7, exp: "xpptut15"), Job(JobState.Failed, run: 7, exp: "xpptut15", attempt: 2),
        };
        Assert.Equal(new[] { ("mfxc00118", 9), ("xpptut15", 2), ("xpptut15", 5) }, new BatchPolicy(2).RetryCandidates(jobs));
    }

    [Fact]
    public void Active_jobs_count_against_max_jobs()
    {
        var jobs = new[] { Job(JobState.Submitting), Job(JobState.Pending), Job(JobState.Running), Job(JobState.Suspended), Job(JobState.Done), Job(JobState.Failed) };
        Assert.Equal(4, BatchPolicy.ActiveCount(jobs));
        Assert.Equal(1, BatchPolicy.FreeSlots(5, BatchPolicy.ActiveCount(jobs)));
        Assert.Equal(0, BatchPolicy.FreeSlots(3, BatchPolicy.ActiveCount(jobs)));
        Assert.Equal(3, BatchPolicy.FreeSlots(3, -1));
    }
}
