using System.Diagnostics;
using RunProc.Db;
using RunProc.Tests.Catalog;
using Xunit;

namespace RunProc.Tests.Db;

public class ProcDbConcurrencyTests
{
    [Fact]
    public void WriteLock_IsExclusive_AcrossHandles()
    {
        using var f = new Facility();
        var db = new ProcDb(f.Config, "pixel_status");
        using (db.BeginWrite(TimeSpan.FromSeconds(5)))
        {
            Assert.Throws<TimeoutException>(() => new ProcDb(f.Config, "pixel_status").BeginWrite(TimeSpan.FromMilliseconds(200)));
        }
        using (new ProcDb(f.Config, "pixel_status").BeginWrite(TimeSpan.FromSeconds(1))) { }
        Assert.True(File.Exists(Path.Join(db.ProcessDirectory, ProcDb.LockFileName)));
    }

    [Fact]
    public void WriteScope_AppendsWhileItHoldsTheLock_AndRefusesASecondScope()
    {
        using var f = new Facility();
        var db = new ProcDb(f.Config, "pixel_status");
        using (var w = db.BeginWrite(TimeSpan.FromSeconds(5)))
        {
            Assert.Same(w, db.Writing);
            Assert.Equal(new[] { 5 }, w.AppendProcessed("xpptut15", new[] { 5 }, "x"));
            Assert.Empty(w.AppendProcessed("xpptut15", new[] { 5 }, "x"));
            // flock is not re-entrant: a second scope would wait for the first, so it is refused at once.
            Assert.Throws<InvalidOperationException>(() => db.BeginWrite(TimeSpan.FromSeconds(5)));
            Assert.Throws<InvalidOperationException>(() => db.AppendProcessed("xpptut15", new[] { 6 }, "x"));
        }
        Assert.Throws<InvalidOperationException>(() => db.Writing);
        Assert.Equal(new[] { 5 }, db.ReadDoneRuns("xpptut15"));
        Assert.Equal(new[] { 6 }, db.AppendProcessed("xpptut15", new[] { 6 }, "x"));
    }

    [Fact]
    public async Task TwoWritersAppendingAtOnce_LoseNothing()
    {
        using var f = new Facility();
        // Two writers in this process (separate lock handles, so flock serializes them as it would two
        // processes) and a separate OS process appending under the same lock file with flock(1).
        var db = new ProcDb(f.Config, "pixel_status");
        var file = db.ProcessedFile("xpptut15");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var n = 200;
        var t1 = Task.Run(() => { for (var r = 0; r < n; r++) new ProcDb(f.Config, "pixel_status").AppendProcessed("xpptut15", new[] { r }, "a"); });
        var t2 = Task.Run(() => { for (var r = n; r < 2 * n; r++) new ProcDb(f.Config, "pixel_status").AppendProcessed("xpptut15", new[] { r }, "b"); });
        Process? child = null;
        if (File.Exists("/usr/bin/flock"))
        {
            var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardError = true };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("i=400; while [ $i -lt 600 ]; do flock \"$0\" sh -c 'printf \"%04d 2026-01-01T00:00:00 u h cwd:/ cmd:sh\\n\" \"$1\" >> \"$2\"' _ $i \"$1\"; i=$((i+1)); done");
            psi.ArgumentList.Add(db.LockFile);
            psi.ArgumentList.Add(file);
            Directory.CreateDirectory(db.ProcessDirectory);
            child = Process.Start(psi);
        }
        await Task.WhenAll(t1, t2);
        if (child is not null) await child.WaitForExitAsync();
        var runs = db.ReadDoneRuns("xpptut15");
        var expected = child is null ? 2 * n : 3 * n;
        Assert.Equal(expected, runs.Count);
        Assert.Equal(expected, File.ReadAllLines(file).Length);
        Assert.All(File.ReadAllLines(file), l => Assert.Matches(@"^\d{4} \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d \S+ \S+ cwd:\S+ cmd:\S+$", l));
    }
}
