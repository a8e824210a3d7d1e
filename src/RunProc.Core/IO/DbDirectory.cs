using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace RunProc.IO;

/// <summary>
/// Which file is at a name and what state it is in, as far as a stat tells: device, inode, size and
/// the change and modification times in nanoseconds (default: nothing there). Two equal identities
/// are the same file, not written since; used to tell whether a file this process read is still
/// as it was, so its decoded content can be reused instead of read again.
/// </summary>
internal readonly record struct FileIdentity(ulong Device, ulong Inode, long Length, long MtimeNs, long CtimeNs)
{
    public bool Exists => Inode != 0 || Device != 0;
}

/// <summary>Whether a file exists, and its size and write time (UTC ticks, as FileInfo computes them) when it is a regular file.</summary>
internal readonly record struct FileStamp(bool Exists, long Length, long MtimeTicks)
{
    /// <summary>Something that is not a regular file (a link, a FIFO, a directory): never equal to a regular file's stamp.</summary>
    public static FileStamp Special(int type) => new(true, -1 - type, 0);
}

/// <summary>
/// One directory of the DB tree, opened once and checked as <see cref="NoFollow"/> checks the
/// directories on a path (inside a guarded root no component may be a link), whose files are then
/// listed, stat'ed and read relative to the open directory: one openat per file read instead of
/// one per path component, and a stat that cannot follow a link. Files are opened as NoFollow
/// opens them: O_NOFOLLOW, O_NONBLOCK (a FIFO cannot block), then fstat (only a regular file is
/// read; anything else is a <see cref="DbFileException"/> naming it). Thread-safe: the calls
/// share only the directory descriptor.
/// </summary>
internal sealed unsafe partial class DbDirectory : IDisposable
{
    private int _fd;

    private DbDirectory(string path, int fd)
    {
        Path = path;
        _fd = fd;
    }

    public string Path { get; }

