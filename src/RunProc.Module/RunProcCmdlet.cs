using System.Management.Automation;
using RunProc;
using RunProc.Config;

namespace RunProc.Module;

/// <summary>
/// Base of every RunProc cmdlet: the -ConfigPath parameter, the loaded configuration and a
/// cancellation token that Ctrl+C (StopProcessing) trips, so long waits and scans stop at once.
/// </summary>
public abstract class RunProcCmdlet : PSCmdlet
{
    /// <summary>The process when -Process is not given (or bound empty from a pipeline object): the built-in one.</summary>
    public const string DefaultProcess = RunProc.Config.ProcessDefinition.PixelStatus;

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

    /// <summary>A -Process value as bound: empty (a catalog-only pipeline object) means <see cref="DefaultProcess"/>.</summary>
    protected static string ProcessOrDefault(string? process) => string.IsNullOrEmpty(process) ? DefaultProcess : process;

    /// <summary>
    /// The one rule of which processes a cmdlet accepts: a valid name (else InvalidProcessName) that is
    /// configured, or, where <paramref name="configured"/> is false (the DB readers), has a DB tree
    /// under DbRoot (else ProcessNotFound). False after the non-terminating error.
    /// </summary>
    protected bool CheckProcess(string process, bool configured)
    {
        if (!Names.IsProcess(process))
        {
            WriteInputError(new ArgumentException($"'{Names.Show(process)}' is not a valid process name (letters, digits, '_', '-')."),
                "InvalidProcessName", ErrorCategory.InvalidArgument, process);
            return false;
        }
        if (Config.Processes.ContainsKey(process) || (!configured && new RunProc.Db.ProcDbTree(Config, process).Exists))
            return true;
        var where = configured ? "" : $" and has no DB tree under {Config.DbRoot}";
        WriteInputError(new ItemNotFoundException(
                $"No process '{process}': it is not configured in {Config.SourcePath}{where}. Configured: {string.Join(", ", Config.Processes.Keys)}."),
            "ProcessNotFound", ErrorCategory.ObjectNotFound, process,
            $"Use one of: {string.Join(", ", Config.Processes.Keys)}, or add the process under Processes in the config.");
        return false;
    }

    /// <summary>
    /// Runs <paramref name="action"/>; DB and file system failures become a non-terminating error
    /// naming the input, one id per kind: DbLockTimeout, DataDirectoryMissing, DbAccessDenied, DbIOError.
    /// </summary>
    protected bool Guard(object target, string what, Action action)
    {
        try
        {
            action();
            return true;
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (TimeoutException ex)
        {
            WriteInputError(ex, "DbLockTimeout", ErrorCategory.ResourceBusy, target, "Another RunProc command holds the DB lock; retry when it has finished.");
        }
        catch (DirectoryNotFoundException ex)
        {
            WriteInputError(ex, "DataDirectoryMissing", ErrorCategory.ObjectNotFound, target);
        }
        catch (UnauthorizedAccessException ex)
        {
            WriteInputError(new UnauthorizedAccessException($"{what}: {ex.Message} Check the permissions of the DB tree ({Config.DbRoot}) and data ({Config.DataRoot}).", ex),
                "DbAccessDenied", ErrorCategory.PermissionDenied, target);
        }
        catch (IOException ex)
        {
            WriteInputError(new IOException($"{what}: {ex.Message}", ex), "DbIOError", ErrorCategory.WriteError, target);
        }
        return false;
    }
}
