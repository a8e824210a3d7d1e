using System.Management.Automation;
using RunProc.Module.Completers;
using RunProc.Batch;

namespace RunProc.Module.Commands;

/// <summary>Stop-ProcJob: cancels active jobs (scancel / bkill / the local process group). The next pass records them as Cancelled.</summary>
[Cmdlet(VerbsLifecycle.Stop, "ProcJob", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ProcJob))]
public sealed class StopProcJobCommand : BatchCmdletBase
{
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ProcessNameCompleter))]
    public string Process { get; set; } = "";

    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ExperimentCompleter))]
    public string Experiment { get; set; } = "";

    /// <summary>The job name (from Get-ProcJob / Submit-ProcJob output).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    public string Name { get; set; } = "";

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (Controller(Process) is not { } c)
            return;
        ProcJob? job;
        try { job = c.Jobs(Experiment).FirstOrDefault(j => j.Name == Name); }
        catch (ArgumentException ex)
        {
            WriteInputError(ex, "InvalidExperimentName", ErrorCategory.InvalidArgument, Experiment);
            return;
        }
        if (job is null)
        {
            WriteInputError(new ItemNotFoundException($"{Process}: {Experiment} has no job named '{Name}'; see Get-ProcJob -Experiment {Experiment}."),
                "JobNotFound", ErrorCategory.ObjectNotFound, Name);
            return;
        }
        if (!job.State.IsActive())
        {
            WriteWarning($"{job}: already ended, nothing to stop.");
            return;
        }
        if (!ShouldProcess($"{Experiment} run {job.Run} job {(job.JobId.Length > 0 ? job.JobId : Name)} ({job.Scheduler})", "Cancel the job"))
            return;
        try
        {
            var cancelled = c.Cancel(Experiment, Name, Cancel);
            if (PassThru)
                WriteObject(cancelled);
        }
        catch (SchedulerException ex)
        {
            WriteInputError(ex, "CancelFailed", ErrorCategory.ResourceUnavailable, job, "The job may have ended already; run Watch-ProcJob -Once to update its state.");
        }
        catch (InvalidOperationException ex)
        {
            WriteWarning(ex.Message);
        }
    }
}
