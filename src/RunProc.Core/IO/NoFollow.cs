using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RunProc.IO;

/// <summary>A DB-tree path that is not a regular file RunProc may open (a symbolic link, a directory, a FIFO, ...).</summary>
public sealed class DbFileException : IOException
{
    public DbFileException(string path, string message) : base(message) => FilePath = path;

    public string FilePath { get; }
}

/// <summary>
/// Opens files inside a guarded tree (the processing DB under DbRoot, which is group-writable)
/// without following symbolic links: from the guarded root down, every directory is opened with
/// O_NOFOLLOW|O_DIRECTORY relative to its parent (openat), the file itself with O_NOFOLLOW and
/// O_NONBLOCK (a FIFO can neither block the open nor a later read), then fstat'ed: only a regular
/// file is used. A root may itself be a link (the site's choice); nothing below it may be.
/// Paths outside every guarded root keep the last-component check and the regular-file check.
/// </summary>
internal static class NoFollow
{
    private static readonly ConcurrentDictionary<string, byte> Roots = new(StringComparer.Ordinal);

    /// <summary>Files and directories below <paramref name="root"/> are opened without following links.</summary>
    public static void Guard(string root)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        if (full.Length > 1)
            Roots.TryAdd(full, 0);
    }

    /// <summary>Whether <paramref name="path"/> lies below a guarded root.</summary>
    public static bool IsGuarded(string path)
    {
        var full = Path.GetFullPath(path);
        return Roots.Keys.Any(r => full.StartsWith(r + "/", StringComparison.Ordinal));
    }

    /// <summary>Read: read-only. Append: read-write with O_APPEND, created if missing. ReadWriteCreate: created if missing. CreateNew: must not exist.</summary>
    public enum Access { Read, Append, ReadWriteCreate, CreateNew }

    /// <summary>flock(LOCK_EX | LOCK_NB): false if another holder has it.</summary>
    public static bool TryLockExclusive(SafeFileHandle handle, string path)
    {
        if (flock((int)handle.DangerousGetHandle(), 2 | 4) == 0)
            return true;
        var e = Marshal.GetLastPInvokeError();
        return e == 11 ? false : throw new IOException($"cannot lock '{path}' (errno {e}: {Marshal.GetPInvokeErrorMessage(e)}); locks need flock support on this file system.");
    }

    public static void Flush(SafeFileHandle handle, string path)
    {
        if (fsync((int)handle.DangerousGetHandle()) != 0)
            throw new IOException($"cannot flush '{path}' to disk (errno {Marshal.GetLastPInvokeError()}).");
    }

    /// <summary>A write error on a descriptor (which knows no path) as one naming the file; the cause is kept.</summary>
    public static IOException Named(IOException ex, string path) =>
        ex is DbFileException || ex.Message.Contains(path, StringComparison.Ordinal) ? ex : new IOException($"{ex.Message.TrimEnd('.')}: '{path}'.", ex) { HResult = ex.HResult };

    public static void Truncate(SafeFileHandle handle, long length) => ftruncate((int)handle.DangerousGetHandle(), length);

    private static bool Arm => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm;
    private const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_APPEND = 0x400, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    private static int O_DIRECTORY => Arm ? 0x4000 : 0x10000;
    private static int O_NOFOLLOW => Arm ? 0x8000 : 0x20000;
    private const int ENOENT = 2, ENXIO = 6, EACCES = 13, EEXIST = 17, ENOTDIR = 20, EISDIR = 21, ELOOP = 40;
    private const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_EMPTY_PATH = 0x1000;
    private const int F_GETFL = 3, F_SETFL = 4;

    /// <summary>Opens <paramref name="path"/>; null if it (or a directory on the way) does not exist and is not to be created.</summary>
    public static SafeFileHandle? Open(string path, Access access, int fileMode, int? directoryMode, out bool created)
    {
        created = false;
        var full = Path.GetFullPath(path);
        var name = Path.GetFileName(full);
        var create = access is Access.Append or Access.ReadWriteCreate or Access.CreateNew;
        var dir = OpenParent(full, create ? directoryMode : null);
        if (dir < 0)
            return create ? throw new DirectoryNotFoundException($"Could not find a part of the path '{full}'.") : null;
        try
        {
            var flags = (access switch
            {
                Access.Read => O_RDONLY,
                Access.Append => O_RDWR | O_APPEND,
                _ => O_RDWR,
            }) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
            int fd;
            while (true)
            {
                if (access != Access.CreateNew)
                {
                    fd = openat(dir, name, flags, 0);
                    if (fd >= 0) break;
                    var e = Marshal.GetLastPInvokeError();
                    if (e != ENOENT || !create) return e == ENOENT ? null : throw Refused(full, dir, name, e);
                }
                fd = openat(dir, name, flags | O_CREAT | O_EXCL, fileMode);
                if (fd >= 0) { created = true; break; }
                var ce = Marshal.GetLastPInvokeError();
                if (ce != EEXIST || access == Access.CreateNew) throw Refused(full, dir, name, ce);
            }
            var handle = new SafeFileHandle(fd, ownsHandle: true);
            try
            {
                CheckRegular(handle, full);
                var fl = fcntl(fd, F_GETFL, 0);
                if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
                if (created) fchmod(fd, fileMode); // the umask must not narrow the configured mode
                return handle;
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }
        finally
        {
            if (dir != AT_FDCWD) close(dir);
        }
    }

    /// <summary>Creates the directory (and parents) where missing, with <paramref name="mode"/>; inside a guarded root, no link on the way.</summary>
    public static void EnsureDirectory(string path, int mode)
    {
        var fd = OpenParent(Path.Combine(Path.GetFullPath(path), "."), mode);
        if (fd != AT_FDCWD && fd >= 0) close(fd);
    }

    /// <summary>Replaces <paramref name="path"/> with <paramref name="content"/>: temp file, fsync (unless not <paramref name="durable"/>: a cache or a derived output), rename, all in the checked directory.</summary>
    public static unsafe void WriteAtomic(string path, ReadOnlySpan<byte> content, int fileMode, int? directoryMode, bool durable = true)
    {
        fixed (byte* pinned = content)
        {
            var (address, length) = ((nint)pinned, content.Length);
            WriteAtomic(path, handle => RandomAccess.Write(handle, new ReadOnlySpan<byte>((void*)address, length), 0), fileMode, directoryMode, durable);
        }
    }

    /// <summary>
    /// Replaces <paramref name="path"/> with what <paramref name="write"/> writes into the new
    /// file's handle (from offset 0): temp file, fsync (unless not <paramref name="durable"/>),
    /// rename, all in the checked directory. For content made piece by piece, never held whole.
    /// </summary>
    public static void WriteAtomic(string path, Action<SafeFileHandle> write, int fileMode, int? directoryMode, bool durable = true)
    {
        var full = Path.GetFullPath(path);
        var name = Path.GetFileName(full);
        var dir = OpenParent(full, directoryMode);
        if (dir < 0)
            throw new DirectoryNotFoundException($"Could not find a part of the path '{full}'.");
        try
        {
            // The old file's mode is kept; the old "file" must be a regular file (a link or FIFO is refused, not replaced).
            var mode = fileMode;
            var replaces = TryStatType(dir, name, AT_SYMLINK_NOFOLLOW, out var type, out var oldMode);
            if (replaces)
            {
                if (type != S_IFREG) throw new DbFileException(full, NotRegular(full, type));
                mode = oldMode;
            }
            var tmp = $".{name}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
            var fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fileMode);
            if (fd < 0) throw Refused(Path.Combine(Path.GetDirectoryName(full)!, tmp), dir, tmp, Marshal.GetLastPInvokeError());
            try
            {
                using (var handle = new SafeFileHandle(fd, ownsHandle: true))
                {
                    write(handle);
                    fchmod(fd, mode);
                    if (durable && fsync(fd) != 0) throw new IOException($"cannot flush '{full}' to disk (errno {Marshal.GetLastPInvokeError()}).");
                }
                if (!(replaces && !durable && Exchange(dir, tmp, name)) && renameat(dir, tmp, dir, name) != 0)
                    throw new IOException($"cannot replace '{full}' (errno {Marshal.GetLastPInvokeError()}).");
            }
            catch (IOException ex)
            {
                unlinkat(dir, tmp, 0);
                throw Named(ex, full);
            }
            catch
            {
                unlinkat(dir, tmp, 0);
                throw;
            }
        }
        finally
        {
            if (dir != AT_FDCWD && dir >= 0) close(dir);
        }
    }

    /// <summary>
    /// Replaces <paramref name="name"/> by <paramref name="tmp"/> as one atomic swap
    /// (renameat2 RENAME_EXCHANGE), then removes the old file now at the temp name. For writes
    /// without fsync only: ext4 (auto_da_alloc, its default) treats a rename over an existing file
    /// as a replace-by-rename and allocates and starts writing the new file's data inside the
    /// rename — 12–18 ms for a 16 MB output on this machine's disk, against 0.04 ms for the swap and
    /// ~1 ms for the unlink (measured 2026-12-03) — which made every later call of the outputs
    /// slower than the first. Readers see the old or the new file, never neither, as with rename.
    /// False where the swap is refused (a file system without it, the old file gone meanwhile):
    /// the caller renames as before.
    /// </summary>
    private static bool Exchange(int dir, string tmp, string name)
    {
        try
        {
            if (renameat2(dir, tmp, dir, name, RENAME_EXCHANGE) != 0)
                return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
        // The old content, now under the temp name; left there only if something swapped in a
        // non-file meanwhile (unlinkat without AT_REMOVEDIR refuses a directory).
        unlinkat(dir, tmp, 0);
        return true;
    }

    /// <summary>
    /// The directory that holds <paramref name="full"/>, opened. Inside a guarded root it is reached
    /// component by component without following links (created where missing if a mode is given);
    /// elsewhere it is opened normally. -1 when it is missing and not to be created.
    /// </summary>
    private static int OpenParent(string full, int? createMode)
    {
        var parent = Path.GetDirectoryName(full)!;
        var root = Roots.Keys.Where(r => parent == r || parent.StartsWith(r + "/", StringComparison.Ordinal)).MaxBy(r => r.Length);
        if (root is null)
        {
            if (createMode is { } m && !Directory.Exists(parent))
            {
                Directory.CreateDirectory(parent);
                SafeFile.TrySetMode(parent, m);
            }
            var pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
            if (pfd >= 0) return pfd;
            var pe = Marshal.GetLastPInvokeError();
            return pe is ENOENT or ENOTDIR ? -1 : throw new IOException($"cannot open directory '{parent}' (errno {pe}).");
        }
        if (createMode is { } rm && !Directory.Exists(root))
        {
            Directory.CreateDirectory(root);
            SafeFile.TrySetMode(root, rm);
        }
        var fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0)
        {
            var re = Marshal.GetLastPInvokeError();
            return re is ENOENT or ENOTDIR ? -1 : throw new IOException($"cannot open directory '{root}' (errno {re}).");
        }
        var at = root;
        foreach (var part in parent[root.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            at = at + "/" + part;
            var next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
            if (next < 0 && Marshal.GetLastPInvokeError() == ENOENT && createMode is { } mode)
            {
                if (mkdirat(fd, part, mode) == 0)
                    SafeFile.TrySetMode(at, mode); // setgid and group bits beyond the umask
                next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
            }
            if (next < 0)
            {
                var e = Marshal.GetLastPInvokeError();
                try
                {
                    if (e == ENOENT) return -1;
                    throw Refused(at, fd, part, e);
                }
                finally { close(fd); }
            }
            close(fd);
            fd = next;
        }
        return fd;
    }

    /// <summary>The directory <paramref name="full"/> itself, opened as <see cref="OpenParent"/> opens a parent; -1 when missing.</summary>
    public static int OpenDirectory(string full) => OpenParent(Path.Join(full, "."), null);

    internal static int ONoFollow => O_NOFOLLOW;
    internal const int SIfMt = S_IFMT, SIfReg = S_IFREG;

    internal static Exception Refused(string full, int dir, string name, int errno)
    {
        if (errno is ELOOP or ENOTDIR or EISDIR or ENXIO && TryStatType(dir, name, AT_SYMLINK_NOFOLLOW, out var type, out _) && type != S_IFREG)
            return new DbFileException(full, NotRegular(full, type));
        if (errno == EACCES)
            return new UnauthorizedAccessException($"Access to '{full}' is denied; check its owner and mode.");
        return new IOException($"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}): cannot open '{full}'.");
    }

    private static void CheckRegular(SafeFileHandle handle, string full)
    {
        if (!TryStatType((int)handle.DangerousGetHandle(), "", AT_EMPTY_PATH, out var type, out _))
            throw new IOException($"cannot stat '{full}' (errno {Marshal.GetLastPInvokeError()}).");
        if (type != S_IFREG)
            throw new DbFileException(full, NotRegular(full, type));
    }

    private const int S_IFMT = 0xF000, S_IFREG = 0x8000, S_IFDIR = 0x4000, S_IFLNK = 0xA000, S_IFIFO = 0x1000, S_IFSOCK = 0xC000;

    internal static string NotRegular(string full, int type)
    {
        var what = type switch
        {
            S_IFLNK => "a symbolic link (RunProc never follows links inside the DB tree)",
            S_IFDIR => "a directory",
            S_IFIFO => "a FIFO",
            S_IFSOCK => "a socket",
            _ => "a device or other special file",
        };
        return $"'{full}' is {what}, not a regular file; RunProc reads and writes only regular files there. Remove or rename it.";
    }

    /// <summary>File type and permission bits through statx (the same layout on every Linux architecture).</summary>
    private static unsafe bool TryStatType(int dir, string name, int flags, out int type, out int mode)
    {
        var buf = stackalloc byte[256];
        if (statx(dir, name, flags, 0x3 /* STATX_TYPE | STATX_MODE */, buf) != 0)
        {
            type = mode = 0;
            return false;
        }
        var m = *(ushort*)(buf + 28); // stx_mode
        type = m & S_IFMT;
        mode = m & 0xFFF;
        return true;
    }

    [DllImport("libc", SetLastError = true)] private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);
    [DllImport("libc", SetLastError = true)] private static extern int openat(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);
    [DllImport("libc", SetLastError = true)] private static extern int mkdirat(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int mode);
    [DllImport("libc", SetLastError = true)] private static extern int renameat(int olddir, [MarshalAs(UnmanagedType.LPUTF8Str)] string oldpath, int newdir, [MarshalAs(UnmanagedType.LPUTF8Str)] string newpath);
    [DllImport("libc", SetLastError = true)] private static extern int renameat2(int olddir, [MarshalAs(UnmanagedType.LPUTF8Str)] string oldpath, int newdir, [MarshalAs(UnmanagedType.LPUTF8Str)] string newpath, uint flags);
    private const uint RENAME_EXCHANGE = 2;
    [DllImport("libc", SetLastError = true)] private static extern int unlinkat(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);
    [DllImport("libc", SetLastError = true)] private static extern unsafe int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte* buf);
    [DllImport("libc", SetLastError = true)] private static extern int fcntl(int fd, int cmd, int arg);
    [DllImport("libc", SetLastError = true)] private static extern int fchmod(int fd, int mode);
    [DllImport("libc", SetLastError = true)] private static extern int fsync(int fd);
    [DllImport("libc", SetLastError = true)] private static extern int close(int fd);
    [DllImport("libc", SetLastError = true)] private static extern int flock(int fd, int operation);
    [DllImport("libc", SetLastError = true)] private static extern int ftruncate(int fd, long length);
}
