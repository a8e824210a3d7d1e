using System.Globalization;
using System.Text.RegularExpressions;

namespace RunProc.Batch;

/// <summary>
/// Parsing of Slurm's command output (formats observed on slurm 22.05, see
/// shared/reference/slurm-single-node.md) and the mapping of Slurm job states to <see cref="JobState"/>.
/// </summary>
public static class SlurmOutput
{
    /// <summary>Maps a Slurm state word (squeue %T, sacct State, scontrol JobState) to a RunProc state.</summary>
    public static JobState MapState(string slurmState)
    {
        // sacct writes "CANCELLED by 0"; squeue may abbreviate nothing with %T. Only the first word counts.
        var s = slurmState.Trim().Split(' ', 2)[0].TrimEnd('+').ToUpperInvariant();
        return s switch
        {
            "PENDING" or "PD" or "CONFIGURING" or "CF" or "REQUEUED" or "RQ" or "REQUEUE_HOLD" or "REQUEUE_FED" or "RESV_DEL_HOLD" => JobState.Pending,
            "RUNNING" or "R" or "COMPLETING" or "CG" or "RESIZING" or "SIGNALING" or "STAGE_OUT" or "SO" => JobState.Running,
            "SUSPENDED" or "S" or "STOPPED" or "ST" => JobState.Suspended,
            "COMPLETED" or "CD" => JobState.Done,
            "FAILED" or "F" or "NODE_FAIL" or "NF" or "BOOT_FAIL" or "BF" or "OUT_OF_MEMORY" or "OOM" or "SPECIAL_EXIT" or "SE" => JobState.Failed,
            "CANCELLED" or "CA" or "PREEMPTED" or "PR" or "REVOKED" or "RV" => JobState.Cancelled,
            "TIMEOUT" or "TO" or "DEADLINE" or "DL" => JobState.TimedOut,
            // An unknown word must never end a job: keep it active and show the word.
            _ => JobState.Running,
        };
    }

    /// <summary>Whether the state word is one MapState knows (an unknown one is kept active).</summary>
    public static bool IsKnownState(string slurmState) =>
        Regex.IsMatch(slurmState.Trim().Split(' ', 2)[0].TrimEnd('+').ToUpperInvariant(),
            "^(PENDING|PD|CONFIGURING|CF|REQUEUED|RQ|REQUEUE_HOLD|REQUEUE_FED|RESV_DEL_HOLD|RUNNING|R|COMPLETING|CG|RESIZING|SIGNALING|STAGE_OUT|SO|SUSPENDED|S|STOPPED|ST|COMPLETED|CD|FAILED|F|NODE_FAIL|NF|BOOT_FAIL|BF|OUT_OF_MEMORY|OOM|SPECIAL_EXIT|SE|CANCELLED|CA|PREEMPTED|PR|REVOKED|RV|TIMEOUT|TO|DEADLINE|DL)$");

    /// <summary>
    /// <c>sbatch --parsable</c>: the job id alone ("7", or "7;cluster"). Informational lines such as
    /// "temporarily unable to accept job, sleeping and retrying" may precede it.
    /// </summary>
    public static string? ParseSbatch(string stdout)
    {
        foreach (var line in stdout.Split('\n'))
        {
            var m = Regex.Match(line.Trim(), @"^(\d+)(;\S+)?$");
            if (m.Success)
                return m.Groups[1].Value;
        }
        return null;
    }

    /// <summary><c>squeue -h -t all -o '%i %T %r'</c>: "7 PENDING Priority", "8 FAILED NonZeroExitCode".</summary>
    public static IReadOnlyList<SchedulerJobStatus> ParseSqueue(string stdout)
    {
        var list = new List<SchedulerJobStatus>();
        foreach (var raw in stdout.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0)
                continue;
            var f = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 2 || !Regex.IsMatch(f[0], @"^\d+(_\d+)?$"))
                continue; // a header or a message, not a job row
            var reason = f.Length > 2 ? f[2] : null;
            list.Add(new SchedulerJobStatus(f[0], MapState(f[1]), f[1], reason == "None" ? null : reason));
        }
        return list;
    }

    /// <summary>
    /// <c>sacct -c -n -P -o JobID,State,ExitCode[,JobName]</c>: "7|COMPLETED|0:0", "8|FAILED|3:0",
    /// "12|FAILED|0:9" (exit:signal). Step rows ("7.batch") are skipped; the last row of a job id wins.
    /// </summary>
    public static IReadOnlyList<SchedulerJobStatus> ParseSacct(string stdout)
    {
        var byId = new Dictionary<string, SchedulerJobStatus>(StringComparer.Ordinal);
        foreach (var raw in stdout.Split('\n'))
        {
            var f = raw.Trim().Split('|');
            if (f.Length < 3 || !Regex.IsMatch(f[0], @"^\d+(_\d+)?$"))
                continue;
            var state = f[1].Trim();
            var (exit, signal) = ParseExitCode(f[2]);
            string? reason = signal is > 0 ? $"signal {signal}" : null;
            var name = f.Length > 3 ? f[3] : null;
            byId[f[0]] = new SchedulerJobStatus(f[0], MapState(state), state.Split(' ', 2)[0], reason, exit, name);
        }
        return byId.Values.ToList();
    }

    /// <summary><c>scontrol show job ID</c>: JobId=, JobName=, JobState=, Reason=, ExitCode=exit:signal.</summary>
    public static SchedulerJobStatus? ParseScontrol(string stdout)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match m in Regex.Matches(stdout, @"(?:^|\s)(JobId|JobName|JobState|Reason|ExitCode)=(\S*)"))
            fields.TryAdd(m.Groups[1].Value, m.Groups[2].Value);
        if (!fields.TryGetValue("JobId", out var id) || !fields.TryGetValue("JobState", out var state))
            return null;
        var (exit, signal) = fields.TryGetValue("ExitCode", out var ec) ? ParseExitCode(ec) : (null, null);
        var reason = fields.GetValueOrDefault("Reason");
        if (reason is "None" or "(null)") reason = null;
        if (signal is > 0) reason = (reason is null ? "" : reason + ", ") + $"signal {signal}";
        return new SchedulerJobStatus(id, MapState(state), state, reason, exit, fields.GetValueOrDefault("JobName"));
    }

    /// <summary>"3:0" -> (3, 0); "0:9" -> (0, 9).</summary>
    public static (int? Exit, int? Signal) ParseExitCode(string text)
    {
        var p = text.Trim().Split(':');
        int? e = p.Length > 0 && int.TryParse(p[0], NumberStyles.None, CultureInfo.InvariantCulture, out var x) ? x : null;
        int? s = p.Length > 1 && int.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out var y) ? y : null;
        return (e, s);
    }

    /// <summary>squeue's answer when every listed id is unknown to the controller (exit 1).</summary>
    public static bool IsInvalidJobId(string stderr) => stderr.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase);
}
