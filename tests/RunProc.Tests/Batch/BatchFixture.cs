using System.Collections;
using RunProc.Batch;
using RunProc.Config;
using RunProc.Db;
using RunProc.Tests.Catalog;

namespace RunProc.Tests.Batch;

/// <summary>A scheduler double whose jobs the test moves through their states; used to kill the controller at exact steps.</summary>
internal sealed class FakeScheduler : IScheduler
{
    public enum SubmitMode { Ok, FailWithoutJob, CreateThenTransientError, CreateThenPermanentError }

    private readonly object _gate = new();
    private int _next = 100;

    public Dictionary<string, (string Name, JobState State, string Word, int? Exit)> Jobs { get; } = new();

    /// <summary>What each submission asked for, by job id.</summary>
    public Dictionary<string, JobSpec> Specs { get; } = new();
    public SubmitMode Mode { get; set; } = SubmitMode.Ok;
    public bool FailQueries { get; set; }
    public int QueryCalls { get; private set; }
    public SchedulerKind Kind => SchedulerKind.Slurm;

    public IReadOnlyList<string> SubmitArgv(JobSpec spec) => new[] { "fake-submit", spec.Name }.Concat(spec.Command).ToList();

    public string Submit(JobSpec spec, CancellationToken cancel)
    {
        lock (_gate)
        {
            if (Mode == SubmitMode.FailWithoutJob)
                throw new SchedulerException("refused", transient: false);
            var id = (_next++).ToString();
            Specs[id] = spec;
            if (spec.ArrayIndices is { } list)
            {
                // A job array: one task per index ("0-3" or "2,5"), as squeue -r lists them.
                foreach (var part in list.Contains('-')
                    ? Enumerable.Range(int.Parse(list.Split('-')[0]), int.Parse(list.Split('-')[1]) - int.Parse(list.Split('-')[0]) + 1)
                    : list.Split(',').Select(int.Parse))
                    Jobs[$"{id}_{part}"] = (spec.Name, JobState.Pending, "PENDING", null);
            }
            else
                Jobs[id] = (spec.Name, JobState.Pending, "PENDING", null);
            if (Mode == SubmitMode.CreateThenTransientError)
                throw new SchedulerException("Socket timed out on send/recv operation", transient: true);
            if (Mode == SubmitMode.CreateThenPermanentError)
                throw new SchedulerException("odd error after creating the job", transient: false);
            return id;
        }
    }

    public SchedulerQuery Query(IReadOnlyCollection<string> jobIds, CancellationToken cancel)
    {
        lock (_gate)
        {
            QueryCalls++;
            if (FailQueries)
                return new SchedulerQuery { Unanswered = jobIds.ToHashSet(), Problem = "controller down", Commands = 1 };
            // An array's id answers with its tasks, as squeue -r -j does.
            var ids = jobIds.SelectMany(i => Jobs.Keys.Where(k => k == i || k.StartsWith(i + "_", StringComparison.Ordinal))).ToList();
            var known = ids.ToDictionary(i => i, i => new SchedulerJobStatus(i, Jobs[i].State, Jobs[i].Word, null, Jobs[i].Exit, Jobs[i].Name));
            return new SchedulerQuery { Known = known, Commands = 1 };
        }
    }

    public IReadOnlyList<SchedulerJobStatus> FindByName(string name, CancellationToken cancel)
    {
        lock (_gate)
            return Jobs.Where(j => j.Value.Name == name).Select(j => new SchedulerJobStatus(j.Key, j.Value.State, j.Value.Word, null, null, name)).ToList();
    }

    public List<string> Cancelled { get; } = new();

    public void Cancel(string jobId, CancellationToken cancel)
    {
        lock (_gate)
        {
            Cancelled.Add(jobId);
            foreach (var k in Jobs.Keys.Where(k => k == jobId || k.StartsWith(jobId + "_", StringComparison.Ordinal)).ToList())
                if (Jobs[k].State.IsActive())
                    Jobs[k] = Jobs[k] with { State = JobState.Cancelled, Word = "CANCELLED" };
        }
    }

    /// <summary>Ends every active job with the given state.</summary>
    public void EndAll(JobState state, string word, int? exit = null)
    {
        lock (_gate)
            foreach (var k in Jobs.Keys.ToList())
                if (Jobs[k].State.IsActive())
                    Jobs[k] = Jobs[k] with { State = state, Word = word, Exit = exit };
    }

    public void Set(string id, JobState state, string word, int? exit = null) { lock (_gate) Jobs[id] = Jobs[id] with { State = state, Word = word, Exit = exit }; }

    public int CountFor(string exp, int run) { lock (_gate) return Jobs.Values.Count(j => j.Name.Contains($".{exp}.r{run:0000}.")); }
}

/// <summary>A temp facility with one process 'p' (Slurm kind, served by a <see cref="FakeScheduler"/>) and the real ProcDb.</summary>
internal sealed class BatchFixture : IDisposable
{
    /// <param name="extra">Top-level config keys.</param>
    /// <param name="process">More keys of process p.</param>
    public BatchFixture(int attempts = 3, int maxJobs = 2, string scheduler = "Slurm", object[]? command = null, int parts = 1, Hashtable? extra = null, Hashtable? process = null)
    {
        Facility = new Facility(settleSeconds: 0, new Hashtable(extra ?? new Hashtable())
        {
            ["Processes"] = new Hashtable
            {
                ["p"] = new Hashtable(process ?? new Hashtable())
                {
                    ["Command"] = command ?? (parts > 1 ? new object[] { "/bin/sh", "-c", "exit 0", "{exp}", "{run}", "{part}" } : new object[] { "/bin/sh", "-c", "exit 0", "{exp}", "{run}" }),
                    ["Scheduler"] = scheduler,
                    ["Attempts"] = attempts,
                    ["MaxJobs"] = maxJobs,
                    ["Parts"] = parts,
                    ["MergeCommand"] = parts > 1 ? new object[] { "/bin/sh", "-c", "exit 0", "merge", "{exp}", "{run}", "{parts}" } : null,
                },
            },
        });
        Db = new ProcDb(Config, "p");
    }

    public Facility Facility { get; }
    public RunProcConfig Config => Facility.Config;
    public ProcDb Db { get; }
    public FakeScheduler Scheduler { get; } = new();

    public static string Wrapper => Path.Combine(AppContext.BaseDirectory, "scripts", "runproc-job.sh");

    public BatchController Controller(IScheduler? scheduler = null, bool realSchedulers = false) =>
        new(Db, Config.GetProcess("p"),
            new BatchEnvironment { WrapperScript = Wrapper, ConfigPath = Config.SourcePath, RecordCommand = "test" },
            realSchedulers ? null : _ => scheduler ?? Scheduler)
        {
            PendingScan = c => new RunScanQuery { All = true, Cancel = c, UseCache = false },
        };

    /// <summary>Settled runs on disk (pending for every process).</summary>
    public void Runs(string exp, params int[] runs)
    {
        foreach (var r in runs)
            Facility.Run(exp[..3].ToUpperInvariant(), exp, r, streams: 1);
    }

    public string[] ProcRunsLines(string exp) =>
        File.Exists(Db.ProcessedFile(exp)) ? File.ReadAllLines(Db.ProcessedFile(exp)) : Array.Empty<string>();

    public void Dispose() => Facility.Dispose();
}
