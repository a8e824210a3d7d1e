using System.Collections;
using System.Globalization;
using System.Text.RegularExpressions;

namespace RunProc.Config;

/// <summary>
/// The site configuration (a PowerShell data file, parsed by the module layer into a dictionary).
/// Every key has a default; <see cref="FromDictionary"/> validates types and values and names the
/// file and key in every error.
/// </summary>
public sealed class RunProcConfig
{
    /// <summary>The 11 instruments of the old tool.</summary>
    public static readonly IReadOnlyList<string> DefaultInstruments =
        new[] { "SXR", "AMO", "XPP", "XCS", "CXI", "MEC", "MFX", "DET", "MOB", "USR", "DIA" };

    /// <summary>Lower case, starting with letters; 10+ characters allowed (mfx101332224).</summary>
    public const string DefaultExperimentPattern = "^[a-z][a-z0-9]{2,39}$";

    /// <summary>The top-level keys of a config file; anything else is an error naming the nearest of these.</summary>
    public static readonly IReadOnlyList<string> KnownKeys = new[]
    {
        "DataRoot", "DbRoot", "Instruments", "RunDirectory", "ExperimentPattern", "SettleSeconds",
        "FileMode", "DirectoryMode", "CalibDir", "CalibGroup", "CalibType", "InstrumentMap", "Processes", "ScanConcurrency",
    };

    /// <summary>The file this came from, or "&lt;defaults&gt;".</summary>
    public string SourcePath { get; init; } = "<defaults>";

    /// <summary>Run files live under <c>&lt;DataRoot&gt;/&lt;INS&gt;/&lt;exp&gt;/&lt;RunDirectory&gt;/</c>.</summary>
    public string DataRoot { get; init; } = "/reg/d/psdm";

    /// <summary>The processing DB: <c>&lt;DbRoot&gt;/&lt;process&gt;/...</c>.</summary>
    public string DbRoot { get; init; } = "/reg/g/psdm/logs/run_proc";

    public IReadOnlyList<string> Instruments { get; init; } = DefaultInstruments;

    public string RunDirectory { get; init; } = "xtc";

    public string ExperimentPattern { get; init; } = DefaultExperimentPattern;

    /// <summary>A run is ready only when its newest file is at least this old.</summary>
    public int SettleSeconds { get; init; } = 120;

    /// <summary>
    /// Experiments listed at once by a scan. Listing is I/O-bound: on a network file system each call
    /// is a round trip, and several in flight hide the latency (1 = one after the other).
    /// </summary>
    public int ScanConcurrency { get; init; } = DefaultScanConcurrency;

    public const int DefaultScanConcurrency = 8;

    /// <summary>Mode of files the DB creates (old tool: 0664, group-writable for an operator group).</summary>
    public UnixMode FileMode { get; init; } = Convert.ToInt32("664", 8);

    /// <summary>Mode of directories the DB creates (old tool: 02775).</summary>
    public UnixMode DirectoryMode { get; init; } = Convert.ToInt32("2775", 8);

    /// <summary>Calibration store root; placeholders {ins} {exp}; default &lt;DataRoot&gt;/&lt;INS&gt;/&lt;exp&gt;/calib.</summary>
    public string CalibDir { get; init; } = "";

    /// <summary>Calibration group directory name (old: &lt;Group&gt;::CalibV1, e.g. Epix100a::CalibV1); empty: derived from the detector.</summary>
    public string CalibGroup { get; init; } = "";

    /// <summary>
    /// The calibration type directory the status is deployed into, under the group and source dirs:
    /// <c>pixel_datastat</c> as the old tool's description has it; psana's own calibration type for
    /// it (and the directory the old det_ndarr_data_status deployed into) is <c>pixel_datast</c>,
    /// which <c>det.datast()</c> reads: set that where psana must find the file.
    /// </summary>
    public string CalibType { get; init; } = DefaultCalibType;

    public const string DefaultCalibType = "pixel_datastat";

    public IReadOnlyDictionary<string, ProcessDefinition> Processes { get; init; } = DefaultProcesses();

