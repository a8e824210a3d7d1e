using System.Management.Automation;
using RunProc.Module.Completers;
using RunProc.Batch;
using RunProc.Db;

namespace RunProc.Module.Commands;

/// <summary>
/// Invoke-ProcCycle: one cron cycle of a process: takes the process's cycle lock (if another cycle
/// holds it, returns at once saying so), reconciles the active jobs, retries failed runs and
/// submits ready pending runs within MaxJobs. Returns a summary. Archiving stays Move-ArchivedRun.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "ProcCycle", SupportsShouldProcess = true)]
[OutputType(typeof(ProcCycleSummary))]
public sealed class InvokeProcCycleCommand : BatchCmdletBase
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ProcessNameCompleter))]
    public string Process { get; set; } = DefaultProcess;

    /// <summary>Every experiment of every instrument (old mode ALL) instead of those in experiments.txt.</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    [Parameter]
    [ValidateRange(1, 100000)]
    public int MaxJobs { get; set; }

    /// <summary>Refresh the HTML run report in this folder after the cycle (default: the process's ReportPath setting).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ReportPath { get; set; }

    protected override bool Submits => true;

    // -All: every experiment of every instrument (old mode ALL).
    protected override RunScanQuery PendingScan(CancellationToken cancel) => new() { All = All.IsPresent, Cancel = cancel };

    protected override void ProcessRecord()
    {
        if (Controller(Process) is not { } controller)
            return;
        var def = controller.Process;
        if (!ShouldProcess($"process {def.Name} ({def.Scheduler}, MaxJobs {(MaxJobs > 0 ? MaxJobs : def.MaxJobs)})",
                "Reconcile active jobs, retry failed runs and submit ready pending runs"))
            return;
        Guard(def.Name, $"The cycle of {def.Name}", () =>
        {
            var s = controller.RunCycle(Cancel, MaxJobs > 0 ? MaxJobs : null);
            foreach (var p in s.Problems)
                WriteWarning($"{def.Name}: {p}");
            if (s.Deferred > 0)
                WriteWarning($"{def.Name}: {s.Deferred} run(s) stay pending for the next cycle (MaxJobs {(MaxJobs > 0 ? MaxJobs : def.MaxJobs)} reached).");
            WriteObject(s);
            var report = ReportPath is not null ? GetUnresolvedProviderPathFromPSPath(ReportPath) : def.ReportPath;
            if (s.Ran && report.Length > 0)
            {
                // A report that cannot be written is worth a warning, not a failed cycle.
                try { new RunProc.Reports.ProcReport(Config, def.Name).Write(report, Cancel); }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    WriteWarning($"{def.Name}: the HTML report in {report} was not refreshed: {ex.Message}");
                }
            }
            // An error record makes the cron entry exit non-zero, so cron reports a cycle that went wrong.
            if (s.Errors > 0)
                WriteError(new ErrorRecord(new InvalidOperationException($"{def.Name}: the cycle had {s.Errors} error(s); the warnings above say which and what to do."),
                    "CycleHadErrors", ErrorCategory.NotSpecified, def.Name));
        });
    }
}
