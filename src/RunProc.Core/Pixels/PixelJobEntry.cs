using System.Globalization;
using System.Text.RegularExpressions;
using RunProc.Config;
using RunProc.Pixels.Split;

namespace RunProc.Pixels;

/// <summary>
/// The job entry of the pixel cmdlets without PowerShell (runproc-pixel, shipped in the module's
/// bin/): <c>runproc-pixel Invoke-PixelStatus|Merge-PixelStatus [-Parameter value | -Switch]...</c>,
/// with the arguments of the cmdlet bound as Invoke-RunProcEntry.ps1 binds them ('-Name value',
/// '-Name:value', '-Name' alone is a switch; names case-insensitive, unique prefixes allowed),
/// validated as the cmdlet's attributes validate them (<see cref="Parameters"/>; a test checks both
/// agree), and run through the same use case (<see cref="PixelStatusJob"/>). The log gets what the
/// pwsh entry writes: one table row per result, 'ERROR: ...' and 'WARNING: ...' lines.
/// Exit code as the pwsh entry: 0 on success, 1 if an error was written, 2 for a usage error, and
/// 65 (EX_DATAERR, the default NoRetryExitCodes) when every error written says the run's input
/// cannot be processed (<see cref="PixelStatusJob.IsInputError"/>): the cycle does not retry it.
/// </summary>
public static class PixelJobEntry
{
    public const string InvokeCmdlet = "Invoke-PixelStatus";
    public const string MergeCmdlet = "Merge-PixelStatus";

    /// <summary>The cmdlets this entry runs.</summary>
    public static readonly IReadOnlyList<string> Cmdlets = new[] { InvokeCmdlet, MergeCmdlet };

    /// <summary>The kind of value a parameter takes.</summary>
    public enum Kind { String, StringArray, Int, Long, Double, UInt, Switch, Method }

    /// <summary>One parameter as the cmdlet declares it: type, parameter set and position, validation.</summary>
    public sealed record Parameter(string Name, Kind Kind)
    {
        public string? Set { get; init; }
        public bool Mandatory { get; init; }
        public int Position { get; init; } = -1;
        public (double Min, double Max)? Range { get; init; }
        public IReadOnlyList<string>? ValidSet { get; init; }
        public string? Pattern { get; init; }
        public bool NotNullOrEmpty { get; init; }
        public IReadOnlyList<string> Aliases { get; init; } = Array.Empty<string>();
    }

    private static readonly string[] ArrayTypes = PixelStatusRunner.AllArrayTypes.ToArray();

