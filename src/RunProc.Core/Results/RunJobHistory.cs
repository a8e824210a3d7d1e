using RunProc.Batch;
using RunProc.Config;

namespace RunProc.Results;

/// <summary>A run's jobs as the journal knows them: the latest attempt and how many were used.</summary>
public sealed record RunJobs(ProcJob Latest, int Attempts, bool FailedForGood);

/// <summary>Reads an experiment's job journal into one <see cref="RunJobs"/> per run.</summary>
public static class RunJobHistory
{
    /// <summary>Per run: the latest job, the attempts used, and whether it failed with no attempts left.</summary>
    public static IReadOnlyDictionary<int, RunJobs> Read(RunProcConfig config, string process, string experiment)
    {
        var journal = new JobJournal(new RunProc.Db.ProcDbTree(config, process).JournalFile(experiment), process, experiment, config.FileMode, config.DirectoryMode);
        journal.Refresh();
        var allowed = config.Processes.TryGetValue(process, out var def) ? def.Attempts : new ProcessDefinition { Name = process, Command = Array.Empty<string>() }.Attempts;
        var result = new Dictionary<int, RunJobs>();
        foreach (var g in journal.Jobs.GroupBy(j => j.Run))
        {
            var latest = g.Last();
            var attempts = g.Count(j => j.State.CountsAsAttempt());
            result[g.Key] = new RunJobs(latest, attempts, IsFailedForGood(latest.State, attempts, allowed));
        }
        return result;
    }

    /// <summary>Ended Failed, TimedOut or Lost, and the automatic retries are used up.</summary>
    public static bool IsFailedForGood(JobState latest, int attempts, int allowed) => latest.IsRetryable() && attempts >= allowed;
}
