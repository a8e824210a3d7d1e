using System.Globalization;
using System.Text.RegularExpressions;
using RunProc.Config;

namespace RunProc.Batch;

/// <summary>A process setting that cannot be used, naming its key (e.g. "Account").</summary>
public sealed class ResourceException(string key, string message) : ArgumentException(message)
{
    public string Key { get; } = key;
}

/// <summary>
/// What a job asks the batch system for (a process's Account, Qos, Cpus, MemoryGB, Gpus,
/// Constraint, Reservation, Nodes, SchedulerArguments), with placeholders expanded for one run.
/// Each scheduler turns it into its own options, one argv element each, never through a shell.
/// </summary>
public sealed record BatchResources
{
    public static readonly BatchResources None = new();

    public string Account { get; init; } = "";
    public string Qos { get; init; } = "";
    public int Cpus { get; init; }
    public int MemoryGB { get; init; }
    public int Gpus { get; init; }
    public string Constraint { get; init; } = "";
    public string Reservation { get; init; } = "";
    public int Nodes { get; init; } = 1;
    public IReadOnlyList<string> SchedulerArguments { get; init; } = Array.Empty<string>();

    // Account, Qos and Reservation names at real sites: "lcls:xpptut15", "normal", "maint_2026".
    private static readonly Regex NameLike = new("^[A-Za-z0-9_.:@+-]{1,128}$", RegexOptions.CultureInvariant);

    // Slurm's feature expressions: "a100&nvlink", "[rack1|rack2]", "skylake*2".
    private static readonly Regex ConstraintLike = new(@"^[A-Za-z0-9_.:&|\[\]()*,!-]{1,256}$", RegexOptions.CultureInvariant);

    /// <summary>The process's resources for one run (placeholders filled); throws <see cref="ResourceException"/> naming the setting.</summary>
    public static BatchResources For(ProcessDefinition p, TemplateValues v)
    {
        string text(string key, string value, Regex shape, string example)
        {
            if (value.Length == 0)
                return "";
            string expanded;
            try { expanded = CommandTemplate.ExpandText(value, v, key); }
            catch (ArgumentException ex) when (ex is not ResourceException) { throw new ResourceException(key, ex.Message); }
            if (!shape.IsMatch(expanded))
                throw new ResourceException(key, $"'{Names.Show(expanded)}' is not a valid {key} (e.g. {example}).");
            return expanded;
        }
        var args = new List<string>();
        for (var i = 0; i < p.SchedulerArguments.Count; i++)
        {
            string a;
            try { a = CommandTemplate.ExpandText(p.SchedulerArguments[i] ?? "", v, $"SchedulerArguments element {i}"); }
            catch (ArgumentException ex) { throw new ResourceException("SchedulerArguments", ex.Message); }
            // An element that does not start with '-' would be taken as the job script or a stray value.
            if (!a.StartsWith('-') || a.Length < 2 || a.Contains('\0') || a.Contains('\n'))
                throw new ResourceException("SchedulerArguments",
                    $"element {i} '{Names.Show(a)}' must be one option starting with '-', with its value in the same element (e.g. '--licenses=scratch:1', '--exclusive').");
            args.Add(a);
        }
        return new BatchResources
        {
            Account = text("Account", p.Account, NameLike, "'lcls:{exp}'"),
            Qos = text("Qos", p.Qos, NameLike, "'normal'"),
            Cpus = p.Cpus,
            MemoryGB = p.MemoryGB,
            Gpus = p.Gpus,
            Constraint = text("Constraint", p.Constraint, ConstraintLike, "'a100' or 'skylake&ib'"),
            Reservation = text("Reservation", p.Reservation, NameLike, "'maint'"),
            Nodes = p.Nodes,
            SchedulerArguments = args,
        };
    }

    /// <summary>Checks a process's resources without a run (config validation): placeholders, shapes, what its scheduler can express.</summary>
    public static void Validate(ProcessDefinition p)
    {
        _ = For(p, CommandTemplate.CheckValues);
        if (p.Scheduler == SchedulerKind.Lsf)
        {
            if (p.Qos.Length > 0)
                throw new ResourceException("Qos", "LSF has no quality of service option; remove Qos (LSF service classes: SchedulerArguments cannot hold '-sla <name>', ask for a queue instead).");
            if (p.Nodes > 1)
                throw new ResourceException("Nodes", "Nodes > 1 is written for Slurm only; on LSF ask for slots with Cpus (bsub -n) instead.");
        }
        if (p.Parts > 1)
            CommandTemplate.Validate(p.MergeCommand);
    }

    /// <summary>Slurm's options (sbatch), in a fixed order.</summary>
    public IReadOnlyList<string> SlurmOptions()
    {
        var o = new List<string>();
        if (Account.Length > 0) o.Add("--account=" + Account);
        if (Qos.Length > 0) o.Add("--qos=" + Qos);
        if (Cpus > 0) o.Add("--cpus-per-task=" + Cpus.ToString(CultureInfo.InvariantCulture));
        if (MemoryGB > 0) o.Add("--mem=" + MemoryGB.ToString(CultureInfo.InvariantCulture) + "G");
        if (Gpus > 0) o.Add("--gpus=" + Gpus.ToString(CultureInfo.InvariantCulture));
        if (Constraint.Length > 0) o.Add("--constraint=" + Constraint);
        if (Reservation.Length > 0) o.Add("--reservation=" + Reservation);
        if (Nodes > 1) o.Add("--nodes=" + Nodes.ToString(CultureInfo.InvariantCulture));
        o.AddRange(SchedulerArguments);
        return o;
    }

    /// <summary>LSF's options (bsub), in a fixed order. Memory is asked for in GB explicitly, whatever the site's LSF_UNIT_FOR_LIMITS.</summary>
    public IReadOnlyList<string> LsfOptions()
    {
        var o = new List<string>();
        if (Account.Length > 0) o.AddRange(new[] { "-P", Account });
        if (Cpus > 0) o.AddRange(new[] { "-n", Cpus.ToString(CultureInfo.InvariantCulture) });
        if (MemoryGB > 0) o.AddRange(new[] { "-R", $"rusage[mem={MemoryGB.ToString(CultureInfo.InvariantCulture)}GB]" });
        if (Constraint.Length > 0) o.AddRange(new[] { "-R", $"select[{Constraint}]" });
        if (Gpus > 0) o.AddRange(new[] { "-gpu", "num=" + Gpus.ToString(CultureInfo.InvariantCulture) });
        if (Reservation.Length > 0) o.AddRange(new[] { "-U", Reservation });
        o.AddRange(SchedulerArguments);
        return o;
    }
}
