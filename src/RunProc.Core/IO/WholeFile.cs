using System.Runtime.InteropServices;

namespace RunProc.IO;

/// <summary>
/// Reads a small file whole, where a missing file is a normal answer: a full scan looks for three
/// record files per experiment and most do not exist, and an exception per missing file (tens of
/// microseconds each) cost more than reading the ones that do. On Linux: open(2) and read(2), no
/// stat; elsewhere a FileStream.
/// </summary>
internal static unsafe partial class WholeFile
{
    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, byte* buffer, nuint count);


    /// <summary>The file's bytes, or null when it (or its directory) does not exist.</summary>
    public static byte[]? TryRead(string path)
    {
        if (!LibC.Usable)
            return TryReadManaged(path);
        var fd = LibC.Open(path, LibC.ONonblock | LibC.OCloexec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is LibC.Enoent or LibC.Enotdir)
                return null;
            return TryReadManaged(path); // the managed path raises the error .NET callers expect (access denied, ...)
        }
        try
        {
            var buffer = new byte[16 << 10];
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                    Array.Resize(ref buffer, checked(buffer.Length * 2));
                nint n;
                fixed (byte* p = &buffer[length])
                    n = Read(fd, p, (nuint)(buffer.Length - length));
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == LibC.Eintr)
                        continue;
                    throw new IOException($"Cannot read '{path}': {Marshal.GetPInvokeErrorMessage(errno)}.");
                }
                if (n == 0)
                    return buffer.AsSpan(0, length).ToArray();
                length += (int)n;
            }
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    private static byte[]? TryReadManaged(string path)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan);
            var data = new byte[fs.Length];
            fs.ReadExactly(data);
            return data;
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }
}
