using RunProc.Db;
using RunProc.IO;

namespace RunProc.Batch;

/// <summary>The batch layer's view of a process's <see cref="ProcDb"/>.</summary>
public sealed class ProcDbLedger : IRunLedger
{
    private readonly ProcDb _db;
    private readonly Func<CancellationToken, RunScanQuery> _query;

    /// <param name="db">The process DB.</param>
    /// <param name="query">Which experiments a cycle looks at (default: experiments.txt, the old LIST mode).</param>
    public ProcDbLedger(ProcDb db, Func<CancellationToken, RunScanQuery>? query = null)
    {
        _db = db;
        _query = query ?? (c => new RunScanQuery { Cancel = c });
    }

    public ProcDb Db => _db;

    public string ExperimentDirectory(string experiment) => _db.ExperimentDirectory(experiment);

    public string WorkDirectory(string experiment) => _db.WorkDirectory(experiment);

    public IDisposable AcquireWriteLock(TimeSpan timeout, CancellationToken cancel) => _db.AcquireWriteLock(timeout, cancel);

    public bool IsProcessed(string experiment, int run) => _db.ReadDoneRuns(experiment).Contains(run);

    public void AppendProcessed(string experiment, int run, string command, DateTime time)
    {
        // The caller already holds the DB write lock, and flock is not re-entrant across file
        // descriptors, so ProcDb.AppendProcessed (which takes the lock itself) cannot be called here.
        // Same record, same file, same format.
        var local = time.Kind == DateTimeKind.Utc ? time.ToLocalTime() : time;
        SafeFile.EnsureDirectory(_db.InstrumentDirectory(experiment), _db.Config.DirectoryMode);
        SafeFile.AppendLines(_db.ProcessedFile(experiment),
            new[] { ProcRecord.Format(run, local, Environment.UserName, Environment.MachineName, Environment.CurrentDirectory, command) },
            _db.Config.FileMode);
    }

    public IEnumerable<(string Experiment, int Run)> ReadyPendingRuns(CancellationToken cancel, Action<string>? skipped = null)
    {
        var q = _query(cancel);
        var query = skipped is null ? q : new RunScanQuery
        {
            All = q.All, Instruments = q.Instruments, Experiments = q.Experiments, IncludeNotReady = q.IncludeNotReady,
            NowUtc = q.NowUtc, UseCache = q.UseCache, Cancel = q.Cancel, Verbose = q.Verbose, Skipped = skipped,
        };
        return new RunScan(_db).EnumeratePending(query).Where(r => r.Ready).Select(r => (r.Experiment, r.Run));
    }
}
