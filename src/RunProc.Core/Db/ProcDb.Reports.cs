using RunProc.Catalog;
using RunProc.Results;

namespace RunProc.Db;

/// <summary>A recorded run (processed or archived) and whether its data files still exist: output of Get-ProcRun.</summary>
public sealed class RecordedRun
{
    public required string Process { get; init; }

    /// <summary>The DB instrument directory (first 3 letters of the experiment, upper case).</summary>
    public required string Instrument { get; init; }

    public required string Experiment { get; init; }
    public required int Run { get; init; }
    public required RecordState State { get; init; }

    /// <summary>True when at least one data file of the run is still in the run directory.</summary>
    public required bool DataExists { get; init; }

    public required ProcRecord Record { get; init; }

    public DateTime? Time => Record.Time;
    public string? Login => Record.Login;
    public string? Host => Record.Host;
    public string? Command => Record.Command;
    public string? Cwd => Record.Cwd;
    public string File => Record.File;
    public int LineNumber => Record.LineNumber;
    public string DataSetName => RunInfo.DataSetNameOf(Experiment, Run);

    /// <summary>The latest RunProc job's state (Done, Failed, Running...); empty for runs the old tool recorded.</summary>
    public string JobState { get; internal set; } = "";

    /// <summary>Submissions used for the run (0 without RunProc jobs).</summary>
    public int Attempts { get; internal set; }

    /// <summary>The latest job ended Failed, TimedOut or Lost and no automatic attempt is left.</summary>
    public bool Failed { get; internal set; }

    /// <summary>The last error line of the latest job's log when it did not end Done.</summary>
    public string? LastError { get; internal set; }

    /// <summary>The latest job's name and log (empty without RunProc jobs).</summary>
    public string JobName { get; internal set; } = "";
    public string LogFile { get; internal set; } = "";

    /// <summary>Per detector: events, bad pixels, per-bit counts and output files, from the run's result record.</summary>
    public IReadOnlyList<DetectorResult> Detectors { get; internal set; } = Array.Empty<DetectorResult>();

    /// <summary>Bad pixels over all detectors (null without a result record).</summary>
    public long? BadPixels => Detectors.Count == 0 ? null : Detectors.Sum(d => d.BadPixels);

    /// <summary>Events analysed (the largest over the detectors; null without a result record).</summary>
    public long? Events => Detectors.Count == 0 ? null : Detectors.Max(d => d.Events);

    public override string ToString() => $"{Experiment} run {Run} ({State})";
}

/// <summary>One experiment's counts (Get-ProcExperiment; old codes 0/3/5).</summary>
public sealed class ExperimentStatus
{
    public required string Process { get; init; }
    public required string Instrument { get; init; }
    public required string Experiment { get; init; }

    /// <summary>Listed in experiments.txt (processed by default, old LIST mode).</summary>
    public bool UnderControl { get; init; }

    /// <summary>Runs with data on disk.</summary>
    public int Runs { get; init; }

    /// <summary>Runs recorded as processed (-proc-runs.txt).</summary>
    public int Processed { get; init; }

    /// <summary>Runs whose latest job ended Failed, TimedOut or Lost with no attempts left (counted in Processed too: the old record marks them taken).</summary>
    public int Failed { get; init; }

    /// <summary>Ready runs on disk, neither processed nor archived.</summary>
    public int Pending { get; init; }

    /// <summary>Runs on disk not yet ready (in progress or not settled), neither processed nor archived.</summary>
    public int NotReady { get; init; }

    /// <summary>Runs in the archive file(s).</summary>
    public int Archived { get; init; }

    /// <summary>Runs recorded as processed whose data files are gone (Move-ArchivedRun moves them; old code 4).</summary>
    public int DataMissing { get; init; }

    /// <summary>Bytes of the run files; null when not every run's files were stat'ed (ask with -Size).</summary>
    public long? Bytes { get; init; }

    /// <summary>Newest run file write time (null without runs, or when not every run's files were stat'ed).</summary>
    public DateTime? LastWriteTime { get; init; }

    public override string ToString() => Experiment;
}

/// <summary>Per-instrument (or total) statistics over experiments (Get-ProcExperiment -Summary; old code 5).</summary>
public sealed class InstrumentSummary
{
    public required string Process { get; init; }

    /// <summary>The instrument, or "Total" on the total row.</summary>
    public required string Instrument { get; init; }

    public bool IsTotal { get; init; }
    public int Experiments { get; init; }
    public int UnderControl { get; init; }
    public int Runs { get; init; }
    public int Processed { get; init; }
    public int Failed { get; init; }
    public int Pending { get; init; }
    public int NotReady { get; init; }
    public int Archived { get; init; }
    public int DataMissing { get; init; }