    /// <summary>Experiment-name prefixes of other naming schemes and their instrument (the longest matching prefix wins), e.g. @{ 'x_' = 'XPP' }.</summary>
    public IReadOnlyDictionary<string, string> InstrumentMap { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// The one experiment → instrument rule, for the DB tree, the catalog, {ins} and the job
    /// accounting alike: the longest <see cref="InstrumentMap"/> prefix the name starts with, else
    /// its first 3 letters upper-cased (the old tool's rule). The result must be a configured
    /// instrument; an experiment that maps to none is rejected.
    /// </summary>
    public string InstrumentOf(string experiment) =>
        TryInstrumentOf(experiment, out var ins, out var why) ? ins : throw new ArgumentException(why, nameof(experiment));

    // The rule's answer per experiment: a scan asks it several times for each of thousands of experiments.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (bool Ok, string Instrument, string Error)> _instrumentOf = new(StringComparer.Ordinal);

    public bool TryInstrumentOf(string experiment, out string instrument, out string error)
    {
        if (experiment is not null && _instrumentOf.TryGetValue(experiment, out var known))
        {
            (instrument, error) = (known.Instrument, known.Error);
            return known.Ok;
        }
        var ok = TryInstrumentOfUncached(experiment!, out instrument, out error);
        _instrumentOf.TryAdd(experiment!, (ok, instrument, error));
        return ok;
    }

    private bool TryInstrumentOfUncached(string experiment, out string instrument, out string error)
    {
        Names.Experiment(experiment, this);
        var mapped = InstrumentMap.Where(m => experiment.StartsWith(m.Key, StringComparison.Ordinal)).OrderByDescending(m => m.Key.Length).FirstOrDefault();
        instrument = mapped.Key is not null ? mapped.Value : experiment[..3].ToUpperInvariant();
        if (Instruments.Contains(instrument, StringComparer.Ordinal))
        {
            error = "";
            return true;
        }
        error = $"experiment '{experiment}' maps to no configured instrument: " +
            (mapped.Key is not null ? $"InstrumentMap gives '{instrument}'" : $"its first 3 letters give '{Names.Show(instrument)}'") +
            $", which is not one of Instruments ({string.Join(", ", Instruments)}) of {SourcePath}. Add the instrument, or map the name: InstrumentMap = @{{ '{experiment[..Math.Min(3, experiment.Length)]}' = 'XPP' }}.";
        return false;
    }

    // Names that passed or failed ExperimentPattern (a scan checks each listed name several times); bounded.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _patternMatches = new(StringComparer.Ordinal);

    /// <summary>Whether <paramref name="name"/> matches <see cref="ExperimentPattern"/> (remembered per name).</summary>
    public bool MatchesExperimentPattern(string name)
    {
        if (_patternMatches.TryGetValue(name, out var known))
            return known;
        var ok = ExperimentRegex.IsMatch(name);
        if (_patternMatches.Count < 100_000)
            _patternMatches.TryAdd(name, ok);
        return ok;
    }

    private Regex? _experimentRegex;

    /// <summary>The compiled <see cref="ExperimentPattern"/>.</summary>
    public Regex ExperimentRegex => _experimentRegex ??= new Regex(ExperimentPattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    public static IReadOnlyDictionary<string, ProcessDefinition> DefaultProcesses() =>
        new Dictionary<string, ProcessDefinition>(StringComparer.OrdinalIgnoreCase)
        {
            [ProcessDefinition.PixelStatus] = new ProcessDefinition { Name = ProcessDefinition.PixelStatus, Command = ProcessDefinition.PixelStatusCommand },
        };

    /// <summary>The process definition by name, or an error naming the known ones.</summary>
    public ProcessDefinition GetProcess(string name)
    {
        if (Processes.TryGetValue(name, out var p))
            return p;
        throw new ConfigException(SourcePath, "Processes." + name,
            $"no process named '{name}' is configured; configured: {string.Join(", ", Processes.Keys)}. Add it under Processes = @{{ {name} = @{{ Command = @(...) }} }}.");
    }

    /// <summary>Validates a parsed data file. <paramref name="data"/> holds strings, numbers, bools, object[] and nested dictionaries.</summary>
    public static RunProcConfig FromDictionary(IDictionary data, string file)
    {
        ConfigKeys.Check(data, KnownKeys, file, "");

        var d = new RunProcConfig();
        var pattern = GetString(data, file, "ExperimentPattern", d.ExperimentPattern);
        try { _ = new Regex(pattern); }
        catch (ArgumentException ex) { throw new ConfigException(file, "ExperimentPattern", $"not a valid regular expression: {ex.Message}"); }

        var instruments = GetStringArray(data, file, "Instruments", d.Instruments);
        foreach (var ins in instruments)
            if (!Regex.IsMatch(ins, "^[A-Z][A-Z0-9]{1,15}$"))
                throw new ConfigException(file, "Instruments", $"'{ins}' is not an instrument name (upper case letters and digits, e.g. CXI).");

        var runDir = GetString(data, file, "RunDirectory", d.RunDirectory);
        if (!Regex.IsMatch(runDir, "^[A-Za-z0-9_.-]+$") || runDir is "." or "..")
            throw new ConfigException(file, "RunDirectory", $"'{runDir}' must be a single directory name (e.g. xtc).");

        var settle = GetInt(data, file, "SettleSeconds", d.SettleSeconds);
        if (settle < 0)
            throw new ConfigException(file, "SettleSeconds", "must be 0 or more seconds.");

        var scanConcurrency = GetInt(data, file, "ScanConcurrency", d.ScanConcurrency);
        if (scanConcurrency is < 1 or > 256)
            throw new ConfigException(file, "ScanConcurrency", "must be 1 to 256 (experiments listed at once; 1 = one after the other).");

        var cfg = new RunProcConfig
        {
            SourcePath = file,
            DataRoot = GetPath(data, file, "DataRoot", d.DataRoot),
            DbRoot = GetPath(data, file, "DbRoot", d.DbRoot),
            Instruments = instruments,
            RunDirectory = runDir,
            ExperimentPattern = pattern,
            SettleSeconds = settle,
            ScanConcurrency = scanConcurrency,
            FileMode = GetMode(data, file, "FileMode", d.FileMode),
            DirectoryMode = GetMode(data, file, "DirectoryMode", d.DirectoryMode),
            // Relative to the config file like every other path (was: the working directory of whoever ran it).
            CalibDir = Find(data, "CalibDir") is null || string.IsNullOrWhiteSpace(GetString(data, file, "CalibDir", "")) ? d.CalibDir : GetPath(data, file, "CalibDir", ""),
            CalibGroup = GetString(data, file, "CalibGroup", d.CalibGroup),
            CalibType = GetCalibType(data, file, d.CalibType),
            Processes = GetProcesses(data, file),
            InstrumentMap = GetInstrumentMap(data, file, instruments),
        };
        return cfg;
    }

    private static string GetCalibType(IDictionary data, string file, string fallback)
    {
        var t = GetString(data, file, "CalibType", fallback);
        if (!Regex.IsMatch(t, "^[A-Za-z][A-Za-z0-9_]{0,63}$"))
            throw new ConfigException(file, "CalibType", $"'{t}' is not a calibration type directory name (letters, digits and '_', e.g. pixel_datastat or psana's pixel_datast).");
        return t;
    }

    private static IReadOnlyDictionary<string, ProcessDefinition> GetProcesses(IDictionary data, string file)
    {
        var result = new Dictionary<string, ProcessDefinition>(DefaultProcesses(), StringComparer.OrdinalIgnoreCase);
        foreach (var (name, key, value) in Table(data, "Processes", file, "Processes", ": Processes = @{ pixel_status = @{ ... } }."))
        {
            if (!Regex.IsMatch(name, "^[A-Za-z][A-Za-z0-9_-]{0,63}$"))
                throw new ConfigException(file, key, "a process name is letters, digits, '_' and '-', starting with a letter.");
            if (value is not IDictionary p)
                throw new ConfigException(file, key, "must be a hashtable of process settings.");
            result.TryGetValue(name, out var baseDef);
            ConfigKeys.Check(p, ProcessDefinition.Keys, file, key);
            var parts = GetInt(p, file, key + ".Parts", 1, "Parts");
            if (parts is < 1 or > MaxParts)
                throw new ConfigException(file, key + ".Parts", $"must be 1 (not split) to {MaxParts}.");
            // The built-in process splits with its own part and merge commands unless told otherwise.
            var builtInSplit = parts > 1 && baseDef is not null && ReferenceEquals(baseDef.Command, ProcessDefinition.PixelStatusCommand);
            IReadOnlyList<string>? defaultCommand = builtInSplit ? ProcessDefinition.PixelStatusPartCommand : baseDef?.Command;
            var command = Find(p, "Command") is null && defaultCommand is not null
                ? defaultCommand
                : GetStringArray(p, file, key + ".Command", null, "Command");
            if (command.Count == 0)
                throw new ConfigException(file, key + ".Command", "must be a non-empty argv array, e.g. @('myprog', '-e', '{exp}', '-r', '{run}').");
            // Placeholders are checked now, not at the first submission (a typo would fail every run, every cycle).
            try { RunProc.Batch.CommandTemplate.Validate(command); }
            catch (ArgumentException ex) { throw new ConfigException(file, key + ".Command", ex.Message); }
            var merge = Find(p, "MergeCommand") is null
                ? (builtInSplit ? ProcessDefinition.PixelStatusMergeCommand : Array.Empty<string>())
                : GetStringArray(p, file, key + ".MergeCommand", null, "MergeCommand");
            if (merge.Count > 0)
            {
                try { RunProc.Batch.CommandTemplate.Validate(merge); }
                catch (ArgumentException ex) { throw new ConfigException(file, key + ".MergeCommand", ex.Message); }
            }
            if (parts > 1)
            {
                if (!command.Any(c => c.Contains("{part}", StringComparison.Ordinal)))
                    throw new ConfigException(file, key + ".Command", $"with Parts = {parts} the command must use {{part}} (0 to {parts - 1}) to know which part it runs, e.g. @('myprog', '--part', '{{part}}', '--of', '{{parts}}').");
                if (merge.Count == 0)
                    throw new ConfigException(file, key + ".MergeCommand", $"with Parts = {parts} a MergeCommand is required: the job that combines the parts once all have succeeded.");
            }
            var schedText = GetString(p, file, key + ".Scheduler", "Local", "Scheduler");
            if (!Enum.TryParse<SchedulerKind>(schedText, true, out var sched) || int.TryParse(schedText, out _))
                throw new ConfigException(file, key + ".Scheduler", $"'{schedText}' is not a scheduler; use Local, Slurm or Lsf.");
            var def = new ProcessDefinition
            {
                Name = name,
                Command = command,
                Scheduler = sched,
                Queue = GetString(p, file, key + ".Queue", "", "Queue"),
                MaxJobs = Positive(p, file, key, "MaxJobs", 2),
                PollSeconds = Positive(p, file, key, "PollSeconds", 60),
                Attempts = Positive(p, file, key, "Attempts", 3),
                NoRetryExitCodes = ExitCodes(p, file, key + ".NoRetryExitCodes", "NoRetryExitCodes", ProcessDefinition.DefaultNoRetryExitCodes),
                TimeLimitMinutes = Positive(p, file, key, "TimeLimitMinutes", 60),
                Resources = new RunProc.Batch.BatchResources
                {
                    Account = GetString(p, file, key + ".Account", "", "Account"),
                    Qos = GetString(p, file, key + ".Qos", "", "Qos"),
                    Cpus = NotNegative(p, file, key, "Cpus"),
                    MemoryGB = NotNegative(p, file, key, "MemoryGB"),
                    Gpus = NotNegative(p, file, key, "Gpus"),
                    Constraint = GetString(p, file, key + ".Constraint", "", "Constraint"),
                    Reservation = GetString(p, file, key + ".Reservation", "", "Reservation"),
                    Nodes = Positive(p, file, key, "Nodes", 1),
                    SchedulerArguments = Find(p, "SchedulerArguments") is null ? Array.Empty<string>() : GetStringArray(p, file, key + ".SchedulerArguments", null, "SchedulerArguments"),
                },
                Environment = GetEnvironment(p, file, key + ".Environment"),
                Parts = parts,
                MergeCommand = merge,
                ReportPath = Find(p, "ReportPath") is null ? "" : GetPath(p, file, "ReportPath", ""),
                OnFailure = OnFailureTemplate(p, file, key),
            };
            if (def.Queue.Length > 0 && !Regex.IsMatch(def.Queue, "^[A-Za-z0-9_.-]+$"))
                throw new ConfigException(file, key + ".Queue", $"'{def.Queue}' is not a queue name (letters, digits, '_', '.', '-').");
            try { RunProc.Batch.BatchResources.Validate(def); }
            catch (RunProc.Batch.ResourceException ex) { throw new ConfigException(file, key + "." + ex.Key, ex.Message); }
            result[name] = def;
        }
        return result;
    }

    private static Dictionary<string, string> GetInstrumentMap(IDictionary data, string file, IReadOnlyList<string> instruments)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (prefix, key, value) in Table(data, "InstrumentMap", file, "InstrumentMap", " of experiment-name prefix = instrument, e.g. @{ 'x_' = 'XPP' }."))
        {
            if (!Regex.IsMatch(prefix, "^[a-z0-9_]{1,64}$"))
                throw new ConfigException(file, key, $"'{Names.Show(prefix)}' is not an experiment-name prefix (lower-case letters, digits, '_').");
            var ins = value as string ?? "";
            if (!instruments.Contains(ins, StringComparer.Ordinal))
                throw new ConfigException(file, key, $"'{Names.Show(ins)}' is not one of Instruments ({string.Join(", ", instruments)}).");
            map[prefix] = ins;
        }
        return map;
    }

