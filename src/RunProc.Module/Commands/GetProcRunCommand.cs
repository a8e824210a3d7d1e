using System.Management.Automation;
using RunProc.Catalog;
using RunProc.Db;

namespace RunProc.Module.Commands;

/// <summary>
/// Get-ProcRun: runs recorded as processed or archived, and whether their data still exists.
/// <c>Get-ProcRun -DataMissing</c> lists what Move-ArchivedRun would move (old code 4).
/// </summary>
[Cmdlet(VerbsCommon.Get, "ProcRun")]
[OutputType(typeof(RecordedRun))]
public sealed class GetProcRunCommand : RecordedRunCmdletBase
{
    private CatalogCache? _cache;

    /// <summary>Only records of this state (Processed or Archived).</summary>
    [Parameter]
    public RecordState? State { get; set; }

    /// <summary>Only runs recorded as processed whose data files are gone.</summary>
    [Parameter]
    public SwitchParameter DataMissing { get; set; }

    protected override void ProcessRecord()
    {
        if (!TryOpenFiltered(Experiment, Instrument, out var db, out var patterns, out var instruments))
            return;
        _cache ??= CatalogCache.ForConfig(Config);
        var catalog = new RunCatalog(Config, _cache);
        Guard(Experiment ?? (object)db.ProcessDirectory, $"Reading {db.ProcessDirectory}", () =>
        {
            var experiments = SelectRecordedExperiments(db, patterns, instruments);
            var progress = ScanProgressReporter();
            var runs = Run?.ToHashSet();
            for (var i = 0; i < experiments.Count; i++)
            {
                Cancel.ThrowIfCancellationRequested();
                progress.Report(new ScanProgress($"Reading {Process} records", experiments[i], i, experiments.Count));
                foreach (var rec in db.RecordedRuns(experiments[i], catalog, WriteDbWarning))
                {
                    if (runs is not null && !runs.Contains(rec.Run)) continue;
                    if (State is { } s && rec.State != s) continue;
                    if (DataMissing && (rec.State != RecordState.Processed || rec.DataExists)) continue;
                    WriteObject(rec);
                }
            }
        });
        CompleteProgress();
    }

    protected override void EndProcessing() => _cache?.Save(WriteVerbose);

    /// <summary>Recorded experiments matching the filters; an exact name without records is an error.</summary>
}
