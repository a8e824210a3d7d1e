using System.Runtime.InteropServices;

namespace RunProc.Install;

/// <summary>
/// The one platform the module is built for: Linux on x64. The published assemblies are
/// ReadyToRun-compiled for linux-x64 and the native SkiaSharp library (PNG report figures) is the
/// linux-x64 one, so the package is linux-x64 only (the manifest says so: Description, Tags,
/// ProcessorArchitecture = 'Amd64'). Import on anything else fails with <see cref="Problem"/>.
/// </summary>
public static class SupportedPlatform
{
    public const string RuntimeIdentifier = "linux-x64";

    /// <summary>Why the module cannot run on this OS and architecture, or null where it can.</summary>
    public static string? Problem(bool isLinux, Architecture architecture, string osDescription) =>
        isLinux && architecture == Architecture.X64
            ? null
            : $"RunProc is built for Linux on x64 only ({RuntimeIdentifier}: ReadyToRun code and the native SkiaSharp library), " +
              $"and this is {osDescription} on {architecture}. Import it on a Linux x64 host (the facility's analysis and batch nodes), " +
              "or build it from source for this platform (build.ps1 Build after changing RuntimeIdentifier in src/RunProc.Module/RunProc.Module.csproj).";

    /// <summary>The problem of the running process's platform, or null.</summary>
    public static string? Current() =>
        Problem(RuntimeInformation.IsOSPlatform(OSPlatform.Linux), RuntimeInformation.ProcessArchitecture, RuntimeInformation.OSDescription);
}