    /// <summary>The OnFailure argv template: program first, only the {exp} {run} {state} {logfile} placeholders.</summary>
    private static IReadOnlyList<string> OnFailureTemplate(IDictionary p, string file, string key)
    {
        if (Find(p, "OnFailure") is null)
            return Array.Empty<string>();
        var argv = GetStringArray(p, file, key + ".OnFailure", null, "OnFailure");
        if (argv.Count == 0 || argv[0].Contains('{'))
            throw new ConfigException(file, key + ".OnFailure", "must be an argv array starting with the program, e.g. @('/usr/bin/mail', '-s', 'RunProc: {exp} run {run} {state}', 'ops@example.org').");
        foreach (Match m in Regex.Matches(string.Join(" ", argv), @"\{([^{}]*)\}"))
            if (m.Groups[1].Value is not ("exp" or "run" or "state" or "logfile"))
                throw new ConfigException(file, key + ".OnFailure", $"unknown placeholder '{{{Names.Show(m.Groups[1].Value)}}}'; OnFailure knows {{exp}} {{run}} {{state}} {{logfile}}.");
        return argv;
    }

    /// <summary>Most parts of a split run (Slurm's default MaxArraySize is 1001 tasks).</summary>
    public const int MaxParts = 1000;

    private static int NotNegative(IDictionary p, string file, string key, string name)
    {
        var v = GetInt(p, file, key + "." + name, 0, name);
        if (v < 0)
            throw new ConfigException(file, key + "." + name, "must be 0 (the scheduler's default) or more.");
        return v;
    }

