using System.Globalization;
using System.Text.RegularExpressions;
using RunProc.Config;
using RunProc.Formats;
using RunProc.IO;

namespace RunProc.Pixels;

/// <summary>
/// The calibration store pixel_status deploys into: the calibration dir of an experiment, the
/// group dir (config CalibGroup, xtc2 &lt;DetType&gt;::CalibV1, else derived from the source name),
/// the deployed &lt;run&gt;-end.data with its provenance header, the HISTORY file beside it, and the
/// copy kept of a status that is replaced.
/// </summary>
public sealed class CalibrationStore
{
    private readonly RunProcConfig _config;

    public CalibrationStore(RunProcConfig config) => _config = config;

    /// <summary>
    /// The old tool's groups by LCLS-I device (PSCalib's det_type_from_source and its group table,
    /// in its order): a source naming a DetInfo (<c>…:&lt;Device&gt;.N</c>) gets that device's group.
    /// </summary>
    private static readonly (string Device, string Group)[] DeviceGroups =
    {
        ("Cspad", "CsPad"), ("Cspad2x2", "CsPad2x2"), ("pnCCD", "PNCCD"), ("Princeton", "Princeton"), ("Andor", "Andor"),
        ("Epix100a", "Epix100a"), ("Epix10k", "Epix10ka"), ("Epix", "Epix"), ("Opal1000", "Camera"), ("Opal2000", "Camera"),
        ("Opal4000", "Camera"), ("Opal8000", "Camera"), ("Tm6740", "Camera"), ("OrcaFl40", "Camera"), ("Fccd960", "Camera"),
        ("Acqiris", "Acqiris"), ("Imp", "Imp"), ("Quartz4A150", "Camera"), ("Rayonix", "Camera"), ("Evr", "EvrData"),
        ("Fccd", "Camera"), ("Timepix", "Timepix"), ("Fli", "Fli"), ("Pimax", "Pimax"), ("DualAndor", "Andor3d"),
        ("Jungfrau", "Jungfrau"), ("Zyla", "Camera"), ("ControlsCamera", "Camera"), ("Epix10ka", "Epix10ka"), ("Uxi", "Uxi"),
        ("Pixis", "Pixis"), ("Epix10ka2M", "Epix10ka2M"), ("Epix10kaQuad", "Epix10kaQuad"), ("StreakC7700", "Camera"),
        ("Archon", "Camera"), ("iStar", "Camera"), ("Alvium", "Camera"),
    };

