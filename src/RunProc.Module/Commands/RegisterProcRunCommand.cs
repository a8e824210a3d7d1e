using System.Management.Automation;
using RunProc.Catalog;
using RunProc.Db;
using RunProc.Module.Completers;

namespace RunProc.Module.Commands;

/// <summary>
/// Register-ProcRun: records runs as processed without running anything (old codes 10/20):
/// <c>Get-PendingRun -All | Register-ProcRun</c>. Runs already recorded are skipped with a warning.
/// </summary>
[Cmdlet(VerbsLifecycle.Register, "ProcRun", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(RecordedRun))]
public sealed class RegisterProcRunCommand : CatalogCmdletBase
{
    private readonly List<int> _batch = new();
    private (ProcDb Db, string Experiment)? _batchKey;
    private HashSet<int>? _done;

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ExperimentCompleter))]
    [ValidateNotNullOrEmpty]
    public string Experiment { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, Names.MaxRun)]
    public int[] Run { get; set; } = Array.Empty<int>();


    /// <summary>The cmd: field of the record (the old tool wrote its program name).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Command { get; set; } = "Register-ProcRun";

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Record runs of an experiment that is not in the catalog (no data directory under any configured instrument).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    private readonly HashSet<string> _inCatalog = new(StringComparer.Ordinal);

    protected override void ProcessRecord()
    {
        if (ValidExperiments(new[] { Experiment }, allowWildcards: false).Count == 0)
            return;
        if (!Force && !_inCatalog.Contains(Experiment))
        {
            // A typo would otherwise create the records (and directories) of an experiment that does not exist.
            var catalog = new RunCatalog(Config);
            if (!Config.TryInstrumentOf(Experiment, out _, out var unmapped))
            {
                WriteInputError(new ArgumentException(unmapped), "ExperimentUnmapped", ErrorCategory.InvalidArgument, Experiment);
                return;
            }
            if (!catalog.ExperimentExists(Experiment))
            {
                WriteInputError(new ItemNotFoundException(
                        $"Experiment {Experiment} is not in the catalog: no directory {Path.Join(Config.DataRoot, catalog.InstrumentOf(Experiment), Experiment)} (instruments {string.Join(", ", Config.Instruments)}) of {Config.SourcePath}."),
                    "ExperimentNotInCatalog", ErrorCategory.ObjectNotFound, Experiment, "Check the name; use -Force to record its runs anyway.");
                return;
            }
            _inCatalog.Add(Experiment);
        }
        if (_batchKey is { } k && (k.Db.Process != Process || k.Experiment != Experiment))
            Flush();
        if (_batchKey is null)
        {
            var db = OpenDb(Process);
            if (db is null)
                return;
            _batchKey = (db, Experiment);
            _done = null;
            if (!Guard(Experiment, $"Reading {db.ProcessedFile(Experiment)}", () => _done = db.ReadDoneRuns(Experiment, WriteDbWarning)))
            {
                _batchKey = null;
                return;
            }
        }
        var (pdb, exp) = _batchKey.Value;
        var file = pdb.ProcessedFile(exp);
        foreach (var run in Run)
        {
            if (_done!.Contains(run) || _batch.Contains(run))
            {
                WriteWarning($"{exp} run {run} is already recorded as processed for {pdb.Process} ({file}); not recorded again.");
                continue;
            }
            var line = ProcRecord.Format(run, DateTime.Now, Environment.UserName, Environment.MachineName, CurrentDirectory, Command);
            if (ShouldProcess($"{RunInfo.DataSetNameOf(exp, run)} ({pdb.Process})", $"Append '{line}' to {file}"))
                _batch.Add(run);
        }
    }

    protected override void EndProcessing() => Flush();

    private string CurrentDirectory => SessionState.Path.CurrentFileSystemLocation.ProviderPath;

    private void Flush()
    {
        if (_batchKey is not { } key)
            return;
        _batchKey = null;
        if (_batch.Count == 0)
            return;
        var runs = _batch.ToList();
        _batch.Clear();
        IReadOnlyList<int> added = Array.Empty<int>();
        if (!Guard(key.Experiment, $"Recording runs of {key.Experiment} in {key.Db.ProcessedFile(key.Experiment)}",
                () => added = key.Db.AppendProcessed(key.Experiment, runs, Command, null, CurrentDirectory)))
            return;
        foreach (var r in runs.Except(added))
            WriteWarning($"{key.Experiment} run {r} was recorded by another writer meanwhile; not recorded again.");
        WriteVerbose($"Recorded {added.Count} run(s) of {key.Experiment} in {key.Db.ProcessedFile(key.Experiment)}.");
        if (!PassThru || added.Count == 0)
            return;
        Guard(key.Experiment, "Reading back the records", () =>
        {
            var catalog = new RunCatalog(Config);
            var set = added.ToHashSet();
            foreach (var rec in key.Db.RecordedRuns(key.Experiment, catalog, WriteDbWarning))
                if (rec.State == RecordState.Processed && set.Contains(rec.Run))
                    WriteObject(rec);
        });
    }
}
