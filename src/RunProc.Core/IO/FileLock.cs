namespace RunProc.IO;

/// <summary>
/// An exclusive inter-process lock on a file (flock through .NET's FileShare.None on Unix). The
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
        var isNew = !File.Exists(path);
        try
        {
            var fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            if (isNew)
                SafeFile.TrySetMode(path, fileMode);
            return new FileLock(fs, path);
        }
        catch (IOException ex) when (IsHeldByAnother(ex) && File.Exists(path))
        {
            return null;
        }
    }

    // Only "locked by someone else" means wait: flock's EWOULDBLOCK (Linux 11, macOS 35) or a
    // Windows sharing violation. Any other error (a read-only or full file system, EIO) is the
    // real cause and must be reported now, not after the timeout as "held by another process".
    private static bool IsHeldByAnother(IOException ex) =>
        ex.HResult is 11 or 35 or unchecked((int)0x80070020) or unchecked((int)0x80070021);

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
