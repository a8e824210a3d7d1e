using System.Security.Cryptography;
using System.Text;
using RunProc.IO;

namespace RunProc.Install;

/// <summary>The module a session loaded: its folder, manifest, version and the folders it is made of.</summary>
public sealed class LoadedModule
{
    /// <summary>The manifest's folder (ModuleBase).</summary>
    public required string Base { get; init; }

    /// <summary>The manifest file name (RunProc.psd1).</summary>
    public required string ManifestName { get; init; }

    public required string Name { get; init; }
    public required string Version { get; init; }

    /// <summary>Folders below <see cref="Base"/> that make the module (binaries, help); a checkout's other folders are not part of it.</summary>
    public required IReadOnlyList<string> Parts { get; init; }
}

/// <summary>
/// The module folder that jobs and crontab entries load by absolute path, so a later build, Clean
/// or upgrade cannot change what they run. A module installed by PSResourceGet
/// (<c>&lt;path&gt;/RunProc/&lt;version&gt;/</c> with its PSGetModuleInfo.xml) is used where it is:
/// an upgrade installs beside it. Anything else — a checkout's ./RunProc.psd1 and ./bin, which a
/// rebuild rewrites in place — is first copied to
/// <c>&lt;stage&gt;/RunProc/&lt;version&gt;-dev.&lt;hash of its files&gt;/</c>, a folder written once
/// (temp then rename) and never changed: a rebuild with different files gets a new folder.
/// </summary>
public sealed class PinnedModule
{
    /// <summary>The folder jobs load (the installed version's folder, or the staged copy).</summary>
    public required string Directory { get; init; }

    public required string ManifestPath { get; init; }

    /// <summary>The module version; a staged development build adds -dev.&lt;hash&gt;.</summary>
    public required string Version { get; init; }

    /// <summary>True when <see cref="Directory"/> is a copy of a development build.</summary>
    public bool Staged { get; init; }

    /// <summary>The folder the session loaded the module from.</summary>
    public required string Source { get; init; }

    /// <summary>The same file in the pinned folder as <paramref name="pathInSource"/> in the loaded one.</summary>
    public string Map(string pathInSource) => Path.Combine(Directory, Path.GetRelativePath(Source, pathInSource));

    public override string ToString() => $"RunProc {Version} ({Directory})";

    /// <summary>The file PSResourceGet writes into every folder it installs.</summary>
    public const string InstalledMarker = "PSGetModuleInfo.xml";

    /// <summary>True for a folder &lt;Name&gt;/&lt;Version&gt;/ that PSResourceGet installed.</summary>
    public static bool IsInstalled(LoadedModule m)
    {
        var dir = Path.GetFullPath(m.Base).TrimEnd(Path.DirectorySeparatorChar);
        return string.Equals(Path.GetFileName(dir), m.Version, StringComparison.OrdinalIgnoreCase)
            && string.Equals(Path.GetFileName(Path.GetDirectoryName(dir)), m.Name, StringComparison.OrdinalIgnoreCase)
            && File.Exists(Path.Combine(dir, InstalledMarker));
    }

    // What staging copies (null for an installed module, which is used in place).
    private IReadOnlyList<string>? _files;
    private int _fileMode, _directoryMode;

    /// <summary>
    /// The folder jobs of <paramref name="module"/> load: the module itself if installed, else its
    /// staged copy under <paramref name="stageRoot"/> (created now with the DB's modes;
    /// <paramref name="create"/> false only names it, for a plan or -WhatIf: see <see cref="EnsureStaged"/>).
    /// </summary>
    public static PinnedModule Resolve(LoadedModule module, string stageRoot, int fileMode, int directoryMode, bool create = true)
    {
        var source = Path.GetFullPath(module.Base);
        if (IsInstalled(module))
            return new PinnedModule { Directory = source, ManifestPath = Path.Combine(source, module.ManifestName), Version = module.Version, Source = source };

        var files = Files(module);
        var version = $"{module.Version}-dev.{Hash(source, files)}";
        var target = Path.Combine(Path.GetFullPath(stageRoot), module.Name, version);
        var pin = new PinnedModule
        {
            Directory = target, ManifestPath = Path.Combine(target, module.ManifestName), Version = version, Staged = true, Source = source,
            _files = files, _fileMode = fileMode, _directoryMode = directoryMode,
        };
        if (create)
            pin.EnsureStaged();
        return pin;
    }

    /// <summary>
    /// Creates the staged copy if it does not exist yet. The copy is checked against the name's hash
    /// before it is renamed into place: a build that changed since the folder was named is refused
    /// (nothing is staged under a name that does not match its files).
    /// </summary>
    public void EnsureStaged()
    {
        if (_files is null || File.Exists(ManifestPath))
            return;
        Stage(Source, _files, Path.GetDirectoryName(Directory)!, Directory, _fileMode, _directoryMode);
    }

    /// <summary>The manifest and every file of the module's parts, as paths relative to its base, in a fixed order.</summary>
    private static List<string> Files(LoadedModule m)
    {
        var list = new List<string> { m.ManifestName };
        foreach (var part in m.Parts)
        {
            var dir = Path.Combine(m.Base, part);
            if (System.IO.Directory.Exists(dir))
                list.AddRange(System.IO.Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(m.Base, f)));
        }
        list.Sort(StringComparer.Ordinal);
        return list.Distinct(StringComparer.Ordinal).ToList();
    }

    private static string Hash(string source, IReadOnlyList<string> files)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var f in files)
        {
            sha.AppendData(Encoding.UTF8.GetBytes(f + "\0"));
            sha.AppendData(File.ReadAllBytes(Path.Combine(source, f)));
            sha.AppendData(new byte[] { 0 });
        }
        return Convert.ToHexString(sha.GetHashAndReset())[..12].ToLowerInvariant();
    }

    private static void Stage(string source, IReadOnlyList<string> files, string parent, string target, int fileMode, int directoryMode)
    {
        SafeFile.EnsureDirectory(parent, directoryMode);
        // Copied aside and renamed into place: a job never sees a half-copied module, and two
        // sessions staging the same build at once both end with the one complete folder.
        var temp = Path.Combine(parent, $".{Path.GetFileName(target)}.tmp-{Environment.ProcessId}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(3))}");
        try
        {
            foreach (var f in files)
            {
                var to = Path.Combine(temp, f);
                SafeFile.EnsureDirectory(Path.GetDirectoryName(to)!, directoryMode);
                File.Copy(Path.Combine(source, f), to);
                SafeFile.TrySetMode(to, fileMode);
            }
            if (!target.EndsWith("." + Hash(temp, files), StringComparison.Ordinal))
                throw new IOException($"the build in {source} changed while it was being staged; submit again.");
            try { System.IO.Directory.Move(temp, target); }
            catch (IOException) when (System.IO.Directory.Exists(target)) { /* another session staged the same build */ }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot stage the RunProc module from {source} for jobs in {parent}: {ex.Message} Check that the DbRoot is writable, or install the module (build.ps1 Package; Install-PSResource).", ex);
        }
        finally
        {
            if (System.IO.Directory.Exists(temp))
                System.IO.Directory.Delete(temp, recursive: true);
        }
    }
}
