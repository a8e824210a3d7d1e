namespace RunProc.Batch;

/// <summary>
/// One pipeline of submissions for one process (one Submit-ProcJob invocation): each run is planned,
/// shown, then its plan — job name, log, argv — is submitted as it is. MaxJobs is counted here and
/// in the controller only: active jobs from the journals, plus the plans this pipeline showed under
/// -WhatIf (a real pipeline would have submitted them). A plan declined at a -Confirm prompt takes
/// no slot. Runs left over MaxJobs are counted for one closing warning.
/// </summary>
public sealed class SubmitSession
{
    private readonly BatchController _controller;
    private readonly int? _maxJobs;
    private int _shownOnly;

    /// <param name="maxJobs">The pipeline's limit of active jobs; null: the process's MaxJobs.</param>
    public SubmitSession(BatchController controller, int? maxJobs)
    {
        _controller = controller;
        _maxJobs = maxJobs;
    }

    /// <summary>Runs that stay pending because MaxJobs was reached.</summary>
    public int Deferred { get; private set; }

    /// <summary>Why the last deferred run was deferred ("3 job(s) of pixel_status active, MaxJobs 3").</summary>
    public string DeferReason { get; private set; } = "";

    /// <summary>The plan for one run (<see cref="BatchController.PlanSubmit(string, int, bool, int?)"/>).</summary>
    public SubmitOutcome Plan(string experiment, int run, bool force, IReadOnlyDictionary<string, string>? parameters = null) =>
        Note(_controller.PlanSubmit(experiment, run, force, _maxJobs, _shownOnly, parameters));

    /// <summary>A plan shown by -WhatIf and not submitted: the next plans count it as a job.</summary>
    public void ShownOnly(SubmitOutcome plan)
    {
        if (plan.Decision == SubmitDecision.Submitted)
            _shownOnly++;
    }

    /// <summary>Submits exactly <paramref name="plan"/> (<see cref="BatchController.Submit(SubmitOutcome, int?, CancellationToken)"/>).</summary>
    public SubmitOutcome Submit(SubmitOutcome plan, CancellationToken cancel) => Note(_controller.Submit(plan, _maxJobs, cancel));

    private SubmitOutcome Note(SubmitOutcome o)
    {
        if (o.Decision == SubmitDecision.Deferred)
        {
            Deferred++;
            DeferReason = o.Message;
        }
        return o;
    }
}
