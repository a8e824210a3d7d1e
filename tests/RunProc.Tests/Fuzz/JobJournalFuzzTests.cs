using System.Text;
using RunProc.Batch;
using Xunit;

namespace RunProc.Tests.Fuzz;

/// <summary>
/// Fuzzing of the job journal reader (<see cref="JobJournal.Refresh"/>): whatever lines a journal
/// holds (torn, binary, foreign, valid JSON with wrong values), replay never throws, counts what it
/// skips, and never yields a job with an impossible run number or name.
/// </summary>
public class JobJournalFuzzTests
{
    private static readonly string[] Seeds =
    {
        """{"t":"2026-11-24T21:57:04.841712Z","ev":"intent","name":"rp.s_ok.xppslurm01.r0004.a1.67b97f","run":4,"attempt":1,"sched":"Slurm","queue":"","log":"/x/log.txt","status":"/x/status","argv":["sbatch","-J","n"]}""",
        """{"t":"2026-11-24T21:57:04.8549931Z","ev":"submitted","name":"rp.s_ok.xppslurm01.r0004.a1.67b97f","id":"2335"}""",
        """{"t":"2026-11-24T21:57:04.8653442Z","ev":"state","name":"rp.s_ok.xppslurm01.r0004.a1.67b97f","state":"Pending","sstate":"PENDING"}""",
        """{"t":"2026-11-24T21:57:15.2908645Z","ev":"state","name":"rp.s_ok.xppslurm01.r0004.a1.67b97f","state":"Done","sstate":"COMPLETED","exit":0}""",
        """{"t":"2026-11-24T21:58:07.973703Z","ev":"void","name":"rp.s_ok.xppslurm01.r0001.a1.388729","reason":"the submission did not create a job"}""",
        """{"t":"2026-11-24T21:58:07.973703Z","ev":"job","name":"rp.x.r0002.a1","run":2,"attempt":1,"state":"Failed","exit":3,"polls":4}""",
        """{"ev":"intent","name":null,"run":1}""", """{"ev":null,"name":"a"}""", """{"ev":"intent","name":"b","run":-5}""",
        """{"ev":"intent","name":"c","run":2147483647}""", """{"ev":"cancel","name":"rp.s_ok.xppslurm01.r0004.a1.67b97f","cancel":true}""",
        """[1,2,3]""", "null", "{}", "\"text\"", "garbage", "",
    };

    [Fact]
    public void Replay_NeverThrows_AndYieldsOnlyPlausibleJobs()
    {
        var files = FuzzBudget.Count(ci: 300, longRun: 20_000);
        var seed = FuzzBudget.Seed(nameof(Replay_NeverThrows_AndYieldsOnlyPlausibleJobs));
        var m = new Mutator(seed, Seeds);
        var dir = Path.Join(Path.GetTempPath(), "runproc-journal-fuzz-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        long lines = 0, bad = 0;
        try
        {
            var path = Path.Join(dir, "xpptut15-jobs.txt");
            Watchdog.Run("JobJournal.Refresh", seed, files, i =>
            {
                var sb = new MemoryStream();
                var n = m.Random.Next(1, 60);
                for (var k = 0; k < n; k++)
                {
                    var b = m.Random.Next(3) == 0 ? Encoding.UTF8.GetBytes(Seeds[m.Random.Next(6)]) : m.NextBytes();
                    sb.Write(b);
                    sb.WriteByte((byte)'\n');
                }
                File.WriteAllBytes(path, sb.ToArray());
                lines += n;
                var j = new JobJournal(path, "pixel_status", "xpptut15");
                j.Refresh();
                // Appending more and replaying incrementally must not throw either.
                using (var a = new FileStream(path, FileMode.Append))
                    a.Write(Encoding.UTF8.GetBytes(m.Next().Replace('\n', ' ') + "\n" + Seeds[m.Random.Next(Seeds.Length)] + "\n"));
                j.Refresh();
                bad += j.BadLines;
                foreach (var job in j.Jobs)
                {
                    Assert.InRange(job.Run, 0, Names.MaxRun);
                    Assert.False(string.IsNullOrEmpty(job.Name));
                    _ = job.ToString();
                }
            });
        }
        finally { Directory.Delete(dir, true); }
        FuzzBudget.Record("job journal: fuzzed lines replayed", lines, $"seed {seed}; {files} journals, {bad} lines skipped as bad");
    }
}
