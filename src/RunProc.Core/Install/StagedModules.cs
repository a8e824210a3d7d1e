using System.Text;
using System.Text.RegularExpressions;
using RunProc.Batch;
using RunProc.Config;
using RunProc.IO;

namespace RunProc.Install;

/// <summary>What a cleanup of staged module copies did.</summary>
public sealed class StagedCleanup
{
    /// <summary>Folders removed.</summary>
    public List<string> Removed { get; } = new();

    /// <summary>Folders kept, each with why (newest, in use by a job, the crontab, this session, too young).</summary>
    public List<(string Folder, string Why)> Kept { get; } = new();

    /// <summary>Why nothing was removed (a journal could not be read, so no folder is provably unused); null otherwise.</summary>
    public string? Skipped { get; set; }
}

/// <summary>
/// Cleans the staged copies of development builds (<c>&lt;DbRoot&gt;/.modules/RunProc/&lt;version&gt;-dev.&lt;hash&gt;/</c>,
/// see <see cref="PinnedModule"/>), which nothing else ever removes. Run when a session stages a
/// new build (the moment another copy appears). A copy is removed only when it is provably unused:
/// not among the newest <c>keepNewest</c>, not the session's own, not named by the crontab (or any
/// other text given in <c>keep</c>), not younger than <c>minAge</c> (a session that has just
/// staged it may not have recorded its job yet), and not named by an active job of any process —
/// its command or its log's "# module:" header. If any journal cannot be read, nothing is removed.
/// A copy is renamed aside first (a job never starts in a half-deleted folder) and only a real
/// directory is removed: a link in its place is neither followed nor touched.
/// </summary>
public static class StagedModules
{
    private static readonly Regex StagedName = new(@"^\d+\.\d+\.\d+[^/]*-dev\.[0-9a-f]{12}$", RegexOptions.CultureInvariant);

    /// <param name="stageRoot">&lt;DbRoot&gt;/.modules.</param>
    /// <param name="keep">Texts naming folders to keep (the session's own pin, the crontab).</param>
    public static StagedCleanup Clean(RunProcConfig config, string stageRoot, IEnumerable<string> keep, int keepNewest = 3, TimeSpan? minAge = null)
    {
        var result = new StagedCleanup();
        var dir = Path.Combine(Path.GetFullPath(stageRoot), "RunProc");
        if (!Directory.Exists(dir) || new DirectoryInfo(dir).LinkTarget is not null)
            return result;
        var staged = new DirectoryInfo(dir).EnumerateDirectories()
            .Where(d => d.LinkTarget is null && StagedName.IsMatch(d.Name))
            .OrderByDescending(d => d.LastWriteTimeUtc).ThenBy(d => d.Name, StringComparer.Ordinal).ToList();
        if (staged.Count <= keepNewest)
        {
            result.Kept.AddRange(staged.Select(d => (d.FullName, "newest")));
            return result;
        }
        var texts = keep.ToList();
        if (ActiveJobTexts(config, texts) is { } problem)
        {
            result.Skipped = problem;
            return result;
        }
        var young = DateTime.UtcNow - (minAge ?? TimeSpan.FromHours(1));
        for (var i = 0; i < staged.Count; i++)
        {
            var d = staged[i];
            var why = i < keepNewest ? "newest"
                : texts.Any(t => Mentions(t, d.FullName)) ? "in use"
                : d.LastWriteTimeUtc > young ? "staged recently"
                : null;
            if (why is not null)
            {
                result.Kept.Add((d.FullName, why));
                continue;
            }
            // Renamed aside first, then removed: the name is gone at once, the files follow.
            var aside = Path.Combine(dir, $".{d.Name}.removing-{Environment.ProcessId}-{Guid.NewGuid():N}");
            try
            {
                Directory.Move(d.FullName, aside);
                var moved = new DirectoryInfo(aside);
                if (moved.LinkTarget is null)
                    moved.Delete(recursive: true);
                result.Removed.Add(d.FullName);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                result.Kept.Add((d.FullName, "cannot remove: " + ex.Message));
            }
        }
        return result;
    }

    /// <summary>Whether <paramref name="text"/> names the folder (the folder itself or a path inside it).</summary>
    private static bool Mentions(string text, string folder)
    {
        for (var at = text.IndexOf(folder, StringComparison.Ordinal); at >= 0; at = text.IndexOf(folder, at + 1, StringComparison.Ordinal))
        {
            var end = at + folder.Length;
            if (end == text.Length || text[end] is '/' or ')' or '\'' or '"' or ' ' or '\n' or '\0')
                return true;
        }
        return false;
    }

    /// <summary>Adds the command and log header of every active job of every process to <paramref name="texts"/>; a message if a journal cannot be read.</summary>
    private static string? ActiveJobTexts(RunProcConfig config, List<string> texts)
    {
        foreach (var process in config.Processes.Keys)
        {
            try
            {
                foreach (var (experiment, file) in new RunProc.Db.ProcDbTree(config, process).AllJournalFiles())
                {
                    var journal = new JobJournal(file, process, experiment);
                    journal.Refresh();
                    foreach (var job in journal.Jobs.Where(j => j.State.IsActive()))
                    {
                        texts.Add(string.Join('\0', job.Command));
                        texts.Add(LogHeader(job.LogFile));
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return $"a job journal of process '{process}' cannot be read ({ex.Message}); no staged module is provably unused.";
            }
        }
        return null;
    }

    /// <summary>The first 4 KiB of a job log (its "# module:" header), or "".</summary>
    private static string LogHeader(string log)
    {
        if (log.Length == 0)
            return "";
        using var fs = SafeFile.OpenRead(log);
        if (fs is null)
            return "";
        var buf = new byte[4096];
        var n = fs.Read(buf);
        return Encoding.UTF8.GetString(buf, 0, n);
    }
}
