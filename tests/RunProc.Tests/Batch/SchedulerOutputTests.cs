using RunProc.Batch;
using Xunit;

namespace RunProc.Tests.Batch;

/// <summary>Parsing of every Slurm and LSF output recorded in the references, and the state mapping.</summary>
public class SchedulerOutputTests
{
    // shared/reference/slurm-single-node.md: squeue -h -t all -j ID -o '%i %T %r'
    [Theory]
    [InlineData("7 PENDING Priority", "7", JobState.Pending, "PENDING", "Priority")]
    [InlineData("14 PENDING Resources", "14", JobState.Pending, "PENDING", "Resources")]
    [InlineData("10 PENDING Dependency", "10", JobState.Pending, "PENDING", "Dependency")]
    [InlineData("7 RUNNING None", "7", JobState.Running, "RUNNING", null)]
    [InlineData("9 COMPLETING None", "9", JobState.Running, "COMPLETING", null)]
    [InlineData("7 COMPLETED None", "7", JobState.Done, "COMPLETED", null)]
    [InlineData("8 FAILED NonZeroExitCode", "8", JobState.Failed, "FAILED", "NonZeroExitCode")]
    [InlineData("9 CANCELLED None", "9", JobState.Cancelled, "CANCELLED", null)]
    [InlineData("13 TIMEOUT TimeLimit", "13", JobState.TimedOut, "TIMEOUT", "TimeLimit")]
    [InlineData("12 FAILED JobLaunchFailure", "12", JobState.Failed, "FAILED", "JobLaunchFailure")]
    public void Squeue_recorded_lines(string line, string id, JobState state, string word, string? reason)
    {
        var s = Assert.Single(SlurmOutput.ParseSqueue(line + "\n"));
        Assert.Equal(id, s.JobId);
        Assert.Equal(state, s.State);
        Assert.Equal(word, s.SchedulerState);
        Assert.Equal(reason, s.Reason);
    }

    [Fact]
    public void Squeue_batched_answer_has_one_row_per_known_job_and_ignores_messages()
    {
        var rows = SlurmOutput.ParseSqueue("7 RUNNING None\n8 FAILED NonZeroExitCode\nslurm_load_jobs error: Invalid job id specified\n\n");
        Assert.Equal(new[] { "7", "8" }, rows.Select(r => r.JobId));
        Assert.True(SlurmOutput.IsInvalidJobId("slurm_load_jobs error: Invalid job id specified"));
        Assert.False(SlurmOutput.IsInvalidJobId("squeue: error: Unable to contact slurm controller (connect failure)"));
    }

    // sacct -c -n -P -j ID -o JobID,State,ExitCode
    [Theory]
    [InlineData("7|COMPLETED|0:0", JobState.Done, 0, null)]
    [InlineData("8|FAILED|3:0", JobState.Failed, 3, null)]
    [InlineData("9|CANCELLED|0:0", JobState.Cancelled, 0, null)]
    [InlineData("13|TIMEOUT|0:0", JobState.TimedOut, 0, null)]
    [InlineData("12|FAILED|0:9", JobState.Failed, 0, "signal 9")]
    [InlineData("15|CANCELLED by 0|0:15", JobState.Cancelled, 0, "signal 15")]
    public void Sacct_recorded_lines(string line, JobState state, int exit, string? reason)
    {
        var s = Assert.Single(SlurmOutput.ParseSacct(line));
        Assert.Equal(line.Split('|')[0], s.JobId);
        Assert.Equal(state, s.State);
        Assert.Equal(exit, s.ExitCode);
        Assert.Equal(reason, s.Reason);
    }

    [Fact]
    public void Sacct_skips_steps_and_reads_names()
    {
        var rows = SlurmOutput.ParseSacct("2|FAILED|3:0|rp-test-b\n2.batch|FAILED|3:0|batch\n1|COMPLETED|0:0|rp-test-a\n");
        Assert.Equal(2, rows.Count);
        Assert.Equal("rp-test-b", rows.Single(r => r.JobId == "2").Name);
    }

    [Fact]
    public void Scontrol_show_job_gives_state_reason_and_exit_code()
    {
        const string text = """
            JobId=2 JobName=rp-test-b
               UserId=root(0) GroupId=root(0) MCS_label=N/A
               JobState=FAILED Reason=NonZeroExitCode Dependency=(null)
               Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0
               RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A
            """;
        var s = SlurmOutput.ParseScontrol(text)!;
        Assert.Equal("2", s.JobId);
        Assert.Equal(JobState.Failed, s.State);
        Assert.Equal("NonZeroExitCode", s.Reason);
        Assert.Equal(3, s.ExitCode);
        Assert.Equal("rp-test-b", s.Name);
        Assert.Null(SlurmOutput.ParseScontrol("slurm_load_jobs error: Invalid job id specified"));
    }

    [Theory]
    [InlineData("7\n", "7")]
    [InlineData("7;cluster\n", "7")]
    [InlineData("sbatch: temporarily unable to accept job, sleeping and retrying\n31\n", "31")]
    [InlineData("", null)]
    [InlineData("sbatch: error: Batch job submission failed: Invalid partition name specified\n", null)]
    public void Sbatch_parsable(string stdout, string? id) => Assert.Equal(id, SlurmOutput.ParseSbatch(stdout));

