using System.Globalization;

namespace RunProc.Catalog;

/// <summary>
/// One run of an experiment as found on disk: its data files (in stream/chunk order), size, newest
/// write time and whether it is ready to process. Output of Get-PendingRun; its property names bind
/// to Submit-ProcJob, Invoke-PixelStatus and Register-ProcRun by property name.
/// </summary>
public sealed class RunInfo
{
    /// <summary>The process this run is pending for (empty when the run came from the catalog alone).</summary>
    public string Process { get; init; } = "";

    /// <summary>The instrument directory the experiment was found under (e.g. XPP).</summary>
    public required string Instrument { get; init; }

    public required string Experiment { get; init; }

    public required int Run { get; init; }

    /// <summary>psana data set name: <c>exp=&lt;exp&gt;:run=&lt;n&gt;</c> (run without leading zeros).</summary>
    public string DataSetName => DataSetNameOf(Experiment, Run);

    /// <summary>Full paths of the run's files, in stream/chunk order (in-progress files included).</summary>
    public required IReadOnlyList<string> Files { get; init; }

    /// <summary>Total size of the files in bytes.</summary>
    public long Bytes { get; init; }

    /// <summary>Newest file write time (local time).</summary>
    public DateTime LastWriteTime => LastWriteTimeUtc.ToLocalTime();

    /// <summary>Newest file write time (UTC).</summary>
    public DateTime LastWriteTimeUtc { get; init; }

    /// <summary>True when no file is in progress and the newest file is older than SettleSeconds.</summary>
    public bool Ready { get; init; }

    /// <summary>Why the run is not ready (null when it is).</summary>
    public string? NotReadyReason { get; init; }

    /// <summary>Number of files (streams × chunks).</summary>
    public int FileCount => Files.Count;

    /// <summary>The same run, tagged with the process it is pending for.</summary>
    public RunInfo WithProcess(string process) => new()
    {
        Process = process, Instrument = Instrument, Experiment = Experiment, Run = Run, Files = Files,
        Bytes = Bytes, LastWriteTimeUtc = LastWriteTimeUtc, Ready = Ready, NotReadyReason = NotReadyReason,
    };

    public static string DataSetNameOf(string experiment, int run) =>
        string.Create(CultureInfo.InvariantCulture, $"exp={experiment}:run={run}");

    public override string ToString() => DataSetName;
}
