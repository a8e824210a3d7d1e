using System.Management.Automation;
using RunProc.Batch;
using RunProc.Config;
using RunProc.Db;

namespace RunProc.Module.Commands;

/// <summary>
/// Shared plumbing of the batch cmdlets (jobs, cycle, report, schedule): the process check they
/// share with the catalog cmdlets (<see cref="RunProcCmdlet.CheckProcess"/>, which here also needs
/// the process configured) and one <see cref="BatchController"/> per process and pipeline.
/// </summary>
public abstract class BatchCmdletBase : RunProcCmdlet
{
    private readonly Dictionary<string, BatchController?> _controllers = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>True where the cmdlet's controller starts jobs, so the module is pinned (staged if need be) first.</summary>
    protected virtual bool Submits => false;

    /// <summary>Which experiments a cycle scans for pending runs (default: experiments.txt, the old LIST mode).</summary>
    protected virtual RunScanQuery PendingScan(CancellationToken cancel) => new() { Cancel = cancel };

    /// <summary>The configured definition of <paramref name="process"/>, or null after InvalidProcessName / ProcessNotFound.</summary>
    protected ProcessDefinition? ProcessDefinitionOf(string process) =>
        CheckProcess(process, configured: true) ? Config.GetProcess(process) : null;

    /// <summary>The controller of <paramref name="process"/>, built once per pipeline; null once its error is reported.</summary>
    protected BatchController? Controller(string process)
    {
        if (_controllers.TryGetValue(process, out var c))
            return c;
        return _controllers[process] = ProcessDefinitionOf(process) is { } def
            ? BatchSupport.Controller(this, Config, def, MyInvocation.MyCommand.Name, Submits, PendingScan)
            : null;
    }
}
