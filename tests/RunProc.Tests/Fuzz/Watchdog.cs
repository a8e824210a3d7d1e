using Xunit;

namespace RunProc.Tests.Fuzz;

/// <summary>
/// Runs a fuzz loop on its own thread and fails the test naming the input if one input stalls the
/// loop for <see cref="StallLimit"/> (a hang, not a slow machine: the limit is minutes, no timing is
/// asserted otherwise).
/// </summary>
internal static class Watchdog
{
    public static TimeSpan StallLimit { get; } = TimeSpan.FromMinutes(2);

    /// <summary>Calls <paramref name="body"/>(i) for i in [0, count); rethrows its failure with the seed and index.</summary>
    public static void Run(string name, int seed, int count, Action<int> body)
    {
        var current = 0L;
        Exception? failure = null;
        var failedAt = -1;
        var thread = new Thread(() =>
        {
            for (var i = 0; i < count; i++)
            {
                Interlocked.Exchange(ref current, i);
                try { body(i); }
                catch (Exception ex)
                {
                    failure = ex;
                    failedAt = i;
                    return;
                }
            }
            Interlocked.Exchange(ref current, count);
        }, 16 * 1024 * 1024) { IsBackground = true, Name = "fuzz " + name };
        thread.Start();
        var last = -1L;
        var since = DateTime.UtcNow;
        while (!thread.Join(TimeSpan.FromSeconds(1)))
        {
            var now = Interlocked.Read(ref current);
            if (now != last)
            {
                last = now;
                since = DateTime.UtcNow;
            }
            else if (DateTime.UtcNow - since > StallLimit)
            {
                Assert.Fail($"{name}: input #{now} (seed {seed}, replay with RUNPROC_FUZZ_SEED={seed}) did not finish within {StallLimit.TotalMinutes} min: a hang.");
            }
        }
        if (failure is not null)
            throw new Xunit.Sdk.XunitException($"{name}: input #{failedAt} (seed {seed}, replay with RUNPROC_FUZZ_SEED={seed}) failed: {failure.Message}\n{failure}");
    }
}