    /// <summary>
    /// The calibration group dir when config CalibGroup is empty, as the old tool: a source naming an
    /// LCLS-I DetInfo takes its device's group from the old table ("XppGon.0:Epix100a.0" →
    /// "Epix100a::CalibV1", "CxiDs2.0:Cspad.0" → "CsPad::CalibV1", "…:Opal1000.1" → "Camera::CalibV1");
    /// otherwise &lt;Type&gt;::CalibV1, Type from the source's last meaningful component (after a ':' if
    /// any, trailing ".N" dropped, first letter upper case): "entry.jungfrau.data" → "Jungfrau::CalibV1".
    /// </summary>
    public static string DeriveGroup(string source)
    {
        foreach (var (device, known) in DeviceGroups)
            if (source.Contains(":" + device + ".", StringComparison.Ordinal))
                return known + "::CalibV1";
        var generic = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "data", "raw", "image", "images", "frames", "value", "entry", "instrument", "detector" };
        var parts = source.Split('.', StringSplitOptions.RemoveEmptyEntries).ToList();
        // Rejoin "Name.N" pairs: a numeric component belongs to the one before it.
        var comps = new List<string>();
        foreach (var p in parts)
        {
            if (p.All(char.IsAsciiDigit) && comps.Count > 0) continue;
            comps.Add(p);
        }
        var pick = comps.LastOrDefault(c => !generic.Contains(c.Contains(':') ? c[(c.LastIndexOf(':') + 1)..] : c)) ?? comps.LastOrDefault() ?? "Detector";
        if (pick.Contains(':')) pick = pick[(pick.LastIndexOf(':') + 1)..];
        pick = Regex.Replace(pick, "[^A-Za-z0-9_]", "");
        if (pick.Length == 0) pick = "Detector";
        return char.ToUpperInvariant(pick[0]) + pick[1..] + "::CalibV1";
    }

    /// <summary>The calibration dir of an experiment: config CalibDir ({ins} {exp} expanded) or &lt;DataRoot&gt;/&lt;INS&gt;/&lt;exp&gt;/calib.</summary>
    public string CalibDir(string experiment, string? instrument = null)
    {
        var ins = instrument is null ? Names.InstrumentOf(experiment, _config) : Names.Instrument(instrument);
        if (string.IsNullOrWhiteSpace(_config.CalibDir))
            return Path.Combine(_config.DataRoot, ins, experiment, "calib");
        return Path.GetFullPath(_config.CalibDir.Replace("{ins}", ins, StringComparison.Ordinal).Replace("{exp}", experiment, StringComparison.Ordinal));
    }

    /// <summary>
    /// Where a detector's status would be deployed, and the HISTORY file beside it. The group is
    /// config CalibGroup, else <paramref name="group"/> (xtc2: &lt;DetType&gt;::CalibV1 from the Names),
    /// else derived from the source name.
    /// </summary>
    public (string DataFile, string History) Paths(string experiment, int run, string source, string? instrument = null, string? group = null)
    {
        group = !string.IsNullOrWhiteSpace(_config.CalibGroup) ? _config.CalibGroup : group ?? DeriveGroup(source);
        if (group.Contains('/') || group.Contains("..") || group.Contains('\0'))
            throw new ArgumentException($"CalibGroup '{Names.Show(group)}' must be a single directory name.");
        var typeDir = Path.Combine(CalibDir(experiment, instrument), group, Names.Detector(source), _config.CalibType);
        return (Path.Combine(typeDir, $"{Names.ValidateRun(run)}-end.data"), Path.Combine(typeDir, "HISTORY"));
    }

    private static string MethodText(PixelStatusOptions o) =>
        o.Method == PixelLimitMethod.Robust ? string.Create(CultureInfo.InvariantCulture, $"Robust SnrMax {o.SnrMax:G6}") : "Absolute";

    /// <summary>A deployment made ready: the write (null when the replacement was declined) and what it replaces.</summary>
    public readonly record struct Deployment(Action? Write, string? Kept, long? OldBad);

    /// <summary>
    /// Readies the deployment of a status into <paramref name="data"/>: asks before an earlier status is
    /// replaced (keeping a copy), makes the directory and returns the write, which puts the file in
    /// place atomically and then appends the HISTORY line (HISTORY names a file only once it is in place).
    /// </summary>
    public Deployment Prepare(string data, string history, int[] shape, PixelStatusSummary summary, long events, PixelStatusRequest req, string[] comments)
    {
        var (go, kept, oldBad) = KeepReplaced(data, summary, events, req);
        if (!go)
            return new Deployment(null, kept, oldBad);
        SafeFile.EnsureDirectory(Path.GetDirectoryName(data)!, _config.DirectoryMode);
        var (header, historyLine) = Provenance(data, summary, events, req, comments, kept, oldBad);
        return new Deployment(() =>
        {
            SafeFile.WriteAllBytesAtomic(data, PsanaTextArray.Utf8(summary.StatusValues.Span, shape, data, header), _config.FileMode);
            SafeFile.AppendLines(history, new[] { historyLine }, _config.FileMode);
        }, kept, oldBad);
    }

    /// <summary>
    /// Before a deployed status is replaced: asks (the message names old and new bad-pixel counts)
    /// and keeps a copy as &lt;run&gt;-end.data.replaced-&lt;time&gt;. False when declined.
    /// </summary>
    private static (bool Go, string? Kept, long? OldBad) KeepReplaced(string data, PixelStatusSummary summary, long events, PixelStatusRequest req)
    {
        if (!File.Exists(data))
            return (true, null, null);
        long? oldBad;
        try { oldBad = PsanaTextArray.Read(data).Values.LongCount(v => v != 0); }
        catch (Exception ex) when (ex is IOException or FormatException or InvalidDataException or ArgumentException) { oldBad = null; }
        var message = $"replace {data} ({(oldBad is { } b ? b.ToString(CultureInfo.InvariantCulture) : "unreadable, unknown")} bad pixels) with the new status ({summary.BadPixels} bad pixels, {MethodText(req.Options)}, {events} events); the old file is kept beside it";
        if (req.ConfirmReplace is { } confirm && !confirm(message))
            return (false, null, oldBad);
        // A copy, not a move: the deployed file stays in place until the new one replaces it atomically.
        var kept = $"{data}.replaced-{DateTime.Now:yyyyMMdd'T'HHmmss}";
        File.Copy(data, kept, overwrite: true);
        return (true, kept, oldBad);
    }

    /// <summary>The deployed file's header and HISTORY line: method, limits, events, RunProc version and job.</summary>
    private static (string[] Header, string HistoryLine) Provenance(string data, PixelStatusSummary summary, long events, PixelStatusRequest req, string[] comments, string? kept, long? oldBad)
    {
        var limits = string.Create(CultureInfo.InvariantCulture, $"mean {summary.MeanLimits.Low:G6}..{summary.MeanLimits.High:G6} rms {summary.RmsLimits.Low:G6}..{summary.RmsLimits.High:G6}");
        var method = MethodText(req.Options);
        var version = Results.RunResultRecord.CurrentVersion;
        var job = string.IsNullOrEmpty(req.JobName) ? "-" : req.JobName;
        var header = comments.Concat(new[] { "ARR_TYPE status", $"METHOD {method}", $"LIMITS {limits}", $"RUNPROC {version} job {job}" }).ToArray();
        var line = $"file: {Path.GetFileName(data)}  user: {Environment.UserName}  host: {Environment.MachineName}  time: {DateTime.Now:yyyy-MM-dd'T'HH:mm:ss}  events: {events}  bad: {summary.BadPixels}  method: {method}  limits: {limits}  by: RunProc {version} Invoke-PixelStatus  job: {job}"
            + (kept is null ? "" : $"  replaced: {(oldBad is { } ob ? ob.ToString(CultureInfo.InvariantCulture) : "?")} bad, kept as {Path.GetFileName(kept)}");
        return (header, line);
    }

}
