using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using RunProc.Config;
using RunProc.IO;

namespace RunProc.Batch;

/// <summary>One line of the job journal (JSON). Only the fields of its event are set.</summary>
public sealed class JournalEvent
{
    [JsonPropertyName("t")] public DateTime Time { get; set; } = DateTime.UtcNow;

    /// <summary>intent | submitted | state | void | cancel | polls | job (a compaction snapshot).</summary>
    [JsonPropertyName("ev")] public string Event { get; set; } = "";
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("run")] public int? Run { get; set; }
    [JsonPropertyName("attempt")] public int? Attempt { get; set; }
    [JsonPropertyName("sched")] public string? Scheduler { get; set; }
    [JsonPropertyName("queue")] public string? Queue { get; set; }
    [JsonPropertyName("log")] public string? Log { get; set; }
    [JsonPropertyName("status")] public string? Status { get; set; }
    [JsonPropertyName("argv")] public string[]? Argv { get; set; }
    [JsonPropertyName("id")] public string? JobId { get; set; }
    [JsonPropertyName("state")] public string? State { get; set; }
    [JsonPropertyName("sstate")] public string? SchedulerState { get; set; }
    [JsonPropertyName("exit")] public int? ExitCode { get; set; }
    [JsonPropertyName("reason")] public string? Reason { get; set; }
    [JsonPropertyName("lasterr")] public string? LastError { get; set; }
    [JsonPropertyName("params")] public Dictionary<string, string>? Parameters { get; set; }
    [JsonPropertyName("polls")] public int? Polls { get; set; }
    [JsonPropertyName("started")] public DateTime? Started { get; set; }
    [JsonPropertyName("ended")] public DateTime? Ended { get; set; }
    [JsonPropertyName("submitted")] public DateTime? Submitted { get; set; }
    [JsonPropertyName("cancel")] public bool? CancelRequested { get; set; }

    /// <summary>A "polls" event: each job's status-poll count, so the numbering of the log's status lines carries on in the next process.</summary>
    [JsonPropertyName("counts")] public Dictionary<string, int>? PollCounts { get; set; }
    // Split runs (issue 15): "intent" with parts; "sub-intent" / "sub-submitted" / "sub-void" for one
    // scheduler submission covering some parts (a job array) or the merge; "part-state" for one part.
    [JsonPropertyName("parts")] public int? Parts { get; set; }
    [JsonPropertyName("sub")] public string? Submission { get; set; }
    [JsonPropertyName("idx")] public int[]? Indices { get; set; }
    [JsonPropertyName("array")] public bool? Array { get; set; }
    /// <summary>part-state: this submission of the part does not count as a try (superseded or never created).</summary>
    [JsonPropertyName("untry")] public bool? Untry { get; set; }
    [JsonPropertyName("plist")] public PartSnapshot[]? PartList { get; set; }
    [JsonPropertyName("subs")] public int? Submissions { get; set; }
}

/// <summary>One part of a split run in a compaction snapshot.</summary>
public sealed class PartSnapshot
{
    [JsonPropertyName("i")] public int Index { get; set; }
    [JsonPropertyName("sub")] public string Submission { get; set; } = "";
    [JsonPropertyName("id")] public string JobId { get; set; } = "";
    [JsonPropertyName("state")] public string State { get; set; } = "";
    [JsonPropertyName("sstate")] public string SchedulerState { get; set; } = "";
    [JsonPropertyName("exit")] public int? ExitCode { get; set; }
    [JsonPropertyName("tries")] public int Tries { get; set; }
    [JsonPropertyName("status")] public string StatusFile { get; set; } = "";
}

