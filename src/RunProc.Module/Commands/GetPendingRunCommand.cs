using System.Management.Automation;
using RunProc.Catalog;
using RunProc.Db;
using RunProc.Module.Completers;

namespace RunProc.Module.Commands;

/// <summary>
/// Get-PendingRun: ready runs on disk that are not recorded as processed (old codes 1 and 2).
/// Default: experiments in experiments.txt (LIST); -All: every experiment of every configured
/// instrument; -Experiment: the named experiments (wildcards allowed), under control or not.
/// </summary>
[Cmdlet(VerbsCommon.Get, "PendingRun")]
[OutputType(typeof(RunInfo))]
public sealed class GetPendingRunCommand : CatalogCmdletBase
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ExperimentCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Experiment { get; set; }


    /// <summary>Every experiment of every configured instrument, not only those in experiments.txt.</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(InstrumentCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Instrument { get; set; }

    /// <summary>Also runs still being written or not yet settled (Ready = $false, with NotReadyReason).</summary>
    [Parameter]
    public SwitchParameter IncludeNotReady { get; set; }

    /// <summary>List every run directory; neither use nor update the incremental scan cache.</summary>
    [Parameter]
    public SwitchParameter NoCache { get; set; }

    protected override void ProcessRecord()
    {
        if (!TryOpenFiltered(Experiment, Instrument, out var db, out var experiments, out var instruments))
            return;
        var query = new RunScanQuery
        {
            All = All,
            Experiments = experiments.Count > 0 ? experiments : null,
            Instruments = instruments.Count > 0 ? instruments : null,
            IncludeNotReady = IncludeNotReady,
            UseCache = !NoCache,
            Cancel = Cancel,
            Verbose = VerboseSink(),
        };
        if (!All && Experiment is null && !File.Exists(db.ExperimentListFile))
            WriteWarning($"No experiments are under control for {db.Process}: {db.ExperimentListFile} does not exist. Add some with Add-ProcExperiment, or use -All or -Experiment.");
        var target = (object?)Experiment ?? (All ? "-All" : db.ExperimentListFile);
        Guard(target, $"Scanning {Process} runs", () =>
        {
            foreach (var run in new RunScan(db).EnumeratePending(query, WriteDbWarning, ScanProgressReporter()))
                WriteObject(run);
        });
        CompleteProgress();
    }
}
