using System.Diagnostics;
using System.Management.Automation;
using RunProc.Db;
using RunProc.Module.Completers;

namespace RunProc.Module.Commands;

/// <summary>
/// Shared plumbing of the catalog/DB cmdlets: opening a process tree, validating experiment and
/// instrument arguments as non-terminating errors, DB warnings and throttled Write-Progress.
/// </summary>
public abstract class CatalogCmdletBase : RunProcCmdlet
{
    private const int ProgressId = 0x52504330; // "RPC0"
    private readonly Stopwatch _progressClock = Stopwatch.StartNew();
    private bool _progressShown;
    private string _process = DefaultProcess;

    /// <summary>The process whose DB tree is used; bound empty from a pipeline object, it falls back to the default.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ProcessNameCompleter))]
    public string Process { get => _process; set => _process = ProcessOrDefault(value); }

    /// <summary>
    /// WriteVerbose when verbose output is shown (-Verbose, or $VerbosePreference), else null: the
    /// core then builds no verbose messages at all (a scan formats some per experiment).
    /// </summary>
    protected Action<string>? VerboseSink()
    {
        var shown = MyInvocation.BoundParameters.TryGetValue("Verbose", out var v)
            ? v is SwitchParameter sw ? sw.IsPresent : v is true
            : GetVariableValue("VerbosePreference") is ActionPreference p && p is not (ActionPreference.SilentlyContinue or ActionPreference.Ignore);
        return shown ? WriteVerbose : null;
    }

    /// <summary>The process tree, or null after a non-terminating error when the process is unknown.</summary>
    protected ProcDb? OpenDb(string process)
    {
        if (!CheckProcess(process, configured: false))
            return null;
        return new ProcDb(Config, process);
    }

    /// <summary>Experiment names or wildcards, with invalid names reported (InvalidExperimentName) and dropped.</summary>
    protected List<string> ValidExperiments(IEnumerable<string>? names, bool allowWildcards)
    {
        var list = new List<string>();
        if (names is null) return list;
        foreach (var n in names)
        {
            if (allowWildcards && Wildcard.Has(n) && n.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '*' or '?' or '[' or ']' or '-'))
                list.Add(n.ToLowerInvariant());
            else if (Names.IsExperiment(n, Config))
                list.Add(n);
            else
                WriteInputError(new ArgumentException(
                        $"'{Names.Show(n)}' is not a valid experiment name: lower-case letters and digits matching ExperimentPattern '{Config.ExperimentPattern}' of {Config.SourcePath} (e.g. xpptut15, mfx101332224)."),
                    "InvalidExperimentName", ErrorCategory.InvalidArgument, n);
        }
        return list;
    }

    /// <summary>Instrument names (upper-cased) or wildcards; invalid ones reported (InvalidInstrumentName) and dropped.</summary>
    protected List<string> ValidInstruments(IEnumerable<string>? names)
    {
        var list = new List<string>();
        if (names is null) return list;
        foreach (var n in names)
        {
            var u = n.ToUpperInvariant();
            if (Names.IsInstrument(u) || (Wildcard.Has(u) && u.All(c => char.IsAsciiLetterOrDigit(c) || c is '*' or '?' or '[' or ']' or '-')))
                list.Add(u);
            else
                WriteInputError(new ArgumentException($"'{Names.Show(n)}' is not an instrument name (e.g. XPP); configured: {string.Join(", ", Config.Instruments)}."),
                    "InvalidInstrumentName", ErrorCategory.InvalidArgument, n);
        }
        return list;
    }

    /// <summary>
    /// Validates the -Experiment (wildcards allowed) and -Instrument filters. False when a filter was
    /// given but every value in it was invalid (each reported): the caller must not widen the query.
    /// </summary>
    protected bool TryFilters(string[]? experiment, string[]? instrument, out List<string> experiments, out List<string> instruments)
    {
        experiments = ValidExperiments(experiment, allowWildcards: true);
        instruments = ValidInstruments(instrument);
        return !((experiment is { Length: > 0 } && experiments.Count == 0) || (instrument is { Length: > 0 } && instruments.Count == 0));
    }

    /// <summary>
    /// <see cref="OpenDb"/> for -Process, then <see cref="TryFilters"/>: false (each problem
    /// reported) when the process has no DB or every value of a given filter was invalid.
    /// </summary>
    protected bool TryOpenFiltered(string[]? experiment, string[]? instrument, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ProcDb? db, out List<string> experiments, out List<string> instruments)
    {
        experiments = instruments = new List<string>();
        db = OpenDb(Process);
        // Every filter value invalid: fail rather than fall back to a wider query.
        return db is not null && TryFilters(experiment, instrument, out experiments, out instruments);
    }

    protected void WriteDbWarning(DbWarning w) => WriteWarning(w.ToString());

    protected IProgress<ScanProgress> ScanProgressReporter() => new Reporter(this);

    protected void CompleteProgress()
    {
        if (_progressShown)
            WriteProgress(new ProgressRecord(ProgressId, "RunProc", "Done") { RecordType = ProgressRecordType.Completed });
        _progressShown = false;
    }

    /// <summary>Calls WriteProgress on the pipeline thread (the core reports synchronously), at most 5 times a second.</summary>
    private sealed class Reporter(CatalogCmdletBase cmdlet) : IProgress<ScanProgress>
    {
        private long _last = -1000;

        public void Report(ScanProgress p)
        {
            var now = cmdlet._progressClock.ElapsedMilliseconds;
            if (p.Done < p.Total && now - _last < 200)
                return;
            _last = now;
            var record = new ProgressRecord(ProgressId, p.Activity,
                p.Experiment is null ? $"{p.Done} of {p.Total} experiments" : $"{p.Experiment} ({p.Done + 1} of {p.Total})")
            {
                PercentComplete = p.Total == 0 ? 100 : Math.Min(100, p.Done * 100 / p.Total),
            };
            cmdlet._progressShown = true;
            cmdlet.WriteProgress(record);
        }
    }
}
