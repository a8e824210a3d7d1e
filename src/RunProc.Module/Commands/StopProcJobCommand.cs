using System.Management.Automation;
using RunProc.Module.Completers;
using RunProc.Batch;

namespace RunProc.Module.Commands;

/// <summary>
/// Stop-ProcJob: cancels active jobs (scancel / bkill / the local process group), then watches them
/// for up to -WaitSeconds so they are recorded as Cancelled at once (log renamed -CANCELLED), not at
/// the next Watch-ProcJob or cycle. A job the scheduler has not ended by then is warned about; the
/// next pass records it. -PassThru outputs the jobs as they are then.
/// </summary>
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

    /// <summary>Seconds to wait for the scheduler to end the cancelled jobs and record them (0: do not wait).</summary>
    [Parameter]
    [ValidateRange(0, 3600)]
    public int WaitSeconds { get; set; } = 10;

    // The jobs cancelled, per process, to watch until they end.
    private readonly Dictionary<string, (BatchController Controller, List<ProcJob> Jobs)> _cancelled = new(StringComparer.OrdinalIgnoreCase);

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
            if (!_cancelled.TryGetValue(c.Process.Name, out var list))
                _cancelled[c.Process.Name] = list = (c, new List<ProcJob>());
            list.Jobs.Add(cancelled);
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

    protected override void EndProcessing()
    {
        if (_cancelled.Count == 0)
            return;
        var watcher = new JobWatcher();
        foreach (var (c, jobs) in _cancelled.Values)
            watcher.Add(c, jobs.Select(j => j.Name));
        var ended = new Dictionary<string, ProcJob>(StringComparer.Ordinal);
        if (WaitSeconds > 0)
        {
            foreach (var e in watcher.Run(once: false, TimeSpan.FromMilliseconds(500), Cancel, TimeSpan.FromSeconds(WaitSeconds)))
            {
                if (e.Kind == WatchEventKind.Job && e.Job is { } j)
                    ended[j.Name] = j;
                else if (e.Kind == WatchEventKind.Problem)
                    WriteWarning($"{e.Process}: {e.Message}");
            }
        }
        foreach (var (c, jobs) in _cancelled.Values)
        {
            foreach (var asked in jobs)
            {
                var now = ended.GetValueOrDefault(asked.Name) ?? c.Jobs(asked.Experiment).FirstOrDefault(j => j.Name == asked.Name) ?? asked;
                var what = $"{now.Process} {now.Experiment} run {now.Run} attempt {now.Attempt}{(now.JobId.Length > 0 ? " (job " + now.JobId + ")" : "")}";
                if (now.State.IsActive())
                    WriteWarning(WaitSeconds > 0
                        ? $"{what}: cancel requested, but after {WaitSeconds} s it is still {now.State}; Watch-ProcJob (or the next cycle) records it when it ends."
                        : $"{what}: cancel requested; Watch-ProcJob (or the next cycle) records it when it ends.");
                else
                    WriteVerbose($"{what}: {now.State}.");
                if (PassThru)
                    WriteObject(now);
            }
        }
    }
}
