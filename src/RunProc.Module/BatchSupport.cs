using System.Management.Automation;
using RunProc.Batch;
using RunProc.Config;
using RunProc.Install;

namespace RunProc.Module;

/// <summary>
/// Where the module's pieces are (pwsh, the pinned module folder, job wrapper, entry script) and how the
/// batch cmdlets build a <see cref="BatchController"/>.
/// </summary>
internal static class BatchSupport
{
    private static string AssemblyDirectory => Path.GetDirectoryName(typeof(BatchSupport).Assembly.Location)!;

    public static string ScriptsDirectory => Path.Combine(AssemblyDirectory, "scripts");

    /// <summary>The job wrapper (copied into bin/scripts by the build).</summary>
    public static string WrapperScript => Path.Combine(ScriptsDirectory, "runproc-job.sh");

    /// <summary>The fixed entry that imports the module and runs one cmdlet (for {runproc} and cron).</summary>
    public static string EntryScript => Path.Combine(ScriptsDirectory, "Invoke-RunProcEntry.ps1");

    /// <summary>
    /// The argv that starts this same pwsh by absolute path: 'pwsh', or 'dotnet &lt;...&gt;/pwsh.dll' when
    /// pwsh is a dotnet (local) tool. Works under cron's bare environment because nothing is looked
    /// up on PATH. Empty if this process is not pwsh and none is found.
    /// </summary>
    public static IReadOnlyList<string> PwshArgv()
    {
        var exe = Environment.ProcessPath ?? "";
        var name = Path.GetFileNameWithoutExtension(exe);
        if (name.Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            var dll = Environment.GetCommandLineArgs().FirstOrDefault() ?? "";
            if (Path.GetFileName(dll).Equals("pwsh.dll", StringComparison.OrdinalIgnoreCase) && File.Exists(dll))
                return new[] { exe, Path.GetFullPath(dll) };
        }
        else if (name.Equals("pwsh", StringComparison.OrdinalIgnoreCase))
            return new[] { exe };
        // Hosted elsewhere (tests, another host): the pwsh next to the PowerShell engine, else on PATH.
        var engineDir = Path.GetDirectoryName(typeof(PSObject).Assembly.Location) ?? "";
        if (File.Exists(Path.Combine(engineDir, "pwsh")))
            return new[] { Path.Combine(engineDir, "pwsh") };
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, "pwsh")))
                return new[] { Path.Combine(dir, "pwsh") };
        return Array.Empty<string>();
    }

    private static readonly Dictionary<(string Source, string Stage), PinnedModule> Pins = new();

    /// <summary>
    /// The module folder jobs and cron load (see <see cref="PinnedModule"/>): the installed version
    /// this session imported, or a staged copy of a development build under &lt;DbRoot&gt;/.modules.
    /// Resolved once per session and DbRoot, so a rebuild during a session does not change it either.
    /// <paramref name="create"/> false (for -WhatIf) names the folder without staging anything.
    /// </summary>
    public static PinnedModule Pin(PSCmdlet cmdlet, RunProcConfig config, bool create = true)
    {
        var loaded = Loaded(cmdlet);
        if (loaded is null)
        {
            // Hosted without the manifest (cmdlets added to a runspace by a test or another host): nothing to pin.
            var dir = AssemblyDirectory;
            var asm = typeof(BatchSupport).Assembly;
            return new PinnedModule { Directory = dir, ManifestPath = asm.Location, Version = asm.GetName().Version?.ToString(3) ?? "", Source = dir };
        }
        var key = PinKey(loaded, config);
        lock (Pins)
        {
            if (Pins.TryGetValue(key, out var pin))
                return pin;
            pin = PinnedModule.Resolve(loaded, key.Stage, config.FileMode, config.DirectoryMode, create);
            if (create)
            {
                Pins[key] = pin;
                if (pin.Staged)
                    CleanStaged(cmdlet, config, key.Stage, pin);
            }
            return pin;
        }
    }

    /// <summary>
    /// Once per session, after staging a development build: removes staged copies no job, cron entry
    /// or this session uses (see <see cref="StagedModules"/>). A failure only warns: staging is done.
    /// </summary>
    private static void CleanStaged(PSCmdlet cmdlet, RunProcConfig config, string stage, PinnedModule pin)
    {
        try
        {
            var cleanup = StagedModules.Clean(config, stage, new[] { pin.Directory, CronTable.Read() });
            foreach (var removed in cleanup.Removed)
                cmdlet.WriteVerbose($"removed the staged module {removed} (no active job, cron entry or session uses it).");
            if (cleanup.Skipped is { } why)
                cmdlet.WriteVerbose("staged modules not cleaned: " + why);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or SchedulerException)
        {
            cmdlet.WriteWarning($"the staged modules in {stage} were not cleaned: {ex.Message}");
        }
    }

    /// <summary>Stages <paramref name="pin"/> (exactly the folder its jobs were planned with) and keeps it for the session.</summary>
    private static void Remember(PSCmdlet cmdlet, RunProcConfig config, PinnedModule pin)
    {
        pin.EnsureStaged();
        if (Loaded(cmdlet) is { } loaded)
            lock (Pins)
                Pins.TryAdd(PinKey(loaded, config), pin);
    }

    // Staged copies live beside the DB, which every host that runs jobs sees.
    private static (string Source, string Stage) PinKey(LoadedModule loaded, RunProcConfig config) => (loaded.Base, RunProc.Db.ProcDbTree.ModulesDirectory(config));

    /// <summary>The module as this session imported it (a RunProc.psd1 in its ModuleBase, the assembly in bin/); null without a manifest.</summary>
    private static LoadedModule? Loaded(PSCmdlet cmdlet)
    {
        var module = cmdlet.MyInvocation.MyCommand.Module;
        var manifest = module is not null && module.Path.EndsWith(".psd1", StringComparison.OrdinalIgnoreCase) && File.Exists(module.Path)
            ? module.Path
            : module is not null && File.Exists(Path.Combine(module.ModuleBase, "RunProc.psd1"))
                ? Path.Combine(module.ModuleBase, "RunProc.psd1")
                : Path.GetFullPath(Path.Combine(AssemblyDirectory, "..", "RunProc.psd1"));
        if (!File.Exists(manifest))
            return null;
        var @base = Path.GetDirectoryName(manifest)!;
        var version = module?.Version?.ToString() ?? typeof(BatchSupport).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        return new LoadedModule
        {
            Base = @base, ManifestName = Path.GetFileName(manifest), Name = "RunProc", Version = version,
            Parts = new[] { Path.GetRelativePath(@base, AssemblyDirectory), "en-US" },
        };
    }

    /// <summary>{runproc}: pwsh + -File entry script + manifest of the pinned module; the template adds the cmdlet and its arguments.</summary>
    public static IReadOnlyList<string> RunProcArgv(PinnedModule pin)
    {
        var pwsh = PwshArgv();
        if (pwsh.Count == 0)
            return pwsh;
        return pwsh.Concat(new[] { "-NoProfile", "-NonInteractive", "-File", pin.Map(EntryScript), pin.ManifestPath }).ToList();
    }

    /// <summary>The pixel jobs' own entry (bin/runproc-pixel.dll), which needs no pwsh start-up.</summary>
    public static string PixelEntry => Path.Combine(AssemblyDirectory, "runproc-pixel.dll");

    /// <summary>
    /// {runproc} for Invoke-PixelStatus and Merge-PixelStatus: 'dotnet &lt;pinned bin&gt;/runproc-pixel.dll', the
    /// dotnet host of the runtime this session runs on. None (jobs use pwsh and the entry script) when the
    /// build has no runproc-pixel.dll, when the runtime has no dotnet host beside it (a self-contained pwsh),
    /// or when $env:RUNPROC_JOB_ENTRY is 'pwsh'.
    /// </summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> JobEntryArgv(PinnedModule pin)
    {
        var none = new Dictionary<string, IReadOnlyList<string>>();
        if (string.Equals(Environment.GetEnvironmentVariable("RUNPROC_JOB_ENTRY"), "pwsh", StringComparison.OrdinalIgnoreCase) || !File.Exists(PixelEntry))
            return none;
        // <root>/shared/Microsoft.NETCore.App/<version>/ -> <root>/dotnet
        var runtime = System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory();
        var dotnet = Path.GetFullPath(Path.Combine(runtime, "..", "..", "..", "dotnet"));
        if (!File.Exists(dotnet))
            return none;
        IReadOnlyList<string> argv = new[] { dotnet, pin.Map(PixelEntry) };
        return RunProc.Pixels.PixelJobEntry.Cmdlets.ToDictionary(c => c, _ => argv);
    }

    /// <summary>How jobs of this session start: the pinned module's wrapper and {runproc}; the folder is staged at the first submission (a plan or -WhatIf writes nothing).</summary>
    public static BatchEnvironment JobEnvironment(PSCmdlet cmdlet, RunProcConfig config, string recordCommand)
    {
        var pin = Pin(cmdlet, config, create: false);
        return new BatchEnvironment
        {
            EnsureModule = () => Remember(cmdlet, config, pin),
            WrapperScript = pin.Map(WrapperScript),
            RunProcArgv = RunProcArgv(pin),
            JobEntryArgv = JobEntryArgv(pin),
            ConfigPath = config.SourcePath,
            RecordCommand = recordCommand,
            Module = pin.ToString(),
        };
    }

    /// <summary>The controller of a process; <paramref name="submits"/>: it starts jobs, so the module is pinned (staged if need be) first.</summary>
    public static BatchController Controller(RunProcCmdlet cmdlet, RunProcConfig config, ProcessDefinition def, string recordCommand, bool submits,
        Func<CancellationToken, RunProc.Db.RunScanQuery>? pendingScan = null)
    {
        // A split run's passes submit too (its merge, a failed part again): Watch-ProcJob included.
        var env = submits || def.Parts > 1
            ? JobEnvironment(cmdlet, config, recordCommand)
            : new BatchEnvironment { WrapperScript = WrapperScript, ConfigPath = config.SourcePath, RecordCommand = recordCommand };
        return new BatchController(new RunProc.Db.ProcDb(config, def.Name), def, env) { PendingScan = pendingScan ?? (c => new RunProc.Db.RunScanQuery { Cancel = c }) };
    }
}