    private static IReadOnlyDictionary<string, string> GetEnvironment(IDictionary p, string file, string key)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, varKey, raw) in Table(p, "Environment", file, key, " of variables, e.g. @{ OMP_NUM_THREADS = '4' }."))
        {
            if (!Regex.IsMatch(name, "^[A-Za-z_][A-Za-z0-9_]{0,127}$"))
                throw new ConfigException(file, varKey, "a variable name is letters, digits and '_', not starting with a digit.");
            var value = raw switch
            {
                string s => s,
                IConvertible c when raw is not bool => c.ToString(CultureInfo.InvariantCulture),
                _ => throw new ConfigException(file, varKey, "must be a string or a number."),
            };
            if (value.Contains('\0'))
                throw new ConfigException(file, varKey, "must not contain a NUL character.");
            result[name] = value;
        }
        return result;
    }

    /// <summary>
    /// The entries of a table setting (Processes, InstrumentMap, a process's Environment) as
    /// (name, full key, value): none when <paramref name="name"/> is absent, an error naming
    /// <paramref name="key"/> when it is not a hashtable (<paramref name="shape"/> says what it should be).
    /// </summary>
    private static IEnumerable<(string Name, string Key, object? Value)> Table(IDictionary data, string name, string file, string key, string shape)
    {
        var raw = Find(data, name);
        if (raw is null)
            yield break;
        if (raw is not IDictionary table)
            throw new ConfigException(file, key, "must be a hashtable" + shape);
        foreach (DictionaryEntry e in table)
        {
            var entry = e.Key?.ToString() ?? "";
            yield return (entry, key + "." + entry, e.Value);
        }
    }

    /// <summary>A list of process exit codes (1 to 255; a number alone is a list of one; @() is none).</summary>
    private static IReadOnlyList<int> ExitCodes(IDictionary p, string file, string key, string name, IReadOnlyList<int> dflt)
    {
        var v = Find(p, name);
        if (v is null)
            return dflt;
        var items = v is IEnumerable e and not string and not IDictionary ? e.Cast<object?>().ToList() : new List<object?> { v };
        var codes = new List<int>();
        foreach (var item in items)
        {
            var code = item switch
            {
                int i => i,
                long l when l is >= 0 and <= 255 => (int)l,
                double d when d == Math.Floor(d) && d is >= 0 and <= 255 => (int)d,
                string t when int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var ti) => ti,
                _ => -1,
            };
            if (code is < 1 or > 255)
                throw new ConfigException(file, key, $"must be exit codes from 1 to 255, e.g. @(65) or @() for none; element {codes.Count} is '{item}'.");
            codes.Add(code);
        }
        return codes.Distinct().ToArray();
    }

    private static int Positive(IDictionary p, string file, string key, string name, int dflt)
    {
        var v = GetInt(p, file, key + "." + name, dflt, name);
        if (v < 1)
            throw new ConfigException(file, key + "." + name, "must be 1 or more.");
        return v;
    }

    private static object? Find(IDictionary data, string key)
    {
        foreach (DictionaryEntry e in data)
            if (string.Equals(e.Key?.ToString(), key, StringComparison.OrdinalIgnoreCase))
                return e.Value;
        return null;
    }

    private static string GetString(IDictionary data, string file, string key, string dflt, string? lookup = null)
    {
        var v = Find(data, lookup ?? key);
        return v switch
        {
            null => dflt,
            string s => s,
            IConvertible c when v is not bool => c.ToString(CultureInfo.InvariantCulture),
            _ => throw new ConfigException(file, key, $"must be a string, not {v.GetType().Name}."),
        };
    }

    private static string GetPath(IDictionary data, string file, string key, string dflt)
    {
        var s = GetString(data, file, key, dflt);
        if (string.IsNullOrWhiteSpace(s))
            throw new ConfigException(file, key, "must be a directory path, not empty.");
        if (s.StartsWith("~/", StringComparison.Ordinal))
            s = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), s[2..]);
        if (!Path.IsPathRooted(s))
        {
            // Relative paths are relative to the config file, so a config travels with its facility.
            var baseDir = Path.GetDirectoryName(Path.GetFullPath(file)) ?? Environment.CurrentDirectory;
            s = Path.GetFullPath(Path.Combine(baseDir, s));
        }
        return s;
    }

    private static int GetInt(IDictionary data, string file, string key, int dflt, string? lookup = null)
    {
        var v = Find(data, lookup ?? key);
        switch (v)
        {
            case null: return dflt;
            case int i: return i;
            case long l when l is >= int.MinValue and <= int.MaxValue: return (int)l;
            case double dd when dd == Math.Floor(dd) && Math.Abs(dd) < int.MaxValue: return (int)dd;
            case string s when int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var si): return si;
            default: throw new ConfigException(file, key, $"must be a whole number, not '{v}'.");
        }
    }

    private static UnixMode GetMode(IDictionary data, string file, string key, UnixMode dflt)
    {
        var v = Find(data, key);
        if (v is null)
            return dflt;
        // A mode is octal: 0664 without quotes is the decimal number 664 (mode 01230), never what was meant.
        if (v is not string s)
            throw new ConfigException(file, key, $"{v} is a number; write the mode as a string of octal digits: {key} = {UnixMode.Suggest(v)}.");
        if (!UnixMode.TryParse(s, out var m))
            throw new ConfigException(file, key, $"'{s}' is not an octal file mode such as '0664' or '02775'.");
        return m;
    }

    private static IReadOnlyList<string> GetStringArray(IDictionary data, string file, string key, IReadOnlyList<string>? dflt, string? lookup = null)
    {
        var v = Find(data, lookup ?? key);
        if (v is null)
        {
            if (dflt is null)
                throw new ConfigException(file, key, "is required.");
            return dflt;
        }
        if (v is string one)
            return new[] { one };
        if (v is IEnumerable items and not IDictionary)
        {
            var list = new List<string>();
            foreach (var item in items)
            {
                if (item is null or IDictionary or bool)
                    throw new ConfigException(file, key, $"must be an array of strings; element {list.Count} is {(item is null ? "$null" : item.GetType().Name)}.");
                list.Add(Convert.ToString(item, CultureInfo.InvariantCulture)!);
            }
            return list;
        }
        throw new ConfigException(file, key, $"must be an array of strings, e.g. @('a', 'b'), not {v.GetType().Name}.");
    }
}
