using System.ComponentModel;
using System.Diagnostics;

namespace RunProc.Batch;

/// <summary>What a scheduler command printed and returned.</summary>
public sealed record CommandResult(int ExitCode, string StdOut, string StdErr);

/// <summary>Runs scheduler commands (sbatch, squeue, bjobs...) as argv, no shell. Replaceable so parsing is testable on recorded output.</summary>
public interface ICommandRunner
{
    /// <summary>Runs <paramref name="argv"/>; throws <see cref="SchedulerException"/> if it cannot start or exceeds <paramref name="timeout"/>.</summary>
    CommandResult Run(IReadOnlyList<string> argv, TimeSpan timeout, CancellationToken cancel);
}

/// <summary>Runs commands as child processes with captured output.</summary>
public sealed class ProcessCommandRunner : ICommandRunner
{
    public static readonly ProcessCommandRunner Instance = new();

    public CommandResult Run(IReadOnlyList<string> argv, TimeSpan timeout, CancellationToken cancel) => Run(argv, null, timeout, cancel);

    /// <summary>Runs <paramref name="argv"/> with <paramref name="input"/> on its standard input.</summary>
    public CommandResult Run(IReadOnlyList<string> argv, string? input, TimeSpan timeout, CancellationToken cancel)
    {
        var psi = new ProcessStartInfo(argv[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        for (var i = 1; i < argv.Count; i++)
            psi.ArgumentList.Add(argv[i]);
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new SchedulerException($"'{argv[0]}' did not start.", transient: false);
        }
        catch (Win32Exception ex)
        {
            throw new SchedulerException($"cannot run '{argv[0]}': {ex.Message}; is the scheduler's client installed and on PATH?", transient: false, ex) { CommandNotRun = true };
        }
        using (p)
        {
            if (input is not null)
                p.StandardInput.Write(input);
            p.StandardInput.Close();
            var stdout = p.StandardOutput.ReadToEndAsync(cancel);
            var stderr = p.StandardError.ReadToEndAsync(cancel);
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                cts.CancelAfter(timeout);
                p.WaitForExitAsync(cts.Token).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                cancel.ThrowIfCancellationRequested();
                throw new SchedulerException($"'{CommandTemplate.Display(argv)}' did not finish within {timeout.TotalSeconds:0} s.", transient: true);
            }
            return new CommandResult(p.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
        }
    }
}

/// <summary>A scheduler command failed. <see cref="Transient"/>: worth trying again later (controller busy, timeout).</summary>
public sealed class SchedulerException : Exception
{
    public SchedulerException(string message, bool transient, Exception? inner = null) : base(message, inner) => Transient = transient;

    public bool Transient { get; }

    /// <summary>The command could not even be started: it certainly did nothing (no job can exist).</summary>
    public bool CommandNotRun { get; init; }
}
