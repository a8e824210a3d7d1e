using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using RunProc.Config;

namespace RunProc.Module;

/// <summary>Finds and reads the site configuration (a PowerShell data file) for the cmdlets.</summary>
public static class ConfigLoader
{
    public const string EnvironmentVariable = "RUNPROC_CONFIG";

    /// <summary>The default path: $env:RUNPROC_CONFIG, else ~/.config/runproc/runproc.psd1.</summary>
    public static string DefaultPath()
    {
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env))
            return env;
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".config", "runproc", "runproc.psd1");
    }

    /// <summary>Reads and validates a config file; every failure is a <see cref="ConfigException"/> naming the file.</summary>
    public static RunProcConfig Load(string? path)
    {
        var explicitPath = !string.IsNullOrWhiteSpace(path);
        var file = Path.GetFullPath(explicitPath ? path! : DefaultPath());
        if (!File.Exists(file))
        {
            var how = explicitPath
                ? "the file does not exist; check the -ConfigPath value."
                : $"the file does not exist; create it (see runproc.example.psd1 in the module folder), set ${EnvironmentVariable}, or pass -ConfigPath.";
            throw new ConfigException(file, null, how);
        }

        var ast = Parser.ParseFile(file, out _, out var errors);
        if (errors is { Length: > 0 })
        {
            var e = errors[0];
            throw new ConfigException(file, null, $"not a valid PowerShell data file: line {e.Extent.StartLineNumber}, column {e.Extent.StartColumnNumber}: {e.Message}");
        }
        var table = ast.Find(a => a is HashtableAst, false) as HashtableAst;
        if (table is null)
            throw new ConfigException(file, null, "the file must contain one hashtable: @{ DataRoot = '...'; DbRoot = '...' }.");
        object? value;
        try
        {
            value = table.SafeGetValue();
        }
        catch (Exception ex)
        {
            throw new ConfigException(file, null, $"only constant values are allowed in a data file: {ex.Message}");
        }
        if (value is not IDictionary dict)
            throw new ConfigException(file, null, "the file must contain one hashtable.");
        return RunProcConfig.FromDictionary(dict, file);
    }
}
