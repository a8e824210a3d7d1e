using System.Globalization;
using System.Text;
using RunProc.Catalog;
using RunProc.Config;
using RunProc.Db;
using RunProc.IO;
using RunProc.Results;
using static System.Net.WebUtility;

namespace RunProc.Reports;

/// <summary>One run as the report shows it.</summary>
public sealed class ReportRun
{
    public required int Run { get; init; }

    /// <summary>The state in words: done, failed, failed (will retry), running, queued, pending, not ready, archived, processed (old tool), cancelled.</summary>
    public required string State { get; init; }

    /// <summary>The state's CSS class and filter value: done, failed, retry, active, pending, notready, archived, old, cancelled.</summary>
    public required string Kind { get; init; }
    public int Attempts { get; init; }
    public long? Events { get; init; }
    public IReadOnlyList<DetectorResult> Detectors { get; init; } = Array.Empty<DetectorResult>();
    public string? LastError { get; init; }
    public string LogFile { get; init; } = "";
    public DateTime? When { get; init; }
}

/// <summary>One experiment's line of the index.</summary>
public sealed class ReportExperiment
{
    public required string Instrument { get; init; }
    public required string Experiment { get; init; }
    public required IReadOnlyList<ReportRun> Runs { get; init; }
    public int Done => Runs.Count(r => r.Kind == "done");
    public int Failed => Runs.Count(r => r.Kind == "failed");
    public int Pending => Runs.Count(r => r.Kind is "pending" or "retry" or "active");
    public int NotReady => Runs.Count(r => r.Kind == "notready");
    public DateTime? LastProcessed => Runs.Where(r => r.Kind is "done" or "failed" or "old").Max(r => r.When);
}

/// <summary>What Export-ProcReport did.</summary>
public sealed class ProcReportSummary
{
    public required string Process { get; init; }
    public required string Path { get; init; }
    public required string Index { get; init; }
    public int Experiments { get; init; }
    public int Runs { get; init; }
    public int Failed { get; init; }
    public int PagesWritten { get; init; }
    public int PagesUnchanged { get; init; }
    public int FilesCopied { get; init; }
}

/// <summary>
/// The static HTML run report of a process: index.html (one line per experiment) and one page per
/// experiment (one row per run: state in words, attempts, events, bad pixels per detector,
/// thumbnails, log and outputs). Pictures and logs are copied into the report folder (so it works
/// from file:// and from any web server); other outputs are linked relative to it. Pages are written
/// through a temporary file and a rename, and only when their content changed.
/// </summary>
public sealed class ProcReport
{
    private readonly RunProcConfig _config;
    private readonly ProcDb _db;
    private int _copied;

    public ProcReport(RunProcConfig config, string process)
    {
        _config = config;
        _db = new ProcDb(config, process);
    }

    /// <summary>Every experiment with data or records (as Get-ProcExperiment), with its runs.</summary>
    public IReadOnlyList<ReportExperiment> Collect(CancellationToken cancel = default)
    {
        var now = DateTime.UtcNow;
        var catalog = new RunCatalog(_config, CatalogCache.ForConfig(_config));
        var list = new List<ReportExperiment>();
        foreach (var e in new RunScan(_db).Counts(new RunScanQuery { All = true, Cancel = cancel }))
        {
            cancel.ThrowIfCancellationRequested();
            var scan = catalog.Scan(e.Instrument, e.Experiment, now, null);
            var recorded = _db.RecordedRuns(e.Experiment, catalog).GroupBy(r => r.Run).ToDictionary(g => g.Key, g => g.First());
            var runs = new List<ReportRun>();
            foreach (var rec in recorded.Values)
                runs.Add(FromRecord(rec));
            foreach (var run in scan.Runs)
            {
                if (recorded.ContainsKey(run.Run)) continue;
                var ready = ExperimentScan.IsReady(run, now, _config.SettleSeconds);
                runs.Add(new ReportRun
                {
                    Run = run.Run, State = ready ? "pending" : "not ready", Kind = ready ? "pending" : "notready",
                    LastError = ready ? null : scan.NotReadyReason(run, now, _config.SettleSeconds),
                    When = new DateTime(run.NewestTicks, DateTimeKind.Utc).ToLocalTime(),
                });
            }
            list.Add(new ReportExperiment { Instrument = e.Instrument, Experiment = e.Experiment, Runs = runs.OrderBy(r => r.Run).ToList() });
        }
        return list.OrderBy(x => x.Experiment, StringComparer.Ordinal).ToList();
    }

