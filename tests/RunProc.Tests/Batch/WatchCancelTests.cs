using System.Management.Automation;
using System.Management.Automation.Runspaces;
using RunProc.Batch;
using RunProc.Module.Commands;
using RunProc.Tests.Catalog;
using Xunit;
using JobState = RunProc.Batch.JobState;

namespace RunProc.Tests.Batch;

/// <summary>Ctrl+C (PowerShell.Stop) ends Watch-ProcJob at once and loses nothing already seen.</summary>
public class WatchCancelTests
{
    [Fact]
    public void Stopping_Watch_ProcJob_mid_wait_keeps_every_recorded_pass()
    {
        using var f = new Facility(settleSeconds: 0);
        var config = Path.Join(f.Root, "runproc.psd1");
        File.WriteAllText(config, """
            @{ DataRoot = './data'; DbRoot = './db'; SettleSeconds = 0
               Processes = @{ slow = @{ Command = @('/bin/sleep', '300'); PollSeconds = 3600 } } }
            """);
        f.Run("XPP", "xpptut15", 1, streams: 1);

        var iss = InitialSessionState.CreateDefault2();
        iss.Commands.Add(new SessionStateCmdletEntry("Submit-ProcJob", typeof(SubmitProcJobCommand), null));
        iss.Commands.Add(new SessionStateCmdletEntry("Watch-ProcJob", typeof(WatchProcJobCommand), null));
        iss.Commands.Add(new SessionStateCmdletEntry("Get-ProcJob", typeof(GetProcJobCommand), null));
        iss.Commands.Add(new SessionStateCmdletEntry("Stop-ProcJob", typeof(StopProcJobCommand), null));
        using var rs = RunspaceFactory.CreateRunspace(iss);
        rs.Open();

        using (var submit = PowerShell.Create())
        {
            submit.Runspace = rs;
            var job = submit.AddCommand("Submit-ProcJob").AddParameter("Process", "slow").AddParameter("Experiment", "xpptut15")
                .AddParameter("Run", 1).AddParameter("ConfigPath", config).Invoke<ProcJob>().Single();
            Assert.Equal(JobState.Pending, job.State);
            // Watch's first pass must see the job running (its next pass is an hour later): wait for the wrapper's start line.
            var started = DateTime.UtcNow.AddSeconds(60);
            while (WrapperStatus.TryRead(job.StatusFile)?.Started is null)
            {
                Assert.True(DateTime.UtcNow < started, "the job never started");
                Thread.Sleep(100);
            }
        }

        using var watch = PowerShell.Create();
        watch.Runspace = rs;
        watch.AddCommand("Watch-ProcJob").AddParameter("Process", "slow").AddParameter("ConfigPath", config);
        var async = watch.BeginInvoke();
        // Wait until the first pass is recorded (the job turned Running), then "press Ctrl+C" during the hour-long wait.
        var journal = RunProc.Db.ProcDbTree.JournalFile(Path.Join(f.Root, "db"), "slow", "xpptut15");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.ReadAllText(journal).Contains("\"Running\"", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "the first pass was never recorded");
            Thread.Sleep(100);
        }
        var stopping = watch.BeginStop(null, null);
        Assert.True(stopping.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(60)), "Watch-ProcJob ignored the stop request");
        Assert.True(async.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(60)), "Watch-ProcJob did not stop");
        Assert.Equal(PSInvocationState.Stopped, watch.InvocationStateInfo.State);

        using var get = PowerShell.Create();
        get.Runspace = rs;
        var now = get.AddCommand("Get-ProcJob").AddParameter("Process", "slow").AddParameter("ConfigPath", config).Invoke<ProcJob>().Single();
        Assert.Equal(JobState.Running, now.State);
        Assert.Contains(File.ReadAllLines(now.LogFile), l => l.StartsWith("   1 ", StringComparison.Ordinal) && l.EndsWith(" status RUN", StringComparison.Ordinal));

        using var stop = PowerShell.Create();
        stop.Runspace = rs;
        stop.AddCommand("Get-ProcJob").AddParameter("Process", "slow").AddParameter("ConfigPath", config)
            .AddCommand("Stop-ProcJob").AddParameter("ConfigPath", config).AddParameter("Confirm", false).Invoke();
        Assert.Empty(stop.Streams.Error);
    }
}
