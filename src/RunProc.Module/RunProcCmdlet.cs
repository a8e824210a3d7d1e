using System.Management.Automation;
using RunProc.Config;

namespace RunProc.Module;

/// <summary>
/// Base of every RunProc cmdlet: the -ConfigPath parameter, the loaded configuration and a
/// cancellation token that Ctrl+C (StopProcessing) trips, so long waits and scans stop at once.
/// </summary>
public abstract class RunProcCmdlet : PSCmdlet
{
    private readonly CancellationTokenSource _cts = new();
    private RunProcConfig? _config;

    /// <summary>The site configuration file; default $env:RUNPROC_CONFIG, then ~/.config/runproc/runproc.psd1.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ConfigPath { get; set; }

    protected CancellationToken Cancel => _cts.Token;

    internal CancellationToken CancelToken => _cts.Token;

    /// <summary>The configuration, loaded once per pipeline; a bad config terminates with an error naming file and key.</summary>
    protected RunProcConfig Config
    {
        get
        {
            if (_config is null)
            {
                try
                {
                    var path = ConfigPath is null ? null : GetUnresolvedProviderPathFromPSPath(ConfigPath);
                    _config = ConfigFile.For(path, BuiltInDefaultsWithoutConfig);
                }
                catch (ConfigException ex)
                {
                    ThrowTerminatingError(new ErrorRecord(ex, "ConfigInvalid", ErrorCategory.InvalidArgument, ex.File));
                }
            }
            return _config!;
        }
    }

    /// <summary>
    /// True where the cmdlet works without a site config (no -ConfigPath, no $env:RUNPROC_CONFIG,
    /// no ~/.config/runproc/runproc.psd1): the built-in defaults are used instead of an error.
    /// </summary>
    protected virtual bool BuiltInDefaultsWithoutConfig => false;

    /// <summary>The config path as given on the command line, resolved, or the default; for job command lines.</summary>
    protected string ResolvedConfigPath => Config.SourcePath;

    protected override void StopProcessing() => _cts.Cancel();

    /// <summary>Writes a non-terminating error with a stable id and the input as target.</summary>
    protected internal void WriteInputError(Exception ex, string errorId, ErrorCategory category, object? target, string? recommendedAction = null)
    {
        var record = new ErrorRecord(ex, errorId, category, target);
        if (recommendedAction is not null)
            record.ErrorDetails = new ErrorDetails(ex.Message) { RecommendedAction = recommendedAction };
        WriteError(record);
    }
}
