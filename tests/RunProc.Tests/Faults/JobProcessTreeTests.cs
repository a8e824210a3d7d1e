using RunProc.Batch;
using RunProc.Tests.Batch;
using RunProc.Tests.Catalog;
using RunProc.Tests.Fuzz;
using Xunit;

namespace RunProc.Tests.Faults;

/// <summary>Many short local jobs, each starting children: afterwards not one process of theirs (watchdogs and their sleeps included) is left.</summary>
public class JobProcessTreeTests : IDisposable
{
    private readonly Facility _f = new();

    public void Dispose()
    {
        JobProcesses.KillAll(_f.Root);
        _f.Dispose();
    }

    [Fact]
    public void Short_jobs_leave_no_process_behind()
    {
        var count = FuzzBudget.Count(ci: 16, longRun: 200);
        var logs = Path.Join(_f.Root, "logs");
        Directory.CreateDirectory(logs);
        var scheduler = new LocalScheduler(Path.Join(_f.Root, "spool"), Path.Join(_f.Root, "slots"), 8) { KillGraceSeconds = 1 };
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var name = $"j-short-{i:D3}";
            // A background grandchild that would outlive a leader killed alone; every third job fails.
            var command = new[] { "/bin/sh", "-c", $"sleep 30 & echo job {i}; exit {(i % 3 == 0 ? 1 : 0)}" };
            ids.Add(scheduler.Submit(new JobSpec
            {
                Name = name, Command = command, LogFile = Path.Join(logs, name + ".txt"), StatusFile = Path.Join(logs, name + ".status"),
                WorkDirectory = logs, TimeLimitMinutes = 5, WrapperScript = BatchFixture.Wrapper,
            }, default));
        }
        var deadline = DateTime.UtcNow.AddMinutes(10); // hang guard only
        Dictionary<string, SchedulerJobStatus> known;
        while (!(known = new Dictionary<string, SchedulerJobStatus>(scheduler.Query(ids, default).Known)).Values.All(s => s.State.IsFinal()) || known.Count < ids.Count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{known.Values.Count(s => !s.State.IsFinal())} of {count} jobs did not end");
            Thread.Sleep(200);
        }
        Assert.Equal(count - (count + 2) / 3, known.Values.Count(s => s.State == JobState.Done));
        Assert.Equal((count + 2) / 3, known.Values.Count(s => s.State == JobState.Failed));
        // A wrapper writes its end line as its last act and exits right after: give the wrappers
        // themselves a moment to be gone; nothing else of a job may be alive once its end is recorded.
        var wrappers = ids.Select(id => WrapperStatus.TryRead(Path.Join(logs, id + ".status"))!.Pid!.Value).ToHashSet();
        var others = JobProcesses.Under(_f.Root).Where(p => !wrappers.Contains(p.Pid)).ToList();
        var settle = DateTime.UtcNow.AddSeconds(10);
        while (JobProcesses.Under(_f.Root).Any(p => wrappers.Contains(p.Pid)) && DateTime.UtcNow < settle)
            Thread.Sleep(50);
        var left = others.Concat(JobProcesses.Under(_f.Root)).DistinctBy(p => p.Pid).ToList();
        FuzzBudget.Record("short local jobs: processes left afterwards", left.Count, $"{count} jobs");
        Assert.True(left.Count == 0, $"{left.Count} process(es) of {count} finished jobs are still alive: {JobProcesses.Show(left)}");
    }
}
