using System.Runtime.ExceptionServices;

namespace RunProc.Catalog;

/// <summary>
/// Runs <c>work(0..count-1)</c> on up to <c>degree</c> dedicated threads (and the caller's, while
/// it waits for the next result) and yields the results in index order as each becomes available. Meant for I/O-bound work (listing directories, reading
/// record files): on a network file system each call is a round trip, and several in flight hide
/// the latency. Dedicated threads, not the thread pool, because the work blocks (the pool would add
/// threads only slowly). An exception is rethrown when its index is reached, so the items before it
/// are still yielded; stopping the enumeration early stops the workers after their current item.
/// </summary>
internal static class OrderedParallel
{
    public static IEnumerable<T> Run<T>(int count, int degree, Func<int, T> work, CancellationToken cancel = default)
    {
        if (degree <= 1 || count <= 1)
        {
            for (var i = 0; i < count; i++)
            {
                cancel.ThrowIfCancellationRequested();
                yield return work(i);
            }
            yield break;
        }

        var results = new T[count];
        var errors = new ExceptionDispatchInfo?[count];
        var finished = new int[count];
        var gate = new object();
        var next = -1;
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
        var threads = new Thread[Math.Min(degree - 1, count)]; // the caller is the degree-th
        for (var t = 0; t < threads.Length; t++)
        {
            threads[t] = new Thread(Worker) { IsBackground = true, Name = "RunProc scan " + t };
            threads[t].Start();
        }
        try
        {
            for (var i = 0; i < count; i++)
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