    [Theory]
    [InlineData("PENDING", JobState.Pending)]
    [InlineData("CONFIGURING", JobState.Pending)]
    [InlineData("REQUEUED", JobState.Pending)]
    [InlineData("RUNNING", JobState.Running)]
    [InlineData("COMPLETING", JobState.Running)]
    [InlineData("SUSPENDED", JobState.Suspended)]
    [InlineData("COMPLETED", JobState.Done)]
    [InlineData("FAILED", JobState.Failed)]
    [InlineData("NODE_FAIL", JobState.Failed)]
    [InlineData("OUT_OF_MEMORY", JobState.Failed)]
    [InlineData("BOOT_FAIL", JobState.Failed)]
    [InlineData("CANCELLED", JobState.Cancelled)]
    [InlineData("CANCELLED by 1000", JobState.Cancelled)]
    [InlineData("PREEMPTED", JobState.Cancelled)]
    [InlineData("TIMEOUT", JobState.TimedOut)]
    [InlineData("DEADLINE", JobState.TimedOut)]
    [InlineData("SOMETHING_NEW", JobState.Running)] // unknown words never end a job
    public void Slurm_state_mapping(string word, JobState state) => Assert.Equal(state, SlurmOutput.MapState(word));

    // shared/reference/original-system.md: LSF
    [Theory]
    [InlineData("Job <849160> is submitted to queue <psnehq>.", "849160", "psnehq")]
    [InlineData("Job <12> is submitted to default queue <normal>.", "12", "normal")]
    public void Bsub_output(string stdout, string id, string queue)
    {
        var r = LsfOutput.ParseBsub(stdout)!.Value;
        Assert.Equal(id, r.JobId);
        Assert.Equal(queue, r.Queue);
        Assert.Null(LsfOutput.ParseBsub("Request aborted by esub. Job not submitted."));
    }

    [Theory]
    [InlineData("PEND", JobState.Pending)]
    [InlineData("RUN", JobState.Running)]
    [InlineData("DONE", JobState.Done)]
    [InlineData("EXIT", JobState.Failed)]
    [InlineData("PSUSP", JobState.Suspended)]
    [InlineData("USUSP", JobState.Suspended)]
    [InlineData("SSUSP", JobState.Suspended)]
    [InlineData("UNKWN", JobState.Running)]
    [InlineData("WAIT", JobState.Pending)]
    [InlineData("ZOMBI", JobState.Cancelled)]
    public void Lsf_state_mapping(string stat, JobState state) => Assert.Equal(state, LsfOutput.MapState(stat));

    [Fact]
    public void Bjobs_rows_with_header_and_blank_exec_host()
    {
        const string text = """
            JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME
            849160  dubrovin RUN   psnehq     psanaphi106 psana1507   rp.pixel_status.xpptut15.r0151.a1.abc123 Oct  5 15:19
            849161  dubrovin PEND  psnehq     psanaphi106             rp.pixel_status.xpptut15.r0152.a1.def456 Oct  5 15:19
            849162  dubrovin EXIT  psnehq     psanaphi106 psana1507   rp.x Oct  5 15:19
            849163  dubrovin DONE  psnehq     psanaphi106 psana1507   rp.y Oct  5 15:19
            849164  dubrovin SSUSP psnehq     psanaphi106 psana1507   rp.z Oct  5 15:19
            849165  dubrovin UNKWN psnehq     psanaphi106 psana1507   rp.w Oct  5 15:19
            849166  dubrovin ZOMBI psnehq     psanaphi106 psana1507   rp.v Oct  5 15:19
            """;
        var rows = LsfOutput.ParseBjobs(text);
        Assert.Equal(7, rows.Count);
        Assert.Equal(new[] { JobState.Running, JobState.Pending, JobState.Failed, JobState.Done, JobState.Suspended, JobState.Running, JobState.Cancelled }, rows.Select(r => r.State));
        Assert.Equal("PEND", rows[1].SchedulerState);
        Assert.Equal("rp.pixel_status.xpptut15.r0151.a1.abc123", rows[0].Name);
        Assert.Equal(new[] { "849999" }, LsfOutput.ParseNotFound("Job <849999> is not found\n"));
        Assert.True(LsfOutput.IsNoJobMessage("No unfinished job found"));
    }

    [Fact]
    public void Wrapper_status_file_tells_exit_codes_from_kills()
    {
        var failed = WrapperStatus.Parse("queued 2026-01-01T00:00:00Z pid 10 host h\nstart 2026-01-01T00:00:01Z pid 10 host h\nend 2026-01-01T00:00:02Z exit 3\n");
        Assert.Equal(JobState.Failed, failed.Outcome());
        Assert.Equal(3, failed.ExitCode);
        Assert.Equal(10, failed.Pid);
        Assert.Equal(JobState.Done, WrapperStatus.Parse("start 2026-01-01T00:00:01Z pid 10 host h\nend 2026-01-01T00:00:02Z exit 0\n").Outcome());
        Assert.Equal(JobState.TimedOut, WrapperStatus.Parse("start 2026-01-01T00:00:01Z pid 10 host h\ntimeout 2026-01-01T00:01:01Z limit 60 s\nend 2026-01-01T00:01:01Z signal TERM\n").Outcome());
        Assert.Equal(JobState.Cancelled, WrapperStatus.Parse("start 2026-01-01T00:00:01Z pid 10 host h\ncancel 2026-01-01T00:00:05Z by root\nend 2026-01-01T00:00:05Z signal TERM\n").Outcome());
        Assert.Null(WrapperStatus.Parse("start 2026-01-01T00:00:01Z pid 10 host h\nen").Outcome()); // torn last line: still running
    }
}
