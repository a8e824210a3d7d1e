using RunProc.Config;

namespace RunProc.Module;

/// <summary>Finds and reads the site configuration for the cmdlets: <see cref="ConfigFile"/> of the core, which the job entry (runproc-pixel) reads it with too.</summary>
public static class ConfigLoader
{
    public const string EnvironmentVariable = ConfigFile.EnvironmentVariable;

    /// <summary>The default path: $env:RUNPROC_CONFIG, else ~/.config/runproc/runproc.psd1.</summary>
    public static string DefaultPath() => ConfigFile.DefaultPath();

    /// <summary>Reads and validates a config file; every failure is a <see cref="ConfigException"/> naming the file.</summary>
    public static RunProcConfig Load(string? path) => ConfigFile.Load(path);
}
