using System.Management.Automation;
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
}
