using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RunProc.Catalog;

/// <summary>
/// Size and write time of one run file, as readiness needs them, in one metadata call. A symbolic
/// link is judged by its final target (a link's own size is the length of the path it holds, its
/// time when it was made); a dangling link, or one whose target is not a regular file (a directory,
/// a FIFO a reader would block on), is no run file. Links may point outside DataRoot (run files are
/// often linked in from another storage tier): run files are only ever read, never written.
/// </summary>
internal static unsafe partial class RunFileStat
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1, StatxMtime = 0x40, StatxSize = 0x200;
    private const int SIfMt = 0xF000, SIfReg = 0x8000, SIfLnk = 0xA000;
    private const int Enoent = 2, Enotdir = 20, Enosys = 38;

    // statx(2): one layout on every Linux architecture (stat(2)'s differs between x86-64 and arm64).
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatX(int dirfd, string path, int flags, uint mask, byte* buffer);

    private static volatile bool _noStatx = !OperatingSystem.IsLinux();

    /// <summary>
    /// Counts the calls made in this logical flow (it follows scan threads): the seam tests and the
    /// catalog benchmark use to check how many files a scan stat'ed. Null: not counted.
    /// </summary>
    internal static readonly AsyncLocal<StrongBox<long>?> Counter = new();

    /// <summary>(size, write time in UTC ticks), or null: the file vanished, or <paramref name="skipped"/> says why it is no run file.</summary>
    public static (long Length, long MtimeTicks)? Of(string path, out string? skipped)
    {
        skipped = null;
        if (Counter.Value is { } counter)
            Interlocked.Increment(ref counter.Value);
        if (!_noStatx)
        {
            try
            {
                return OfStatx(path, out skipped);
            }
            catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
            {
                _noStatx = true; // a libc without statx (glibc < 2.28): the portable path below
            }
        }
        return OfFileInfo(path, out skipped);
    }

    private static (long, long)? OfStatx(string path, out string? skipped)
    {
        skipped = null;
        var buf = stackalloc byte[256];
        if (StatX(AtFdCwd, path, 0, StatxType | StatxSize | StatxMtime, buf) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Enosys)
            {
                _noStatx = true;
                return OfFileInfo(path, out skipped);
            }
            if (errno is Enoent or Enotdir)
            {
                // Gone, or a link whose target is gone: only the second is worth a word.
                if (StatX(AtFdCwd, path, AtSymlinkNoFollow, StatxType, buf) == 0 && (Mode(buf) & SIfMt) == SIfLnk)
                    skipped = $"symbolic link to '{LinkTarget(path)}', which does not exist";
                return null;
            }
            skipped = $"cannot stat it ({Marshal.GetPInvokeErrorMessage(errno)})";
            return null;
        }
        if ((Mode(buf) & SIfMt) != SIfReg)
        {
            skipped = StatX(AtFdCwd, path, AtSymlinkNoFollow, StatxType, buf) == 0 && (Mode(buf) & SIfMt) == SIfLnk
                ? $"symbolic link to '{LinkTarget(path)}', which is not a regular file"
                : "not a regular file";
            return null;
        }
        // struct statx: stx_size at 40, stx_mtime (tv_sec, tv_nsec) at 112; ticks as FileInfo computes them.
        var size = *(long*)(buf + 40);
        var sec = *(long*)(buf + 112);
        var nsec = *(uint*)(buf + 120);
        return (size, DateTime.UnixEpoch.Ticks + sec * TimeSpan.TicksPerSecond + nsec / 100);
    }

    private static int Mode(byte* buf) => *(ushort*)(buf + 28);

    private const int SIfDir = 0x4000;

    /// <summary>
    /// Whether <paramref name="path"/> is a directory (a link followed, as a listing follows it), and
    /// its write time in UTC ticks: one statx, no objects (the incremental scan asks it of every run directory).
    /// </summary>
    public static bool DirectoryMtime(string path, out long mtimeTicks)
    {
        mtimeTicks = 0;
        if (!_noStatx)
        {
            try
            {
                var buf = stackalloc byte[256];
                if (StatX(AtFdCwd, path, 0, StatxType | StatxMtime, buf) != 0)
                {
                    if (Marshal.GetLastPInvokeError() != Enosys)
                        return false;
                    _noStatx = true;
                }
                else
                {
                    if ((Mode(buf) & SIfMt) != SIfDir)
                        return false;
                    mtimeTicks = DateTime.UnixEpoch.Ticks + *(long*)(buf + 112) * TimeSpan.TicksPerSecond + *(uint*)(buf + 120) / 100;
                    return true;
                }
            }
            catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
            {
                _noStatx = true;
            }
        }
        var info = new DirectoryInfo(path);
        if (!info.Exists)
            return false;
        mtimeTicks = info.LastWriteTimeUtc.Ticks;
        return true;
    }

    private static string? LinkTarget(string path)
    {
        try { return new FileInfo(path).LinkTarget; }
        catch (IOException) { return "?"; }
    }

    /// <summary>Without statx: lstat through FileInfo, then the link's final target.</summary>
    private static (long, long)? OfFileInfo(string path, out string? skipped)
    {
        skipped = null;
        try
        {
            var fi = new FileInfo(path);
            if (!fi.Exists)
                return null;
            if ((fi.Attributes & FileAttributes.ReparsePoint) == 0)
                return (fi.Length, fi.LastWriteTimeUtc.Ticks);
            var target = fi.ResolveLinkTarget(returnFinalTarget: true);
            if (target is null || !target.Exists)
            {
                skipped = $"symbolic link to '{fi.LinkTarget}', which does not exist";
                return null;
            }
            if (target is not FileInfo file)
            {
                skipped = $"symbolic link to '{target.FullName}', which is not a regular file";
                return null;
            }
            return (file.Length, file.LastWriteTimeUtc.Ticks);
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            skipped = $"cannot follow the symbolic link ({ex.Message})";
            return null;
        }
    }
}
