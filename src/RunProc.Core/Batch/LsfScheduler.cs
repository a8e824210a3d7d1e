using System.Globalization;
using System.Text.RegularExpressions;
using RunProc.Config;

namespace RunProc.Batch;

/// <summary>
/// Parsing of LSF command output (as the original tool saw it, shared/reference/original-system.md)
/// and the mapping of the LSF STAT column to <see cref="JobState"/>.
/// </summary>
public static class LsfOutput
{
    /// <summary>PEND RUN DONE EXIT PSUSP USUSP SSUSP UNKWN WAIT ZOMBI -> RunProc state.</summary>
    public static JobState MapState(string stat) => stat.Trim().ToUpperInvariant() switch
    {
        "PEND" or "WAIT" => JobState.Pending,
        "RUN" => JobState.Running,
        "PSUSP" or "USUSP" or "SSUSP" => JobState.Suspended,
        "DONE" => JobState.Done,
        "EXIT" => JobState.Failed,
        // A job killed while its host was unreachable.
        "ZOMBI" => JobState.Cancelled,
        // UNKWN: mbatchd lost contact with the execution host; the job may still run. Keep it active.
        _ => JobState.Running,
    };

    /// <summary><c>bsub</c>: "Job &lt;849160&gt; is submitted to queue &lt;psnehq&gt;." -> (849160, psnehq).</summary>
    public static (string JobId, string? Queue)? ParseBsub(string stdout)
    {
        var m = Regex.Match(stdout, @"Job <(\d+(?:\[\d+\])?)> is submitted to (?:default )?queue <([^>]*)>");
        return m.Success ? (m.Groups[1].Value, m.Groups[2].Value) : null;
    }

    /// <summary>
    /// <c>bjobs [-a] [-w] ids</c>: a header "JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME SUBMIT_TIME",
    /// then one row per job, or per element of a job array; STAT is the 3rd column (EXEC_HOST is
    /// blank for pending jobs, so later columns shift: only JOBID, USER, STAT and QUEUE are read by
    /// position). An array element's row (IBM LSF 10.1, "Job arrays" and LSB_BJOBS_DISPLAY_ENH in
    /// lsf.conf) carries the array's id in JOBID and "name[index]" in JOB_NAME, or, with
    /// LSB_BJOBS_DISPLAY_ENH=Y, "id[index]" in JOBID: either way it is returned as RunProc's task
    /// id <c>id_part</c> (<see cref="TaskId"/>), the part being LSF's index - 1.
    /// </summary>
    public static IReadOnlyList<SchedulerJobStatus> ParseBjobs(string stdout)
    {
        var list = new List<SchedulerJobStatus>();
        foreach (var raw in stdout.Split('\n'))
        {
            var f = raw.Trim().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            var id = f.Length >= 3 ? Regex.Match(f[0], @"^(\d+)(?:\[(\d+)\])?$") : Match.Empty;
            if (!id.Success)
                continue; // header, blank or message line
            string? name = f.Length >= 7 && f[2] != "PEND" ? f[6] : f.Length >= 6 && f[2] == "PEND" ? f[5] : null;
            var index = id.Groups[2].Success ? id.Groups[2].Value : null;
            if (name is not null && Regex.Match(name, @"^(.+)\[(\d+)\]$") is { Success: true } element)
            {
                index ??= element.Groups[2].Value;
                name = element.Groups[1].Value;
            }
            var jobId = index is null ? id.Groups[1].Value : TaskId(id.Groups[1].Value, int.Parse(index, NumberStyles.None, CultureInfo.InvariantCulture));
            list.Add(new SchedulerJobStatus(jobId, MapState(f[2]), f[2].ToUpperInvariant(), null, null, name));
        }
        return list;
    }

