using System.Runtime.ExceptionServices;

namespace RunProc.Catalog;

/// <summary>
/// Runs <c>work(0..count-1)</c> on up to <c>degree</c> dedicated threads (the caller's among them,
/// while it waits for the next result) and yields the results in index order as each becomes
/// available. Meant for I/O-bound work (listing directories, reading record files): on a network
/// file system each call is a round trip, and several in flight hide the latency. Dedicated
/// threads, not the thread pool, because the work blocks (the pool would add threads only slowly).
/// The items are run on the caller alone at first, and threads started only when the rest would
/// take long (<see cref="ParallelAfter"/>): an incremental scan of unchanged experiments on a local
/// disk is a thousand items of a few microseconds, which threads only slow down. An exception is
/// rethrown when its index is reached, so the items before it are still yielded; stopping the
/// enumeration early stops the workers after their current item.
/// </summary>
internal static class OrderedParallel
{
    /// <summary>Threads are started once the items left, at the mean time of those run so far, would take longer than this.</summary>
    public static readonly TimeSpan ParallelAfter = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Below <see cref="ParallelAfter"/> but above this, the work is short CPU-bound items (an
    /// incremental scan on a local disk: a stat or two and cache lookups each): one thread per
    /// other core helps, the full degree only adds threads to start and contend.
    /// </summary>
    public static readonly TimeSpan CoresAfter = TimeSpan.FromMilliseconds(2);

    // The mean is trusted after this many items, or after this much work. The four slowest items so
    // far are left out of it: a scan's first item loads the record cache and a later one the listing
    // cache (1-3 ms each), and counted in, they made an incremental scan of 1,000 items of ~15 us look
    // like 60 ms of work and start threads that only slowed it down; the other two are for the
    // caller being descheduled for a millisecond or two on a busy machine, which, counted in, made
    // 2,000 items of 0.1 us look like more than CoresAfter of work.
    private const int MinSample = 64;
    private const int Outliers = 4;
    private static readonly long MinSampleTicks = System.Diagnostics.Stopwatch.Frequency / 200; // 5 ms

    public static IEnumerable<T> Run<T>(int count, int degree, Func<int, T> work, CancellationToken cancel = default)
    {
        var first = 0;
        long spent = 0;
        var slowest = new long[Outliers]; // descending
        var helpers = 0;
        var cores = Math.Min(degree, Environment.ProcessorCount) - 1;
        for (; first < count; first++)
        {
            cancel.ThrowIfCancellationRequested();
            var trusted = spent;
            foreach (var t in slowest) trusted -= t;
            if (degree > 1 && first > Outliers && (first >= MinSample || trusted >= MinSampleTicks))
            {
                var left = (double)trusted / (first - Outliers) * (count - first) / System.Diagnostics.Stopwatch.Frequency;
                helpers = left > ParallelAfter.TotalSeconds ? degree - 1 : left > CoresAfter.TotalSeconds ? cores : 0;
                if (helpers > 0)
                    break;
            }
            var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            var item = work(first);
            var took = System.Diagnostics.Stopwatch.GetTimestamp() - t0;
            spent += took;
            if (took > slowest[^1])
            {
                var k = Outliers - 1;
                for (; k > 0 && slowest[k - 1] < took; k--)
                    slowest[k] = slowest[k - 1];
                slowest[k] = took;
            }
            yield return item;
        }
        if (first >= count)
            yield break;

        var results = new T[count];
        var errors = new ExceptionDispatchInfo?[count];
        var finished = new int[count];
        var gate = new object();
        var next = first - 1;
        var stop = false;
        // The index the consumer sleeps on (-1: none): a worker wakes it only for that item, so the
        // many small items of an incremental scan cost no lock or context switch each.
        var waitingFor = -1;
        // Claims and runs the next item; false when none is left.
        bool RunNext()
        {
            var i = Interlocked.Increment(ref next);
            if (i >= count)
                return false;
            try { results[i] = work(i); }
            catch (Exception ex) { errors[i] = ExceptionDispatchInfo.Capture(ex); }
            Interlocked.Exchange(ref finished[i], 1); // full fence: the result is visible, then waitingFor is read
            if (Volatile.Read(ref waitingFor) == i)
                lock (gate)
                    Monitor.PulseAll(gate);
            return true;
        }
        void Worker()
        {
            while (!Volatile.Read(ref stop) && !cancel.IsCancellationRequested && RunNext())
            {
            }
        }
        var threads = new Thread[Math.Min(helpers, count - first)]; // the caller works too
        for (var t = 0; t < threads.Length; t++)
        {
            threads[t] = new Thread(Worker) { IsBackground = true, Name = "RunProc scan " + t };
            threads[t].Start();
        }
        try
        {
            for (var i = first; i < count; i++)
            {
                // The consumer works too rather than sleep while items are left: an incremental
                // scan's items take microseconds, and a sleep and wake-up for each cost more.
                while (Volatile.Read(ref finished[i]) == 0 && !cancel.IsCancellationRequested && RunNext())
                {
                }
                if (Volatile.Read(ref finished[i]) == 0)
                {
                    lock (gate)
                    {
                        Interlocked.Exchange(ref waitingFor, i); // full fence: then finished[i] is read
                        while (Volatile.Read(ref finished[i]) == 0)
                        {
                            cancel.ThrowIfCancellationRequested();
                            Monitor.Wait(gate, 200);
                        }
                        Volatile.Write(ref waitingFor, -1);
                    }
                }
                errors[i]?.Throw();
                var r = results[i];
                results[i] = default!;
                yield return r;
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            foreach (var t in threads)
                t.Join();
        }
    }
}
