using System.Diagnostics;
using RunProc.Batch;

namespace RunProc.Tests.Batch;

/// <summary>
/// The processes of local jobs, found the way the wrapper marks them: every process of a job
/// (wrapper, watchdog, command and all it started, in any session) carries
/// RUNPROC_JOB_STATUS=&lt;status file&gt; in its environment; and, marker or not (an older wrapper), a process
/// whose working directory is under the test's root is one of its jobs. Zombies have neither and are not counted.
/// </summary>
internal static class JobProcesses
{
    /// <summary>Live processes whose job status file lies under <paramref name="root"/>: pid and command line.</summary>
    public static List<(int Pid, string Command)> Under(string root)
    {
        var marker = "RUNPROC_JOB_STATUS=" + root;
        var found = new List<(int, string)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
                continue;
            try
            {
                var env = File.ReadAllText(Path.Join(dir, "environ"));
                var cwd = new FileInfo(Path.Join(dir, "cwd")).LinkTarget ?? "";
                if (!env.Split('\0').Any(v => v.StartsWith(marker, StringComparison.Ordinal)) && !cwd.StartsWith(root, StringComparison.Ordinal))
                    continue;
                found.Add((pid, File.ReadAllText(Path.Join(dir, "cmdline")).Replace('\0', ' ').Trim()));
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    /// <summary>Describes what is left, for an assertion message.</summary>
    public static string Show(IEnumerable<(int Pid, string Command)> ps) => string.Join("; ", ps.Select(p => $"{p.Pid}: {p.Command}"));

    /// <summary>Ends whatever a failed test left behind, so no test leaks processes.</summary>
    public static void KillAll(string root)
    {
        foreach (var (pid, _) in Under(root))
            try { Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { } catch (System.ComponentModel.Win32Exception) { }
    }
}
