using RunProc.Batch;
using Xunit;

namespace RunProc.Tests.Batch;

/// <summary>A command runner that answers from recorded output and remembers every call.</summary>
internal sealed class RecordedRunner : ICommandRunner
{
    public List<IReadOnlyList<string>> Calls { get; } = new();
    public Func<IReadOnlyList<string>, CommandResult> Answer { get; set; } = _ => new CommandResult(0, "", "");

    public CommandResult Run(IReadOnlyList<string> argv, TimeSpan timeout, CancellationToken cancel)
    {
        Calls.Add(argv.ToArray());
        return Answer(argv);
    }
}

public class SchedulerCommandTests
{
    private static JobSpec Spec(string queue = "") => new()
    {
        Name = "rp.pixel_status.xpptut15.r0260.a1.abc123",
        Command = new[] { "/opt/bin/prog", "-e", "xpptut15", "-r", "260", "a b" },
        LogFile = "/db/pixel_status/XPP/xpptut15/log-xpptut15-r0260-2026-01-01T10:00:00.txt",
        StatusFile = "/db/pixel_status/XPP/xpptut15/log-xpptut15-r0260-2026-01-01T10:00:00.status",
        WorkDirectory = "/db/pixel_status/XPP/xpptut15/work",
        Queue = queue,
        TimeLimitMinutes = 30,
        WrapperScript = "/m/bin/scripts/runproc-job.sh",
    };

    /// <summary>The spec with its files in <paramref name="dir"/> (Submit creates the status files there).</summary>
    private static JobSpec InDirectory(JobSpec s, string dir) => new()
    {
        Name = s.Name, Command = s.Command, LogFile = Path.Join(dir, "log.txt"), StatusFile = Path.Join(dir, "log" + (s.ArrayIndices is null ? "" : "-s1-p" + CommandTemplate.PartToken) + ".status"),
        WorkDirectory = dir, Queue = s.Queue, TimeLimitMinutes = s.TimeLimitMinutes, WrapperScript = s.WrapperScript, PartScript = s.PartScript,
        ArrayIndices = s.ArrayIndices, ArrayThrottle = s.ArrayThrottle, AfterOk = s.AfterOk, Resources = s.Resources,
    };

    [Fact]
    public void Sbatch_argv_is_exact()
    {
        var argv = new SlurmScheduler(new RecordedRunner()).SubmitArgv(Spec("psanaq"));
        Assert.Equal(new[]
        {
            "sbatch", "--parsable", "-J", "rp.pixel_status.xpptut15.r0260.a1.abc123",
            "-o", "/db/pixel_status/XPP/xpptut15/log-xpptut15-r0260-2026-01-01T10:00:00.txt", "--open-mode=append",
            "-D", "/db/pixel_status/XPP/xpptut15/work", "-t", "30", "--no-requeue", "-p", "psanaq",
            "/m/bin/scripts/runproc-job.sh", "/db/pixel_status/XPP/xpptut15/log-xpptut15-r0260-2026-01-01T10:00:00.status", "-", "0", "-", "0", "--",
            "/opt/bin/prog", "-e", "xpptut15", "-r", "260", "a b",
        }, argv);
        Assert.DoesNotContain("-p", new SlurmScheduler(new RecordedRunner()).SubmitArgv(Spec()));
    }

    [Fact]
    public void Bsub_argv_is_exact()
    {
        var argv = new LsfScheduler(new RecordedRunner()).SubmitArgv(Spec("psnehq"));
        Assert.Equal(new[]
        {
            "bsub", "-q", "psnehq", "-o", "/db/pixel_status/XPP/xpptut15/log-xpptut15-r0260-2026-01-01T10:00:00.txt",
            "-J", "rp.pixel_status.xpptut15.r0260.a1.abc123", "-cwd", "/db/pixel_status/XPP/xpptut15/work", "-W", "30",
            "/bin/sh", "/db/pixel_status/XPP/xpptut15/log-xpptut15-r0260-2026-01-01T10:00:00.lsf.sh",
        }, argv);
        Assert.Equal("#!/bin/sh\n# RunProc LSF job rp.pixel_status.xpptut15.r0260.a1.abc123: every word below is POSIX-quoted; nothing in it is expanded.\n" +
            "exec /bin/sh /m/bin/scripts/runproc-job.sh /db/pixel_status/XPP/xpptut15/log-xpptut15-r0260-2026-01-01T10:00:00.status - 0 - 0 -- /opt/bin/prog -e xpptut15 -r 260 'a b'\n",
            LsfScheduler.JobScript(Spec("psnehq")));
    }

