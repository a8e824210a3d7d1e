using System.Diagnostics;
using RunProc.Batch;
using RunProc.Tests.Catalog;
using Xunit;

namespace RunProc.Tests.Batch;

/// <summary>
/// Issue 13, DB tree: a link planted at a job's log or status file (the DB tree is group-writable)
/// never makes the job's wrapper write to the link's target, whether the link is there before the
/// submission or put there while the job waits.
/// </summary>
public class JobFilesTests : IDisposable
{
    private readonly Facility _f = new();
    private readonly string _dir;
    private readonly string _target;

    public JobFilesTests()
    {
        _dir = Directory.CreateDirectory(Path.Join(_f.Root, "db", "p", "XPP", "xpptut15")).FullName;
        RunProc.IO.SafeFile.GuardTree(Path.Join(_f.Root, "db"));
        _target = Path.Join(_f.Root, "victim.txt");
        File.WriteAllText(_target, "precious\n");
    }

    public void Dispose()
    {
        JobProcesses.KillAll(_f.Root);
        _f.Dispose();
    }

    private LocalScheduler Local(int slots) => new(Path.Join(_f.Root, "db", "p", ".local-jobs"), Path.Join(_f.Root, "slots"), slots) { KillGraceSeconds = 1 };

    private JobSpec Spec(string name, params string[] command) => new()
    {
        Name = name, Command = command, LogFile = Path.Join(_dir, name + ".txt"), StatusFile = Path.Join(_dir, name + ".status"),
        WorkDirectory = _dir, TimeLimitMinutes = 5, WrapperScript = BatchFixture.Wrapper,
    };

    /// <summary>Replaces <paramref name="path"/> by a link to the target; the file itself moves to path + ".moved" (an open descriptor follows it).</summary>
    private string Plant(string path)
    {
        var moved = path + ".moved";
        File.Move(path, moved);
        File.CreateSymbolicLink(path, _target);
        return moved;
    }

    private static void WaitFor(Func<bool> done, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60); // a hang guard, not a timing
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, what);
            Thread.Sleep(100);
        }
    }

    [Fact]
    public void A_link_planted_before_a_local_submission_is_refused_and_its_target_untouched()
    {
        var spec = Spec("j-planted", "/bin/sh", "-c", "echo payload");
        File.CreateSymbolicLink(spec.LogFile, _target);
        var ex = Assert.Throws<SchedulerException>(() => Local(2).Submit(spec, default));
        Assert.Contains(spec.LogFile, ex.Message);
        Assert.True(ex.CommandNotRun);
        Assert.Equal("precious\n", File.ReadAllText(_target));
        Assert.Empty(JobProcesses.Under(_f.Root));
    }

    [Fact]
    public void Links_planted_while_a_local_job_waits_for_its_slot_redirect_nothing()
    {
        var blocker = Spec("j-blocker", "/bin/sleep", "60");
        var waiting = Spec("j-waiting", "/bin/sh", "-c", "echo payload");
        var id = Local(1).Submit(blocker, default);
        WaitFor(() => RunProc.Batch.WrapperStatus.TryRead(blocker.StatusFile)?.Started is not null, "the first job never started");
        Local(1).Submit(waiting, default);
        WaitFor(() => RunProc.Batch.WrapperStatus.TryRead(waiting.StatusFile)?.Queued is not null, "the second job never queued");

        // While it waits for the slot, its log and status file become links to another file.
        var log = Plant(waiting.LogFile);
        var status = Plant(waiting.StatusFile);
        Local(1).Cancel(id, default);

        WaitFor(() => WrapperStatus.Parse(File.ReadAllText(status)).HasEnded, "the waiting job's end was not recorded in its own status file");
        Assert.Equal(JobState.Done, WrapperStatus.Parse(File.ReadAllText(status)).Outcome());
        Assert.Contains("payload", File.ReadAllText(log));
        Assert.Equal("precious\n", File.ReadAllText(_target));
    }

    private (int Exit, string Err) RunWrapper(string status, params string[] command)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = _dir };
        foreach (var a in new[] { BatchFixture.Wrapper, status, "-", "0", "-", "0", "--" }.Concat(command))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "the wrapper did not end");
        return (p.ExitCode, err.Result);
    }

    [Fact]
    public void Under_a_batch_system_the_wrapper_refuses_a_status_file_that_is_a_link_and_runs_nothing()
    {
        var status = Path.Join(_dir, "log-b.status");
        File.CreateSymbolicLink(status, _target);
        var marker = Path.Join(_f.Root, "ran");
        var (exit, err) = RunWrapper(status, "/bin/sh", "-c", $"echo ran > '{marker}'");
        Assert.Equal(125, exit);
        Assert.Contains("refused", err);
        Assert.Contains(status, err);
        Assert.False(File.Exists(marker));
        Assert.Equal("precious\n", File.ReadAllText(_target));

        // A status file RunProc did not create first is refused too (the wrapper never creates one).
        var (exit2, _) = RunWrapper(Path.Join(_dir, "log-missing.status"), "/bin/true");
        Assert.Equal(125, exit2);
        Assert.False(File.Exists(Path.Join(_dir, "log-missing.status")));
    }

    [Fact]
    public void Under_a_batch_system_the_wrapper_records_in_the_status_file_the_scheduler_created()
    {
        var spec = Spec("j-slurm", "/bin/sh", "-c", "exit 3");
        JobFiles.Create(spec, 0x1B4);
        var (exit, _) = RunWrapper(spec.StatusFile, spec.Command.ToArray());
        Assert.Equal(3, exit);
        var ws = WrapperStatus.TryRead(spec.StatusFile)!;
        Assert.Equal((3, JobState.Failed), (ws.ExitCode, ws.Outcome()));
        Assert.NotNull(ws.Started);
    }
}
