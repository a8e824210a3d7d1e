using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using RunProc.Catalog;
using RunProc.Config;
using RunProc.Db;

namespace RunProc.Module.Completers;

/// <summary>Loads the config a command line would use (its -ConfigPath, else the default) for completion; null if it cannot.</summary>
internal static class CompletionConfig
{
    public static RunProcConfig? Load(IDictionary fakeBoundParameters)
    {
        try
        {
            var path = fakeBoundParameters is not null && fakeBoundParameters.Contains("ConfigPath") ? fakeBoundParameters["ConfigPath"]?.ToString() : null;
            return ConfigLoader.Load(path);
        }
        catch (Exception ex) when (ex is ConfigException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    public static IEnumerable<CompletionResult> Results(IEnumerable<string> candidates, string word, string tooltip)
    {
        word ??= "";
        var prefix = word.Trim('\'', '"');
        return candidates
            .Where(c => c.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            .Distinct(StringComparer.Ordinal)
            .OrderBy(c => c, StringComparer.Ordinal)
            .Select(c => new CompletionResult(c, c, CompletionResultType.ParameterValue, $"{tooltip} {c}"));
    }
}

/// <summary>Completes experiment names: experiments on disk under the configured instruments and those under control.</summary>
public sealed class ExperimentCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var cfg = CompletionConfig.Load(fakeBoundParameters);
        if (cfg is null)
            return Array.Empty<CompletionResult>();
        var names = new List<string>();
        try
        {
            var cat = new RunCatalog(cfg);
            var instruments = fakeBoundParameters.Contains("Instrument") && fakeBoundParameters["Instrument"] is { } i
                ? LanguagePrimitives.ConvertTo<string[]>(i).Select(s => s.ToUpperInvariant()).Where(Names.IsInstrument)
                : cfg.Instruments;
            foreach (var ins in instruments)
                names.AddRange(cat.Experiments(ins));
            var process = fakeBoundParameters.Contains("Process") ? fakeBoundParameters["Process"]?.ToString() : RunProc.Config.ProcessDefinition.PixelStatus;
            if (Names.IsProcess(process))
                names.AddRange(new ProcDb(cfg, process!).ReadExperimentList());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or PSInvalidCastException)
        {
        }
        return CompletionConfig.Results(names, wordToComplete, "experiment");
    }
}

/// <summary>Completes process names: configured processes and process trees in the DB.</summary>
public sealed class ProcessNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var cfg = CompletionConfig.Load(fakeBoundParameters);
        if (cfg is null)
            return Array.Empty<CompletionResult>();
        var names = cfg.Processes.Keys.ToList();
        try
        {
            names.AddRange(ProcDbTree.Processes(cfg));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        return CompletionConfig.Results(names, wordToComplete, "process");
    }
}

/// <summary>Completes the configured instrument names.</summary>
public sealed class InstrumentCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var cfg = CompletionConfig.Load(fakeBoundParameters);
        return cfg is null ? Array.Empty<CompletionResult>() : CompletionConfig.Results(cfg.Instruments, wordToComplete, "instrument");
    }
}