    /// <summary>Null when some experiment's size is not known (see <see cref="ExperimentStatus.Bytes"/>).</summary>
    public long? Bytes { get; init; }

    /// <summary>Per-instrument rows in config instrument order, then one total row.</summary>
    public static IReadOnlyList<InstrumentSummary> FromExperiments(string process, IEnumerable<ExperimentStatus> experiments, IReadOnlyList<string> instrumentOrder)
    {
        var list = experiments.ToList();
        var rows = list.GroupBy(e => e.Instrument)
            .OrderBy(g => { var i = instrumentOrder.ToList().IndexOf(g.Key); return i < 0 ? int.MaxValue : i; })
            .ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => Sum(process, g.Key, false, g))
            .ToList();
        rows.Add(Sum(process, "Total", true, list));
        return rows;
    }

    private static InstrumentSummary Sum(string process, string instrument, bool total, IEnumerable<ExperimentStatus> g)
    {
        var l = g.ToList();
        return new InstrumentSummary
        {
            Process = process, Instrument = instrument, IsTotal = total,
            Experiments = l.Count, UnderControl = l.Count(e => e.UnderControl),
            Runs = l.Sum(e => e.Runs), Processed = l.Sum(e => e.Processed), Failed = l.Sum(e => e.Failed), Pending = l.Sum(e => e.Pending),
            NotReady = l.Sum(e => e.NotReady), Archived = l.Sum(e => e.Archived), DataMissing = l.Sum(e => e.DataMissing),
            Bytes = l.All(e => e.Bytes is not null) ? l.Sum(e => e.Bytes!.Value) : null,
        };
    }
}

public sealed partial class ProcDb
{
    /// <summary>
    /// The recorded runs of one experiment (first record per run and file kind) with whether their
    /// data still exists, in run order, processed before archived.
    /// </summary>
    public IReadOnlyList<RecordedRun> RecordedRuns(string experiment, RunCatalog catalog, Action<DbWarning>? warn = null)
    {
        // Existence only: the listing's names, no stat per file.
        var scan = catalog.Scan(catalog.InstrumentOf(experiment), experiment, DateTime.UtcNow, null, _ => false);
        var ins = Config.InstrumentOf(experiment);
        var jobs = RunJobHistory.Read(Config, Process, experiment);
        var workDir = Tree.WorkDirectory(experiment);
        RecordedRun Make(ProcRecord r)
        {
            var rec = new RecordedRun
            {
                Process = Process, Instrument = ins, Experiment = experiment, Run = r.Run, State = r.State,
                DataExists = scan.Find(r.Run) >= 0, Record = r,
            };
            if (jobs.TryGetValue(r.Run, out var j))
            {
                rec.JobState = j.Latest.State.ToString();
                rec.Attempts = j.Attempts;
                rec.Failed = j.FailedForGood;
                rec.LastError = j.Latest.State == Batch.JobState.Done ? null : j.Latest.LastError;
                rec.JobName = j.Latest.Name;
                rec.LogFile = j.Latest.LogFile;
            }
            rec.Detectors = RunResultRecord.TryRead(RunResultRecord.PathFor(workDir, experiment, r.Run))?.Detectors ?? Array.Empty<DetectorResult>();
            return rec;
        }
        return ReadProcessed(experiment, warn).Values.Select(Make)
            .Concat(ReadArchived(experiment, warn).Values.Select(Make))
            .OrderBy(r => r.Run).ThenBy(r => r.State)
            .ToList();
    }

    /// <summary>
    /// Runs recorded as processed whose data files are all gone (old code 4). Refuses to answer when
    /// the data root or the instrument directory is missing: an unmounted file system must not look
    /// like deleted data.
    /// </summary>
    public IReadOnlyList<RecordedRun> ArchiveCandidates(string experiment, RunCatalog catalog, Action<DbWarning>? warn = null)
    {
        var ins = catalog.InstrumentOf(experiment);
        var insDir = Path.Join(Config.DataRoot, ins);
        if (!Directory.Exists(insDir))
            throw new DirectoryNotFoundException(
                $"Data directory '{insDir}' does not exist, so it cannot be told whether the runs of {experiment} were removed; is the file system mounted? (DataRoot in {Config.SourcePath}). Nothing was archived.");
        var candidates = RecordedRuns(experiment, catalog, warn).Where(r => r.State == RecordState.Processed && !r.DataExists).ToList();
        if (candidates.Count == 0 || catalog.Cache is null)
            return candidates;
        // Archiving acts on the answer: confirm it with a fresh listing rather than the scan cache.
        var fresh = new RunCatalog(Config).Scan(ins, experiment, DateTime.UtcNow, null, _ => false);
        return candidates.Where(c => fresh.Find(c.Run) < 0).ToList();
    }
}