    /// <summary>The parameters of each cmdlet (besides the common ones), as its attributes declare them.</summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyList<Parameter>> Parameters = new Dictionary<string, IReadOnlyList<Parameter>>(StringComparer.OrdinalIgnoreCase)
    {
        [InvokeCmdlet] = new Parameter[]
        {
            new("Experiment", Kind.String) { Set = "Run", Mandatory = true, Position = 0, NotNullOrEmpty = true },
            new("Run", Kind.Int) { Set = "Run", Mandatory = true, Position = 1, Range = (0, Names.MaxRun) },
            new("Path", Kind.StringArray) { Set = "Path", Mandatory = true, Position = 0, NotNullOrEmpty = true, Aliases = new[] { "FullName" } },
            new("Detector", Kind.StringArray),
            new("Events", Kind.Long) { Range = (1, long.MaxValue) },
            new("SkipEvents", Kind.Long) { Range = (0, long.MaxValue) },
            new("OutputDirectory", Kind.String),
            new("ArrayType", Kind.StringArray) { ValidSet = ArrayTypes },
            new("Deploy", Kind.Switch),
            new("ImagePath", Kind.String),
            new("Method", Kind.Method),
            new("SnrMax", Kind.Double), new("IntensityLow", Kind.Double), new("IntensityHigh", Kind.Double),
            new("RmsLow", Kind.Double), new("RmsHigh", Kind.Double),
            new("FractionLimit", Kind.Double) { Range = (0.0, 1.0) },
            new("IntensityLowSigma", Kind.Double) { Range = (0.0, double.MaxValue) },
            new("IntensityHighSigma", Kind.Double) { Range = (0.0, double.MaxValue) },
            new("RmsLowSigma", Kind.Double) { Range = (0.0, double.MaxValue) },
            new("RmsHighSigma", Kind.Double) { Range = (0.0, double.MaxValue) },
            new("DataMask", Kind.UInt),
            new("IncludeDamaged", Kind.Switch),
            new("AllowTruncated", Kind.Switch),
            new("ThrottleLimit", Kind.Int) { Range = (1, 1024) },
            new("Part", Kind.Int) { Range = (0, RunProcConfig.MaxParts - 1) },
            new("PartCount", Kind.Int) { Range = (1, RunProcConfig.MaxParts) },
            new("PartDirectory", Kind.String),
            new("JobName", Kind.String) { Pattern = @"^[A-Za-z0-9_.:-]{1,200}$" },
            new("ConfigPath", Kind.String) { NotNullOrEmpty = true },
        },
        [MergeCmdlet] = new Parameter[]
        {
            new("PartDirectory", Kind.String) { Mandatory = true, Position = 0, NotNullOrEmpty = true },
            new("PartCount", Kind.Int) { Range = (1, RunProcConfig.MaxParts) },
            new("Experiment", Kind.String),
            new("Run", Kind.Int) { Range = (0, Names.MaxRun) },
            new("OutputDirectory", Kind.String),
            new("ArrayType", Kind.StringArray) { ValidSet = ArrayTypes },
            new("ImagePath", Kind.String),
            new("Deploy", Kind.Switch),
            new("ConfigPath", Kind.String) { NotNullOrEmpty = true },
        },
    };

    /// <summary>The common parameters this entry honours (the others need the pwsh entry).</summary>
    private static readonly string[] Common = { "Verbose", "WhatIf" };

    /// <summary>An argument the parameters do not take: the message PowerShell's binder would give.</summary>
    public sealed class BindingException(string message) : Exception(message);

    /// <summary>Runs a cmdlet from its argv (the cmdlet name first); returns the exit code.</summary>
    public static int Run(IReadOnlyList<string> argv, TextWriter stdout, TextWriter stderr, CancellationToken cancel = default)
    {
        if (argv.Count < 1)
        {
            stderr.WriteLine($"usage: runproc-pixel <{string.Join("|", Cmdlets)}> [-Parameter value | -Switch]...");
            return 2;
        }
        var name = Cmdlets.FirstOrDefault(c => c.Equals(argv[0], StringComparison.OrdinalIgnoreCase));
        if (name is null)
        {
            stderr.WriteLine($"runproc-pixel: '{argv[0]}' is not a cmdlet this entry runs ({string.Join(", ", Cmdlets)}); run other RunProc cmdlets through pwsh (Invoke-RunProcEntry.ps1).");
            return 2;
        }
        var host = new TextHost(stdout, name, cancel);
        try
        {
            var bound = Bind(name, argv.Skip(1).ToList());
            host.VerboseOn = bound.ContainsKey("Verbose") && (bool)bound["Verbose"]!;
            host.WhatIfOn = bound.ContainsKey("WhatIf") && (bool)bound["WhatIf"]!;
            if (name == MergeCmdlet)
                RunMerge(bound, host);
            else
                RunInvoke(bound, host);
        }
        catch (Exception ex) when (ex is BindingException or ConfigException or PixelStatusUsageException)
        {
            stdout.WriteLine($"ERROR: RunProc entry: {name} failed: {ex.Message}");
            return 1;
        }
        host.Flush();
        return !host.Failed ? 0 : host.OnlyInputErrors ? ProcessDefinition.DataErrorExitCode : 1;
    }

