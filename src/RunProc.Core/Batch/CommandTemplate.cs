using System.Globalization;
using System.Text;
using RunProc.Config;

namespace RunProc.Batch;

/// <summary>The values a process command's placeholders expand to, for one run.</summary>
public sealed class TemplateValues
{
    public required string Process { get; init; }
    public required string Experiment { get; init; }
    public required int Run { get; init; }
    public required string WorkDirectory { get; init; }
    public required string LogFile { get; init; }
    public required string ConfigPath { get; init; }
    public int Attempt { get; init; } = 1;

    /// <summary>{ins}: the config's instrument of the experiment (default: the old rule).</summary>
    public string? Instrument { get; init; }
    public string JobName { get; init; } = "";

    /// <summary>The argv prefix that starts the same pwsh with the same RunProc module ({runproc}); empty if unknown.</summary>
    public IReadOnlyList<string> RunProcArgv { get; init; } = Array.Empty<string>();

    /// <summary>{runproc} followed by one of these cmdlets expands to its own job entry (runproc-pixel); see <see cref="BatchEnvironment.JobEntryArgv"/>.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> JobEntryArgv { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>{part}: the part (0-based) of a split run; null where the scheduler assigns it at run time (a job array), see <see cref="CommandTemplate.PartToken"/>.</summary>
    public int? Part { get; init; }

    /// <summary>{parts}: the run's number of parts (1 when not split).</summary>
    public int Parts { get; init; } = 1;

    /// <summary>{partdir}: where the parts of this attempt leave their results for the merge.</summary>
    public string PartDirectory { get; init; } = "";
}

/// <summary>
/// Expands a process's argv template. Every value is a validated name, a number or a path the DB
/// made, and each placeholder stays inside its own argv element: the result goes to
/// ProcessStartInfo.ArgumentList (or the scheduler's argv), never to a shell.
/// </summary>
public static class CommandTemplate
{
    /// <summary>Placeholders that may appear inside an argv element.</summary>
    public static readonly IReadOnlyList<string> Placeholders = new[]
    {
        "exp", "run", "run4", "dsname", "ins", "workdir", "logfile", "config", "process", "attempt", "jobname", "runproc",
        "part", "parts", "partdir",
    };

    /// <summary>
    /// What {part} becomes in a job array's argv, where each task learns its index only when it
    /// starts: scripts/runproc-part.sh replaces it by the task's index before the wrapper runs.
    /// </summary>
    public const string PartToken = "@RUNPROC_PART@";

    /// <summary>Expands <paramref name="template"/>; throws <see cref="ArgumentException"/> naming the element and placeholder at fault.</summary>
    public static IReadOnlyList<string> Expand(IReadOnlyList<string> template, TemplateValues v)
    {
        var map = Map(v);
        var result = new List<string>(template.Count + 8);
        for (var i = 0; i < template.Count; i++)
        {
            var element = template[i] ?? "";
            if (element == "{runproc}")
            {
                if (v.RunProcArgv.Count == 0)
                    throw new ArgumentException($"command element {i} is {{runproc}}, but the pwsh that runs RunProc is not known here; run the submitting cmdlet from pwsh.");
                result.AddRange(i + 1 < template.Count && v.JobEntryArgv.TryGetValue(template[i + 1] ?? "", out var entry) ? entry : v.RunProcArgv);
                continue;
            }
            result.Add(ExpandElement(element, $"command element {i}", map));
        }
        if (result.Count == 0 || result[0].Length == 0)
            throw new ArgumentException("the command's program (element 0) is empty.");
        return result;
    }

    /// <summary>Expands one setting (a batch option such as Account = 'lcls:{exp}'); <paramref name="what"/> names it in errors.</summary>
    public static string ExpandText(string text, TemplateValues v, string what) => ExpandElement(text, what, Map(v));

    private static Dictionary<string, string> Map(TemplateValues v)
    {
        Names.Experiment(v.Experiment);
        Names.ValidateRun(v.Run);
        Names.Process(v.Process);
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["exp"] = v.Experiment,
            ["run"] = v.Run.ToString(CultureInfo.InvariantCulture),
            ["run4"] = v.Run.ToString("0000", CultureInfo.InvariantCulture),
            ["dsname"] = $"exp={v.Experiment}:run={v.Run.ToString(CultureInfo.InvariantCulture)}",
            ["ins"] = v.Instrument is { } ins ? Names.Instrument(ins) : Names.InstrumentOf(v.Experiment),
            ["workdir"] = v.WorkDirectory,
            ["logfile"] = v.LogFile,
            ["config"] = v.ConfigPath,
            ["process"] = v.Process,
            ["attempt"] = v.Attempt.ToString(CultureInfo.InvariantCulture),
            ["jobname"] = v.JobName,
            ["part"] = v.Part is { } k ? k.ToString(CultureInfo.InvariantCulture) : PartToken,
            ["parts"] = v.Parts.ToString(CultureInfo.InvariantCulture),
            ["partdir"] = v.PartDirectory,
        };
    }

    private static string ExpandElement(string element, string where, Dictionary<string, string> map)
    {
        var sb = new StringBuilder(element.Length + 32);
        for (var p = 0; p < element.Length; p++)
        {
            var c = element[p];
            if (c == '{' && p + 1 < element.Length && element[p + 1] == '{') { sb.Append('{'); p++; continue; }
            if (c == '}' && p + 1 < element.Length && element[p + 1] == '}') { sb.Append('}'); p++; continue; }
            if (c == '{')
            {
                var end = element.IndexOf('}', p + 1);
                if (end < 0)
                    throw new ArgumentException($"{where} '{Names.Show(element)}' has an unclosed '{{'; write '{{{{' for a literal brace.");
                var name = element.Substring(p + 1, end - p - 1);
                if (name == "runproc")
                    throw new ArgumentException($"{where}: {{runproc}} must be a whole argv element (it expands to several).");
                if (!map.TryGetValue(name, out var value))
                    throw new ArgumentException($"{where} '{Names.Show(element)}' uses unknown placeholder '{{{Names.Show(name)}}}'; known: {string.Join(" ", Placeholders.Select(x => "{" + x + "}"))}.");
                sb.Append(value);
                p = end;
                continue;
            }
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Checks a template without a run (unknown placeholders, unclosed braces), for config validation.</summary>
    public static void Validate(IReadOnlyList<string> template) => Expand(template, CheckValues);

    /// <summary>Values for checking a template or setting without a run.</summary>
    public static TemplateValues CheckValues { get; } = new()
    {
        Process = "check", Experiment = "xpptut15", Run = 1, WorkDirectory = "/w", LogFile = "/l", ConfigPath = "/c",
        RunProcArgv = new[] { "pwsh" }, Part = 0, Parts = 2, PartDirectory = "/w/parts",
    };

    /// <summary>Renders an argv for display (-WhatIf, logs): elements that need it are single-quoted, POSIX style.</summary>
    public static string Display(IEnumerable<string> argv) => string.Join(" ", argv.Select(Quote));

    /// <summary>POSIX shell single-quoting; also used for the crontab line, the one place a shell reads our text.</summary>
    public static string Quote(string s)
    {
        if (s.Length > 0 && s.All(ch => char.IsAsciiLetterOrDigit(ch) || "-_./:=,+@%".Contains(ch)))
            return s;
        return "'" + s.Replace("'", "'\\''") + "'";
    }
}
