using System.Management.Automation;
using RunProc.Db;
using RunProc.Module.Completers;

namespace RunProc.Module.Commands;

/// <summary>
/// Get-ProcExperiment: experiments with run, processed, pending and archived counts (old codes 0/3);
/// -Summary gives per-instrument rows and a total row (old code 5). Default: every experiment of
/// every configured instrument (and experiments with records whose data is gone); -UnderControl:
/// only those in experiments.txt.
/// </summary>
[Cmdlet(VerbsCommon.Get, "ProcExperiment")]
[OutputType(typeof(ExperimentStatus), typeof(InstrumentSummary))]
public sealed class GetProcExperimentCommand : CatalogCmdletBase
{
    private readonly List<ExperimentStatus> _all = new();

    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ExperimentCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Experiment { get; set; }


    [Parameter]
    [ArgumentCompleter(typeof(InstrumentCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Instrument { get; set; }

    /// <summary>Only experiments in experiments.txt.</summary>
    [Parameter]
    public SwitchParameter UnderControl { get; set; }

    /// <summary>Per-instrument statistics and a total row instead of one row per experiment.</summary>
    [Parameter]
    public SwitchParameter Summary { get; set; }

    /// <summary>Stat every run file for Bytes and LastWriteTime (else recorded runs are counted from the listing alone).</summary>
    [Parameter]
    public SwitchParameter Size { get; set; }

    [Parameter]
    public SwitchParameter NoCache { get; set; }

    protected override void ProcessRecord()
    {
        if (!TryOpenFiltered(Experiment, Instrument, out var db, out var experiments, out var instruments))
            return;
        var query = new RunScanQuery
        {
            All = !UnderControl,
            Experiments = experiments.Count > 0 ? experiments : null,
            Instruments = instruments.Count > 0 ? instruments : null,
            UseCache = !NoCache,
            Sizes = Size,
            Cancel = Cancel,
            Verbose = VerboseSink(),
        };
        Guard((object?)Experiment ?? db.ProcessDirectory, $"Counting {Process} runs", () =>
        {
            foreach (var s in new RunScan(db).Counts(query, WriteDbWarning, ScanProgressReporter()))
            {
                if (UnderControl && !s.UnderControl)
                    continue;
                if (Summary)
                    _all.Add(s);
                else
                    WriteObject(s);
            }
        });
        CompleteProgress();
    }

    protected override void EndProcessing()
    {
        if (!Summary)
            return;
        foreach (var process in _all.Select(s => s.Process).DefaultIfEmpty(Process).Distinct())
            foreach (var row in InstrumentSummary.FromExperiments(process, _all.Where(s => s.Process == process), Config.Instruments))
                WriteObject(row);
    }
}
