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
/// Constraint, Reservation, Nodes, SchedulerArguments). A process holds them as configured
/// (placeholders such as 'lcls:{exp}' unexpanded); <see cref="Expand"/> fills them for one run.
/// Each scheduler turns the expanded ones into its own options, one argv element each, never through a shell.
/// </summary>
public sealed record BatchResources
{
    public static readonly BatchResources None = new();

    /// <summary>Slurm --account / LSF -P; placeholders allowed (e.g. 'lcls:{exp}'); empty = none.</summary>
    public string Account { get; init; } = "";

    /// <summary>Slurm --qos; placeholders allowed; empty = none.</summary>
    public string Qos { get; init; } = "";

    /// <summary>CPUs per job (Slurm --cpus-per-task, LSF -n; local slots taken); 0 = the scheduler's default.</summary>
    public int Cpus { get; init; }

    /// <summary>Memory per job in GB (Slurm --mem=&lt;n&gt;G, LSF rusage[mem]); 0 = the scheduler's default. Not enforced locally.</summary>
    public int MemoryGB { get; init; }

    /// <summary>GPUs per job (Slurm --gpus, LSF -gpu num=); 0 = none.</summary>
    public int Gpus { get; init; }

    /// <summary>Slurm --constraint / LSF select[...]; empty = none.</summary>
    public string Constraint { get; init; } = "";

    /// <summary>Slurm --reservation / LSF -U; placeholders allowed; empty = none.</summary>
    public string Reservation { get; init; } = "";

    /// <summary>Nodes per job (Slurm --nodes; written when more than 1).</summary>
    public int Nodes { get; init; } = 1;

    /// <summary>Further scheduler options, each one argv element starting with '-' (placeholders allowed); never through a shell.</summary>
    public IReadOnlyList<string> SchedulerArguments { get; init; } = Array.Empty<string>();

    // Account, Qos and Reservation names at real sites: "lcls:xpptut15", "normal", "maint_2026".
    private static readonly Regex NameLike = new("^[A-Za-z0-9_.:@+-]{1,128}$", RegexOptions.CultureInvariant);

    // Slurm's feature expressions: "a100&nvlink", "[rack1|rack2]", "skylake*2".
    private static readonly Regex ConstraintLike = new(@"^[A-Za-z0-9_.:&|\[\]()*,!-]{1,256}$", RegexOptions.CultureInvariant);

    /// <summary>These resources for one run (placeholders filled); throws <see cref="ResourceException"/> naming the setting.</summary>
    public BatchResources Expand(TemplateValues v)
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
        for (var i = 0; i < SchedulerArguments.Count; i++)
        {
            string a;
            try { a = CommandTemplate.ExpandText(SchedulerArguments[i] ?? "", v, $"SchedulerArguments element {i}"); }
            catch (ArgumentException ex) { throw new ResourceException("SchedulerArguments", ex.Message); }
            // An element that does not start with '-' would be taken as the job script or a stray value.
            if (!a.StartsWith('-') || a.Length < 2 || a.Contains('\0') || a.Contains('\n'))
                throw new ResourceException("SchedulerArguments",
                    $"element {i} '{Names.Show(a)}' must be one option starting with '-', with its value in the same element (e.g. '--licenses=scratch:1', '--exclusive').");
            args.Add(a);
        }
        return this with
        {
            Account = text("Account", Account, NameLike, "'lcls:{exp}'"),
            Qos = text("Qos", Qos, NameLike, "'normal'"),
            Constraint = text("Constraint", Constraint, ConstraintLike, "'a100' or 'skylake&ib'"),
            Reservation = text("Reservation", Reservation, NameLike, "'maint'"),
            SchedulerArguments = args,
        };
    }

    /// <summary>Checks a process's resources without a run (config validation): placeholders, shapes, what its scheduler can express.</summary>
    public static void Validate(ProcessDefinition p)
    {
        _ = p.Resources.Expand(CommandTemplate.CheckValues);
        if (p.Scheduler == SchedulerKind.Lsf)
        {
            if (p.Resources.Qos.Length > 0)
                throw new ResourceException("Qos", "LSF has no quality of service option; remove Qos (LSF service classes: SchedulerArguments cannot hold '-sla <name>', ask for a queue instead).");
            if (p.Resources.Nodes > 1)
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
