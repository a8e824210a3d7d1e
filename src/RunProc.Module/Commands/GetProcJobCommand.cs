using System.Management.Automation;
using RunProc.Module.Completers;
using RunProc.Batch;
using JobState = RunProc.Batch.JobState;

namespace RunProc.Module.Commands;

/// <summary>Get-ProcJob: the jobs of the job journals (every attempt of every run), filtered by state, experiment, run or name.</summary>
[Cmdlet(VerbsCommon.Get, "ProcJob")]
[OutputType(typeof(ProcJob))]
public sealed class GetProcJobCommand : BatchCmdletBase
{
    /// <summary>Processes to list (default: every configured process).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ProcessNameCompleter))]
    public string[]? Process { get; set; }

    /// <summary>Experiment names; wildcards allowed.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ExperimentCompleter))]
    public string[]? Experiment { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, Names.MaxRun)]
    public int[]? Run { get; set; }

    [Parameter]
    public JobState[]? State { get; set; }

    /// <summary>Only jobs that are still active (Submitting, Pending, Running, Suspended).</summary>
    [Parameter]
    public SwitchParameter Active { get; set; }

    /// <summary>Only the latest attempt of each run.</summary>
    [Parameter]
    public SwitchParameter Latest { get; set; }

    protected override void ProcessRecord()
    {
        var processes = Process is { Length: > 0 } ? Process : Config.Processes.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        var patterns = Experiment?.Select(e => new WildcardPattern(e, WildcardOptions.IgnoreCase)).ToList();
        foreach (var p in processes)
        {
            if (Controller(p) is not { } c)
                continue;
            IEnumerable<ProcJob> jobs = c.Jobs();
            if (patterns is not null) jobs = jobs.Where(j => patterns.Any(w => w.IsMatch(j.Experiment)));
            if (Run is { Length: > 0 }) jobs = jobs.Where(j => Run.Contains(j.Run));
            if (Latest) jobs = jobs.GroupBy(j => (j.Experiment, j.Run)).Select(g => g.Last());
            if (State is { Length: > 0 }) jobs = jobs.Where(j => State.Contains(j.State));
            if (Active) jobs = jobs.Where(j => j.State.IsActive());
            foreach (var j in jobs)
                WriteObject(j);
        }
    }
}
