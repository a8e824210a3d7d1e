using System.Collections.Concurrent;
using System.Management.Automation;
using RunProc.Demo;

namespace RunProc.Module.Commands;

/// <summary>
/// New-ProcDemoFacility: writes a small facility (HDF5 runs with injected bad pixels, a DB with
/// experiments.txt, a config file) to try RunProc on, and returns where everything is.
/// </summary>
[Cmdlet(VerbsCommon.New, "ProcDemoFacility", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(DemoFacility))]
public sealed class NewProcDemoFacilityCommand : PSCmdlet
{
    private readonly CancellationTokenSource _cts = new();

    /// <summary>The folder to create (default ./demo).</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "demo";

    /// <summary>Replace an existing demo facility at Path.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Frames in each run file.</summary>
    [Parameter]
    [ValidateRange(10, 5000)]
    public int FramesPerFile { get; set; } = new DemoFacilityOptions().FramesPerFile;

    /// <summary>Seed of pedestals, noise and bad-pixel positions.</summary>
    [Parameter]
    public int Seed { get; set; } = new DemoFacilityOptions().Seed;

    protected override void StopProcessing() => _cts.Cancel();

    protected override void ProcessRecord()
    {
        var full = GetUnresolvedProviderPathFromPSPath(Path);
        var options = new DemoFacilityOptions { FramesPerFile = FramesPerFile, Seed = Seed, Force = Force };
        var plan = DemoFacilityGenerator.Plan(full, options);
        var exists = Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any();
        var action = (exists ? "Replace the demo facility with " : "Create ")
            + $"{plan.Contents}, "
            + $"a DB and {DemoFacility.ConfigFileName}";
        if (!ShouldProcess(full, action))
            return;

        // The generator writes files on worker threads; progress is written from this (the pipeline) thread.
        var queue = new BlockingCollection<DemoProgress>();
        var task = Task.Run(() =>
        {
            try { return DemoFacilityGenerator.Generate(full, options, queue.Add, _cts.Token); }
            finally { queue.CompleteAdding(); }
        });
        var progress = new ProgressRecord(1, "New-ProcDemoFacility", $"Writing {plan.Runs.Sum(r => r.Files.Count)} run files in {full}");
        foreach (var p in queue.GetConsumingEnumerable())
        {
            progress.PercentComplete = 100 * p.FilesDone / Math.Max(1, p.FilesTotal);
            progress.StatusDescription = $"{p.FilesDone}/{p.FilesTotal} {System.IO.Path.GetFileName(p.File)}";
            WriteProgress(progress);
        }
        progress.RecordType = ProgressRecordType.Completed;
        WriteProgress(progress);

        DemoFacility facility;
        try
        {
            facility = task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (IOException ex)
        {
            WriteError(new ErrorRecord(ex, "DemoPathInUse", ErrorCategory.ResourceExists, full)
            {
                ErrorDetails = new ErrorDetails(ex.Message) { RecommendedAction = "Choose an empty or new folder, or add -Force to replace an existing demo facility." },
            });
            return;
        }
        catch (UnauthorizedAccessException ex)
        {
            WriteError(new ErrorRecord(ex, "DemoPathDenied", ErrorCategory.PermissionDenied, full));
            return;
        }
        WriteVerbose($"Demo facility written: config {facility.ConfigPath}, data {facility.DataRoot}, DB {facility.DbRoot}.");
        // A short default view; every property is still there (| Format-List *).
        var pso = PSObject.AsPSObject(facility);
        pso.Members.Add(new PSMemberSet("PSStandardMembers", new PSMemberInfo[]
        {
            new PSPropertySet("DefaultDisplayPropertySet", new[] { "Path", "ConfigPath", "DataRoot", "DbRoot", "Experiments", "Runs", "Detectors", "InjectedCount" }),
        }));
        WriteObject(pso);
    }
}
