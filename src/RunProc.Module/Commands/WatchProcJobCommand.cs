using System.Management.Automation;
using RunProc.Module.Completers;
using RunProc.Batch;
using JobState = RunProc.Batch.JobState;

namespace RunProc.Module.Commands;

/// <summary>
/// Watch-ProcJob: polls jobs (from the pipeline, or every active job in the journals) until they
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

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Job")
            foreach (var n in Name)
                _input.Add((ProcessOrDefault(Process), Experiment ?? "", n));
    }

    protected override void EndProcessing()
    {
        // Which jobs, per process.
        var watch = new Dictionary<string, HashSet<string>?>(StringComparer.OrdinalIgnoreCase);
        if (ParameterSetName == "Job")
        {
            foreach (var (p, _, n) in _input)
            {
                if (!watch.TryGetValue(p, out var set) || set is null)
                    watch[p] = set = new HashSet<string>(StringComparer.Ordinal);
                set.Add(n);
            }
        }
        else
        {
            foreach (var p in string.IsNullOrEmpty(Process) ? Config.Processes.Keys.ToArray() : new[] { Process! })
                watch[p] = null;
        }

        var controllers = new Dictionary<string, BatchController>(StringComparer.OrdinalIgnoreCase);
        foreach (var p in watch.Keys.ToList())
        {
            if (Controller(p) is { } c)
                controllers[p] = c;
            else
                watch.Remove(p);
        }
        if (watch.Count == 0)
            return;

        // Jobs given by name that are unknown or already ended are reported at once.
        foreach (var (p, set) in watch.Where(w => w.Value is not null).ToList())
        {
            var known = controllers[p].Jobs().ToDictionary(j => j.Name, StringComparer.Ordinal);
            var names = set!;
            foreach (var n in names.ToList())
            {
                if (!known.TryGetValue(n, out var j))
                {
                    WriteInputError(new ItemNotFoundException($"{p}: no job named '{n}' in the journals; see Get-ProcJob."), "JobNotFound", ErrorCategory.ObjectNotFound, n);
                    names.Remove(n);
                }
                else if (!j.State.IsActive())
                {
                    WriteObject(j);
                    names.Remove(n);
                }
            }
            if (names.Count == 0)
                watch.Remove(p);
        }
        if (watch.Count == 0)
            return;

        var what = string.Join(", ", watch.Select(w => w.Value is null ? $"every active {w.Key} job" : $"{w.Value.Count} {w.Key} job(s)"));
        if (!ShouldProcess(what, "Poll the scheduler, append status lines to the logs and record job states"))
            return;

        var interval = PollSeconds > 0 ? PollSeconds : watch.Keys.Min(p => controllers[p].Process.PollSeconds);
        var progress = new ProgressRecord(1, "Watch-ProcJob", "Polling");
        var pass = 0;
        try
        {
            while (true)
            {
                pass++;
                var stillActive = 0;
                var counts = new Dictionary<JobState, int>();
                foreach (var (p, set) in watch.ToList())
                {
                    var r = controllers[p].Reconcile(Cancel, set);
                    var watched = set;
                    foreach (var msg in r.Problems)
                        WriteWarning($"{p}: {msg}");
                    foreach (var j in r.Jobs.Concat(r.Finished).GroupBy(j => j.Name).Select(g => g.Last()))
                    {
                        counts[j.State] = counts.GetValueOrDefault(j.State) + 1;
                        if (Once || j.State.IsFinal())
                            WriteObject(j);
                        if (j.State.IsActive()) stillActive++;
                        else watched?.Remove(j.Name);
                    }
                    if (watched is not null && watched.Count == 0)
                        watch.Remove(p);
                }
                if (Once || stillActive == 0 || watch.Count == 0)
                    break;
                progress.StatusDescription = $"pass {pass}: {stillActive} active (" + string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Value} {c.Key}")) + $"); next poll in {interval} s";
                WriteProgress(progress);
                if (Cancel.WaitHandle.WaitOne(TimeSpan.FromSeconds(interval)))
                    break;
            }
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C: every pass is recorded as it happens; nothing to undo.
        }
        progress.RecordType = ProgressRecordType.Completed;
        WriteProgress(progress);
    }
}
