using System.Management.Automation;
using RunProc.Db;
using RunProc.Module.Completers;

namespace RunProc.Module.Commands;

/// <summary>
/// Remove-ProcExperiment: takes experiments out of control (rewrites experiments.txt atomically
/// without their lines; comments and every other line stay). Records and data are not touched.
/// Wildcards match the experiments under control.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "ProcExperiment", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class RemoveProcExperimentCommand : CatalogCmdletBase
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ExperimentCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Experiment { get; set; } = Array.Empty<string>();


    protected override void ProcessRecord()
    {
        var db = OpenDb(Process);
        if (db is null)
            return;
        var patterns = ValidExperiments(Experiment, allowWildcards: true);
        if (patterns.Count == 0)
            return;
        IReadOnlyList<string> listed = Array.Empty<string>();
        if (!Guard(db.ExperimentListFile, $"Reading {db.ExperimentListFile}", () => listed = db.ReadExperimentList(WriteDbWarning)))
            return;
        var remove = new List<string>();
        foreach (var p in patterns)
        {
            var matches = listed.Where(e => Wildcard.IsMatch(e, p)).ToList();
            if (matches.Count == 0 && !Wildcard.Has(p))
                WriteInputError(new ItemNotFoundException($"{p} is not under control for {db.Process} (not in {db.ExperimentListFile})."),
                    "ExperimentNotUnderControl", ErrorCategory.ObjectNotFound, p);
            foreach (var exp in matches)
                if (!remove.Contains(exp) && ShouldProcess($"{exp} ({db.Process})", $"Remove '{exp}' from {db.ExperimentListFile}"))
                    remove.Add(exp);
        }
        if (remove.Count == 0)
            return;
        Guard(remove.Count == 1 ? remove[0] : remove, $"Rewriting {db.ExperimentListFile}", () =>
        {
            var removed = db.RemoveExperiments(remove);
            WriteVerbose($"Removed {string.Join(", ", removed)} from {db.ExperimentListFile}.");
        });
    }
}