    [Fact]
    public void Bsub_command_line_run_by_a_shell_gives_the_job_exactly_its_argv()
    {
        using var f = new RunProc.Tests.Catalog.Facility();
        var dir = Directory.CreateDirectory(Path.Join(f.Root, "db with space", "it's")).FullName;
        var echo = Path.Join(dir, "print args.sh");
        File.WriteAllText(echo, "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n");
        var command = new[] { "/opt/bin/prog", "it's", "$HOME", "a  b", "; rm -rf /", "$(id)", "`id`", "\\n", "*", "\"q\"", "{x}", "~", "line\nbreak" };
        var spec = new JobSpec
        {
            Name = "rp.p.xpptut15.r0001.a1.abc", Command = command, LogFile = Path.Join(dir, "log-x.txt"), StatusFile = Path.Join(dir, "log-x.status"),
            WorkDirectory = dir, TimeLimitMinutes = 5, WrapperScript = echo,
        };
        var runner = new RecordedRunner { Answer = _ => new CommandResult(0, "Job <1> is submitted to default queue <normal>.\n", "") };
        new LsfScheduler(runner).Submit(spec, default);
        // What LSF does with the recorded command words: joins them with spaces and runs the line with a shell.
        var argv = runner.Calls.Single();
        var line = string.Join(" ", argv.Skip(argv.ToList().IndexOf("-W") + 2));
        var psi = new System.Diagnostics.ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(line);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var expected = new[] { spec.StatusFile, "-", "0", "-", "0", "--" }.Concat(command).Select(a => "[" + a + "]");
        Assert.Equal(string.Join("\n", expected) + "\n", output);
    }

    [Fact]
    public void Slurm_query_is_one_squeue_plus_one_sacct_for_the_jobs_that_left()
    {
        var runner = new RecordedRunner
        {
            Answer = argv => argv[0] == "squeue"
                ? new CommandResult(0, "7 RUNNING None\n8 FAILED NonZeroExitCode\n", "")
                : new CommandResult(0, "9|COMPLETED|0:0\n", ""),
        };
        var q = new SlurmScheduler(runner).Query(new[] { "7", "8", "9", "10" }, default);
        Assert.Equal(2, runner.Calls.Count);
        Assert.Equal(new[] { "squeue", "-h", "-r", "-t", "all", "-j", "7,8,9,10", "-o", "%i %T %r" }, runner.Calls[0]);
        Assert.Equal(new[] { "sacct", "-c", "-n", "-P", "-j", "9,10", "-o", "JobID,State,ExitCode" }, runner.Calls[1]);
        Assert.Equal(JobState.Running, q.Known["7"].State);
        Assert.Equal(JobState.Failed, q.Known["8"].State);
        Assert.Equal(JobState.Done, q.Known["9"].State);
        Assert.False(q.Known.ContainsKey("10")); // forgotten by both: the controller makes it Lost
        Assert.Empty(q.Unanswered);
    }

    [Fact]
    public void Slurm_query_all_unknown_is_an_answer_not_a_failure()
    {
        var runner = new RecordedRunner
        {
            Answer = argv => argv[0] == "squeue"
                ? new CommandResult(1, "", "slurm_load_jobs error: Invalid job id specified\n")
                : new CommandResult(0, "", ""),
        };
        var q = new SlurmScheduler(runner).Query(new[] { "99" }, default);
        Assert.Empty(q.Known);
        Assert.Empty(q.Unanswered);
    }

    [Fact]
    public void Slurm_query_failure_leaves_jobs_unanswered()
    {
        var runner = new RecordedRunner { Answer = _ => new CommandResult(1, "", "squeue: error: Unable to contact slurm controller (connect failure)\n") };
        var q = new SlurmScheduler(runner).Query(new[] { "7", "8" }, default);
        Assert.Empty(q.Known);
        Assert.Equal(new[] { "7", "8" }, q.Unanswered.OrderBy(x => x));
        Assert.Contains("Unable to contact", q.Problem);
        Assert.Single(runner.Calls); // no sacct: nothing is concluded from a failed squeue
    }

