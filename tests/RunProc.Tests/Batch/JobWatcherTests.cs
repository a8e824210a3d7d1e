using RunProc.Batch;
using Xunit;

namespace RunProc.Tests.Batch;

/// <summary>Watch-ProcJob's loop in the core, on the fake scheduler.</summary>
public class JobWatcherTests
{
    [Fact]
    public void Unknown_and_ended_names_are_reported_before_the_first_pass_and_not_watched()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1, 2);
        fx.Controller().RunCycle(default);
        var jobs = fx.Controller().Jobs("xpptut15");
        fx.Scheduler.Set(jobs[0].JobId, JobState.Done, "COMPLETED");
        fx.Controller().Reconcile(default);

        var w = new JobWatcher();
        w.Add(fx.Controller(), new[] { jobs[0].Name, "rp.p.nosuch" });
        var events = w.CheckNames().ToList();
        Assert.Collection(events,
            e => Assert.Equal((WatchEventKind.Job, jobs[0].Name, JobState.Done), (e.Kind, e.Job!.Name, e.Job.State)),
            e => Assert.Equal((WatchEventKind.NotFound, "rp.p.nosuch"), (e.Kind, e.Message)));
        Assert.True(w.IsEmpty);
    }

    [Fact]
    public void Once_reports_every_watched_job_and_a_watch_ends_when_they_have_ended()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1, 2);
        fx.Controller().RunCycle(default);
        var w = new JobWatcher();
        w.Add(fx.Controller(), null);
        Assert.Equal("every active p job", w.Description);
        var once = w.Run(once: true, TimeSpan.FromSeconds(1), default).ToList();
        Assert.Equal(2, once.Count(e => e.Kind == WatchEventKind.Job && e.Job!.State == JobState.Pending));

        fx.Scheduler.EndAll(JobState.Done, "COMPLETED", 0);
        var all = w.Run(once: false, TimeSpan.FromMilliseconds(1), default).ToList();
        Assert.Equal(2, all.Count(e => e.Kind == WatchEventKind.Job && e.Job!.State == JobState.Done));
        Assert.DoesNotContain(all, e => e.Kind == WatchEventKind.Progress);
    }

    [Fact]
    public void Between_passes_it_reports_progress_and_cancelling_ends_the_watch()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1);
        fx.Controller().RunCycle(default);
        var w = new JobWatcher();
        w.Add(fx.Controller(), null);
        using var cts = new CancellationTokenSource();
        var seen = new List<WatchEvent>();
        foreach (var e in w.Run(once: false, TimeSpan.FromHours(1), cts.Token))
        {
            seen.Add(e);
            if (e.Kind == WatchEventKind.Progress)
                cts.Cancel();
        }
        var progress = Assert.Single(seen, e => e.Kind == WatchEventKind.Progress);
        Assert.StartsWith("pass 1: 1 active (1 Pending)", progress.Message);
        Assert.DoesNotContain(seen, e => e.Kind == WatchEventKind.Job);
        Assert.Equal(JobState.Pending, fx.Controller().Jobs("xpptut15").Single().State);
    }
}
