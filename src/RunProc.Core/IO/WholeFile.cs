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
    private const int ONonblock = 0x800, OCloexec = 0x80000; // asm-generic values: x86-64 and arm64 alike
    private const int Enoent = 2, Enotdir = 20, Eintr = 4;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    private static readonly bool Native = OperatingSystem.IsLinux()
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>The file's bytes, or null when it (or its directory) does not exist.</summary>
    public static byte[]? TryRead(string path)
    {
        if (!Native)
            return TryReadManaged(path);
        var fd = Open(path, ONonblock | OCloexec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is Enoent or Enotdir)
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
                    if (errno == Eintr)
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
            Close(fd);
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
