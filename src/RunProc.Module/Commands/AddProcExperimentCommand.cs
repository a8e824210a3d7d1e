using System.Management.Automation;
using RunProc.Catalog;
using RunProc.Db;
using RunProc.Module.Completers;

namespace RunProc.Module.Commands;

/// <summary>Add-ProcExperiment: puts experiments under control (appends them to experiments.txt; other lines and comments stay).</summary>
[Cmdlet(VerbsCommon.Add, "ProcExperiment", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ExperimentStatus))]
public sealed class AddProcExperimentCommand : CatalogCmdletBase
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ExperimentCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Experiment { get; set; } = Array.Empty<string>();


    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var db = OpenDb(Process);
        if (db is null)
            return;
        var names = ValidExperiments(Experiment, allowWildcards: false);
        if (names.Count == 0)
            return;
        IReadOnlyList<string> listed = Array.Empty<string>();
        if (!Guard(db.ExperimentListFile, $"Reading {db.ExperimentListFile}", () => listed = db.ReadExperimentList(WriteDbWarning)))
            return;
        var catalog = new RunCatalog(Config);
        var add = new List<string>();
        foreach (var exp in names)
        {
            if (listed.Contains(exp) || add.Contains(exp))
            {
                WriteWarning($"{exp} is already under control for {db.Process} ({db.ExperimentListFile}).");
                continue;
            }
            if (!catalog.ExperimentExists(exp))
                WriteWarning($"{exp} has no directory under {Config.DataRoot} yet (instruments {string.Join(", ", Config.Instruments)}); it is added anyway and will be scanned once its data appears.");
            if (ShouldProcess($"{exp} ({db.Process})", $"Append '{exp}' to {db.ExperimentListFile}"))
                add.Add(exp);
        }
        if (add.Count == 0)
            return;
        IReadOnlyList<string> added = Array.Empty<string>();
        if (!Guard(add.Count == 1 ? add[0] : add, $"Adding to {db.ExperimentListFile}", () => added = db.AddExperiments(add, WriteDbWarning)))
            return;
        WriteVerbose($"Added {string.Join(", ", added)} to {db.ExperimentListFile}.");
        if (PassThru && added.Count > 0)
            Guard(added, "Counting runs", () =>
            {
                foreach (var s in new RunScan(db).Counts(new RunScanQuery { Experiments = added.ToList(), Cancel = Cancel }, WriteDbWarning))
                    WriteObject(s);
            });
    }
}