    /// <summary>
    /// RunProc's id of an array element: "&lt;array id&gt;_&lt;part&gt;" as on Slurm, the part (0-based) being
    /// LSF's index (1-based) - 1, so the journal, afterok lists and Get-ProcJob read alike on both.
    /// </summary>
    public static string TaskId(string arrayId, int lsfIndex) => $"{arrayId}_{(lsfIndex - 1).ToString(CultureInfo.InvariantCulture)}";

    /// <summary>LSF's spelling of a RunProc id: "849160_2" → "849160[3]"; a plain id as it is.</summary>
    public static string LsfId(string id)
    {
        var m = Regex.Match(id, @"^(\d+)_(\d+)$");
        return m.Success ? $"{m.Groups[1].Value}[{(int.Parse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture) + 1).ToString(CultureInfo.InvariantCulture)}]" : id;
    }

    /// <summary>The array of a RunProc id ("849160_2" → "849160"), or the id itself.</summary>
    public static string ArrayOf(string id) => Regex.Match(id, @"^(\d+)_\d+$") is { Success: true } m ? m.Groups[1].Value : id;

    /// <summary>
    /// LSF's index list of a job array for parts given as RunProc's list ("0-3" → "1-4", "2,5" → "3,6"):
    /// LSF indices start at 1 (bsub -J), parts at 0.
    /// </summary>
    public static string IndexList(string parts)
    {
        var runs = new List<string>();
        var sorted = JobFiles.Parts(parts).Distinct().Order().ToList();
        for (var i = 0; i < sorted.Count;)
        {
            var j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1) j++;
            var from = (sorted[i] + 1).ToString(CultureInfo.InvariantCulture);
            runs.Add(j > i ? $"{from}-{(sorted[j] + 1).ToString(CultureInfo.InvariantCulture)}" : from);
            i = j + 1;
        }
        return string.Join(",", runs);
    }

    /// <summary>
    /// The merge's dependency (bsub -w): every listed job or array element DONE, as Slurm's afterok.
    /// <c>done()</c>, not <c>ended()</c>: a merge after a failed part could only fail; the controller
    /// replaces a merge whose dependency can no longer be met (LSF keeps it pending) by one that waits for the part's retry.
    /// </summary>
    public static string DoneCondition(IEnumerable<string> ids) => string.Join(" && ", ids.Select(i => $"done({LsfId(i)})"));

    /// <summary>Ids bjobs reports as "Job &lt;123&gt; is not found".</summary>
    public static IReadOnlySet<string> ParseNotFound(string text) =>
        Regex.Matches(text, @"Job <(\d+)(?:\[(\d+)\])?> is not found")
            .Select(m => m.Groups[2].Success ? TaskId(m.Groups[1].Value, int.Parse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture)) : m.Groups[1].Value)
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>"No job found", "No unfinished job found", "No matching job found": an empty answer, not an error.</summary>
    public static bool IsNoJobMessage(string text) => Regex.IsMatch(text, @"No (unfinished |matching )?job found", RegexOptions.IgnoreCase);
}

