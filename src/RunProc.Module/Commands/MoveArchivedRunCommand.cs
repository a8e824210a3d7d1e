using System.Management.Automation;
using RunProc.Catalog;
using RunProc.Db;

namespace RunProc.Module.Commands;

/// <summary>
/// Move-ArchivedRun: moves the records of runs whose data files are gone from -proc-runs.txt to
/// -arch-runs.txt (old code 40); -WhatIf lists them (old code 4). With -Run, only those runs, and a
/// run whose data still exists is refused (RunDataPresent).
/// </summary>
[Cmdlet(VerbsCommon.Move, "ArchivedRun", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RecordedRun))]
public sealed class MoveArchivedRunCommand : RecordedRunCmdletBase
{
    // (process, experiment) -> runs asked for, or null for "every run whose data is gone".
    private readonly Dictionary<(string Process, string Experiment), HashSet<int>?> _requests = new();
    private readonly List<(string Process, string Experiment)> _order = new();

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (!TryOpenFiltered(Experiment, Instrument, out var db, out var patterns, out var instruments))
            return;
        Guard(db.ProcessDirectory, $"Reading {db.ProcessDirectory}", () =>
        {
            foreach (var exp in SelectRecordedExperiments(db, patterns, instruments))
            {
                var key = (db.Process, exp);
                if (!_requests.TryGetValue(key, out var set))
                {
                    _order.Add(key);
                    _requests[key] = Run is null ? null : new HashSet<int>(Run);
                }
                else if (set is not null)
                {
                    if (Run is null) _requests[key] = null; else set.UnionWith(Run);
                }
            }
        });
    }

    protected override void EndProcessing()
    {
        try
        {
            MoveAll();
        }
        finally
        {
            CompleteProgress();
        }
    }

    private void MoveAll()
    {
        var cache = CatalogCache.ForConfig(Config);
        var catalog = new RunCatalog(Config, cache);
        var progress = ScanProgressReporter();
        for (var i = 0; i < _order.Count; i++)
        {
            Cancel.ThrowIfCancellationRequested();
            var (process, exp) = _order[i];
            progress.Report(new ScanProgress($"Checking {process} records for removed data", exp, i, _order.Count));
            var db = new ProcDb(Config, process);
            var asked = _requests[_order[i]];
            IReadOnlyList<RecordedRun> candidates = Array.Empty<RecordedRun>();
            if (!Guard(exp, $"Checking the data of {exp}", () => candidates = db.ArchiveCandidates(exp, catalog, WriteDbWarning)))
                continue;
            var byRun = candidates.ToDictionary(c => c.Run);
            var chosen = new List<int>();
            if (asked is not null)
            {
                var processed = db.ReadProcessed(exp);
                foreach (var run in asked.Order())
                {
                    if (byRun.ContainsKey(run)) continue;
                    if (processed.ContainsKey(run))
                        WriteInputError(new InvalidOperationException($"{exp} run {run}: its data files still exist in {catalog.RunDirectoryOf(catalog.InstrumentOf(exp), exp)}; only runs whose data is gone are archived."),
                            "RunDataPresent", ErrorCategory.InvalidOperation, RunInfo.DataSetNameOf(exp, run));
                    else
                        WriteInputError(new ItemNotFoundException($"{exp} run {run} is not recorded as processed for {process} ({db.ProcessedFile(exp)})."),
                            "RunNotRecorded", ErrorCategory.ObjectNotFound, RunInfo.DataSetNameOf(exp, run));
                }
            }
            var from = db.ProcessedFile(exp);
            var to = db.ArchiveFile(exp);
            foreach (var c in candidates)
            {
                if (asked is not null && !asked.Contains(c.Run)) continue;
                if (ShouldProcess($"{RunInfo.DataSetNameOf(exp, c.Run)} ({process})", $"Move record '{c.Record.Line}' from {from} to {to} (data files gone)"))
                    chosen.Add(c.Run);
            }
            if (chosen.Count == 0)
                continue;
            IReadOnlyList<ProcRecord> moved = Array.Empty<ProcRecord>();
            if (!Guard(exp, $"Moving records of {exp} to {to}", () => moved = db.MoveToArchive(exp, chosen, WriteDbWarning)))
                continue;
            WriteVerbose($"Moved {moved.Count} record(s) of {exp} from {from} to {to}.");
            if (PassThru)
                foreach (var m in moved)
                    WriteObject(new RecordedRun { Process = process, Instrument = Names.InstrumentOf(exp, Config), Experiment = exp, Run = m.Run, State = RecordState.Archived, DataExists = false, Record = m });
        }
        cache.Save(WriteVerbose);
    }
}
