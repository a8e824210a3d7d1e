using System.Diagnostics;

namespace RunProc.Tests.Faults;

/// <summary>
/// Real file-system faults for tests: a read-only bind mount of a directory and a tiny tmpfs (a
/// full disk). Tests run as root (CI and here), where permission bits do not stop writes, so a
/// read-only mount is the honest way to make a DB directory read-only.
/// </summary>
internal static class Mounts
{
    public static bool IsRoot => Environment.UserName == "root" || Run("id", "-u").Trim() == "0";

    /// <summary>Makes <paramref name="dir"/> read-only (bind mount remounted ro) until disposed.</summary>
    public static IDisposable ReadOnly(string dir)
    {
        Must("mount", "--bind", dir, dir);
        try
        {
            Must("mount", "-o", "remount,ro,bind", dir);
        }
        catch
        {
            Run("umount", dir);
            throw;
        }
        return new Unmount(dir);
    }

    /// <summary>Mounts a tmpfs of <paramref name="kib"/> KiB on <paramref name="dir"/> (created) until disposed.</summary>
    public static IDisposable SmallDisk(string dir, int kib)
    {
        Directory.CreateDirectory(dir);
        Must("mount", "-t", "tmpfs", "-o", $"size={kib}k,mode=0755", "tmpfs", dir);
        return new Unmount(dir);
    }

    /// <summary>Fills the file system of <paramref name="dir"/> with a filler file until a write fails (ENOSPC). Returns its path.</summary>
    public static string Fill(string dir)
    {
        var path = Path.Join(dir, "filler.bin");
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1);
        var block = new byte[512];
        try
        {
            while (true) fs.Write(block);
        }
        catch (IOException) { }
        // Single bytes too, so not even a tail of a page is left.
        try
        {
            while (true) fs.WriteByte(1);
        }
        catch (IOException) { }
        return path;
    }

    private sealed class Unmount(string dir) : IDisposable
    {
        public void Dispose()
        {
            for (var i = 0; i < 20; i++)
            {
                if (RunCode("umount", dir) == 0) return;
                Thread.Sleep(100);
            }
            RunCode("umount", "-l", dir);
        }
    }

    public static string Must(string exe, params string[] args)
    {
        var (code, output) = Exec(exe, args);
        if (code != 0)
            throw new InvalidOperationException($"{exe} {string.Join(' ', args)} failed ({code}): {output} — these fault tests need root (mount).");
        return output;
    }

    private static string Run(string exe, params string[] args) => Exec(exe, args).Output;

    private static int RunCode(string exe, params string[] args) => Exec(exe, args).Code;

    private static (int Code, string Output) Exec(string exe, string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, o.Result + e.Result);
    }
}