/// <summary>
/// The job journal of one experiment and process: <c>&lt;DbRoot&gt;/&lt;proc&gt;/&lt;INS&gt;/&lt;exp&gt;-jobs.txt</c>,
/// beside <c>-proc-runs.txt</c>. Append-only whole JSON lines (intent, submitted, state, void,
/// cancel), replayed to the current state of every job; a torn or foreign line is skipped and
/// counted. Replay is incremental (from the last offset) unless the file was compacted. Writers hold
/// the DB write lock.
/// </summary>
public sealed class JobJournal
{
    private static readonly JsonSerializerOptions Json = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = false,
    };

    private readonly Dictionary<string, ProcJob> _jobs = new(StringComparer.Ordinal);
    private readonly List<ProcJob> _order = new();
    private readonly int _fileMode;
    private readonly int _directoryMode;
    private long _offset;
    private string? _firstLine;

    public JobJournal(string path, string process, string experiment, int fileMode = 0x1B4, int directoryMode = 0x5FD)
    {
        _directoryMode = directoryMode;
        Path = path;
        Process = Names.Process(process);
        Experiment = Names.Experiment(experiment);
        _fileMode = fileMode;
    }

    public string Path { get; }
    public string Process { get; }
    public string Experiment { get; }

    /// <summary>Lines that could not be read (torn writes, foreign text); they are skipped.</summary>
    public int BadLines { get; private set; }

    /// <summary>Lines replayed since the last compaction (for the compaction decision).</summary>
    public int Lines { get; private set; }

    /// <summary>Every job, in submission order (after <see cref="Refresh"/>).</summary>
    public IReadOnlyList<ProcJob> Jobs => _order;

    public ProcJob? Find(string name) => _jobs.GetValueOrDefault(name);

    /// <summary>Reads what was appended since the last call (everything after a compaction).</summary>
    public void Refresh()
    {
        var fs = SafeFile.OpenRead(Path);
        if (fs is null)
        {
            Reset();
            return;
        }
        using (fs)
        {
            var first = ReadFirstLine(fs);
            if (fs.Length < _offset || first != _firstLine)
                Reset();
            _firstLine = first;
            if (fs.Length == _offset)
                return;
            fs.Seek(_offset, SeekOrigin.Begin);
            var buffer = new byte[fs.Length - _offset];
            fs.ReadExactly(buffer);
            // Only complete lines: a line still being written is read next time.
            var lastNewline = Array.LastIndexOf(buffer, (byte)'\n');
            if (lastNewline < 0)
                return;
            // A UTF-8 byte-order mark (an editor's save) is not part of the first record, as in the other DB readers.
            var skip = _offset == 0 && buffer.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
            var text = Encoding.UTF8.GetString(buffer, skip, lastNewline + 1 - skip);
            _offset += lastNewline + 1;
            foreach (var line in text.Split('\n'))
                if (line.Length > 0)
                    ApplyLine(line);
        }
    }

    private void Reset()
    {
        _jobs.Clear();
        _order.Clear();
        _offset = 0;
        _firstLine = null;
        BadLines = 0;
        Lines = 0;
    }

    /// <summary>Persists poll counts that changed without a state change (one line for all of them), so the next process numbers on.</summary>
    public void AppendPollCounts(IReadOnlyDictionary<string, int> counts)
    {
        if (counts.Count > 0)
            Append(new JournalEvent { Event = "polls", Name = "-", PollCounts = new Dictionary<string, int>(counts, StringComparer.Ordinal) });
    }

    private static string? ReadFirstLine(FileStream fs)
    {
        var buf = new byte[Math.Min(fs.Length, 4096)];
        fs.Seek(0, SeekOrigin.Begin);
        var n = fs.Read(buf, 0, buf.Length);
        var nl = Array.IndexOf(buf, (byte)'\n', 0, n);
        return nl < 0 ? null : Encoding.UTF8.GetString(buf, 0, nl);
    }

    private void ApplyLine(string line)
    {
        JournalEvent? e;
        try { e = JsonSerializer.Deserialize<JournalEvent>(line, Json); }
        catch (JsonException) { BadLines++; return; }
        // Valid JSON is not yet a valid event: a foreign or damaged line may hold nulls or an impossible run.
        if (e is null || string.IsNullOrEmpty(e.Name) || e.Event is null || e.Run is { } run && !Names.IsRun(run)) { BadLines++; return; }
        Lines++;
        if (e.Event == "compacted")
            return;
        Apply(e);
    }

    /// <summary>Folds one event into the state (also used right after appending it).</summary>
    private void Apply(JournalEvent e)
    {
        if (e.Event == "polls")
        {
            foreach (var (name, polls) in e.PollCounts ?? new Dictionary<string, int>())
                if (_jobs.TryGetValue(name, out var polled))
                    polled.Polls = Math.Max(polled.Polls, polls);
            return;
        }
        _jobs.TryGetValue(e.Name, out var job);
        switch (e.Event)
        {
            case "intent":
            case "job":
                if (e.Run is not { } run || job is not null)
                {
                    if (job is null) BadLines++;
                    else if (e.Event == "job") Fill(job, e);
                    return;
                }
                job = new ProcJob { Process = Process, Experiment = Experiment, Run = run, Name = e.Name, Submitted = e.Submitted ?? e.Time, Updated = e.Time };
                _jobs[e.Name] = job;
                _order.Add(job);
                if (e.Parts is > 1 and <= 100000)
                    job.SetParts(e.Parts.Value);
                Fill(job, e);
                RestoreParts(job, e);
                if (e.Event == "intent")
                {
                    job.State = JobState.Submitting;
                    job.SchedulerState = "SUBMITTING";
                }
                return;
        }
        if (job is null) { BadLines++; return; }
        job.Updated = e.Time;
        switch (e.Event)
        {
            case "submitted":
                job.JobId = e.JobId ?? job.JobId;
                if (job.State == JobState.Submitting)
                {
                    job.State = JobState.Pending;
                    job.SchedulerState = "SUBMITTED";
                }
                break;
            case "state":
                Fill(job, e);
                break;
            case "void":
                job.State = JobState.NotSubmitted;
                job.SchedulerState = "NOTSUBMITTED";
                job.Reason = e.Reason ?? job.Reason;
                break;
            case "cancel":
                job.CancelRequested = true;
                break;
            case "sub-intent":
            case "sub-submitted":
            case "sub-void":
            case "part-state":
                ApplyPart(job, e);
                break;
        }
    }

    /// <summary>Folds a split run's part event into its attempt.</summary>
    private void ApplyPart(ProcJob job, JournalEvent e)
    {
        if (job.Parts < 2) { BadLines++; return; }
        var parts = job.PartJobs;
        switch (e.Event)
        {
            case "sub-intent":
                job.Submissions++;
                foreach (var i in e.Indices ?? System.Array.Empty<int>())
                {
                    if (i < 0 || i >= parts.Count) continue;
                    var p = parts[i];
                    p.Submission = e.Submission ?? "";
                    p.JobId = "";
                    p.State = JobState.Submitting;
                    p.SchedulerState = "SUBMITTING";
                    p.ExitCode = null;
                    p.Tries++;
                    p.StatusFile = (e.Status ?? "").Replace(CommandTemplate.PartToken, i.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
                }
                break;
            case "sub-submitted":
            case "sub-void":
                foreach (var p in parts.Where(p => p.Submission == e.Submission && p.State == JobState.Submitting))
                {
                    if (e.Event == "sub-void")
                    {
                        p.State = JobState.NotSubmitted;
                        p.SchedulerState = "NOTSUBMITTED";
                        p.Tries--;
                        continue;
                    }
                    p.JobId = e.Array == true ? $"{e.JobId}_{p.Index.ToString(CultureInfo.InvariantCulture)}" : e.JobId ?? "";
                    p.State = JobState.Pending;
                    p.SchedulerState = "SUBMITTED";
                }
                if (e.Event == "sub-submitted" && job.JobId.Length == 0 && e.Array == true)
                    job.JobId = e.JobId ?? ""; // the attempt shows its (first) array's id
                break;
            case "part-state":
                if (e.Indices is not { Length: 1 } || e.Indices[0] < 0 || e.Indices[0] >= parts.Count) { BadLines++; return; }
                var part = parts[e.Indices[0]];
                if (e.State is not null && Enum.TryParse<JobState>(e.State, true, out var st)) part.State = st;
                if (e.SchedulerState is not null) part.SchedulerState = e.SchedulerState;
                if (e.ExitCode is not null) part.ExitCode = e.ExitCode;
                if (e.JobId is not null) part.JobId = e.JobId;
                if (e.Untry == true) part.Tries--;
                break;
        }
    }

    private static void Fill(ProcJob job, JournalEvent e)
    {
        if (e.Attempt is { } a) job.Attempt = a;
        if (e.Scheduler is { } s && Enum.TryParse<SchedulerKind>(s, true, out var k)) job.Scheduler = k;
        if (e.Queue is not null) job.Queue = e.Queue;
        if (e.Log is not null) job.LogFile = e.Log;
        if (e.Status is not null) job.StatusFile = e.Status;
        if (e.Argv is not null) job.Command = e.Argv;
        if (e.Parameters is not null) job.Parameters = e.Parameters;
        if (e.JobId is not null) job.JobId = e.JobId;
        if (e.State is not null && Enum.TryParse<JobState>(e.State, true, out var st)) job.State = st;
        if (e.SchedulerState is not null) job.SchedulerState = e.SchedulerState;
        if (e.ExitCode is not null) job.ExitCode = e.ExitCode;
        if (e.Reason is not null) job.Reason = e.Reason.Length == 0 ? null : e.Reason;
        if (e.LastError is not null) job.LastError = e.LastError.Length == 0 ? null : e.LastError;
        if (e.Polls is not null) job.Polls = e.Polls.Value;
        if (e.Started is not null) job.Started = e.Started;
        if (e.Ended is not null) job.Ended = e.Ended;
        if (e.CancelRequested == true) job.CancelRequested = true;
        job.Updated = e.Time;
    }

    /// <summary>Appends events as whole lines (one write, fsync'd) and applies them. The caller holds the DB write lock.</summary>
    public void Append(params JournalEvent[] events)
    {
        Refresh();
        SafeFile.EnsureDirectory(System.IO.Path.GetDirectoryName(Path)!, _directoryMode);
        SafeFile.AppendLines(Path, events.Select(e => JsonSerializer.Serialize(e, Json)), _fileMode);
        // Our own lines are read back by the next Refresh; apply now so callers see them at once.
        Refresh();
    }

    private static void RestoreParts(ProcJob job, JournalEvent e)
    {
        if (e.Event != "job" || job.Parts < 2 || e.PartList is null)
            return;
        job.Submissions = e.Submissions ?? 0;
        foreach (var s in e.PartList)
        {
            if (s.Index < 0 || s.Index >= job.PartJobs.Count) continue;
            var p = job.PartJobs[s.Index];
            p.Submission = s.Submission;
            p.JobId = s.JobId;
            if (Enum.TryParse<JobState>(s.State, true, out var st)) p.State = st;
            p.SchedulerState = s.SchedulerState;
            p.ExitCode = s.ExitCode;
            p.Tries = s.Tries;
            p.StatusFile = s.StatusFile;
        }
    }

    /// <summary>The event that records a job's current state in full (a compaction snapshot line).</summary>
    public static JournalEvent Snapshot(ProcJob j) => new()
    {
        Time = j.Updated,
        Event = "job",
        Name = j.Name,
        Run = j.Run,
        Attempt = j.Attempt,
        Scheduler = j.Scheduler.ToString(),
        Queue = j.Queue,
        Log = j.LogFile,
        Status = j.StatusFile,
        Argv = j.Command.ToArray(),
        JobId = j.JobId,
        State = j.State.ToString(),
        SchedulerState = j.SchedulerState,
        ExitCode = j.ExitCode,
        Reason = j.Reason ?? "",
        LastError = j.LastError,
        Parameters = j.Parameters.Count > 0 ? new Dictionary<string, string>(j.Parameters) : null,
        Polls = j.Polls,
        Started = j.Started,
        Ended = j.Ended,
        Submitted = j.Submitted,
        CancelRequested = j.CancelRequested ? true : null,
        Parts = j.Parts > 1 ? j.Parts : null,
        Submissions = j.Parts > 1 ? j.Submissions : null,
        PartList = j.Parts > 1
            ? j.PartJobs.Select(p => new PartSnapshot
            {
                Index = p.Index, Submission = p.Submission, JobId = p.JobId, State = p.State.ToString(), SchedulerState = p.SchedulerState,
                ExitCode = p.ExitCode, Tries = p.Tries, StatusFile = p.StatusFile,
            }).ToArray()
            : null,
    };

    /// <summary>Whether the file has grown well past one line per job.</summary>
    public bool NeedsCompaction => Lines > 200 && Lines > 4 * _order.Count;

    /// <summary>Rewrites the journal as one snapshot line per job (write-temp-then-rename). The caller holds the DB write lock.</summary>
    public void Compact()
    {
        Refresh();
        var sb = new StringBuilder();
        // A unique first line: a reader holding an offset into the old file sees the change and replays from the start.
        sb.Append(JsonSerializer.Serialize(new JournalEvent { Event = "compacted", Name = "-", Reason = Guid.NewGuid().ToString("N") }, Json)).Append('\n');
        foreach (var j in _order)
            sb.Append(JsonSerializer.Serialize(Snapshot(j), Json)).Append('\n');
        SafeFile.WriteAllTextAtomic(Path, sb.ToString(), _fileMode);
        Reset();
        Refresh();
    }

    internal static string Serialize(JournalEvent e) => JsonSerializer.Serialize(e, Json);
}
