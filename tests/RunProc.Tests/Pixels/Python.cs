using System.Diagnostics;

namespace RunProc.Tests.Pixels;

/// <summary>Runs a script with the system Python (python3-h5py, python3-numpy) for independent cross-checks.</summary>
internal static class Python
{
    public const string Exe = "/usr/bin/python3";

    public static string Run(string dir, string script, params string[] args)
    {
        var file = Path.Combine(dir, $"script-{Guid.NewGuid():N}.py");
        File.WriteAllText(file, script);
        var psi = new ProcessStartInfo(Exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(file);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"python failed ({p.ExitCode}): {stderr}");
        return stdout.Result;
    }

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "runproc-pixels-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }
}
