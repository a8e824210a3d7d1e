using System.Management.Automation;
using RunProc.Db;
using RunProc.Module.Completers;

namespace RunProc.Module.Commands;

/// <summary>
/// The run selection of the cmdlets over recorded runs (Get-ProcRun, Move-ArchivedRun):
/// experiments and runs by position or by property name from the pipeline, instruments by name.
/// </summary>
public abstract class RecordedRunCmdletBase : CatalogCmdletBase
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ExperimentCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Experiment { get; set; }

    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, Names.MaxRun)]
    public int[]? Run { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(InstrumentCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Instrument { get; set; }

    /// <summary>The experiments with records for the process that match the filters; a named experiment without records is reported.</summary>
    protected List<string> SelectRecordedExperiments(ProcDb db, List<string> patterns, List<string> instruments)
    {
        var recorded = db.RecordedExperiments();
        var selected = patterns.Count == 0
            ? recorded.ToList()
            : recorded.Where(e => patterns.Any(p => Wildcard.IsMatch(e, p))).ToList();
        foreach (var p in patterns.Where(p => !Wildcard.Has(p) && !recorded.Contains(p)))
            WriteInputError(new ItemNotFoundException($"Experiment {p} has no records for process {db.Process} (no {db.ProcessedFile(p)} or archive file)."),
                "ExperimentNotRecorded", ErrorCategory.ObjectNotFound, p);
        if (instruments.Count > 0)
            selected = selected.Where(e => instruments.Any(i => Wildcard.IsMatch(db.Config.InstrumentOf(e), i))).ToList();
        return selected;
    }
}
