using System.Runtime.InteropServices;
using RunProc.Batch;
using RunProc.Install;
using RunProc.Tests.Batch;
using Xunit;

namespace RunProc.Tests.Install;

/// <summary>Issue 12 part 2: staged copies of development builds are cleaned, never one that a job, cron or the session uses.</summary>
public sealed class StagedModulesTests : IDisposable
{
    private readonly BatchFixture _fx = new();
    private readonly string _stage;

    public StagedModulesTests() => _stage = Path.Combine(_fx.Config.DbRoot, ".modules");

    public void Dispose() => _fx.Dispose();

    /// <summary>A staged copy named like PinnedModule names them, staged <paramref name="hoursAgo"/> hours ago.</summary>
    private string Staged(int n, double hoursAgo)
    {
        var dir = Path.Combine(_stage, "RunProc", $"0.1.0-dev.{n:x12}");
        Directory.CreateDirectory(Path.Combine(dir, "bin", "scripts"));
        File.WriteAllText(Path.Combine(dir, "RunProc.psd1"), "@{ ModuleVersion = '0.1.0' }");
        File.WriteAllText(Path.Combine(dir, "bin", "scripts", "runproc-job.sh"), "#!/bin/sh");
        Directory.SetLastWriteTimeUtc(dir, DateTime.UtcNow.AddHours(-hoursAgo));
        return dir;
    }

    /// <summary>An active job in the journal whose log names <paramref name="module"/> in its header, as Submit writes it.</summary>
    private void ActiveJobUsing(string module, string name = "rp.p.xpptut15.r0001.a1.abc123")
    {
        var journal = new JobJournal(new RunProc.Db.ProcDbTree(_fx.Config, "p").JournalFile("xpptut15"), "p", "xpptut15");
        var log = Path.Combine(_fx.Config.DbRoot, "p", "XPP", "xpptut15", $"log-{name}.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        File.WriteAllText(log, $"# RunProc p: xpptut15 run 1 attempt 1, job name {name}, scheduler Slurm\n# module: RunProc 0.1.0-dev ({module})\n# command: /bin/true\n");
        journal.Append(new JournalEvent { Event = "intent", Name = name, Run = 1, Attempt = 1, Scheduler = "Slurm", Log = log, Argv = new[] { "/bin/true" } });
        journal.Append(new JournalEvent { Event = "submitted", Name = name, JobId = "7" });
    }

    [Fact]
    public void Only_old_copies_that_nothing_uses_are_removed()
    {
        var newest = Enumerable.Range(1, 3).Select(i => Staged(i, i)).ToList();   // the newest 3: kept
        var usedByJob = Staged(4, 10);
        var usedByCron = Staged(5, 11);
        var session = Staged(6, 12);
        var unused = new[] { Staged(7, 13), Staged(8, 14) };
        ActiveJobUsing(usedByJob);
        var crontab = $"*/5 * * * * /usr/bin/pwsh -File '{usedByCron}/bin/scripts/Invoke-RunProcEntry.ps1' # runproc:p\n";

        var r = StagedModules.Clean(_fx.Config, _stage, new[] { session, crontab }, keepNewest: 3, minAge: TimeSpan.Zero);

        Assert.Null(r.Skipped);
        Assert.Equal(unused.Order(), r.Removed.Order());
        Assert.All(unused, d => Assert.False(Directory.Exists(d)));
        Assert.All(newest.Append(usedByJob).Append(usedByCron).Append(session), d => Assert.True(Directory.Exists(d), d));
        Assert.Equal("in use", r.Kept.Single(k => k.Folder == usedByJob).Why);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_stage, "RunProc")).Where(e => Path.GetFileName(e).StartsWith('.')));
    }

    [Fact]
    public void A_finished_job_does_not_keep_its_copy_and_a_young_copy_is_kept()
    {
        var old = Staged(4, 10);
        var young = Staged(5, 0.1);
        ActiveJobUsing(old);
        var journal = new JobJournal(new RunProc.Db.ProcDbTree(_fx.Config, "p").JournalFile("xpptut15"), "p", "xpptut15");
        journal.Append(new JournalEvent { Event = "state", Name = "rp.p.xpptut15.r0001.a1.abc123", State = "Done", SchedulerState = "COMPLETED", ExitCode = 0 });

        var r = StagedModules.Clean(_fx.Config, _stage, Array.Empty<string>(), keepNewest: 0);

        Assert.Equal(new[] { old }, r.Removed);
        Assert.True(Directory.Exists(young)); // staged within the hour: a session may be about to use it
        Assert.Equal("staged recently", r.Kept.Single(k => k.Folder == young).Why);
    }

    [Fact]
    public void Nothing_is_removed_when_a_journal_cannot_be_read_and_links_are_never_followed()
    {
        for (var i = 1; i <= 5; i++) Staged(i, 10 + i);
        var outside = Directory.CreateDirectory(Path.Combine(_fx.Facility.Root, "precious")).FullName;
        File.WriteAllText(Path.Combine(outside, "keep.txt"), "mine");
        Directory.CreateSymbolicLink(Path.Combine(_stage, "RunProc", "0.1.0-dev.00000000000f"), outside);

        // A FIFO in place of a journal: no copy is provably unused.
        var journal = new RunProc.Db.ProcDbTree(_fx.Config, "p").JournalFile("xpptut15");
        Directory.CreateDirectory(Path.GetDirectoryName(journal)!);
        Assert.Equal(0, mkfifo(journal, 0x1B4));
        var r = StagedModules.Clean(_fx.Config, _stage, Array.Empty<string>(), keepNewest: 1, minAge: TimeSpan.Zero);
        Assert.Empty(r.Removed);
        Assert.Contains("cannot be read", r.Skipped);
        Assert.Equal(5, Directory.EnumerateDirectories(Path.Combine(_stage, "RunProc")).Count(d => new DirectoryInfo(d).LinkTarget is null));

        File.Delete(journal);
        r = StagedModules.Clean(_fx.Config, _stage, Array.Empty<string>(), keepNewest: 1, minAge: TimeSpan.Zero);
        Assert.Equal(4, r.Removed.Count);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(outside, "keep.txt"))); // the link is neither followed nor removed
        Assert.True(Directory.Exists(Path.Combine(_stage, "RunProc", "0.1.0-dev.00000000000f")));
    }

    [Theory]
    [InlineData(true, Architecture.X64, true)]
    [InlineData(true, Architecture.Arm64, false)]
    [InlineData(false, Architecture.X64, false)]
    public void The_module_is_for_linux_x64_only(bool linux, Architecture arch, bool supported)
    {
        var problem = SupportedPlatform.Problem(linux, arch, linux ? "Linux 6.1" : "Microsoft Windows 10.0.22631");
        Assert.Equal(supported, problem is null);
        if (!supported)
        {
            Assert.Contains("Linux on x64 only", problem);
            Assert.Contains(arch.ToString(), problem);
        }
        Assert.Null(SupportedPlatform.Current()); // this machine runs the tests: Linux x64
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(string path, int mode);
}
