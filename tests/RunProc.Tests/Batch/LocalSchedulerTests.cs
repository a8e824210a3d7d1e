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

    public void Dispose()
    {
        JobProcesses.KillAll(_f.Root);
        _f.Dispose();
    }

    private LocalScheduler NewScheduler(int slots = 4) => new(_spool, _slots, slots) { KillGraceSeconds = 1 };

    /// <summary>A command that ignores TERM and leaves two grandchildren that ignore it too (ignored signals survive exec): only KILL of the whole group ends it.</summary>
    private static readonly string[] Stubborn = { "/bin/sh", "-c", "trap '' TERM; sleep 300 & sleep 300 & wait" };

    /// <summary>Polls until no process of this test's jobs is left (60 s hang guard); the message lists what lived on.</summary>
    private void AssertNothingLeft(string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        List<(int Pid, string Command)> left;
        while ((left = JobProcesses.Under(_f.Root)).Count > 0 && DateTime.UtcNow < deadline)
            Thread.Sleep(100);
        Assert.True(left.Count == 0, $"{what}: processes of the job outlived it: {JobProcesses.Show(left)}");
    }

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
    public void Cancel_ends_the_whole_process_group_with_kill_after_the_grace()
    {
        var id = NewScheduler().Submit(Spec("j-cancel-tree", Stubborn), default);
        WaitState(id, JobState.Running);
        WaitForProcesses(3); // sh and its two sleeps
        NewScheduler().Cancel(id, default);
        Assert.Equal(JobState.Cancelled, WaitFinal(id).State);
        // The wrapper records its end only once the group is gone: nothing may be left at this point.
        Assert.Empty(JobProcesses.Under(_f.Root).Where(p => p.Command.Contains("sleep 300")));
        AssertNothingLeft("cancel");
    }

    [Fact]
    public void The_time_limit_ends_the_whole_process_group()
    {
        var spec = Spec("j-limit", Stubborn);
        // The wrapper as the local scheduler starts it, with a 2 s limit (JobSpec counts minutes).
        var psi = new System.Diagnostics.ProcessStartInfo("/usr/bin/setsid") { UseShellExecute = false };
        foreach (var a in new[] { "/bin/sh", spec.WrapperScript, spec.StatusFile, spec.LogFile, "2", "-", "0", "--" }.Concat(Stubborn))
            psi.ArgumentList.Add(a);
        psi.Environment["RUNPROC_KILL_GRACE"] = "1";
        // The log and status file are opened by the starter, as LocalScheduler does, and passed as descriptors.
        using var files = JobFiles.OpenForJob(spec, 0x1B4);
        psi.Environment["RUNPROC_LOG_FD"] = files.LogFd.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["RUNPROC_STATUS_FD"] = files.StatusFd.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var wrapper = System.Diagnostics.Process.Start(psi)!;
        files.Dispose();
        Assert.True(wrapper.WaitForExit(60_000), "the wrapper did not end after its time limit");
        var ws = WrapperStatus.TryRead(spec.StatusFile)!;
        Assert.Equal(JobState.TimedOut, ws.Outcome());
        Assert.NotNull(ws.Group);
        Assert.Empty(JobProcesses.Under(_f.Root));
    }

    [Fact]
    public void A_killed_wrapper_is_not_lost_while_its_command_runs_and_its_group_is_ended()
    {
        var spec = Spec("j-orphan", Stubborn);
        var id = NewScheduler().Submit(spec, default);
        WaitState(id, JobState.Running);
        WaitForProcesses(3);
        var pid = WrapperStatus.TryRead(spec.StatusFile)!.Pid!.Value;
        Assert.Equal(0, kill(pid, 9)); // SIGKILL: the wrapper can record nothing
        // The command still runs: the job must not read as Lost (a retry would process the run twice).
        var s = NewScheduler().Query(new[] { id }, default).Known[id];
        if (JobProcesses.Under(_f.Root).Any(p => p.Command.Contains("sleep 300")))
            Assert.Equal(JobState.Running, s.State);
        Assert.Equal(JobState.Lost, WaitFinal(id).State);
        AssertNothingLeft("killed wrapper");
    }

    [Fact]
    public void When_wrapper_and_watchdog_die_the_scheduler_ends_the_group_before_calling_it_lost()
    {
        var spec = Spec("j-orphan2", Stubborn);
        var id = NewScheduler().Submit(spec, default);
        WaitState(id, JobState.Running);
        WaitForProcesses(3);
        var ws = WrapperStatus.TryRead(spec.StatusFile)!;
        Assert.NotNull(ws.Watchdog);
        Assert.Equal(0, kill(ws.Watchdog!.Value, 9));
        Assert.Equal(0, kill(ws.Pid!.Value, 9));
        Assert.Equal(JobState.Lost, WaitFinal(id).State);
        AssertNothingLeft("killed wrapper and watchdog");
    }

    private WrapperStatus WrapperStatusOf() =>
        Directory.EnumerateFiles(Path.Join(_f.Root, "logs"), "*.status").Select(WrapperStatus.TryRead).FirstOrDefault(w => w?.Watchdog is not null) ?? WrapperStatus.Parse("");

    /// <summary>Waits until the job's command has started its processes and the wrapper its watchdog (so a test kills a full tree).</summary>
    private void WaitForProcesses(int sleeps)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        // The two grandchildren themselves (the wrapper's and sh's command lines mention them too).
        while (JobProcesses.Under(_f.Root).Count(p => p.Command == "sleep 300") < sleeps - 1
               || WrapperStatusOf().Watchdog is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the job's command did not start its children");
            Thread.Sleep(50);
        }
    }

    [Fact]
    public void A_job_whose_process_vanished_without_an_exit_code_is_lost()
    {
        var spec = Spec("j-lost", "/bin/sleep", "60");
        var id = NewScheduler().Submit(spec, default);
        WaitState(id, JobState.Running);
        var pid = WrapperStatus.TryRead(spec.StatusFile)!.Pid!.Value;
        Assert.Equal(0, kill(-pid, 9)); // SIGKILL to the wrapper's process group: no trap can record anything
        var s = WaitFinal(id);
        Assert.Equal((JobState.Lost, "LOST"), (s.State, s.SchedulerState));
        AssertNothingLeft("lost job");
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

    [Fact]
    public void A_job_that_ends_while_its_status_is_being_read_is_done_not_lost()
    {
        // The wrapper writes its end line and exits. A query that read the status file just before
        // the end line and checked the process just after the exit must not call the job Lost: Lost
        // is retried, and the run would be processed twice (seen once in a SIGKILL fault run).
        var spec = Spec("j-race", "/bin/sh", "-c", "exit 0");
        var id = NewScheduler().Submit(spec, default);
        Assert.Equal(JobState.Done, WaitFinal(id).State);
        var ended = File.ReadAllLines(spec.StatusFile);
        var end = Assert.Single(ended, l => l.StartsWith("end ", StringComparison.Ordinal));
        // The same job as a query saw it an instant before its end: every line but the end line.
        File.WriteAllLines(spec.StatusFile, ended.Where(l => l != end));
        var racing = new LocalScheduler(_spool, _slots, 4) { AfterStatusRead = _ => File.AppendAllLines(spec.StatusFile, new[] { end }) };
        var s = racing.Query(new[] { id }, default).Known[id];
        Assert.Equal((JobState.Done, "DONE", 0), (s.State, s.SchedulerState, s.ExitCode));
        // Without the end line the same dead wrapper is Lost (the check above is not vacuous).
        File.WriteAllLines(spec.StatusFile, ended.Where(l => l != end));
        Assert.Equal(JobState.Lost, NewScheduler().Query(new[] { id }, default).Known[id].State);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}

/// <summary>The local scheduler as the cmdlets make it: MaxJobs slots per process, one time base in the job log.</summary>
public class LocalSchedulerFactoryTests
{
    [Fact]
    public void The_local_scheduler_has_MaxJobs_slots_not_one_per_cpu()
    {
        var maxJobs = Environment.ProcessorCount + 3;
        using var fx = new BatchFixture(maxJobs: maxJobs, scheduler: "Local");
        var s = Assert.IsType<LocalScheduler>(SchedulerFactory.Create(RunProc.Config.SchedulerKind.Local, fx.Config, "p"));
        Assert.Equal(maxJobs, s.Slots);
    }

    [Fact]
    public void Every_time_in_a_job_log_is_local_time_with_its_utc_offset()
    {
        using var fx = new BatchFixture(scheduler: "Local", command: new object[] { "/bin/sh", "-c", "echo hello" });
        try
        {
            fx.Runs("xpptut15", 1);
            Assert.Equal(1, fx.Controller(realSchedulers: true).RunCycle(default).Submitted);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            ProcJob job;
            while (!(job = fx.Controller(realSchedulers: true).Reconcile(default).Jobs.Single()).State.IsFinal())
            {
                Assert.True(DateTime.UtcNow < deadline, "the job did not end");
                Thread.Sleep(200);
            }
            Assert.Equal(JobState.Done, job.State);
            var text = File.ReadAllText(job.LogFile);
            var times = System.Text.RegularExpressions.Regex.Matches(text, @"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*").Select(m => m.Value).ToList();
            Assert.True(times.Count >= 3, text); // wrapper start and end, RunProc's status line
            Assert.All(times, t => Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", t.TrimEnd(':')));
        }
        finally
        {
            JobProcesses.KillAll(fx.Facility.Root);
        }
    }
}
