using System.Management.Automation;
using RunProc.Module.Completers;
using RunProc.Batch;

namespace RunProc.Module.Commands;

/// <summary>
/// Register-ProcSchedule: adds (or replaces) the current user's crontab entry that runs
/// Invoke-ProcCycle for a process with this pwsh, config and the pinned module version (the installed
/// version's folder, or a staged copy of a development build), by absolute paths, so it works under
/// cron's bare environment and a later upgrade, rebuild or Clean does not change it. Other crontab
/// entries are left as they are.
/// </summary>
[Cmdlet(VerbsLifecycle.Register, "ProcSchedule", SupportsShouldProcess = true)]
[OutputType(typeof(ProcSchedule))]
public sealed class RegisterProcScheduleCommand : BatchCmdletBase
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ProcessNameCompleter))]
    public string Process { get; set; } = DefaultProcess;

    /// <summary>Cron schedule (default hourly, at minute 0).</summary>
    [Parameter(Position = 1)]
    public string Schedule { get; set; } = "0 * * * *";

    /// <summary>Where the cycle's output is appended (default &lt;DbRoot&gt;/&lt;process&gt;/cycle.log).</summary>
    [Parameter]
    public string? LogFile { get; set; }

    protected override void ProcessRecord()
    {
        if (ProcessDefinitionOf(Process) is not { } def)
            return;
        // Named first (the line shows it), staged only once the entry is really written.
        var pin = Pin(create: false);
        var pwsh = BatchSupport.RunProcArgv(pin);
        if (pwsh.Count == 0)
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException("cannot tell which pwsh runs RunProc; run Register-ProcSchedule from pwsh."), "PwshUnknown", ErrorCategory.NotInstalled, null));
        var argv = pwsh.Concat(new[] { "Invoke-ProcCycle", "-Process", def.Name, "-ConfigPath", Config.SourcePath }).ToList();
        var log = LogFile is null ? new RunProc.Db.ProcDbTree(Config, def.Name).CycleLog : GetUnresolvedProviderPathFromPSPath(LogFile);
        string line;
        try { line = CronTable.BuildLine(Schedule, argv, log, CronTable.Marker(def.Name, Config.SourcePath)); }
        catch (ArgumentException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "ScheduleInvalid", ErrorCategory.InvalidArgument, Schedule));
            return;
        }
        if (!ShouldProcess($"crontab of {Environment.UserName}", $"Add or replace the {def.Name} entry, running {pin}: {line}"))
            return;
        pin = Pin(create: true);
        WriteVerbose($"{def.Name}: cron runs {pin}{(pin.Staged ? $", a copy of the development build in {pin.Source}" : "")}.");
        try
        {
            RunProc.IO.SafeFile.EnsureDirectory(Path.GetDirectoryName(log)!, Config.DirectoryMode);
            var current = CronTable.Read(Cancel);
            CronTable.Write(CronTable.AddOrReplace(current, line, CronTable.Marker(def.Name, Config.SourcePath)), Cancel);
        }
        catch (SchedulerException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "CrontabFailed", ErrorCategory.WriteError, "crontab"));
        }
        WriteObject(new ProcSchedule { Process = def.Name, Schedule = CronTable.ValidateSchedule(Schedule), ConfigPath = Config.SourcePath, LogFile = log, Line = line, ModuleVersion = pin.Version, ModulePath = pin.Directory });
    }

    private RunProc.Install.PinnedModule Pin(bool create)
    {
        try { return BatchSupport.Pin(this, Config, create); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(new ErrorRecord(ex, "ModuleNotPinned", ErrorCategory.WriteError, Config.DbRoot));
            throw;
        }
    }
}
