using RunProc.Batch;
using RunProc.Tests.Catalog;
using Xunit;

namespace RunProc.Tests.Batch;

public class JobJournalTests
{
    [Fact]
    public void Replay_folds_events_into_current_state_and_skips_torn_lines()
    {
        using var f = new Facility();
        var path = Path.Join(f.Root, "XPP", "xpptut15-jobs.txt");
        var j = new JobJournal(path, "p", "xpptut15");
        j.Append(new JournalEvent { Event = "intent", Name = "a", Run = 5, Attempt = 1, Scheduler = "Slurm", Log = "/l1" });
        j.Append(new JournalEvent { Event = "submitted", Name = "a", JobId = "7" });
        j.Append(new JournalEvent { Event = "intent", Name = "b", Run = 6, Attempt = 1, Scheduler = "Local" });
        j.Append(new JournalEvent { Event = "state", Name = "a", State = "Failed", SchedulerState = "FAILED", ExitCode = 3, Log = "/l1-FAILED", Polls = 4 });
        j.Append(new JournalEvent { Event = "void", Name = "b", Reason = "never created" });
        // A torn write and a foreign line: skipped, counted.
        File.AppendAllText(path, "{\"t\":\"2026-01-01T00:00:00Z\",\"ev\":\"sta\nnot json at all\n");

        var r = new JobJournal(path, "p", "xpptut15");
        r.Refresh();
        Assert.Equal(2, r.Jobs.Count);
        var a = r.Find("a")!;
        Assert.Equal((5, "7", JobState.Failed, "FAILED", 3, "/l1-FAILED", 4), (a.Run, a.JobId, a.State, a.SchedulerState, a.ExitCode, a.LogFile, a.Polls));
        Assert.Equal(RunProc.Config.SchedulerKind.Slurm, a.Scheduler);
        Assert.Equal(JobState.NotSubmitted, r.Find("b")!.State);
        Assert.Equal(2, r.BadLines);
    }

    [Fact]
    public void Refresh_is_incremental_and_a_compaction_by_another_writer_is_noticed()
    {
        using var f = new Facility();
        var path = Path.Join(f.Root, "XPP", "xpptut15-jobs.txt");
        var writer = new JobJournal(path, "p", "xpptut15");
        var reader = new JobJournal(path, "p", "xpptut15");
        writer.Append(new JournalEvent { Event = "intent", Name = "a", Run = 1, Attempt = 1 });
        reader.Refresh();
        Assert.Equal(JobState.Submitting, reader.Find("a")!.State);
        writer.Append(new JournalEvent { Event = "submitted", Name = "a", JobId = "9" });
        for (var i = 0; i < 300; i++)
            writer.Append(new JournalEvent { Event = "state", Name = "a", State = "Running", SchedulerState = "RUNNING", Polls = i });
        reader.Refresh();
        Assert.Equal(299, reader.Find("a")!.Polls);
        Assert.True(writer.NeedsCompaction);

        writer.Compact();
        Assert.True(File.ReadAllLines(path).Length == 2); // marker + one snapshot
        writer.Append(new JournalEvent { Event = "state", Name = "a", State = "Done", SchedulerState = "COMPLETED", ExitCode = 0 });
        reader.Refresh();
        var a = reader.Find("a")!;
        Assert.Equal((JobState.Done, "9", 299, 0), (a.State, a.JobId, a.Polls, a.ExitCode));
        Assert.Single(reader.Jobs);
        Assert.Equal(0, reader.BadLines);
    }

    [Fact]
    public void A_reconciliation_repairs_a_journal_with_a_torn_line()
    {
        using var fx = new BatchFixture();
        fx.Runs("xpptut15", 1);
        fx.Controller().RunCycle(default);
        var path = RunProc.Db.ProcDbTree.JournalFile(fx.Config.DbRoot, "p", "xpptut15");
        File.AppendAllText(path, "{\"t\":\"2026-01-01T00:00:00Z\",\"ev\":\"sta\n");
        var r = fx.Controller().Reconcile(default);
        Assert.Contains(r.Problems, p => p.Contains("unreadable"));
        var j = new JobJournal(path, "p", "xpptut15");
        j.Refresh();
        Assert.Equal((0, 1), (j.BadLines, j.Jobs.Count));
        Assert.Empty(fx.Controller().Reconcile(default).Problems);
    }

    [Fact]
    public void A_byte_order_mark_is_tolerated_and_the_first_record_survives_a_rewrite()
    {
        using var f = new Facility();
        var path = Path.Join(f.Root, "XPP", "xpptut15-jobs.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var line = "{\"t\":\"2026-01-01T00:00:00Z\",\"ev\":\"intent\",\"name\":\"a\",\"run\":5,\"attempt\":1}\n";
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. System.Text.Encoding.UTF8.GetBytes(line)]);
        var j = new JobJournal(path, "p", "xpptut15");
        j.Refresh();
        Assert.Equal(0, j.BadLines);
        Assert.Equal(5, Assert.Single(j.Jobs).Run);
        j.Compact();
        var again = new JobJournal(path, "p", "xpptut15");
        again.Refresh();
        Assert.Equal(5, Assert.Single(again.Jobs).Run);
    }
}
