using System.Management.Automation;
using RunProc.Pixels;

namespace RunProc.Module;

/// <summary>The pixel use case's host in a cmdlet: results, errors, warnings, progress and ShouldProcess of the pipeline.</summary>
internal sealed class PixelHost : IPixelStatusHost
{
    private readonly RunProcCmdlet _cmdlet;
    private readonly CancellationToken _cancel;
    private readonly Dictionary<int, ProgressRecord> _progress = new();

    private PixelHost(RunProcCmdlet cmdlet, CancellationToken cancel) => (_cmdlet, _cancel) = (cmdlet, cancel);

    /// <summary>Runs a use-case call with this cmdlet as host; a usage error becomes the cmdlet's terminating error.</summary>
    public static void Call(RunProcCmdlet cmdlet, Action<IPixelStatusHost> call)
    {
        try { call(new PixelHost(cmdlet, cmdlet.CancelToken)); }
        catch (PixelStatusUsageException ex)
        {
            cmdlet.ThrowTerminatingError(new ErrorRecord(ex.InnerException ?? ex, ex.ErrorId, ErrorCategory.InvalidArgument, null));
        }
    }

    public CancellationToken Cancel => _cancel;

    public void Error(Exception error, string errorId, PixelErrorCategory category, object? target, string? recommendedAction = null) =>
        _cmdlet.WriteInputError(error, errorId, Enum.Parse<ErrorCategory>(category.ToString()), target, recommendedAction);

    public void Warning(string message) => _cmdlet.WriteWarning(message);

    public void Verbose(string message) => _cmdlet.WriteVerbose(message);

    public void Progress(int id, string activity, string status, int percent)
    {
        if (!_progress.TryGetValue(id, out var record))
            _progress[id] = record = new ProgressRecord(id, activity, status);
        record.StatusDescription = status;
        if (percent < 0)
        {
            record.RecordType = ProgressRecordType.Completed;
            _progress.Remove(id);
        }
        else
            record.PercentComplete = percent;
        _cmdlet.WriteProgress(record);
    }

    public void Output(object item) => _cmdlet.WriteObject(item);

    public Proceed ShouldProcess(string target, string action)
    {
        var text = $"Performing the operation \"{action}\" on target \"{target}\".";
        if (_cmdlet.ShouldProcess(text, $"Are you sure you want to perform this action?\n{text}", "Confirm", out var reason))
            return Proceed.Yes;
        return reason == ShouldProcessReason.WhatIf ? Proceed.WhatIf : Proceed.No;
    }
}