    private static void RunInvoke(Dictionary<string, object?> p, TextHost host)
    {
        T Get<T>(string key, T fallback) => p.TryGetValue(key, out var v) && v is not null ? (T)v : fallback;
        var pathSet = p.ContainsKey("Path");
        var config = ConfigFile.For(p.ContainsKey("ConfigPath") ? FullPath((string)p["ConfigPath"]!) : null, builtInDefaultsWithoutConfig: pathSet);
        var events = Get("Events", long.MaxValue);
        var request = new PixelStatusRequest
        {
            Files = Array.Empty<string>(), Detectors = Get("Detector", Array.Empty<string>()), SkipEvents = Get("SkipEvents", 0L),
            Events = events == long.MaxValue ? null : events, DataMask = p.ContainsKey("DataMask") ? (uint)p["DataMask"]! : null,
            IncludeDamaged = Get("IncludeDamaged", false), AllowTruncated = Get("AllowTruncated", false),
            Options = new PixelStatusOptions
            {
                Method = Get("Method", PixelLimitMethod.Absolute), SnrMax = Get("SnrMax", 8.0), IntensityLow = Get("IntensityLow", 1.0),
                IntensityHigh = Get("IntensityHigh", 16000.0), RmsLow = Get("RmsLow", 0.1), RmsHigh = Get("RmsHigh", 16000.0),
                FractionLimit = Get("FractionLimit", 0.2), IntensityLowSigma = Get("IntensityLowSigma", 0.0), IntensityHighSigma = Get("IntensityHighSigma", 0.0),
                RmsLowSigma = Get("RmsLowSigma", 0.0), RmsHighSigma = Get("RmsHighSigma", 0.0),
            },
            OutputDirectory = OptionalPath(p, "OutputDirectory"), ImageDirectory = OptionalPath(p, "ImagePath"),
            ArrayTypes = Get("ArrayType", ArrayTypes), Deploy = Get("Deploy", false), Threads = Get("ThrottleLimit", Environment.ProcessorCount),
            JobName = Get<string?>("JobName", null), Part = Get("Part", 0), PartCount = Get("PartCount", 0), PartDirectory = OptionalPath(p, "PartDirectory"),
        };
        // A job runs one analysis: its one-time output start-up (the pictures' library, the summary's
        // compiled loops) begins now, beside the single-threaded opening of the files, not beside the
        // kernel's two threads.
        if (request.PartCount == 0)
            PixelStatusRunner.PrepareOutputs(request);
        var job = new PixelStatusJob(config, host);
        if (!pathSet)
        {
            job.RunRecorded((string)p["Experiment"]!, (int)p["Run"]!, request);
            return;
        }
        var files = new List<string>();
        foreach (var given in (string[])p["Path"]!)
        {
            var matches = Resolve(given);
            if (matches is null)
                host.Error(new FileNotFoundException($"Cannot find path '{FullPath(given)}' because it does not exist."), "PixelFileNotFound", PixelErrorCategory.ObjectNotFound, given, "Check the path of the run file.");
            else if (matches.Count == 0)
                host.Error(new FileNotFoundException($"No file matches '{given}'."), "PixelFileNotFound", PixelErrorCategory.ObjectNotFound, given, "Check the path of the run file.");
            else
                files.AddRange(matches);
        }
        if (files.Count > 0)
            job.Run(request with { Files = files }, files[0]);
    }

    private static void RunMerge(Dictionary<string, object?> p, TextHost host)
    {
        var config = ConfigFile.For(p.ContainsKey("ConfigPath") ? FullPath((string)p["ConfigPath"]!) : null, builtInDefaultsWithoutConfig: false);
        new PixelStatusJob(config, host).Merge(new PixelMergeRequest
        {
            PartDirectory = FullPath((string)p["PartDirectory"]!),
            PartCount = p.TryGetValue("PartCount", out var n) ? (int?)n : null,
            Experiment = p.TryGetValue("Experiment", out var e) ? (string?)e : null,
            Run = p.TryGetValue("Run", out var r) ? (int?)r : null,
            OutputDirectory = OptionalPath(p, "OutputDirectory"), ImageDirectory = OptionalPath(p, "ImagePath"),
            ArrayTypes = p.TryGetValue("ArrayType", out var a) && a is string[] types ? types : ArrayTypes,
            Deploy = p.TryGetValue("Deploy", out var d) && d is true,
        });
    }

