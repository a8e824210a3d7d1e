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

    /// <summary>
    /// -WhatIf: each run the cycle would submit now, as Submit-ProcJob -WhatIf shows it (attempt,
    /// scheduler, argv), within MaxJobs; the runs it would leave for a later cycle; the active jobs it
    /// would reconcile. Nothing is locked, submitted or written to the DB.
    /// </summary>
    private void ShowCycle(BatchController controller)
    {
        var def = controller.Process;
        var active = controller.ActiveCount();
        WhatIf($"Reconcile {active} active job(s) of {def.Name} with {def.Scheduler}", def.Name);
        var session = new SubmitSession(controller, MaxJobs > 0 ? MaxJobs : null);
        int shown = 0, deferred = 0;
        foreach (var (exp, run, retry) in controller.CycleWork(Cancel, problem => WriteWarning($"{def.Name}: {problem}")))
        {
            Cancel.ThrowIfCancellationRequested();
            var plan = session.Plan(exp, run, force: false);
            switch (plan.Decision)
            {
                case SubmitDecision.Deferred:
                    deferred++;
                    continue;
                case SubmitDecision.Skipped:
                    WriteVerbose($"{def.Name}: {plan.Message}");
                    continue;
            }
            WhatIf($"Submit {def.Name} attempt {plan.Attempt}{(retry ? " (a retry)" : "")} to {def.Scheduler}: {CommandTemplate.Display(plan.Argv)}"
                + (plan.MergeArgv.Count > 0 ? $"; then the merge of its {def.Parts} parts: {CommandTemplate.Display(plan.MergeArgv)}" : ""), $"{exp} run {run}");
            session.ShownOnly(plan);
            shown++;
        }
        if (deferred > 0)
            WhatIf($"Leave {deferred} ready run(s) pending for a later cycle (MaxJobs {(MaxJobs > 0 ? MaxJobs : def.MaxJobs)}, {active} active)", def.Name);
        if (shown == 0 && deferred == 0)
            WhatIf("Submit nothing: no ready pending run and no retry", def.Name);
    }

    /// <summary>One "What if:" line (ShouldProcess under -WhatIf writes it and returns false).</summary>
    private void WhatIf(string what, string target)
    {
        var line = $"Performing the operation \"{what}\" on target \"{target}\".";
        ShouldProcess(line, line, "WhatIf", out _);
    }

    protected override void ProcessRecord()
    {
        if (Controller(Process) is not { } controller)
            return;
        var def = controller.Process;
        var target = $"process {def.Name} ({def.Scheduler}, MaxJobs {(MaxJobs > 0 ? MaxJobs : def.MaxJobs)})";
        var action = $"Performing the operation \"Reconcile active jobs, retry failed runs and submit ready pending runs\" on target \"{target}\".";
        if (!ShouldProcess(action, $"Are you sure you want to perform this action?\n{action}", "Confirm", out var reason))
        {
            if (reason == ShouldProcessReason.WhatIf)
                Guard(def.Name, $"The cycle of {def.Name} (-WhatIf)", () => ShowCycle(controller));
            return;
        }
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
