using System.Globalization;
using RunProc.Config;
using RunProc.Db;
using RunProc.IO;

namespace RunProc.Batch;

/// <summary>The cron cycle (Invoke-ProcCycle): reconcile, then retries and ready pending runs within MaxJobs.</summary>
public sealed partial class BatchController
{
    /// <summary>Runs whose last attempt failed, timed out, was lost or never became a job, with attempts left.</summary>
    public IReadOnlyList<(string Experiment, int Run)> RetryCandidates() =>
        Policy.RetryCandidates(RefreshAll().SelectMany(j => j.Jobs));

    /// <summary>
    /// Runs present, ready (settled, nothing in progress) and not recorded, oldest experiments and runs
    /// first, of the experiments <see cref="PendingScan"/> names. An experiment whose DB files cannot be
    /// read is skipped and reported to <paramref name="skipped"/>.
    /// </summary>
    private IEnumerable<(string Experiment, int Run)> ReadyPendingRuns(CancellationToken cancel, Action<string> skipped)
    {
        var q = PendingScan(cancel);
        var query = new RunScanQuery
        {
            All = q.All, Instruments = q.Instruments, Experiments = q.Experiments, IncludeNotReady = q.IncludeNotReady,
            NowUtc = q.NowUtc, UseCache = q.UseCache, Cancel = q.Cancel, Verbose = q.Verbose, Skipped = skipped,
        };
        return new RunScan(_db).EnumeratePending(query).Where(r => r.Ready).Select(r => (r.Experiment, r.Run));
    }

    /// <summary>
    /// What a cycle submits, in its order: the retry candidates, then the ready pending runs that are
    /// not among them (<paramref name="skipped"/> hears of experiments whose DB files cannot be read).
    /// </summary>
    public IReadOnlyList<(string Experiment, int Run, bool Retry)> CycleWork(CancellationToken cancel, Action<string> skipped)
    {
        var retries = RetryCandidates();
        var retrySet = retries.ToHashSet();
        return retries.Select(r => (r.Experiment, r.Run, true))
            .Concat(ReadyPendingRuns(cancel, skipped).Where(p => !retrySet.Contains(p)).Select(p => (p.Experiment, p.Run, false)))
            .ToList();
    }

    /// <summary>A missing DataRoot is an error of the cycle (else it would be a "successful" empty cycle); missing instrument directories are reported.</summary>
    private void CheckDataRoot(ProcCycleSummary summary)
    {
        if (!Directory.Exists(_config.DataRoot))
        {
            summary.Errors++;
            summary.Problems.Add($"DataRoot '{_config.DataRoot}' does not exist (config {_config.SourcePath}): no run can be found; correct DataRoot or mount the data.");
            return;
        }
        var missing = _config.Instruments.Where(i => !Directory.Exists(Path.Combine(_config.DataRoot, i))).ToList();
        if (missing.Count > 0)
            summary.Problems.Add($"instrument director{(missing.Count == 1 ? "y" : "ies")} {string.Join(", ", missing)} missing under DataRoot '{_config.DataRoot}': no runs of {(missing.Count == 1 ? "it" : "them")} can be found (Instruments in {_config.SourcePath}).");
    }

    /// <summary>
    /// One cron cycle: take the process's cycle lock (if another cycle holds it, return at once with
    /// Ran = false), reconcile, then submit retries and ready pending runs within MaxJobs.
    /// </summary>
    public ProcCycleSummary RunCycle(CancellationToken cancel, int? maxJobs = null)
    {
        var summary = new ProcCycleSummary { Process = _process.Name, Scheduler = _process.Scheduler, Started = DateTime.Now };
        var sw = System.Diagnostics.Stopwatch.StartNew();
        _tree.Ensure(_tree.ProcessDirectory);
        using var cycleLock = FileLock.TryAcquire(_tree.CycleLockFile, _config.FileMode);
        if (cycleLock is null)
        {
            summary.Problems.Add($"another cycle of {_process.Name} is running (lock {_tree.CycleLockFile}); this one did nothing.");
            summary.Seconds = sw.Elapsed.TotalSeconds;
            return summary;
        }
        summary.Ran = true;
        CheckDataRoot(summary);
        var r = Reconcile(cancel);
        summary.Problems.AddRange(r.Problems);
        summary.Finished = r.Finished.Count;
        summary.Done = r.Finished.Count(j => j.State == JobState.Done);
        summary.Failed = r.Finished.Count(j => j.State is JobState.Failed or JobState.TimedOut or JobState.Lost);

        var limit = maxJobs ?? _process.MaxJobs;
        summary.Errors += JournalErrors.Count;
        void Skipped(string message)
        {
            summary.Errors++;
            summary.Problems.Add(message);
        }
        var work = CycleWork(cancel, Skipped);
        var free = BatchPolicy.FreeSlots(limit, ActiveCount());
        foreach (var (exp, run, retry) in work)
        {
            cancel.ThrowIfCancellationRequested();
            if (free == 0)
            {
                summary.Deferred++;
                continue;
            }
            SubmitOutcome o;
            try
            {
                o = Submit(exp, run, force: false, limit, cancel);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or TimeoutException)
            {
                summary.Errors++;
                summary.Problems.Add($"{exp} run {run}: {ex.Message}");
                continue;
            }
            switch (o.Decision)
            {
                case SubmitDecision.Submitted:
                    summary.Submitted++;
                    if (o.Attempt > 1 || retry) summary.Retried++;
                    summary.Jobs.Add(o.Job!);
                    free--;
                    break;
                case SubmitDecision.Deferred:
                    summary.Deferred++;
                    free = 0;
                    break;
                case SubmitDecision.Failed:
                    summary.Errors++;
                    summary.Problems.Add($"{exp} run {run}: {o.Message}");
                    if (o.Job is not null) summary.Jobs.Add(o.Job);
                    break;
            }
        }
        summary.Active = ActiveCount();
        summary.Seconds = sw.Elapsed.TotalSeconds;
        return summary;
    }
}
