using System.Management.Automation;
using RunProc.Config;

namespace RunProc.Module.Commands;

/// <summary>Get-ProcConfig: the effective site configuration (defaults filled in), to check a config file.</summary>
[Cmdlet(VerbsCommon.Get, "ProcConfig")]
[OutputType(typeof(RunProcConfig))]
public sealed class GetProcConfigCommand : RunProcCmdlet
{
    protected override void EndProcessing() => WriteObject(Config);
}
