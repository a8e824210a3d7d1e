using System.Text;
using System.Text.RegularExpressions;

namespace RunProc.Batch;

/// <summary>Reading a job's log: the line that says why it failed.</summary>
public static partial class JobLog
{
    // Words a failing command (pwsh, .NET, Python, shell tools) puts on the line that says why.
    [GeneratedRegex(@"\b(error|errors|exception|failed|fails|failure|cannot|can't|could not|unable|denied|not found|no such|fatal|traceback|killed|refused|invalid)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ErrorWords();

    // Lines RunProc itself adds to a log (status polls, '#' notes, the wrapper's start/end): not the command's voice.
    [GeneratedRegex(@"^(#|\s*\d+ \d{4}-\d\d-\d\dT\S+ \S+ job \S* status |runproc-job: )", RegexOptions.CultureInvariant)]
    private static partial Regex OwnLines();

    [GeneratedRegex(@"\x1B\[[0-9;?]*[A-Za-z]", RegexOptions.CultureInvariant)]
    private static partial Regex AnsiEscapes();

    /// <summary>
    /// The last line of the command's output in <paramref name="logFile"/> that reads like an
    /// error (the last 64 KiB are searched), or null. A log renamed -&lt;STATE&gt; is found too.
    /// </summary>
    public static string? LastErrorLine(string logFile)
    {
        var path = Existing(logFile);
        if (path is null)
            return null;
        string text;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var take = (int)Math.Min(fs.Length, 64 * 1024);
            fs.Seek(-take, SeekOrigin.End);
            var buf = new byte[take];
            fs.ReadExactly(buf);
            text = Encoding.UTF8.GetString(buf);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var lines = text.Split('\n');
        for (var i = lines.Length - 1; i >= 0; i--)
        {
            var line = AnsiEscapes().Replace(lines[i], "").Trim();
            if (line.Length == 0 || OwnLines().IsMatch(line) || !ErrorWords().IsMatch(line))
                continue;
            return line.Length > 500 ? line[..500] + "..." : line;
        }
        return null;
    }

    /// <summary>The log as it is now: the recorded path, or the one the end-of-job rename gave it.</summary>
    public static string? Existing(string logFile)
    {
        if (logFile.Length == 0)
            return null;
        if (File.Exists(logFile))
            return logFile;
        var dir = Path.GetDirectoryName(logFile);
        if (dir is null || !Directory.Exists(dir))
            return null;
        return Directory.EnumerateFiles(dir, Path.GetFileName(logFile) + "-*").Order(StringComparer.Ordinal).FirstOrDefault();
    }
}
