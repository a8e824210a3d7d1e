using System.Management.Automation;
using RunProc.Module.Completers;
using RunProc.Reports;

namespace RunProc.Module.Commands;

/// <summary>
/// Export-ProcReport: writes (refreshes) the static HTML run report of a process: index.html with
/// one line per experiment and one page per experiment with its runs, states, bad pixels,
/// pictures, logs and outputs. Only pages whose content changed are rewritten.
/// </summary>
[Cmdlet(VerbsData.Export, "ProcReport", SupportsShouldProcess = true)]
[OutputType(typeof(ProcReportSummary))]
public sealed class ExportProcReportCommand : BatchCmdletBase
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ProcessNameCompleter))]
    public string Process { get; set; } = DefaultProcess;

    /// <summary>The report folder (created if missing); default the process's ReportPath setting.</summary>
    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    protected override void ProcessRecord()
    {
        if (ProcessDefinitionOf(Process) is not { } def)
            return;
        var dir = Path is not null ? GetUnresolvedProviderPathFromPSPath(Path) : def.ReportPath;
        if (string.IsNullOrEmpty(dir))
        {
            WriteInputError(new ArgumentException($"no report folder: give -Path, or set Processes.{def.Name}.ReportPath in {Config.SourcePath}."),
                "ReportPathMissing", ErrorCategory.InvalidArgument, def.Name);
            return;
        }
        if (!ShouldProcess(dir, $"Write the HTML run report of {def.Name}"))
            return;
        try
        {
            WriteObject(new ProcReport(Config, def.Name).Write(dir, Cancel));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            WriteInputError(ex, "ReportWriteFailed", ErrorCategory.WriteError, dir, "Check that the report folder is writable.");
        }
    }
}
