using System.Management.Automation;
using RunProc.Batch;
using RunProc.Config;

namespace RunProc.Module;

/// <summary>
/// Where the installed module's pieces are (pwsh, manifest, job wrapper, entry script) and how the
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

    /// <summary>The RunProc.psd1 this module was imported from (else the module's assembly).</summary>
    public static string ModuleManifest(PSCmdlet cmdlet)
    {
        var module = cmdlet.MyInvocation.MyCommand.Module;
        if (module is not null)
        {
            if (module.Path.EndsWith(".psd1", StringComparison.OrdinalIgnoreCase) && File.Exists(module.Path))
                return module.Path;
            var candidate = Path.Combine(module.ModuleBase, "RunProc.psd1");
            if (File.Exists(candidate))
                return candidate;
        }
        var up = Path.GetFullPath(Path.Combine(AssemblyDirectory, "..", "RunProc.psd1"));
        return File.Exists(up) ? up : typeof(BatchSupport).Assembly.Location;
    }

    /// <summary>{runproc}: pwsh + -File entry script + manifest; the template adds the cmdlet and its arguments.</summary>
    public static IReadOnlyList<string> RunProcArgv(PSCmdlet cmdlet)
    {
        var pwsh = PwshArgv();
        if (pwsh.Count == 0)
            return pwsh;
        return pwsh.Concat(new[] { "-NoProfile", "-NonInteractive", "-File", EntryScript, ModuleManifest(cmdlet) }).ToList();
    }

    public static BatchController Controller(RunProcCmdlet cmdlet, RunProcConfig config, string process, string recordCommand)
    {
        var def = config.GetProcess(process);
        var ledger = new ProcDbLedger(new RunProc.Db.ProcDb(config, def.Name));
        var env = new BatchEnvironment
        {
            WrapperScript = WrapperScript,
            RunProcArgv = RunProcArgv(cmdlet),
            ConfigPath = config.SourcePath,
            RecordCommand = recordCommand,
        };
        return new BatchController(config, def, ledger, env);
    }
}
