using System.Runtime.InteropServices;
using RunProc.Batch;
using RunProc.Tests.Catalog;
using Xunit;

namespace RunProc.Tests.Batch;

/// <summary>The embedded scheduler with real detached processes, the real job wrapper and fresh scheduler instances (a "later pwsh").</summary>
public class LocalSchedulerTests : IDisposable
{
    private readonly Facility _f = new();
    private readonly string _spool;
    private readonly string _slots;

    public LocalSchedulerTests()
    {
        _spool = Path.Join(_f.Root, "spool");
        _slots = Path.Join(_f.Root, "slots");
    }

    public void Dispose() => _f.Dispose();

    private LocalScheduler NewScheduler(int slots = 4) => new(_spool, _slots, slots);

    private JobSpec Spec(string name, params string[] command)
    {
        var dir = Path.Join(_f.Root, "logs");
        Directory.CreateDirectory(dir);
        return new JobSpec
        {
            Name = name, Command = command, LogFile = Path.Join(dir, name + ".txt"), StatusFile = Path.Join(dir, name + ".status"),
            WorkDirectory = dir, TimeLimitMinutes = 5, WrapperScript = BatchFixture.Wrapper,
        };
    }

    /// <summary>Polls a fresh scheduler until the job reaches a final state (no timing is asserted; 60 s is a hang guard).</summary>
    private SchedulerJobStatus WaitFinal(string id, int slots = 4)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var q = NewScheduler(slots).Query(new[] { id }, default);
            if (q.Known.TryGetValue(id, out var s) && s.State.IsFinal())
                return s;
            Assert.True(DateTime.UtcNow < deadline, $"job {id} did not end: {(q.Known.TryGetValue(id, out var x) ? x.State : "unknown")}");
            Thread.Sleep(100);
        }
    }

    private SchedulerJobStatus WaitState(string id, JobState state)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var q = NewScheduler().Query(new[] { id }, default);
            if (q.Known.TryGetValue(id, out var s) && s.State == state)
                return s;
            Assert.True(DateTime.UtcNow < deadline, $"job {id} never became {state}");
            Thread.Sleep(100);
        }
    }

    [Fact]
    public void Exit_codes_are_told_apart_and_seen_by_a_later_process()
    {
        var ok = NewScheduler().Submit(Spec("j-ok", "/bin/sh", "-c", "echo hello; exit 0"), default);
        var three = NewScheduler().Submit(Spec("j-three", "/bin/sh", "-c", "exit 3"), default);
        var s0 = WaitFinal(ok);
        var s3 = WaitFinal(three);
        Assert.Equal((JobState.Done, 0, "DONE"), (s0.State, s0.ExitCode, s0.SchedulerState));
        Assert.Equal((JobState.Failed, 3, "EXIT"), (s3.State, s3.ExitCode, s3.SchedulerState));
        Assert.Contains("hello", File.ReadAllText(Spec("j-ok").LogFile));
        Assert.Single(NewScheduler().FindByName("j-three", default));
        Assert.Empty(NewScheduler().FindByName("j-none", default));
    }

    [Fact]
    public void Cancel_stops_the_job_and_it_reads_as_cancelled()
    {
        var id = NewScheduler().Submit(Spec("j-cancel", "/bin/sleep", "60"), default);
        WaitState(id, JobState.Running);
        NewScheduler().Cancel(id, default);
        var s = WaitFinal(id);
        Assert.Equal(JobState.Cancelled, s.State);
    }

    [Fact]
    public void A_job_whose_process_vanished_without_an_exit_code_is_lost()
    {
        var spec = Spec("j-lost", "/bin/sleep", "60");
        var id = NewScheduler().Submit(spec, default);
        WaitState(id, JobState.Running);
        var pid = WrapperStatus.TryRead(spec.StatusFile)!.Pid!.Value;
        Assert.Equal(0, kill(-pid, 9)); // SIGKILL to the job's process group: no trap can record anything
        var s = WaitFinal(id);
        Assert.Equal((JobState.Lost, "LOST"), (s.State, s.SchedulerState));
    }

    [Fact]
    public void Jobs_over_the_slot_limit_wait_pending()
    {
        var first = NewScheduler(1).Submit(Spec("j-slot1", "/bin/sleep", "60"), default);
        WaitState(first, JobState.Running);
        var second = NewScheduler(1).Submit(Spec("j-slot2", "/bin/sh", "-c", "exit 0"), default);
        Thread.Sleep(1500); // the second wrapper has had time to try for a slot
        Assert.Equal(JobState.Pending, NewScheduler(1).Query(new[] { second }, default).Known[second].State);
        NewScheduler(1).Cancel(first, default);
        Assert.Equal(JobState.Done, WaitFinal(second, 1).State);
    }

    [Fact]
    public void A_job_with_cpus_takes_that_many_slots()
    {
        // Cpus = 2 on a 2-slot machine: the machine is full, a 1-slot job waits until it ends.
        var w = Spec("j-wide", "/bin/sleep", "60");
        var wide = new JobSpec
        {
            Name = w.Name, Command = w.Command, LogFile = w.LogFile, StatusFile = w.StatusFile, WorkDirectory = w.WorkDirectory,
            TimeLimitMinutes = 5, WrapperScript = w.WrapperScript, Resources = new BatchResources { Cpus = 2 },
        };
        var first = NewScheduler(2).Submit(wide, default);
        WaitState(first, JobState.Running);
        Assert.Contains("slot 1,2", File.ReadAllText(wide.StatusFile));
        var second = NewScheduler(2).Submit(Spec("j-narrow", "/bin/sh", "-c", "exit 0"), default);
        Thread.Sleep(1500); // the second wrapper has had time to try for a slot
        Assert.Equal(JobState.Pending, NewScheduler(2).Query(new[] { second }, default).Known[second].State);
        NewScheduler(2).Cancel(first, default);
        Assert.Equal(JobState.Done, WaitFinal(second, 2).State);
    }

    [Fact]
    public void A_spool_record_without_a_process_is_not_a_job()
    {
        Directory.CreateDirectory(_spool);
        File.WriteAllText(Path.Join(_spool, "j-ghost.job"), $"name=j-ghost\nstatus={Path.Join(_f.Root, "none.status")}\ncreated=2020-01-01T00:00:00.0000000Z\nhost={Environment.MachineName}\n");
        Assert.Empty(NewScheduler().FindByName("j-ghost", default));
        Assert.Equal(JobState.NotSubmitted, NewScheduler().Query(new[] { "j-ghost" }, default).Known["j-ghost"].State);
        Assert.False(NewScheduler().Query(new[] { "j-unknown" }, default).Known.ContainsKey("j-unknown"));
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