    private static string? OptionalPath(Dictionary<string, object?> p, string key) => p.TryGetValue(key, out var v) && v is string s ? FullPath(s) : null;

    /// <summary>A path as PowerShell's file system provider resolves it: '~' is the home folder, relative to the current folder.</summary>
    public static string FullPath(string path)
    {
        if (path == "~" || path.StartsWith("~/", StringComparison.Ordinal))
            path = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + path[1..];
        return Path.GetFullPath(path);
    }

    /// <summary>The files a -Path names: itself if it exists, the matches of its wildcards (* ? [..]) in its last component, or null if it does not exist.</summary>
    private static List<string>? Resolve(string given)
    {
        var full = FullPath(given);
        if (given.IndexOfAny(new[] { '*', '?', '[' }) < 0)
            return File.Exists(full) || Directory.Exists(full) ? new List<string> { full } : null;
        var dir = Path.GetDirectoryName(full) ?? "/";
        if (!Directory.Exists(dir))
            return new List<string>();
        var pattern = new Regex("^" + Regex.Escape(Path.GetFileName(full)).Replace(@"\*", ".*").Replace(@"\?", ".").Replace(@"\[", "[") + "$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        return Directory.EnumerateFileSystemEntries(dir).Where(f => pattern.IsMatch(Path.GetFileName(f))).Order(StringComparer.OrdinalIgnoreCase).ToList();
    }

    /// <summary>Binds argv to the cmdlet's parameters as the pwsh entry and PowerShell's binder do; the values typed and validated.</summary>
    public static Dictionary<string, object?> Bind(string cmdlet, IReadOnlyList<string> args)
    {
        var declared = Parameters[cmdlet];
        var named = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        var positional = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var m = Regex.Match(args[i], "^-([A-Za-z][A-Za-z0-9]*)(?::(.*))?$", RegexOptions.Singleline);
            if (!m.Success) { positional.Add(args[i]); continue; }
            var p = m.Groups[1].Value;
            if (m.Groups[2].Success)
            {
                var text = m.Groups[2].Value;
                named[p] = text switch { "true" or "$true" => true, "false" or "$false" => false, _ => text };
            }
            else if (i + 1 < args.Count && !Regex.IsMatch(args[i + 1], "^-[A-Za-z]"))
                named[p] = args[++i];
            else
                named[p] = true;
        }
        var bound = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (given, raw) in named)
        {
            var common = Common.Where(c => c.StartsWith(given, StringComparison.OrdinalIgnoreCase)).ToList();
            var matches = declared.Where(d => d.Name.StartsWith(given, StringComparison.OrdinalIgnoreCase) || d.Aliases.Any(a => a.Equals(given, StringComparison.OrdinalIgnoreCase))).ToList();
            var exact = declared.FirstOrDefault(d => d.Name.Equals(given, StringComparison.OrdinalIgnoreCase) || d.Aliases.Any(a => a.Equals(given, StringComparison.OrdinalIgnoreCase)));
            if (exact is null && matches.Count == 0 && common.Count == 1 && raw is bool flag)
            {
                bound[common[0]] = flag;
                continue;
            }
            if (exact is null && matches.Count == 0)
                throw new BindingException(IsUnsupportedCommon(given)
                    ? $"-{given} is a common parameter the runproc-pixel entry does not take (it takes -Verbose and -WhatIf); run {cmdlet} through pwsh for it."
                    : $"A parameter cannot be found that matches parameter name '{given}'.");
            if (exact is null && matches.Count + common.Count > 1)
                throw new BindingException($"Parameter cannot be processed because the parameter name '{given}' is ambiguous. Possible matches include: {string.Join(" ", matches.Select(x => "-" + x.Name).Concat(common.Select(c => "-" + c)))}.");
            var param = exact ?? matches[0];
            bound[param.Name] = Convert(param, raw);
        }
        // Parameter set: the one the named parameters belong to (the first set when none says).
        var sets = declared.Where(d => d.Set is not null).Select(d => d.Set!).Distinct().ToList();
        var set = sets.FirstOrDefault(s => bound.Keys.Any(k => declared.Any(d => d.Name == k && d.Set == s))) ?? sets.FirstOrDefault();
        if (sets.Count > 1 && sets.Count(s => bound.Keys.Any(k => declared.Any(d => d.Name == k && d.Set == s))) > 1)
            throw new BindingException("Parameter set cannot be resolved using the specified named parameters. One or more parameters issued cannot be used together or an insufficient number of parameters were provided.");
        var open = declared.Where(d => d.Position >= 0 && (d.Set is null || d.Set == set) && !bound.ContainsKey(d.Name)).OrderBy(d => d.Position).ToList();
        foreach (var value in positional)
        {
            if (open.Count == 0)
                throw new BindingException($"A positional parameter cannot be found that accepts argument '{value}'.");
            bound[open[0].Name] = Convert(open[0], value);
            open.RemoveAt(0);
        }
        var missing = declared.Where(d => d.Mandatory && (d.Set is null || d.Set == set) && !bound.ContainsKey(d.Name)).Select(d => d.Name).ToList();
        if (missing.Count > 0)
            throw new BindingException($"Cannot process command because of one or more missing mandatory parameters: {string.Join(" ", missing)}.");
        return bound;
    }

    private static bool IsUnsupportedCommon(string given) =>
        new[] { "Confirm", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ProgressAction", "ErrorVariable", "WarningVariable",
            "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable" }.Any(c => c.StartsWith(given, StringComparison.OrdinalIgnoreCase));

    private static object? Convert(Parameter p, object? raw)
    {
        if (p.Kind == Kind.Switch)
            return raw is bool b ? b : throw new BindingException($"Cannot bind parameter '{p.Name}': -{p.Name} is a switch; give it alone or as -{p.Name}:$false, not with the value '{raw}'.");
        if (raw is bool)
            throw new BindingException($"Missing an argument for parameter '{p.Name}'. Specify a parameter of type '{TypeName(p.Kind)}' and try again.");
        var text = (string)raw!;
        if (p.NotNullOrEmpty && text.Length == 0)
            throw new BindingException($"Cannot validate argument on parameter '{p.Name}'. The argument is null or empty. Provide an argument that is not null or empty, and then try the command again.");
        object value;
        switch (p.Kind)
        {
            case Kind.String:
            case Kind.StringArray:
                if (p.ValidSet is { } valid && !valid.Contains(text, StringComparer.OrdinalIgnoreCase))
                    throw new BindingException($"Cannot validate argument on parameter '{p.Name}'. The argument \"{text}\" does not belong to the set \"{string.Join(",", valid)}\" specified by the ValidateSet attribute. Supply an argument that is in the set and then try the command again.");
                if (p.Pattern is { } pattern && !Regex.IsMatch(text, pattern, RegexOptions.IgnoreCase))
                    throw new BindingException($"Cannot validate argument on parameter '{p.Name}'. The argument \"{text}\" does not match the \"{pattern}\" pattern. Supply an argument that matches \"{pattern}\" and try the command again.");
                return p.Kind == Kind.String ? text : new[] { text };
            case Kind.Method:
                if (!Enum.TryParse<PixelLimitMethod>(text.Trim(), ignoreCase: true, out var method) || !Enum.IsDefined(method))
                    throw new BindingException($"Cannot bind parameter '{p.Name}'. Cannot convert value \"{text}\" to type \"RunProc.Pixels.PixelLimitMethod\". Error: \"Unable to match the identifier name {text} to a valid enumerator name. Specify one of the following enumerator names and try again: {string.Join(", ", Enum.GetNames<PixelLimitMethod>())}\"");
                return method;
            default:
                var number = Number(text.Trim(), p.Kind) ?? throw new BindingException($"Cannot bind parameter '{p.Name}'. Cannot convert value \"{text}\" to type \"{TypeName(p.Kind)}\". Error: \"The input string '{text}' was not in a correct format.\"");
                value = number;
                break;
        }
        if (p.Range is { } r)
        {
            var d = System.Convert.ToDouble(value, CultureInfo.InvariantCulture);
            if (d < r.Min || d > r.Max)
                throw new BindingException($"Cannot validate argument on parameter '{p.Name}'. The {text} argument is {(d < r.Min ? "less than the minimum allowed range of " + Show(r.Min) : "greater than the maximum allowed range of " + Show(r.Max))}. Supply an argument that is {(d < r.Min ? "greater than or equal to " + Show(r.Min) : "less than or equal to " + Show(r.Max))} and then try the command again.");
        }
        return value;
    }

    private static string Show(double d) => d.ToString(CultureInfo.InvariantCulture);

    private static string TypeName(Kind k) => k switch
    {
        Kind.Int => "System.Int32", Kind.Long => "System.Int64", Kind.Double => "System.Double", Kind.UInt => "System.UInt32",
        Kind.Method => "RunProc.Pixels.PixelLimitMethod", _ => "System.String",
    };

    /// <summary>A number as PowerShell converts a string argument: invariant culture, 0x hex for integers.</summary>
    private static object? Number(string s, Kind kind)
    {
        var hex = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (hex && ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var h))
            return kind switch
            {
                Kind.Int when h <= uint.MaxValue => unchecked((int)(uint)h),
                Kind.Long => unchecked((long)h),
                Kind.UInt when h <= uint.MaxValue => (uint)h,
                Kind.Double => (double)h,
                _ => null,
            };
        if (hex) return null;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || double.IsNaN(d))
            return null;
        // PowerShell rounds a fractional value into an integer parameter (to even).
        var rounded = Math.Round(d, MidpointRounding.ToEven);
        return kind switch
        {
            Kind.Double => d,
            Kind.Int when rounded is >= int.MinValue and <= int.MaxValue => (int)rounded,
            Kind.Long when rounded is >= long.MinValue and < 9.2233720368547758E18 => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : (long)rounded,
            Kind.UInt when rounded is >= 0 and <= uint.MaxValue => (uint)rounded,
            _ => null,
        };
    }

    /// <summary>The log output: results as table rows (a header before the first of a kind), errors and warnings one line each.</summary>
    private sealed class TextHost(TextWriter stdout, string cmdlet, CancellationToken cancel) : IPixelStatusHost
    {
        public bool Failed { get; private set; }

        /// <summary>Every error written says the run's input cannot be processed (<see cref="PixelStatusJob.IsInputError"/>): retrying will not help.</summary>
        public bool OnlyInputErrors { get; private set; } = true;

        public bool VerboseOn { get; set; }
        public bool WhatIfOn { get; set; }
        public CancellationToken Cancel => cancel;

        public void Error(Exception error, string errorId, PixelErrorCategory category, object? target, string? recommendedAction = null)
        {
            Failed = true;
            OnlyInputErrors &= PixelStatusJob.IsInputError(errorId);
            stdout.WriteLine($"ERROR: {cmdlet}: {error.Message}{(recommendedAction is null ? "" : $" ({recommendedAction})")}");
        }

        public void Warning(string message)
        {
            stdout.WriteLine($"WARNING: {message}");
        }

        public void Verbose(string message)
        {
            if (VerboseOn)
                stdout.WriteLine($"VERBOSE: {message}");
        }

        public void Progress(int id, string activity, string status, int percent)
        {
            // A job log is a file: no progress bar (the pwsh entry shows none either).
        }

        public Proceed ShouldProcess(string target, string action)
        {
            if (!WhatIfOn)
                return Proceed.Yes;
            stdout.WriteLine($"What if: Performing the operation \"{action}\" on target \"{target}\".");
            return Proceed.WhatIf;
        }

        private Type? _tableOf;
        private int[] _widths = Array.Empty<int>();

        /// <summary>A result as a table row, at once (a header before the first row of each kind of result, as Format-Table).</summary>
        public void Output(object item)
        {
            var columns = ColumnsOf(item);
            var cells = columns.Select(c => c.Value(item)).ToArray();
            if (_tableOf != item.GetType())
            {
                if (_tableOf is not null)
                    stdout.WriteLine();
                _tableOf = item.GetType();
                _widths = columns.Select((c, k) => Math.Max(c.Header.Length, cells[k].Length)).ToArray();
                stdout.WriteLine();
                stdout.WriteLine(Line(columns, columns.Select(c => c.Header).ToArray()));
                stdout.WriteLine(Line(columns, columns.Select(c => new string('-', c.Header.Length)).ToArray()));
            }
            stdout.WriteLine(Line(columns, cells));
            stdout.Flush();
        }

        /// <summary>Ends the last table with a blank line, as Out-String does.</summary>
        public void Flush()
        {
            if (_tableOf is not null)
                stdout.WriteLine();
            _tableOf = null;
            stdout.Flush();
        }

        private string Line((string Header, bool Right, Func<object, string> Value)[] columns, string[] values) =>
            string.Join(" ", values.Select((v, k) => columns[k].Right ? v.PadLeft(_widths[k]) : v.PadRight(_widths[k]))).TrimEnd();

        // The columns of Pixels.Format.ps1xml's table views (a plan: its main properties).
        private static (string Header, bool Right, Func<object, string> Value)[] ColumnsOf(object item) => item switch
        {
            PixelStatusResult => new (string, bool, Func<object, string>)[]
            {
                ("Experiment", false, o => ((PixelStatusResult)o).Experiment), ("Run", true, o => Int(((PixelStatusResult)o).Run)),
                ("Detector", false, o => ((PixelStatusResult)o).Detector), ("Shape", false, o => ((PixelStatusResult)o).ShapeText),
                ("Events", true, o => Int(((PixelStatusResult)o).Events)), ("BadPixels", true, o => Int(((PixelStatusResult)o).BadPixels)),
                ("PerBit (1,2,4,..,128)", false, o => string.Join(",", ((PixelStatusResult)o).CountPerBit)), ("Files", true, o => Int(((PixelStatusResult)o).Files.Count)),
            },
            PartialHeader => new (string, bool, Func<object, string>)[]
            {
                ("Experiment", false, o => ((PartialHeader)o).Experiment), ("Run", true, o => Int(((PartialHeader)o).Run)),
                ("Source", false, o => ((PartialHeader)o).Source), ("Part", true, o => Int(((PartialHeader)o).Part)),
                ("PartCount", true, o => Int(((PartialHeader)o).PartCount)), ("SplitBy", false, o => ((PartialHeader)o).Coverage.By.ToString()),
                ("Share", false, o => { var c = ((PartialHeader)o).Coverage; return $"{c.First}..{c.First + c.Count - 1} of {c.Total}"; }),
                ("Events", true, o => Int(((PartialHeader)o).Events)),
            },
            _ => new (string, bool, Func<object, string>)[]
            {
                ("Experiment", false, o => ((PixelStatusPlan)o).Experiment), ("Run", true, o => Int(((PixelStatusPlan)o).Run)),
                ("Detector", false, o => ((PixelStatusPlan)o).Detector), ("Events", true, o => Int(((PixelStatusPlan)o).Events)),
                ("Writes", true, o => Int(((PixelStatusPlan)o).Writes.Count)), ("DeployFile", false, o => ((PixelStatusPlan)o).DeployFile ?? ""),
            },
        };

        private static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);
    }
}
