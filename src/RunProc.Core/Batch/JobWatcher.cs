namespace RunProc.Batch;

/// <summary>What a <see cref="JobWatcher"/> reports: a job to output, a job name not found, a problem, or the state of the watch.</summary>
public enum WatchEventKind
{
    /// <summary>A job that ended (or, in a single pass, every watched job).</summary>
    Job,

    /// <summary>A job name given to watch that no journal of the process has.</summary>
    NotFound,

    /// <summary>A problem of a pass (a journal, a log, the scheduler), with what to do.</summary>
    Problem,

    /// <summary>How many jobs are still active after a pass, before the wait for the next.</summary>
    Progress,
}

/// <summary>One report of a <see cref="JobWatcher"/>, in the order it happened.</summary>
public sealed class WatchEvent
{
    public required WatchEventKind Kind { get; init; }
    public required string Process { get; init; }
    public ProcJob? Job { get; init; }

    /// <summary>The job name (NotFound) or the text (Problem, Progress).</summary>
    public string Message { get; init; } = "";
}

/// <summary>
/// Watch-ProcJob's use case: polls the jobs of one or more processes until they end, with one
/// batched scheduler query per process and pass (<see cref="BatchController.Reconcile"/>, which
/// appends the status lines, renames the logs of unsuccessful jobs and records the states). Each job
/// is reported when it ends; a single pass reports every watched job. Cancelling stops the watch
/// between passes; every pass is recorded as it happens, so nothing is undone.
/// </summary>
public sealed class JobWatcher
{
    // Per process: its controller and the job names watched (null: every active job of the journals).
    private readonly Dictionary<string, (BatchController Controller, HashSet<string>? Names)> _watch = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Watches <paramref name="names"/> of the process of <paramref name="controller"/>, or every active job when null.</summary>
    public void Add(BatchController controller, IEnumerable<string>? names)
    {
        var process = controller.Process.Name;
        if (names is null)
        {
            _watch[process] = (controller, null);
            return;
        }
        if (!_watch.TryGetValue(process, out var w))
            _watch[process] = w = (controller, new HashSet<string>(StringComparer.Ordinal));
        w.Names?.UnionWith(names); // already watching every job of the process: nothing to add
    }

    /// <summary>Whether anything is left to watch.</summary>
    public bool IsEmpty => _watch.Count == 0;

    /// <summary>What is watched, for the confirmation: "every active p job, 2 q job(s)".</summary>
    public string Description => string.Join(", ", _watch.Select(w => w.Value.Names is null ? $"every active {w.Key} job" : $"{w.Value.Names.Count} {w.Key} job(s)"));

    /// <summary>The wait between passes by default: the shortest PollSeconds of the watched processes.</summary>
    public TimeSpan DefaultInterval => TimeSpan.FromSeconds(_watch.Values.Min(w => w.Controller.Process.PollSeconds));

    /// <summary>
    /// Checks the job names given before the first pass: an unknown name is reported NotFound, a job
    /// that already ended is reported as it is; neither is watched.
    /// </summary>
    public IEnumerable<WatchEvent> CheckNames()
    {
        foreach (var (p, (controller, maybeNames)) in _watch.Where(w => w.Value.Names is not null).ToList())
        {
            var names = maybeNames!;
            var known = controller.Jobs().ToDictionary(j => j.Name, StringComparer.Ordinal);
            foreach (var n in names.ToList())
            {
                if (!known.TryGetValue(n, out var j))
                {
                    names.Remove(n);
                    yield return new WatchEvent { Kind = WatchEventKind.NotFound, Process = p, Message = n };
                }
                else if (!j.State.IsActive())
                {
                    names.Remove(n);
                    yield return new WatchEvent { Kind = WatchEventKind.Job, Process = p, Job = j };
                }
            }
            if (names.Count == 0)
                _watch.Remove(p);
        }
    }

    /// <summary>
    /// Polls until every watched job has ended (or one pass with <paramref name="once"/>), waiting
    /// <paramref name="interval"/> between passes; stops quietly when <paramref name="cancel"/> trips,
    /// or before a wait that would end past <paramref name="limit"/> from the start (jobs still active then are not reported).
    /// </summary>
    public IEnumerable<WatchEvent> Run(bool once, TimeSpan interval, CancellationToken cancel, TimeSpan? limit = null)
    {
        var pass = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (_watch.Count > 0 && !cancel.IsCancellationRequested)
        {
            pass++;
            var stillActive = 0;
            var counts = new Dictionary<JobState, int>();
            var events = new List<WatchEvent>();
            try
            {
                foreach (var (p, (controller, names)) in _watch.ToList())
                {
                    var r = controller.Reconcile(cancel, names);
                    foreach (var msg in r.Problems)
                        events.Add(new WatchEvent { Kind = WatchEventKind.Problem, Process = p, Message = msg });
                    foreach (var j in r.Jobs.Concat(r.Finished).GroupBy(j => j.Name).Select(g => g.Last()))
                    {
                        counts[j.State] = counts.GetValueOrDefault(j.State) + 1;
                        if (once || j.State.IsFinal())
                            events.Add(new WatchEvent { Kind = WatchEventKind.Job, Process = p, Job = j });
                        if (j.State.IsActive()) stillActive++;
                        else names?.Remove(j.Name);
                    }
                    if (names is not null && names.Count == 0)
                        _watch.Remove(p);
                }
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C in a pass: what it recorded stays recorded; report what was seen.
                stillActive = 0;
            }
            foreach (var e in events)
                yield return e;
            if (once || stillActive == 0 || _watch.Count == 0 || cancel.IsCancellationRequested || clock.Elapsed + interval > limit)
                yield break;
            yield return new WatchEvent
            {
                Kind = WatchEventKind.Progress, Process = string.Join(",", _watch.Keys),
                Message = $"pass {pass}: {stillActive} active (" + string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Value} {c.Key}")) + $"); next poll in {interval.TotalSeconds:0} s",
            };
            if (cancel.WaitHandle.WaitOne(interval))
                yield break;
        }
    }
}
