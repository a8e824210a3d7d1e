using System.Management.Automation;
using RunProc.Pixels;

namespace RunProc.Module.Commands;

/// <summary>
/// Merge-PixelStatus: the merge step of a split pixel_status run. Checks every part's partial
/// accumulator files (all present, checksums good, same run, shape and settings, shares covering
/// the run exactly once), adds them, and writes exactly the outputs and deployment of the unsplit
/// run. One result object per detector, as Invoke-PixelStatus.
/// </summary>
[Cmdlet(VerbsData.Merge, "PixelStatus", SupportsShouldProcess = true)]
[OutputType(typeof(PixelStatusResult), typeof(PixelStatusPlan))]
public sealed class MergePixelStatusCommand : RunProcCmdlet
{
    /// <summary>The folder the parts wrote into (their -PartDirectory).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string PartDirectory { get; set; } = "";

    /// <summary>The number of parts the run was split into; without it, as the parts' manifests say.</summary>
    [Parameter]
    [ValidateRange(1, RunProc.Config.RunProcConfig.MaxParts)]
    public int PartCount { get; set; }

    /// <summary>The experiment the parts must be of (checked).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Experiment { get; set; }

    /// <summary>The run the parts must be of (checked).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, Names.MaxRun)]
    public int Run { get; set; } = -1;

    /// <summary>Directory for the text arrays and the HDF5 file.</summary>
    [Parameter]
    public string? OutputDirectory { get; set; }

    /// <summary>Text arrays to write (default all).</summary>
    [Parameter]
    [ValidateSet("ave", "rms", "sta", "msk", "max", "min")]
    public string[] ArrayType { get; set; } = PixelStatusRunner.AllArrayTypes.ToArray();

    /// <summary>Directory for PNG pictures (status, mean, rms, histogram).</summary>
    [Parameter]
    public string? ImagePath { get; set; }

    /// <summary>Deploy the status into the calibration store.</summary>
    [Parameter]
    public SwitchParameter Deploy { get; set; }

    protected override void ProcessRecord() =>
        PixelHost.Call(this, host => new PixelStatusJob(Config, host).Merge(new PixelMergeRequest
        {
            PartDirectory = GetUnresolvedProviderPathFromPSPath(PartDirectory),
            PartCount = MyInvocation.BoundParameters.ContainsKey(nameof(PartCount)) ? PartCount : null,
            Experiment = Experiment, Run = Run >= 0 ? Run : null,
            OutputDirectory = OutputDirectory is null ? null : GetUnresolvedProviderPathFromPSPath(OutputDirectory),
            ImageDirectory = ImagePath is null ? null : GetUnresolvedProviderPathFromPSPath(ImagePath),
            ArrayTypes = ArrayType, Deploy = Deploy,
        }));
}