    private static ReportRun FromRecord(RecordedRun r)
    {
        var (state, kind) = r.State == RecordState.Archived ? ("archived", "archived") : r.JobState switch
        {
            "" => ("processed (old tool)", "old"),
            "Done" => ("done", "done"),
            "Failed" or "TimedOut" or "Lost" => r.Failed
                ? (r.JobState == "Failed" ? "failed" : $"failed ({Words(r.JobState)})", "failed")
                : ($"{Words(r.JobState)}, will retry", "retry"),
            "Cancelled" => ("cancelled", "cancelled"),
            "Running" => ("running", "active"),
            "Suspended" => ("suspended", "active"),
            "NotSubmitted" => ("not submitted, will retry", "retry"),
            _ => ("queued", "active"),
        };
        return new ReportRun
        {
            Run = r.Run, State = state, Kind = kind, Attempts = r.Attempts, Events = r.Events, Detectors = r.Detectors,
            LastError = kind is "failed" or "retry" or "cancelled" ? r.LastError : null, LogFile = r.LogFile, When = r.Time,
        };
    }

    private static string Words(string state) => state switch { "TimedOut" => "timed out", "Lost" => "lost", _ => state.ToLowerInvariant() };

    /// <summary>Writes (refreshes) the report in <paramref name="directory"/>.</summary>
    public ProcReportSummary Write(string directory, CancellationToken cancel = default)
    {
        var dir = Path.GetFullPath(directory);
        SafeFile.EnsureDirectory(dir, _config.DirectoryMode);
        var experiments = Collect(cancel);
        int written = 0, unchanged = 0;
        _copied = 0;
        void Page(string name, string html)
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path) && File.ReadAllText(path) == html) { unchanged++; return; }
            SafeFile.WriteAllTextAtomic(path, html, _config.FileMode);
            written++;
        }
        Page("report.css", Css);
        Page("report.js", Script);
        foreach (var e in experiments)
        {
            cancel.ThrowIfCancellationRequested();
            Page(e.Experiment + ".html", ExperimentPage(dir, e));
        }
        Page("index.html", IndexPage(experiments));
        return new ProcReportSummary
        {
            Process = _db.Process, Path = dir, Index = Path.Combine(dir, "index.html"), Experiments = experiments.Count,
            Runs = experiments.Sum(e => e.Runs.Count), Failed = experiments.Sum(e => e.Failed),
            PagesWritten = written, PagesUnchanged = unchanged, FilesCopied = _copied,
        };
    }

    // ---------------------------------------------------------------- pages

    private string IndexPage(IReadOnlyList<ReportExperiment> experiments)
    {
        var sb = Head($"{_db.Process}: runs by experiment");
        sb.Append("<p class=\"sub\">").Append(HtmlEncode($"{experiments.Count} experiment(s), {experiments.Sum(e => e.Runs.Count)} run(s), {experiments.Sum(e => e.Failed)} failed")).Append("</p>\n");
        Filter(sb, "done failed pending notready");
        sb.Append("<table class=\"sortable\" id=\"experiments\"><thead><tr><th>Experiment</th><th>Instrument</th><th class=\"num\">Runs</th><th class=\"num\">Done</th><th class=\"num\">Failed</th><th class=\"num\">Pending</th><th class=\"num\">Not ready</th><th>Last processed</th></tr></thead><tbody>\n");
        foreach (var e in experiments)
        {
            var kind = e.Failed > 0 ? "failed" : e.Pending > 0 ? "pending" : e.NotReady > 0 ? "notready" : "done";
            sb.Append($"<tr class=\"{kind}\" data-state=\"{kind}\"><td><a href=\"{Href(e.Experiment + ".html")}\">{HtmlEncode(e.Experiment)}</a></td><td>{HtmlEncode(e.Instrument)}</td>")
              .Append($"<td class=\"num\">{e.Runs.Count}</td><td class=\"num\">{e.Done}</td><td class=\"num\">{e.Failed}</td><td class=\"num\">{e.Pending}</td><td class=\"num\">{e.NotReady}</td>")
              .Append($"<td data-sort=\"{Sortable(e.LastProcessed)}\">{When(e.LastProcessed)}</td></tr>\n");
        }
        sb.Append("</tbody></table>\n");
        return Tail(sb);
    }

    private string ExperimentPage(string dir, ReportExperiment e)
    {
        var sb = Head($"{e.Experiment} ({e.Instrument}): {_db.Process}");
        sb.Append("<p class=\"sub\"><a href=\"index.html\">all experiments</a> · ")
          .Append(HtmlEncode($"{e.Runs.Count} run(s): {e.Done} done, {e.Failed} failed, {e.Pending} pending, {e.NotReady} not ready")).Append("</p>\n");
        Filter(sb, "done failed retry active pending notready archived old cancelled");
        sb.Append("<table class=\"sortable\" id=\"runs\"><thead><tr><th class=\"num\">Run</th><th>State</th><th class=\"num\">Attempts</th><th class=\"num\">Events</th><th>Bad pixels</th><th>Pictures</th><th>Log and outputs</th><th>When</th></tr></thead><tbody>\n");
        var assets = Path.Combine(dir, e.Experiment);
        foreach (var r in e.Runs)
        {
            sb.Append($"<tr class=\"{r.Kind}\" data-state=\"{r.Kind}\"><td class=\"num\">{r.Run}</td><td data-sort=\"{HtmlEncode(r.State)}\"><span class=\"state\">{HtmlEncode(r.State)}</span>");
            if (r.LastError is { Length: > 0 } err)
                sb.Append($"<div class=\"err\">{HtmlEncode(err)}</div>");
            sb.Append($"</td><td class=\"num\">{(r.Attempts > 0 ? r.Attempts.ToString(CultureInfo.InvariantCulture) : "")}</td><td class=\"num\">{r.Events?.ToString(CultureInfo.InvariantCulture) ?? ""}</td>");
            sb.Append($"<td data-sort=\"{r.Detectors.Sum(d => d.BadPixels)}\">");
            foreach (var d in r.Detectors)
                sb.Append($"<div class=\"bad\"><span class=\"det\">{HtmlEncode(ShortName(d.Detector))}</span> {d.BadPixels.ToString("N0", CultureInfo.InvariantCulture)}</div>");
            sb.Append("</td><td>");
            foreach (var d in r.Detectors)
            {
                var pictures = d.Images.Where(File.Exists).ToList();
                if (pictures.Count == 0) continue;
                var local = pictures.Select(p => Copy(p, Path.Combine(assets, $"r{r.Run:0000}"))).ToList();
                var status = local.FirstOrDefault(p => p.EndsWith("-status.png", StringComparison.Ordinal)) ?? local[0];
                sb.Append($"<div class=\"pics\"><a href=\"{Href(Rel(dir, status))}\"><img class=\"thumb\" src=\"{Href(Rel(dir, status))}\" alt=\"{HtmlEncode(ShortName(d.Detector))} status map\" loading=\"lazy\"></a>");
                foreach (var p in local.Where(p => p != status))
                    sb.Append($" <a href=\"{Href(Rel(dir, p))}\">{HtmlEncode(Kind(p))}</a>");
                sb.Append("</div>");
            }
            sb.Append("</td><td>");
            var log = Batch.JobLog.Existing(r.LogFile);
            if (log is not null)
                sb.Append($"<div><a href=\"{Href(Rel(dir, Copy(log, Path.Combine(assets, "logs"), asText: true)))}\">log</a></div>");
            foreach (var d in r.Detectors)
            {
                var outputs = d.Files.Where(f => !f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) && File.Exists(f)).ToList();
                if (outputs.Count == 0) continue;
                sb.Append($"<div class=\"outs\"><span class=\"det\">{HtmlEncode(ShortName(d.Detector))}</span>");
                foreach (var f in outputs)
                    sb.Append($" <a href=\"{Href(Rel(dir, f))}\" title=\"{HtmlEncode(Path.GetFileName(f))}\">{HtmlEncode(OutputLabel(f))}</a>");
                sb.Append("</div>");
            }
            sb.Append($"</td><td data-sort=\"{Sortable(r.When)}\">{When(r.When)}</td></tr>\n");
        }
        sb.Append("</tbody></table>\n");
        return Tail(sb);
    }

    private static string ShortName(string detector) => detector.Split('.', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? detector;

    private static string Kind(string picture)
    {
        var n = Path.GetFileNameWithoutExtension(picture);
        var dash = n.LastIndexOf('-');
        return dash < 0 ? n : n[(dash + 1)..];
    }

    private static string OutputLabel(string file)
    {
        var name = Path.GetFileName(file);
        if (name.EndsWith("-end.data", StringComparison.Ordinal)) return "deployed";
        var dash = name.LastIndexOf('-');
        var kind = dash < 0 ? name : name[(dash + 1)..];
        return kind.EndsWith(".txt", StringComparison.Ordinal) ? kind[..^4] : kind == "status.h5" ? "h5" : kind;
    }

    /// <summary>Copies a picture or log into the report (when new or changed: same size and time = same file); returns the copy.</summary>
    private string Copy(string source, string targetDir, bool asText = false)
    {
        // ':' (in log times and calib group names) would read as a URL scheme or trouble a web server.
        var name = Path.GetFileName(source).Replace(':', '_');
        if (asText && !name.EndsWith(".txt", StringComparison.Ordinal)) name += ".txt";
        var target = Path.Combine(targetDir, name);
        var src = new FileInfo(source);
        var dst = new FileInfo(target);
        if (dst.Exists && dst.Length == src.Length && dst.LastWriteTimeUtc == src.LastWriteTimeUtc)
            return target;
        SafeFile.EnsureDirectory(targetDir, _config.DirectoryMode);
        SafeFile.WriteAllBytesAtomic(target, File.ReadAllBytes(source), _config.FileMode);
        File.SetLastWriteTimeUtc(target, src.LastWriteTimeUtc);
        _copied++;
        return target;
    }

    private static string Rel(string dir, string path) => Path.GetRelativePath(dir, path);

    /// <summary>A relative URL: each path segment percent-encoded.</summary>
    private static string Href(string relative) => string.Join('/', relative.Split(Path.DirectorySeparatorChar).Select(Uri.EscapeDataString));

    private static string When(DateTime? t) => t is { } v ? v.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) : "";

    private static string Sortable(DateTime? t) => t is { } v ? v.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) : "0";

    private static StringBuilder Head(string title)
    {
        var sb = new StringBuilder(16384);
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
          .Append($"<title>{HtmlEncode(title)}</title><link rel=\"stylesheet\" href=\"report.css\"></head><body>\n<h1>{HtmlEncode(title)}</h1>\n");
        return sb;
    }

    private static void Filter(StringBuilder sb, string kinds)
    {
        sb.Append("<div class=\"filter\"><input id=\"filter\" type=\"search\" placeholder=\"filter rows…\" aria-label=\"filter rows\"> <select id=\"state\" aria-label=\"state\"><option value=\"\">every state</option>");
        foreach (var k in kinds.Split(' '))
            sb.Append($"<option value=\"{k}\">{k}</option>");
        sb.Append("</select> <span id=\"shown\"></span></div>\n");
    }

    private static string Tail(StringBuilder sb) =>
        sb.Append($"<p class=\"foot\">RunProc {HtmlEncode(RunResultRecord.CurrentVersion)} · click a column heading to sort</p>\n<script src=\"report.js\"></script>\n</body></html>\n").ToString();

    private const string Css = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 1.2em 2em; color: #222; }
        h1 { font-size: 1.4em; margin: 0 0 .2em; }
        .sub, .foot { color: #666; }
        table { border-collapse: collapse; margin-top: .6em; }
        th, td { border-bottom: 1px solid #ddd; padding: .35em .6em; text-align: left; vertical-align: top; }
        th { background: #f3f3f3; cursor: pointer; user-select: none; position: sticky; top: 0; }
        th.asc::after { content: " \25B2"; } th.desc::after { content: " \25BC"; }
        .num { text-align: right; font-variant-numeric: tabular-nums; }
        tr.failed td { background: #fde8e8; } tr.failed .state { color: #b00; font-weight: bold; }
        tr.retry td { background: #fff4e0; } tr.active .state { color: #06c; }
        tr.notready .state, tr.archived .state, tr.old .state { color: #777; }
        .err { font: 12px/1.3 ui-monospace, monospace; color: #900; max-width: 44em; white-space: pre-wrap; word-break: break-word; }
        tr.notready .err { color: #777; font-family: inherit; }
        .det { color: #555; } img.thumb { width: 160px; border: 1px solid #ccc; display: block; }
        .pics { margin-bottom: .4em; } .filter { margin: .6em 0; }
        .bad, .outs { white-space: nowrap; } .outs { margin-bottom: .3em; }
        """;

    private const string Script = """
        // RunProc report: sortable columns and a row filter (no library, works from file://).
        (function () {
          document.querySelectorAll('table.sortable').forEach(function (table) {
            var heads = table.tHead.rows[0].cells;
            Array.prototype.forEach.call(heads, function (th, col) {
              th.addEventListener('click', function () {
                var asc = !th.classList.contains('asc');
                Array.prototype.forEach.call(heads, function (h) { h.classList.remove('asc', 'desc'); });
                th.classList.add(asc ? 'asc' : 'desc');
                var body = table.tBodies[0];
                var rows = Array.prototype.slice.call(body.rows);
                function key(row) {
                  var cell = row.cells[col];
                  var v = cell.getAttribute('data-sort');
                  if (v === null) v = cell.textContent.trim();
                  var n = parseFloat(v.replace(/[\s,\u2009]/g, ''));
                  return isNaN(n) || !/^[\s\d.,\u2009-]+$/.test(v) ? v.toLowerCase() : n;
                }
                rows.sort(function (a, b) {
                  var x = key(a), y = key(b);
                  var c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
                  return asc ? c : -c;
                });
                rows.forEach(function (r) { body.appendChild(r); });
              });
            });
          });
          var text = document.getElementById('filter'), state = document.getElementById('state'), shown = document.getElementById('shown');
          function apply() {
            var t = text.value.toLowerCase(), s = state.value, n = 0, all = 0;
            document.querySelectorAll('table.sortable tbody tr').forEach(function (row) {
              var ok = (!s || row.getAttribute('data-state') === s) && (!t || row.textContent.toLowerCase().indexOf(t) >= 0);
              row.style.display = ok ? '' : 'none';
              all++; if (ok) n++;
            });
            shown.textContent = n === all ? '' : n + ' of ' + all + ' rows';
          }
          if (text) { text.addEventListener('input', apply); state.addEventListener('change', apply); }
        })();
        """;
}
