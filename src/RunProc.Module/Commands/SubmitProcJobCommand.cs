using System.Management.Automation;
using RunProc.Module.Completers;
using RunProc.Batch;

namespace RunProc.Module.Commands;

/// <summary>
/// Submit-ProcJob: submits the process's command for each run from the pipeline
/// (<c>Get-PendingRun -All | Submit-ProcJob</c>): creates the log, records the intent in the job
/// journal, appends the run to -proc-runs.txt and submits, exactly once. Runs over MaxJobs stay
/// pending for the next cycle (one warning says how many). Outputs the submitted jobs.
/// </summary>
[Cmdlet(VerbsLifecycle.Submit, "ProcJob", SupportsShouldProcess = true)]
[OutputType(typeof(ProcJob))]
public sealed class SubmitProcJobCommand : RunProcCmdlet
{
    // One controller and one submit session (which counts MaxJobs) per process of the pipeline.
    private readonly Dictionary<string, (BatchController Controller, SubmitSession Session)> _sessions = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The process (default pixel_status); an empty value from a catalog-only RunInfo means the default.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    [ArgumentCompleter(typeof(ProcessNameCompleter))]
    public string Process { get; set; } = "pixel_status";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ExperimentCompleter))]
    public string Experiment { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, RunProc.Names.MaxRun)]
    public int Run { get; set; }

    /// <summary>Most active jobs of the process, counting those already running (default: the process's MaxJobs).</summary>
    [Parameter]
    [ValidateRange(1, 100000)]
    public int MaxJobs { get; set; }

    /// <summary>Bound from Get-PendingRun output: a run that is not ready (a file in progress, not settled) is not submitted unless -Force.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, DontShow = true)]
    public bool Ready { get; set; } = true;

    /// <summary>Bound from Get-PendingRun output, for the message about a run that is not ready.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, DontShow = true)]
    public string? NotReadyReason { get; set; }

    /// <summary>Submit even if the run was processed, cancelled, used up its attempts or is not ready.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var process = string.IsNullOrEmpty(Process) ? "pixel_status" : Process;
        var target = $"{Experiment} run {Run}";
        BatchController controller;
        SubmitSession session;
        try
        {
            if (!_sessions.TryGetValue(process, out var s))
            {
                var c = BatchSupport.Controller(this, Config, process, "Submit-ProcJob", submits: true);
                _sessions[process] = s = (c, new SubmitSession(c, MyInvocation.BoundParameters.ContainsKey(nameof(MaxJobs)) ? MaxJobs : null));
            }
            (controller, session) = s;
        }
        catch (RunProc.Config.ConfigException ex)
        {
            WriteInputError(ex, "ProcessUnknown", ErrorCategory.ObjectNotFound, process);
            return;
        }
        if (!Ready && !Force)
        {
            WriteWarning($"{process}: {target} is not ready ({NotReadyReason ?? "files still being written or not settled"}); it is left for a later cycle. Use -Force to submit it now.");
            return;
        }
        try
        {
            var plan = session.Plan(Experiment, Run, Force);
            if (plan.Decision == SubmitDecision.Skipped)
            {
                WriteWarning($"{process}: {plan.Message}");
                return;
            }
            if (plan.Decision == SubmitDecision.Deferred)
                return;
            // The argv shown is the plan's, and the plan is what is submitted (same job name and log).
            var what = $"Submit {process} attempt {plan.Attempt} to {controller.Process.Scheduler}: {CommandTemplate.Display(plan.Argv)}"
                + (plan.MergeArgv.Count > 0 ? $"; then the merge of its {controller.Process.Parts} parts: {CommandTemplate.Display(plan.MergeArgv)}" : "");
            var action = $"Performing the operation \"{what}\" on target \"{target}\".";
            if (!ShouldProcess(action, $"Are you sure you want to perform this action?\n{action}", "Confirm", out var reason))
            {
                if (reason == ShouldProcessReason.WhatIf)
                    session.ShownOnly(plan);
                return;
            }
            var outcome = session.Submit(plan, Cancel);
            switch (outcome.Decision)
            {
                case SubmitDecision.Submitted:
                    WriteVerbose($"{target}: {CommandTemplate.Display(outcome.Argv)}");
                    WriteObject(outcome.Job);
                    break;
                case SubmitDecision.Skipped:
                    WriteWarning($"{process}: {outcome.Message}");
                    break;
                case SubmitDecision.Failed:
                    WriteInputError(outcome.Error ?? new InvalidOperationException(outcome.Message), "SubmitFailed", ErrorCategory.ResourceUnavailable,
                        target, "Check the scheduler (sinfo / bqueues) and the log; the run is submitted again by the next Invoke-ProcCycle.");
                    if (outcome.Job is not null)
                        WriteObject(outcome.Job);
                    break;
            }
        }
        catch (ArgumentException ex)
        {
            WriteInputError(ex, "InvalidRun", ErrorCategory.InvalidArgument, target);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or TimeoutException)
        {
            WriteInputError(ex, "SubmitIOError", ErrorCategory.WriteError, target, "Check that the DbRoot is writable and no other RunProc holds its lock.");
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
    }

    protected override void EndProcessing()
    {
        foreach (var (process, (_, session)) in _sessions)
            if (session.Deferred > 0)
                WriteWarning($"{session.Deferred} run(s) of {process} stay pending for the next cycle: {session.DeferReason}.");
    }
}
