using System.Runtime.InteropServices;
using RunProc.Batch;
using RunProc.Db;
using RunProc.IO;
using RunProc.Tests.Batch;
using Xunit;

namespace RunProc.Tests.Faults;

/// <summary>
/// A hostile or damaged DB tree (it is group-writable): links planted in place of DB files and
/// directories are never followed, and a FIFO or directory in place of a file is an error naming the
/// file. The damaged experiment is skipped with an error; the cycle goes on with the others.
/// </summary>
public class HostileDbTreeTests : IDisposable
{
    private readonly BatchFixture _fx = new(maxJobs: 10);
    private readonly string _outside;

    public HostileDbTreeTests()
    {
        _outside = Path.Join(_fx.Facility.Root, "outside");
        Directory.CreateDirectory(_outside);
    }

    public void Dispose() => _fx.Dispose();

    private string Victim(string name = "victim.txt")
    {
        var v = Path.Join(_outside, name);
        File.WriteAllText(v, "precious\n");
        return v;
    }

    [Fact]
    public void A_record_is_never_appended_through_a_planted_link()
    {
        var victim = Victim();
        Directory.CreateDirectory(_fx.Db.InstrumentDirectory("xpptut15"));
        File.CreateSymbolicLink(_fx.Db.ProcessedFile("xpptut15"), victim);
        var ex = Assert.Throws<DbFileException>(() => _fx.Db.AppendProcessed("xpptut15", new[] { 1 }, "test"));
        Assert.Contains(_fx.Db.ProcessedFile("xpptut15"), ex.Message);
        Assert.Contains("symbolic link", ex.Message);
        Assert.Equal("precious\n", File.ReadAllText(victim));
    }

    [Fact]
    public void A_linked_directory_inside_the_DB_is_not_followed()
    {
        // The instrument directory is a link to elsewhere: neither records nor journals may land there.
        Directory.CreateDirectory(_fx.Db.ProcessDirectory);
        Directory.CreateSymbolicLink(Path.Join(_fx.Db.ProcessDirectory, "XPP"), _outside);
        Assert.Throws<DbFileException>(() => _fx.Db.AppendProcessed("xpptut15", new[] { 1 }, "test"));
        var journal = new JobJournal(RunProc.Db.ProcDbTree.JournalFile(_fx.Config.DbRoot, "p", "xpptut15"), "p", "xpptut15", _fx.Config.FileMode, _fx.Config.DirectoryMode);
        Assert.Throws<DbFileException>(() => journal.Append(new JournalEvent { Event = "intent", Name = "x", Run = 1 }));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_outside));
    }

    [Fact]
    public void An_atomic_rewrite_refuses_a_link_instead_of_replacing_it_or_writing_through_it()
    {
        var victim = Victim();
        var list = _fx.Db.ExperimentListFile;
        Directory.CreateDirectory(_fx.Db.ProcessDirectory);
        File.CreateSymbolicLink(list, victim);
        Assert.Throws<DbFileException>(() => SafeFile.WriteAllTextAtomic(list, "xpptut15\n", _fx.Config.FileMode));
        Assert.Equal("precious\n", File.ReadAllText(victim));
        Assert.NotNull(new FileInfo(list).LinkTarget);
    }

    [Fact]
    public void The_lock_file_is_not_taken_through_a_link()
    {
        var victim = Victim();
        Directory.CreateDirectory(_fx.Db.ProcessDirectory);
        File.CreateSymbolicLink(_fx.Db.LockFile, victim);
        Assert.Throws<DbFileException>(() => _fx.Db.BeginWrite(TimeSpan.FromSeconds(1)).Dispose());
    }

    [Theory]
    [InlineData("fifo")]
    [InlineData("directory")]
    [InlineData("link")]
    public void A_damaged_experiment_is_skipped_with_an_error_and_the_cycle_goes_on(string kind)
    {
        _fx.Runs("xpptut15", 1);
        _fx.Runs("xppgood15", 1);
        Directory.CreateDirectory(_fx.Db.InstrumentDirectory("xpptut15"));
        File.WriteAllText(_fx.Db.ExperimentListFile, "xpptut15\nxppgood15\n");
        var bad = _fx.Db.ProcessedFile("xpptut15");
        switch (kind)
        {
            case "fifo": Assert.Equal(0, mkfifo(bad, 0x1B6)); break;
            case "directory": Directory.CreateDirectory(bad); break;
            case "link": File.CreateSymbolicLink(bad, Victim()); break;
        }
        // A FIFO used to hang the cycle forever while it held the cycle lock: run it with a hang guard.
        var cycle = Task.Run(() => _fx.Controller().RunCycle(default));
        Assert.True(cycle.Wait(TimeSpan.FromSeconds(60)), "the cycle hung on the damaged experiment");
        var s = cycle.Result;
        Assert.Equal(1, s.Submitted);
        Assert.Equal(1, _fx.Scheduler.CountFor("xppgood15", 1));
        Assert.Equal(0, _fx.Scheduler.CountFor("xpptut15", 1));
        Assert.True(s.Errors >= 1);
        Assert.Contains(s.Problems, p => p.Contains(bad, StringComparison.Ordinal) && p.Contains("xpptut15", StringComparison.Ordinal));
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(string path, int mode);
}
