using System.Management.Automation;
using RunProc.Pixels;
using RunProc.Pixels.Split;

namespace RunProc.Module.Commands;

/// <summary>
/// Invoke-PixelStatus: the pixel_status process (the old det_ndarr_data_status). Reads a run's
/// detector frames, finds bad pixels and writes the arrays, pictures and the deployed status.
/// One result object per detector.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "PixelStatus", SupportsShouldProcess = true, DefaultParameterSetName = RunSet)]
[OutputType(typeof(PixelStatusResult), typeof(PartialHeader), typeof(PixelStatusPlan))]
public sealed class InvokePixelStatusCommand : RunProcCmdlet
{
    /// <summary>Files given by -Path need no site config: without one the built-in defaults apply.</summary>
    protected override bool BuiltInDefaultsWithoutConfig => ParameterSetName == PathSet;

    private const string RunSet = "Run";
    private const string PathSet = "Path";

    /// <summary>The experiment (binds from Get-PendingRun output).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = RunSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Experiment { get; set; } = "";

    /// <summary>The run number (binds from Get-PendingRun output).</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = RunSet, ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, Names.MaxRun)]
    public int Run { get; set; }

    /// <summary>Run files (.h5 / .npy in stream/chunk order, or LCLS-II .xtc2 chunks of every stream in any order); all files of one call are one run.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Detectors whose dataset path contains any of these (the old -s).</summary>
    [Parameter]
    public string[] Detector { get; set; } = Array.Empty<string>();

    /// <summary>At most this many events (after -SkipEvents).</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public new long Events { get; set; } = long.MaxValue;

    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long SkipEvents { get; set; }

    /// <summary>Directory for the text arrays and the HDF5 file.</summary>
    [Parameter]
    public string? OutputDirectory { get; set; }

    /// <summary>Text arrays to write (default all).</summary>
    [Parameter]
    [ValidateSet("ave", "rms", "sta", "msk", "max", "min")]
    public string[] ArrayType { get; set; } = PixelStatusRunner.AllArrayTypes.ToArray();

    /// <summary>Deploy the status into the calibration store.</summary>
    [Parameter]
    public SwitchParameter Deploy { get; set; }

    /// <summary>Directory for PNG pictures (status, mean, rms, histogram).</summary>
    [Parameter]
    public string? ImagePath { get; set; }

    [Parameter]
    public PixelLimitMethod Method { get; set; } = PixelLimitMethod.Absolute;

    [Parameter] public double SnrMax { get; set; } = 8;
    [Parameter] public double IntensityLow { get; set; } = 1;
    [Parameter] public double IntensityHigh { get; set; } = 16000;
    [Parameter] public double RmsLow { get; set; } = 0.1;
    [Parameter] public double RmsHigh { get; set; } = 16000;
    [Parameter] [ValidateRange(0.0, 1.0)] public double FractionLimit { get; set; } = 0.2;
    [Parameter] [ValidateRange(0.0, double.MaxValue)] public double IntensityLowSigma { get; set; }
    [Parameter] [ValidateRange(0.0, double.MaxValue)] public double IntensityHighSigma { get; set; }
    [Parameter] [ValidateRange(0.0, double.MaxValue)] public double RmsLowSigma { get; set; }
    [Parameter] [ValidateRange(0.0, double.MaxValue)] public double RmsHighSigma { get; set; }

    /// <summary>
    /// Data bits kept before analysis, e.g. 0x3FFF for gain-switching detectors (integer data only;
    /// float32 frames are rounded, not masked). Not given: xtc2 epix10ka and jungfrau keep 0x3FFF
    /// (their top bits are gain bits), everything else all bits.
    /// </summary>
    [Parameter]
    public uint DataMask { get; set; } = uint.MaxValue;

    /// <summary>xtc2: analyse events with damage too (they are counted and left out by default).</summary>
    [Parameter]
    public SwitchParameter IncludeDamaged { get; set; }