    /// <summary>Opens <paramref name="path"/>; null when it (or a directory on the way) does not exist.</summary>
    public static DbDirectory? Open(string path)
    {
        var full = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(path));
        var fd = NoFollow.OpenDirectory(full);
        return fd < 0 ? null : new DbDirectory(full, fd);
    }

    public string PathOf(string name) => System.IO.Path.Join(Path, name);

    /// <summary>The names in the directory (no stat per entry).</summary>
    public HashSet<string> Names()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        // A second descriptor of this directory (not its path, which a link could replace): getdents moves its offset.
        var fd = OpenAt(_fd, ".", ORdonly | ODirectory | LibC.OCloexec);
        if (fd < 0)
            throw new IOException($"Cannot list directory '{Path}': {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}.");
        try
        {
            Catalog.DirectoryListing.ListAndClose(fd, Path, (name, _) => names.Add(Encoding.UTF8.GetString(name)));
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            foreach (var f in Directory.EnumerateFileSystemEntries(Path))
                names.Add(System.IO.Path.GetFileName(f));
        }
        return names;
    }

    /// <summary>The stamp of <paramref name="name"/> without following a link (one statx).</summary>
    public FileStamp Stamp(string name)
    {
        var buf = stackalloc byte[256];
        return StatNoFollow(name, StatxType | StatxSize | StatxMtime, buf) ? StampOf(buf) : default;
    }

    /// <summary>The identity of <paramref name="name"/> without following a link (one statx); default when nothing is there.</summary>
    public FileIdentity Identity(string name)
    {
        var buf = stackalloc byte[256];
        return StatNoFollow(name, StatxType | StatxIno | StatxSize | StatxMtime | StatxCtime, buf) ? IdentityOf(buf) : default;
    }

    /// <summary>statx of <paramref name="name"/> in this directory, no link followed; false when nothing is there, an error naming the file otherwise.</summary>
    private bool StatNoFollow(string name, uint mask, byte* buf)
    {
        if (StatX(_fd, name, AtSymlinkNoFollow, mask, buf) == 0)
            return true;
        var e = Marshal.GetLastPInvokeError();
        if (e is LibC.Enoent or LibC.Enotdir)
            return false;
        throw e == LibC.Eacces
            ? new UnauthorizedAccessException($"Access to '{PathOf(name)}' is denied; check its owner and mode.")
            : new IOException($"Cannot stat '{PathOf(name)}': {Marshal.GetPInvokeErrorMessage(e)} (errno {e}).");
    }

    // struct statx: stx_ino at 32, stx_size at 40, stx_ctime at 96 and stx_mtime at 112 (tv_sec, tv_nsec), stx_dev_major/minor at 136/140.
    private static FileIdentity IdentityOf(byte* buf)
    {
        static long Ns(byte* t) => *(long*)t * 1_000_000_000L + *(uint*)(t + 8);
        var device = ((ulong)*(uint*)(buf + 136) << 32) | *(uint*)(buf + 140);
        var inode = *(ulong*)(buf + 32);
        // Something other than a regular file never equals a regular file's identity.
        var length = (Mode(buf) & NoFollow.SIfMt) == NoFollow.SIfReg ? *(long*)(buf + 40) : -1 - (Mode(buf) & NoFollow.SIfMt);
        return new FileIdentity(device, inode == 0 && device == 0 ? 1 : inode, length, Ns(buf + 112), Ns(buf + 96));
    }

    /// <summary>The identity of the file at <paramref name="path"/> (a link followed: its target's); default when nothing is there or it cannot be stat'ed.</summary>
    public static FileIdentity IdentityOf(string path)
    {
        var buf = stackalloc byte[256];
        return StatX(AtFdCwd, path, 0, StatxType | StatxIno | StatxSize | StatxMtime | StatxCtime, buf) != 0 ? default : IdentityOf(buf);
    }

    [ThreadStatic] private static byte[]? _buffer;

    /// <summary>
    /// The whole of a regular file, read on this thread's buffer (valid until this thread's next
    /// read), with its stamp as of the open; false when the file does not exist.
    /// </summary>
    public bool TryRead(string name, out ArraySegment<byte> content, out FileStamp stamp)
    {
        content = default;
        stamp = default;
        var fd = OpenAt(_fd, name, ORdonly | NoFollow.ONoFollow | LibC.ONonblock | LibC.OCloexec);
        if (fd < 0)
        {
            var e = Marshal.GetLastPInvokeError();
            if (e == LibC.Enoent)
                return false;
            throw NoFollow.Refused(PathOf(name), _fd, name, e);
        }
        try
        {
            var buf = stackalloc byte[256];
            if (StatX(fd, "", AtEmptyPath, StatxType | StatxSize | StatxMtime, buf) != 0)
                throw new IOException($"Cannot stat '{PathOf(name)}' (errno {Marshal.GetLastPInvokeError()}).");
            stamp = StampOf(buf);
            if (stamp.Length < 0)
                throw new DbFileException(PathOf(name), NoFollow.NotRegular(PathOf(name), Mode(buf) & NoFollow.SIfMt));
            // Read to the end: a concurrent append may lengthen the file after the stat.
            var data = _buffer ??= new byte[64 << 10];
            if (data.Length < stamp.Length + 1)
                _buffer = data = new byte[(int)Math.Min(Array.MaxLength, Math.Max(stamp.Length + 4096, data.Length * 2L))];
            var n = 0;
            while (true)
            {
                if (n == data.Length)
                {
                    Array.Resize(ref data, (int)Math.Min(Array.MaxLength, data.Length * 2L));
                    _buffer = data;
                }
                nint got;
                fixed (byte* p = &data[n])
                    got = Read(fd, p, (nuint)(data.Length - n));
                if (got < 0)
                {
                    var e = Marshal.GetLastPInvokeError();
                    if (e == LibC.Eintr) continue;
                    throw new IOException($"Cannot read '{PathOf(name)}': {Marshal.GetPInvokeErrorMessage(e)} (errno {e}).");
                }
                if (got == 0)
                    break;
                n += (int)got;
            }
            content = new ArraySegment<byte>(data, 0, n);
            return true;
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
            LibC.Close(fd);
    }

    private static int ODirectory => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000 : 0x10000;
    private const int ORdonly = 0, AtSymlinkNoFollow = 0x100, AtEmptyPath = 0x1000, AtFdCwd = -100;
    private const uint StatxType = 0x1, StatxMtime = 0x40, StatxCtime = 0x80, StatxIno = 0x100, StatxSize = 0x200;

    private static int Mode(byte* buf) => *(ushort*)(buf + 28);

    // struct statx: stx_mode at 28, stx_size at 40, stx_mtime (tv_sec, tv_nsec) at 112.
    private static FileStamp StampOf(byte* buf)
    {
        var type = Mode(buf) & NoFollow.SIfMt;
        if (type != NoFollow.SIfReg)
            return FileStamp.Special(type);
        var sec = *(long*)(buf + 112);
        var nsec = *(uint*)(buf + 120);
        return new FileStamp(true, *(long*)(buf + 40), DateTime.UnixEpoch.Ticks + sec * TimeSpan.TicksPerSecond + nsec / 100);
    }

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenAt(int dirfd, string path, int flags);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatX(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, byte* buffer, nuint count);
}
