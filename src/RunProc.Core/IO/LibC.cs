using System.Runtime.InteropServices;

namespace RunProc.IO;

/// <summary>
/// The libc calls the scan's fast paths share (open, close),
/// with the open flags whose values are the same on x86-64 and arm64 (asm-generic).
/// </summary>
internal static partial class LibC
{
    public const int ONonblock = 0x800, OCloexec = 0x80000;
    public const int Enoent = 2, Eintr = 4, Eacces = 13, Enotdir = 20;

    /// <summary>Linux on x86-64 or arm64: where the flag values above hold.</summary>
    public static readonly bool Usable = OperatingSystem.IsLinux()
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);
}
