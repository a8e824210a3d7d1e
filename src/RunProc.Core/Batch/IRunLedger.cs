namespace RunProc.Batch;

/// <summary>
/// What the batch layer needs from the processing DB of one process: its directories, its write
/// lock, the -proc-runs.txt record and the ready pending runs. Implemented over RunProc.Db.ProcDb.
/// </summary>
public interface IRunLedger
{
    /// <summary><c>&lt;DbRoot&gt;/&lt;proc&gt;/&lt;INS&gt;/&lt;exp&gt;</c>: where the logs go (created if missing).</summary>
    string ExperimentDirectory(string experiment);

    /// <summary><c>&lt;DbRoot&gt;/&lt;proc&gt;/&lt;INS&gt;/&lt;exp&gt;/work</c> (created if missing).</summary>
    string WorkDirectory(string experiment);

    /// <summary>The DB write lock of the process; writers of -proc-runs.txt and the job journals hold it.</summary>
    IDisposable AcquireWriteLock(TimeSpan timeout, CancellationToken cancel);

    /// <summary>Whether the run is recorded in -proc-runs.txt (or the archive).</summary>
    bool IsProcessed(string experiment, int run);

    /// <summary>Appends the run to -proc-runs.txt in the original record format. The caller holds the write lock.</summary>
    void AppendProcessed(string experiment, int run, string command, DateTime time);

    /// <summary>
    /// Runs present, ready (settled, nothing in progress) and not recorded, oldest experiments and runs
    /// first. An experiment whose DB files cannot be read is skipped and reported to <paramref name="skipped"/>.
    /// </summary>
    IEnumerable<(string Experiment, int Run)> ReadyPendingRuns(CancellationToken cancel, Action<string>? skipped = null);
}
