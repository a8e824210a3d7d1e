using System.Management.Automation;
using RunProc.Install;

namespace RunProc.Module;

/// <summary>Refuses the import on a platform the module is not built for, with a message that says so (see <see cref="SupportedPlatform"/>).</summary>
public sealed class ModuleImport : IModuleAssemblyInitializer
{
    public void OnImport()
    {
        if (SupportedPlatform.Current() is { } problem)
            throw new PlatformNotSupportedException(problem);
    }
}