/// <summary>
/// LSF: <c>bsub -q &lt;queue&gt; -o &lt;log&gt; -J &lt;name&gt; ... /bin/sh &lt;job script&gt;</c>, one <c>bjobs -a -w id id ...</c> per pass,
/// <c>bkill</c>. A job that bjobs no longer knows (past CLEAN_PERIOD) is judged by the wrapper's
/// status file, else Lost. The parts of a split run are one job array (<c>-J "name[1-N]%M"</c>,
/// each element's output in its own <c>-o …-task%I.txt</c>); the merge waits with <c>-w "done(id)"</c>.
/// </summary>
public sealed class LsfScheduler : IScheduler
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);
    private const int IdsPerCommand = 500;
    private readonly ICommandRunner _runner;
    private readonly int _fileMode;

    /// <param name="fileMode">Mode of the files created before a submission (job script, status and element output files).</param>
    public LsfScheduler(ICommandRunner? runner = null, int fileMode = 0x1B4)
    {
        _runner = runner ?? ProcessCommandRunner.Instance;
        _fileMode = fileMode;
    }

    public SchedulerKind Kind => SchedulerKind.Lsf;

    public IReadOnlyList<string> SubmitArgv(JobSpec spec)
    {
        var argv = new List<string> { "bsub" };
        if (spec.Queue.Length > 0)
            argv.AddRange(new[] { "-q", spec.Queue });
        argv.AddRange(spec.Resources.LsfOptions());
        var name = spec.Name;
        if (spec.ArrayIndices is { } parts)
            name += $"[{LsfOutput.IndexList(parts)}]" + (spec.ArrayThrottle > 0 ? "%" + spec.ArrayThrottle.ToString(CultureInfo.InvariantCulture) : "");
        argv.AddRange(new[]
        {
            // An array's elements write their output each to its own file (%I: LSF's index, part + 1).
            "-o", spec.ArrayIndices is null ? spec.LogFile : ElementLogFor(spec, "%I"), "-J", name, "-cwd", spec.WorkDirectory,
            "-W", spec.TimeLimitMinutes.ToString(CultureInfo.InvariantCulture),
        });
        if (spec.AfterOk.Count > 0)
            argv.AddRange(new[] { "-w", LsfOutput.DoneCondition(spec.AfterOk) });
        // bsub joins its command words into one line that a shell runs: the command is RunProc's job
        // script (one quoted word), and the script holds the wrapper and the job's argv POSIX-quoted.
        argv.AddRange(new[] { "/bin/sh", CommandTemplate.Quote(JobScriptFor(spec)) });
        return argv;
    }

    /// <summary>The stem of a submission's own files: its status file without ".status" (and, for an array, without the part).</summary>
    private static string Stem(JobSpec spec)
    {
        var stem = spec.StatusFile.EndsWith(".status", StringComparison.Ordinal) ? spec.StatusFile[..^".status".Length] : spec.StatusFile;
        return stem.Replace("-p" + CommandTemplate.PartToken, "", StringComparison.Ordinal).Replace(CommandTemplate.PartToken, "", StringComparison.Ordinal);
    }

    /// <summary>The job script beside the status file: log-&lt;exp&gt;-r&lt;RRRR&gt;-&lt;time&gt;[-s&lt;n&gt;].lsf.sh.</summary>
    public static string JobScriptFor(JobSpec spec) => Stem(spec) + ".lsf.sh";

    /// <summary>An array element's output file (bsub -o); <paramref name="index"/> is LSF's index or "%I".</summary>
    public static string ElementLogFor(JobSpec spec, string index) => $"{Stem(spec)}-task{index}.txt";

    /// <summary>The job script's text: the wrapper and the command, every word single-quoted, so no shell reinterprets any of it.</summary>
    public static string JobScript(JobSpec spec)
    {
        // An array element learns its part from LSB_JOBINDEX: runproc-part.sh puts it into the status file's name and the command.
        var launch = spec.ArrayIndices is null ? Array.Empty<string>() : new[] { "/bin/sh", spec.PartScript, "--" };
        return $"#!/bin/sh\n# RunProc LSF job {spec.Name}: every word below is POSIX-quoted; nothing in it is expanded.\nexec " +
            CommandTemplate.Display(launch.Concat(new[] { "/bin/sh", spec.WrapperScript, spec.StatusFile, "-", "0", "-", "0", "--" }).Concat(spec.Command)) + "\n";
    }

    public string Submit(JobSpec spec, CancellationToken cancel)
    {
        var script = JobScriptFor(spec);
        JobFiles.Guard(script, () => RunProc.IO.SafeFile.WriteAllTextAtomic(script, JobScript(spec), _fileMode));
        // The wrapper appends only to status files RunProc created (no link followed); LSF writes an element's output to its own file.
        JobFiles.Create(spec, _fileMode);
        if (spec.ArrayIndices is { } parts)
            foreach (var k in JobFiles.Parts(parts))
                JobFiles.Create(ElementLogFor(spec, (k + 1).ToString(CultureInfo.InvariantCulture)), _fileMode);
        var r = _runner.Run(SubmitArgv(spec), CommandTimeout, cancel);
        if (LsfOutput.ParseBsub(r.StdOut) is { } ok)
            return ok.JobId;
        var msg = SlurmScheduler.FirstLine(r.StdErr) ?? SlurmScheduler.FirstLine(r.StdOut) ?? $"exit code {r.ExitCode}";
        throw new SchedulerException($"bsub failed for job '{spec.Name}': {msg}", transient: r.ExitCode == 0 || msg.Contains("try again", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// One <c>bjobs -a -w</c> per pass (per 500 ids): an array asked for by its id answers with a row
    /// per element, each returned under RunProc's task id (<see cref="LsfOutput.TaskId"/>).
    /// </summary>
    public SchedulerQuery Query(IReadOnlyCollection<string> jobIds, CancellationToken cancel)
    {
        var known = new Dictionary<string, SchedulerJobStatus>(StringComparer.Ordinal);
        var unanswered = new HashSet<string>(StringComparer.Ordinal);
        string? problem = null;
        var commands = 0;
        foreach (var chunk in jobIds.Distinct().Chunk(IdsPerCommand))
        {
            commands++;
            var asked = chunk.ToHashSet(StringComparer.Ordinal);
            var argv = new List<string> { "bjobs", "-a", "-w" };
            argv.AddRange(chunk.Select(LsfOutput.LsfId));
            var r = _runner.Run(argv, CommandTimeout, cancel);
            var rows = LsfOutput.ParseBjobs(r.StdOut);
            foreach (var s in rows)
                if (asked.Contains(s.JobId) || asked.Contains(LsfOutput.ArrayOf(s.JobId)))
                    known[s.JobId] = s;
            var notFound = LsfOutput.ParseNotFound(r.StdErr + "\n" + r.StdOut);
            if (r.ExitCode != 0 && rows.Count == 0 && notFound.Count == 0 && !LsfOutput.IsNoJobMessage(r.StdErr + r.StdOut))
            {
                problem = $"bjobs failed: {SlurmScheduler.FirstLine(r.StdErr) ?? "exit code " + r.ExitCode}";
                unanswered.UnionWith(chunk.Where(i => !known.ContainsKey(i)));
            }
        }
        return new SchedulerQuery { Known = known, Unanswered = unanswered, Problem = problem, Commands = commands };
    }

    public IReadOnlyList<SchedulerJobStatus> FindByName(string name, CancellationToken cancel)
    {
        // An array's name finds its elements (their JOB_NAME is "name[index]").
        var r = _runner.Run(new[] { "bjobs", "-a", "-w", "-J", name }, CommandTimeout, cancel);
        var rows = LsfOutput.ParseBjobs(r.StdOut);
        if (rows.Count == 0 && r.ExitCode != 0 && !LsfOutput.IsNoJobMessage(r.StdErr + r.StdOut))
            throw new SchedulerException($"bjobs -J {name} failed: {SlurmScheduler.FirstLine(r.StdErr) ?? "exit code " + r.ExitCode}", transient: true);
        return rows.Select(s => s with { Name = name }).ToList();
    }

    /// <summary><c>bkill &lt;id&gt;</c>: a whole array by its id (every element), one element as <c>id[index]</c>.</summary>
    public void Cancel(string jobId, CancellationToken cancel)
    {
        var r = _runner.Run(new[] { "bkill", LsfOutput.LsfId(jobId) }, CommandTimeout, cancel);
        if (r.ExitCode != 0)
            throw new SchedulerException($"bkill {LsfOutput.LsfId(jobId)} failed: {SlurmScheduler.FirstLine(r.StdErr) ?? "exit code " + r.ExitCode}", transient: false);
    }
}
