namespace RunProc.IO;

/// <summary>
/// An exclusive inter-process lock on a file (flock on a descriptor opened as every DB file is: regular file only, no link followed). The
/// kernel drops it when the holder dies, so a killed controller never leaves a stale lock.
/// </summary>
public sealed class FileLock : IDisposable
{
    private readonly FileStream _stream;

    private FileLock(FileStream stream, string path)
    {
        _stream = stream;
        Path = path;
    }

    public string Path { get; }

    /// <summary>Takes the lock now, or returns null if another holder has it.</summary>
    public static FileLock? TryAcquire(string path, int fileMode = 0x1B4 /* 0664 */)
    {
        // A regular file only, no link followed: a FIFO or a planted link must not hold up or redirect the lock.
        var h = NoFollow.Open(path, NoFollow.Access.ReadWriteCreate, fileMode, null, out _)!;
        if (!NoFollow.TryLockExclusive(h, path))
        {
            h.Dispose();
            return null;
        }
        return new FileLock(new FileStream(h, FileAccess.ReadWrite, 1), path);
    }

    /// <summary>Waits for the lock up to <paramref name="timeout"/>; throws <see cref="TimeoutException"/> naming the file.</summary>
    public static FileLock Acquire(string path, TimeSpan timeout, CancellationToken cancel = default, int fileMode = 0x1B4)
    {
        var deadline = DateTime.UtcNow + timeout;
        var delay = 5;
        while (true)
        {
            var l = TryAcquire(path, fileMode);
            if (l is not null)
                return l;
            if (DateTime.UtcNow >= deadline)
                throw new TimeoutException($"Lock '{path}' is held by another RunProc process for more than {timeout.TotalSeconds:0} s; if no RunProc process is running, check the file system (locks need flock support).");
            cancel.WaitHandle.WaitOne(delay);
            cancel.ThrowIfCancellationRequested();
            delay = Math.Min(delay * 2, 100);
        }
    }

    public void Dispose() => _stream.Dispose();
}