    [Fact]
    public void Slurm_sacct_failure_keeps_the_departed_jobs_unanswered()
    {
        var runner = new RecordedRunner
        {
            Answer = argv => argv[0] == "squeue"
                ? new CommandResult(0, "7 RUNNING None\n", "")
                : new CommandResult(1, "", "sacct: error: Problem talking to the database\n"),
        };
        var q = new SlurmScheduler(runner).Query(new[] { "7", "8" }, default);
        Assert.Equal(new[] { "7" }, q.Known.Keys);
        Assert.Equal(new[] { "8" }, q.Unanswered);
    }

    [Fact]
    public void Slurm_submit_failure_is_reported_with_the_reason()
    {
        var runner = new RecordedRunner { Answer = _ => new CommandResult(1, "", "sbatch: error: Batch job submission failed: Invalid partition name specified\n") };
        using var f = new RunProc.Tests.Catalog.Facility();
        var ex = Assert.Throws<SchedulerException>(() => new SlurmScheduler(runner).Submit(InDirectory(Spec("nope"), f.Root), default));
        Assert.Contains("Invalid partition", ex.Message);
        Assert.False(ex.Transient);
    }

    [Fact]
    public void Slurm_find_by_name_falls_back_to_the_completion_file()
    {
        var runner = new RecordedRunner
        {
            Answer = argv => argv[0] == "squeue"
                ? new CommandResult(0, "", "")
                : new CommandResult(0, "5|COMPLETED|0:0|other\n6|FAILED|3:0|rp.x\n", ""),
        };
        var found = Assert.Single(new SlurmScheduler(runner).FindByName("rp.x", default));
        Assert.Equal("6", found.JobId);
        Assert.Equal("--name=rp.x", runner.Calls[0][5]);
    }

    [Fact]
    public void Lsf_query_is_one_bjobs_and_separates_unknown_from_failure()
    {
        var runner = new RecordedRunner
        {
            Answer = _ => new CommandResult(255,
                "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME\n1 u RUN q h e rp.a Oct  5 15:19\n",
                "Job <2> is not found\n"),
        };
        var q = new LsfScheduler(runner).Query(new[] { "1", "2" }, default);
        Assert.Equal(new[] { "bjobs", "-a", "-w", "1", "2" }, Assert.Single(runner.Calls));
        Assert.Equal(JobState.Running, q.Known["1"].State);
        Assert.False(q.Known.ContainsKey("2"));
        Assert.Empty(q.Unanswered);

        var down = new RecordedRunner { Answer = _ => new CommandResult(255, "", "LSF is down. Please wait ...\n") };
        var q2 = new LsfScheduler(down).Query(new[] { "1" }, default);
        Assert.Equal(new[] { "1" }, q2.Unanswered);
    }

    [Fact]
    public void Bsub_submit_parses_the_job_id()
    {
        var runner = new RecordedRunner { Answer = _ => new CommandResult(0, "Job <849160> is submitted to queue <psnehq>.\n", "") };
        using var f = new RunProc.Tests.Catalog.Facility();
        var spec = Spec("psnehq");
        spec = new JobSpec
        {
            Name = spec.Name, Command = spec.Command, LogFile = Path.Join(f.Root, "log.txt"), StatusFile = Path.Join(f.Root, "log.status"),
            WorkDirectory = f.Root, Queue = spec.Queue, TimeLimitMinutes = spec.TimeLimitMinutes, WrapperScript = spec.WrapperScript,
        };
        Assert.Equal("849160", new LsfScheduler(runner).Submit(spec, default));
        Assert.Equal(LsfScheduler.JobScript(spec), File.ReadAllText(Path.Join(f.Root, "log.lsf.sh")));
        var killed = new RecordedRunner();
        new LsfScheduler(killed).Cancel("849160", default);
        Assert.Equal(new[] { "bkill", "849160" }, killed.Calls[0]);
    }
}
