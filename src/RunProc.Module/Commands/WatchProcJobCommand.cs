using System.Management.Automation;
using RunProc.Module.Completers;
using RunProc.Batch;

namespace RunProc.Module.Commands;

/// <summary>
/// Watch-ProcJob: polls jobs (from the pipeline, or every active job in the journals when run
/// alone; an empty pipeline watches nothing) until they
/// end, with one batched scheduler query per process and pass. Each pass appends the old status
/// line to each log, renames the log of an unsuccessful job with -&lt;STATUS&gt; and records the
/// state; each job is output when it ends. -Once makes a single pass and outputs every watched job.
/// Ctrl+C stops watching; everything seen so far is already recorded.
/// </summary>
[Cmdlet(VerbsCommon.Watch, "ProcJob", SupportsShouldProcess = true, DefaultParameterSetName = "Journal")]
[OutputType(typeof(ProcJob))]
public sealed class WatchProcJobCommand : BatchCmdletBase
{
    private readonly List<(string Process, string Experiment, string Name)> _input = new();

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ProcessNameCompleter))]
    public string? Process { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = "Job")]
    [ArgumentCompleter(typeof(ExperimentCompleter))]
    public string? Experiment { get; set; }

    /// <summary>Job names (from Submit-ProcJob / Get-ProcJob output).</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "Job")]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>One pass only (for cron): update every watched job once and output them.</summary>
    [Parameter]
    public SwitchParameter Once { get; set; }

    /// <summary>Seconds between passes (default: the process's PollSeconds).</summary>
    [Parameter]
    [ValidateRange(1, 86400)]
    public int PollSeconds { get; set; }

    private bool _received;

    protected override void ProcessRecord()
    {
        _received = true;
        if (ParameterSetName == "Job")
            foreach (var n in Name)
                _input.Add((ProcessOrDefault(Process), Experiment ?? "", n));
    }

    protected override void EndProcessing()
    {
        // Piped into with nothing coming (Submit-ProcJob submitted nothing): nothing to watch, not every job.
        if (MyInvocation.ExpectingInput && !_received)
        {
            WriteVerbose("No jobs came down the pipeline: nothing to watch (run Watch-ProcJob alone to watch every active job).");
            return;
        }
        var watcher = new JobWatcher();
        if (ParameterSetName == "Job")
        {
            foreach (var g in _input.GroupBy(i => i.Process, StringComparer.OrdinalIgnoreCase))
                if (Controller(g.Key) is { } c)
                    watcher.Add(c, g.Select(i => i.Name));
        }
        else
        {
            foreach (var p in string.IsNullOrEmpty(Process) ? Config.Processes.Keys.ToArray() : new[] { Process! })
                if (Controller(p) is { } c)
                    watcher.Add(c, null);
        }
        if (watcher.IsEmpty)
            return;
        // Jobs given by name that are unknown or already ended are reported at once.
        Write(watcher.CheckNames(), null);
        if (watcher.IsEmpty)
            return;
        if (!ShouldProcess(watcher.Description, "Poll the scheduler, append status lines to the logs and record job states"))
            return;
        var interval = PollSeconds > 0 ? TimeSpan.FromSeconds(PollSeconds) : watcher.DefaultInterval;
        var progress = new ProgressRecord(1, "Watch-ProcJob", "Polling");
        Write(watcher.Run(Once, interval, Cancel), progress);
        progress.RecordType = ProgressRecordType.Completed;
        WriteProgress(progress);
    }

    private void Write(IEnumerable<WatchEvent> events, ProgressRecord? progress)
    {
        foreach (var e in events)
        {
            switch (e.Kind)
            {
                case WatchEventKind.Job:
                    WriteObject(e.Job);
                    break;
                case WatchEventKind.NotFound:
                    WriteInputError(new ItemNotFoundException($"{e.Process}: no job named '{e.Message}' in the journals; see Get-ProcJob."), "JobNotFound", ErrorCategory.ObjectNotFound, e.Message);
                    break;
                case WatchEventKind.Problem:
                    WriteWarning($"{e.Process}: {e.Message}");
                    break;
                case WatchEventKind.Progress when progress is not null:
                    progress.StatusDescription = e.Message;
                    WriteProgress(progress);
                    break;
            }
        }
    }
}