    /// <summary>xtc2: read a chunk that ends inside a dgram (a DAQ crash, an interrupted copy) up to its last whole dgram, with a warning, instead of failing.</summary>
    [Parameter]
    public SwitchParameter AllowTruncated { get; set; }

    /// <summary>Threads for decoding and the kernel (default: all cores).</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int ThrottleLimit { get; set; } = Environment.ProcessorCount;

    /// <summary>Analyse only this part (0 to PartCount-1) of a split run and write its partial accumulator files.</summary>
    [Parameter]
    [ValidateRange(0, RunProc.Config.RunProcConfig.MaxParts - 1)]
    public int Part { get; set; }

    /// <summary>The number of parts the run is split into (with -Part); Merge-PixelStatus combines them.</summary>
    [Parameter]
    [ValidateRange(1, RunProc.Config.RunProcConfig.MaxParts)]
    public int PartCount { get; set; }

    /// <summary>Where a part writes its partial accumulator files and manifest (required with -PartCount).</summary>
    [Parameter]
    public string? PartDirectory { get; set; }

    /// <summary>The batch job running this analysis (recorded in the result record and the deployed file's HISTORY).</summary>
    [Parameter]
    [ValidatePattern(@"^[A-Za-z0-9_.:-]{1,200}$")]
    public string? JobName { get; set; }

    private readonly List<string> _paths = new();

    protected override void ProcessRecord()
    {
        if (ParameterSetName == PathSet)
        {
            // Files may arrive one by one from the pipeline: they are one run, analysed at the end.
            foreach (var p in Path)
            {
                try
                {
                    var resolved = SessionState.Path.GetResolvedProviderPathFromPSPath(p, out _);
                    // A wildcard that matches nothing resolves to no file: an error, not an empty run.
                    if (resolved.Count == 0)
                        throw new ItemNotFoundException($"No file matches '{p}'.");
                    _paths.AddRange(resolved);
                }
                catch (ItemNotFoundException ex)
                {
                    WriteInputError(ex, "PixelFileNotFound", ErrorCategory.ObjectNotFound, p, "Check the path of the run file.");
                }
            }
            return;
        }
        PixelHost.Call(this, host => new PixelStatusJob(Config, host).RunRecorded(Experiment, Run, Request(Array.Empty<string>())));
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName == PathSet && _paths.Count > 0)
            PixelHost.Call(this, host => new PixelStatusJob(Config, host).Run(Request(_paths.ToList()), _paths[0]));
    }

    /// <summary>The request of the parameters given (the files, or none yet for a run the catalog finds).</summary>
    private PixelStatusRequest Request(IReadOnlyList<string> files) => new()
    {
        Files = files, Detectors = Detector, SkipEvents = SkipEvents, Events = Events == long.MaxValue ? null : Events,
        DataMask = MyInvocation.BoundParameters.ContainsKey(nameof(DataMask)) ? DataMask : null, IncludeDamaged = IncludeDamaged, AllowTruncated = AllowTruncated,
        Options = new PixelStatusOptions
        {
            Method = Method, SnrMax = SnrMax, IntensityLow = IntensityLow, IntensityHigh = IntensityHigh, RmsLow = RmsLow, RmsHigh = RmsHigh,
            FractionLimit = FractionLimit, IntensityLowSigma = IntensityLowSigma, IntensityHighSigma = IntensityHighSigma,
            RmsLowSigma = RmsLowSigma, RmsHighSigma = RmsHighSigma,
        },
        OutputDirectory = OutputDirectory is null ? null : GetUnresolvedProviderPathFromPSPath(OutputDirectory),
        ImageDirectory = ImagePath is null ? null : GetUnresolvedProviderPathFromPSPath(ImagePath),
        ArrayTypes = ArrayType, Deploy = Deploy, Threads = ThrottleLimit, JobName = JobName,
        Part = Part, PartCount = MyInvocation.BoundParameters.ContainsKey(nameof(PartCount)) ? PartCount : 0,
        PartDirectory = PartDirectory is null ? null : GetUnresolvedProviderPathFromPSPath(PartDirectory),
    };
}
