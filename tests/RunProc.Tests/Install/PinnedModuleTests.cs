using Xunit;
using RunProc.Install;

namespace RunProc.Tests.Install;

/// <summary>Jobs load a module folder that no rebuild, Clean or upgrade changes.</summary>
public sealed class PinnedModuleTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "runproc-pin-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private LoadedModule Checkout(string dll)
    {
        var b = Path.Combine(_root, "checkout");
        Directory.CreateDirectory(Path.Combine(b, "bin", "scripts"));
        Directory.CreateDirectory(Path.Combine(b, "en-US"));
        Directory.CreateDirectory(Path.Combine(b, "src"));
        File.WriteAllText(Path.Combine(b, "RunProc.psd1"), "@{ ModuleVersion = '1.2.3' }");
        File.WriteAllText(Path.Combine(b, "bin", "RunProc.Module.dll"), dll);
        File.WriteAllText(Path.Combine(b, "bin", "scripts", "runproc-job.sh"), "#!/bin/sh");
        File.WriteAllText(Path.Combine(b, "en-US", "about_RunProc.help.txt"), "help");
        File.WriteAllText(Path.Combine(b, "src", "Big.cs"), "not part of the module");
        return new LoadedModule { Base = b, ManifestName = "RunProc.psd1", Name = "RunProc", Version = "1.2.3", Parts = new[] { "bin", "en-US" } };
    }

    private static int Mode(string octal) => Convert.ToInt32(octal, 8);

    [Fact]
    public void A_checkout_is_staged_and_a_rebuild_or_clean_does_not_touch_the_staged_copy()
    {
        var stage = Path.Combine(_root, "db", ".modules");
        var m = Checkout("build 1");
        var first = PinnedModule.Resolve(m, stage, Mode("664"), Mode("2775"));
        Assert.True(first.Staged);
        Assert.StartsWith(Path.Combine(stage, "RunProc", "1.2.3-dev."), first.Directory);
        Assert.Equal(first.Version, Path.GetFileName(first.Directory));
        Assert.Equal("build 1", File.ReadAllText(first.Map(Path.Combine(m.Base, "bin", "RunProc.Module.dll"))));
        Assert.True(File.Exists(first.ManifestPath));
        Assert.True(File.Exists(Path.Combine(first.Directory, "en-US", "about_RunProc.help.txt")));
        Assert.False(Directory.Exists(Path.Combine(first.Directory, "src"))); // only the module's parts

        // The same build again: the same folder. A rebuild: a new folder beside it, the first unchanged.
        Assert.Equal(first.Directory, PinnedModule.Resolve(m, stage, Mode("664"), Mode("2775")).Directory);
        File.WriteAllText(Path.Combine(m.Base, "bin", "RunProc.Module.dll"), "build 2");
        var second = PinnedModule.Resolve(m, stage, Mode("664"), Mode("2775"));
        Assert.NotEqual(first.Directory, second.Directory);
        Assert.Equal("build 1", File.ReadAllText(Path.Combine(first.Directory, "bin", "RunProc.Module.dll")));

        // Clean: the checkout's build is gone, the staged copies stay.
        Directory.Delete(Path.Combine(m.Base, "bin"), recursive: true);
        Assert.True(File.Exists(Path.Combine(first.Directory, "bin", "scripts", "runproc-job.sh")));
        Assert.Empty(Directory.GetDirectories(Path.Combine(stage, "RunProc"), ".*")); // no temp folders left
    }

    [Fact]
    public void A_staged_copy_pins_to_itself()
    {
        var stage = Path.Combine(_root, "db", ".modules");
        var pin = PinnedModule.Resolve(Checkout("b"), stage, Mode("664"), Mode("2775"));
        var fromCopy = new LoadedModule { Base = pin.Directory, ManifestName = "RunProc.psd1", Name = "RunProc", Version = "1.2.3", Parts = new[] { "bin", "en-US" } };
        Assert.Equal(pin.Directory, PinnedModule.Resolve(fromCopy, stage, Mode("664"), Mode("2775")).Directory);
    }

    [Fact]
    public void An_installed_version_is_used_where_it_is()
    {
        var dir = Path.Combine(_root, "Modules", "RunProc", "1.2.3");
        Directory.CreateDirectory(Path.Combine(dir, "bin"));
        File.WriteAllText(Path.Combine(dir, "RunProc.psd1"), "@{}");
        var m = new LoadedModule { Base = dir, ManifestName = "RunProc.psd1", Name = "RunProc", Version = "1.2.3", Parts = new[] { "bin", "en-US" } };
        var stage = Path.Combine(_root, "db", ".modules");
        // A versioned folder PSResourceGet did not install (e.g. the package's out/RunProc/<v>/, which Package rewrites) is staged.
        Assert.True(PinnedModule.Resolve(m, stage, Mode("664"), Mode("2775")).Staged);
        File.WriteAllText(Path.Combine(dir, PinnedModule.InstalledMarker), "<Objs/>");
        var pin = PinnedModule.Resolve(m, stage, Mode("664"), Mode("2775"));
        Assert.False(pin.Staged);
        Assert.Equal(dir, pin.Directory);
        Assert.Equal("1.2.3", pin.Version);
    }

    [Fact]
    public void Naming_the_folder_for_WhatIf_stages_nothing()
    {
        var stage = Path.Combine(_root, "db", ".modules");
        var pin = PinnedModule.Resolve(Checkout("b"), stage, Mode("664"), Mode("2775"), create: false);
        Assert.False(Directory.Exists(stage));
        Assert.Equal(pin.Directory, PinnedModule.Resolve(Checkout("b"), stage, Mode("664"), Mode("2775")).Directory);
    }

    [Fact]
    public void A_build_that_changed_after_its_folder_was_named_is_not_staged_under_that_name()
    {
        var stage = Path.Combine(_root, "db", ".modules");
        var m = Checkout("build 1");
        var named = PinnedModule.Resolve(m, stage, Mode("664"), Mode("2775"), create: false);
        File.WriteAllText(Path.Combine(m.Base, "bin", "RunProc.Module.dll"), "build 2");
        Assert.Throws<IOException>(named.EnsureStaged);
        Assert.False(Directory.Exists(named.Directory));
        Assert.Empty(Directory.GetDirectories(Path.Combine(stage, "RunProc")));
    }
}
