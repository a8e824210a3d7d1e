using System.Management.Automation;
using RunProc.Module.Completers;
using RunProc.Batch;

namespace RunProc.Module.Commands;

/// <summary>Unregister-ProcSchedule: removes the process's crontab entry for this config; other entries are left as they are.</summary>
[Cmdlet(VerbsLifecycle.Unregister, "ProcSchedule", SupportsShouldProcess = true)]
public sealed class UnregisterProcScheduleCommand : BatchCmdletBase
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ProcessNameCompleter))]
    public string Process { get; set; } = DefaultProcess;

    protected override void ProcessRecord()
    {
        var marker = CronTable.Marker(RunProc.Names.Process(Process), Config.SourcePath);
        try
        {
            var current = CronTable.Read(Cancel);
            var lines = CronTable.Find(current, marker);
            if (lines.Count == 0)
            {
                WriteWarning($"the crontab of {Environment.UserName} has no {Process} entry for {Config.SourcePath}.");
                return;
            }
            if (!ShouldProcess($"crontab of {Environment.UserName}", $"Remove the {Process} entry: {string.Join(" | ", lines)}"))
                return;
            CronTable.Write(CronTable.Remove(current, marker, out _), Cancel);
        }
        catch (SchedulerException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "CrontabFailed", ErrorCategory.WriteError, "crontab"));
        }
    }
}
