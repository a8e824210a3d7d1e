using System.Management.Automation;
using RunProc.Module.Completers;
using RunProc.Batch;

namespace RunProc.Module.Commands;

/// <summary>
/// Submit-ProcJob: submits the process's command for each run from the pipeline
/// (<c>Get-PendingRun -All | Submit-ProcJob</c>): creates the log, records the intent in the job
/// journal, appends the run to -proc-runs.txt and submits, exactly once. Runs over MaxJobs stay
/// pending for the next cycle (one warning says how many). Outputs the submitted jobs.
/// </summary>
[Cmdlet(VerbsLifecycle.Submit, "ProcJob", SupportsShouldProcess = true)]
[OutputType(typeof(ProcJob))]
public sealed class SubmitProcJobCommand : BatchCmdletBase
{
    // One submit session (which counts MaxJobs) per process of the pipeline, on the base's controller.
    private readonly Dictionary<string, SubmitSession> _sessions = new(StringComparer.OrdinalIgnoreCase);

    protected override bool Submits => true;

    /// <summary>The process (default pixel_status); an empty value from a catalog-only RunInfo means the default.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    [ArgumentCompleter(typeof(ProcessNameCompleter))]
    public string Process { get; set; } = DefaultProcess;

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ExperimentCompleter))]
    public string Experiment { get; set; } = "";

    /// <summary>The run numbers (one from each piped run; several typed: -Run 1, 2, 5).</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, RunProc.Names.MaxRun)]
    public int[] Run { get; set; } = Array.Empty<int>();

    /// <summary>Most active jobs of the process, counting those already running (default: the process's MaxJobs).</summary>
    [Parameter]
    [ValidateRange(1, 100000)]
    public int MaxJobs { get; set; }

    /// <summary>Bound from Get-PendingRun output: a run that is not ready (a file in progress, not settled) is not submitted unless -Force.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, DontShow = true)]
    public bool Ready { get; set; } = true;

    /// <summary>Bound from Get-PendingRun output, for the message about a run that is not ready.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, DontShow = true)]
    public string? NotReadyReason { get; set; }

    /// <summary>Submit even if the run was processed, cancelled, used up its attempts or is not ready.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Reprocessing parameters (e.g. @{ Method = 'Robust'; SnrMax = 6 }), validated against the parameters of the cmdlet the process runs, appended to its command and recorded with the job.</summary>
    [Parameter]
    [ValidateNotNull]
    public System.Collections.Hashtable? Parameter { get; set; }

    // Set by the process itself for every run: not for -Parameter.
    private static readonly HashSet<string> ProcessOwned = new(StringComparer.OrdinalIgnoreCase)
    {
        "Experiment", "Run", "Path", "OutputDirectory", "ImagePath", "Deploy", "ConfigPath", "JobName", "Process",
    };

    private readonly Dictionary<string, IReadOnlyDictionary<string, string>?> _parameters = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>-Parameter checked against the parameters of the RunProc cmdlet the process's command runs, as argv strings.</summary>
    private IReadOnlyDictionary<string, string>? ValidatedParameters(RunProc.Config.ProcessDefinition def)
    {
        if (Parameter is null || Parameter.Count == 0)
            return null;
        if (_parameters.TryGetValue(def.Name, out var done))
            return done;
        var at = def.Command.ToList().IndexOf("{runproc}");
        var cmdletName = at >= 0 && at + 1 < def.Command.Count ? def.Command[at + 1] : null;
        var cmdlet = cmdletName is null ? null : InvokeCommand.GetCmdlet(cmdletName);
        if (cmdlet is null)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"process {def.Name} runs '{def.Command[0]}', not a RunProc cmdlet, so -Parameter has nothing to check its names against; change Processes.{def.Name}.Command instead."),
                "ParameterNotSupported", ErrorCategory.InvalidArgument, Parameter));
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in Parameter!)
        {
            var key = e.Key?.ToString() ?? "";
            var known = cmdlet!.Parameters.Values.FirstOrDefault(m => string.Equals(m.Name, key, StringComparison.OrdinalIgnoreCase)
                || m.Aliases.Contains(key, StringComparer.OrdinalIgnoreCase));
            string? problem = null;
            if (known is null || ProcessOwned.Contains(known.Name) || PSCmdlet.CommonParameters.Contains(known.Name) || PSCmdlet.OptionalCommonParameters.Contains(known.Name))
                problem = $"'{RunProc.Names.Show(key)}' is not a parameter {def.Name} can be given; choose from {string.Join(", ", cmdlet.Parameters.Values.Where(m => !ProcessOwned.Contains(m.Name) && !PSCmdlet.CommonParameters.Contains(m.Name) && !PSCmdlet.OptionalCommonParameters.Contains(m.Name) && !m.SwitchParameter && !m.ParameterType.IsArray).Select(m => m.Name).Order())}.";
            else if (known.SwitchParameter || known.ParameterType.IsArray)
                problem = $"-{known.Name} takes {(known.SwitchParameter ? "a switch" : "a list")}; -Parameter passes single values only.";
            string text = "";
            if (problem is null)
            {
                try
                {
                    var value = LanguagePrimitives.ConvertTo(e.Value, known!.ParameterType, System.Globalization.CultureInfo.InvariantCulture);
                    text = value switch
                    {
                        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
                        _ => value?.ToString() ?? "",
                    };
                    if (text.Length == 0 || text.StartsWith('-') && known.ParameterType == typeof(string))
                        problem = $"-{known.Name} '{RunProc.Names.Show(text)}' is empty or looks like a parameter name.";
                }
                catch (PSInvalidCastException ex)
                {
                    problem = $"-{known!.Name} takes {known.ParameterType.Name}: {ex.Message}";
                }
            }
            if (problem is not null)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Parameter: {problem}"), "ParameterInvalid", ErrorCategory.InvalidArgument, key));
            result[known!.Name] = text;
        }
        return _parameters[def.Name] = result;
    }

    protected override void ProcessRecord()
    {
        var process = ProcessOrDefault(Process);
        if (Controller(process) is not { } controller)
            return;
        if (!_sessions.TryGetValue(process, out var session))
            _sessions[process] = session = new SubmitSession(controller, MyInvocation.BoundParameters.ContainsKey(nameof(MaxJobs)) ? MaxJobs : null);
        foreach (var run in Run)
            SubmitOne(process, controller, session, run);
    }

    private void SubmitOne(string process, BatchController controller, SubmitSession session, int run)
    {
        var target = $"{Experiment} run {run}";
        if (!Ready && !Force)
        {
            WriteWarning($"{process}: {target} is not ready ({NotReadyReason ?? "files still being written or not settled"}); it is left for a later cycle. Use -Force to submit it now.");
            return;
        }
        var parameters = ValidatedParameters(controller.Process);
        try
        {
            Guard(target, $"Submitting {process} {target}", () =>
            {
                // A run typed by hand (or from Get-ProcJob) has not been through the catalog: check it is there and ready.
                if (!Force && !MyInvocation.BoundParameters.ContainsKey(nameof(Ready)) && controller.CheckOnDisk(Experiment, run) is { } problem)
                {
                    if (problem.Missing)
                        WriteInputError(new ItemNotFoundException(problem.Message), "RunHasNoFiles", ErrorCategory.ObjectNotFound, target,
                            "Check the experiment and run number (Get-PendingRun -Experiment <exp> -IncludeNotReady); -Force submits it anyway (for a command that does not read the run's files).");
                    else
                        WriteWarning($"{process}: {problem.Message} It is left for a later cycle. Use -Force to submit it now.");
                    return;
                }
                var plan = session.Plan(Experiment, run, Force, parameters);
                if (plan.Decision == SubmitDecision.Skipped)
                {
                    WriteWarning($"{process}: {plan.Message}");
                    return;
                }
                if (plan.Decision == SubmitDecision.Deferred)
                    return;
                // The argv shown is the plan's, and the plan is what is submitted (same job name and log).
                var what = $"Submit {process} attempt {plan.Attempt} to {controller.Process.Scheduler}: {CommandTemplate.Display(plan.Argv)}"
                    + (plan.MergeArgv.Count > 0 ? $"; then the merge of its {controller.Process.Parts} parts: {CommandTemplate.Display(plan.MergeArgv)}" : "");
                var action = $"Performing the operation \"{what}\" on target \"{target}\".";
                if (!ShouldProcess(action, $"Are you sure you want to perform this action?\n{action}", "Confirm", out var reason))
                {
                    if (reason == ShouldProcessReason.WhatIf)
                        session.ShownOnly(plan);
                    return;
                }
                var outcome = session.Submit(plan, Cancel);
                switch (outcome.Decision)
                {
                    case SubmitDecision.Submitted:
                        WriteVerbose($"{target}: {CommandTemplate.Display(outcome.Argv)}");
                        WriteObject(outcome.Job);
                        break;
                    case SubmitDecision.Skipped:
                        WriteWarning($"{process}: {outcome.Message}");
                        break;
                    case SubmitDecision.Failed:
                        WriteInputError(outcome.Error ?? new InvalidOperationException(outcome.Message), "SubmitFailed", ErrorCategory.ResourceUnavailable,
                            target, "Check the scheduler (sinfo / bqueues) and the log; the run is submitted again by the next Invoke-ProcCycle.");
                        if (outcome.Job is not null)
                            WriteObject(outcome.Job);
                        break;
                }
            });
        }
        catch (ArgumentException ex)
        {
            WriteInputError(ex, "InvalidRun", ErrorCategory.InvalidArgument, target);
        }
    }

    protected override void EndProcessing()
    {
        foreach (var (process, session) in _sessions)
            if (session.Deferred > 0)
                WriteWarning($"{session.Deferred} run(s) of {process} stay pending for the next cycle: {session.DeferReason}.");
    }
}
