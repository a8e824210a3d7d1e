using System.Text;

namespace RunProc.IO;

/// <summary>
/// Crash-safe file writes for the flat-file DB: whole-line appends, write-temp-then-rename rewrites,
/// directories and files created with the configured (group-writable) modes. Every open is of a
/// regular file only, non-blocking, and below a guarded root (<see cref="GuardTree"/>) never
/// through a symbolic link.
/// </summary>
public static class SafeFile
{
    private static readonly UTF8Encoding Utf8 = new(false);

    /// <summary>
    /// Guards a tree (the DB under DbRoot): below <paramref name="root"/> every file is opened without
    /// following symbolic links, directories included, and only if it is a regular file (see <see cref="NoFollow"/>).
    /// </summary>
    public static void GuardTree(string root) => NoFollow.Guard(root);

    /// <summary>Creates a directory (and parents) with <paramref name="mode"/> (e.g. 02775) where it is new.</summary>
    public static void EnsureDirectory(string path, int mode)
    {
        if (NoFollow.IsGuarded(path))
        {
            NoFollow.EnsureDirectory(path, mode);
            return;
        }
        if (Directory.Exists(path))
            return;
        var parent = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(parent) && !Directory.Exists(parent))
            EnsureDirectory(parent, mode);
        Directory.CreateDirectory(path);
        TrySetMode(path, mode);
    }

    /// <summary>Opens a file for reading (a regular file only, no link followed in a guarded tree, never blocking); null if it does not exist.</summary>
    public static FileStream? OpenRead(string path)
    {
        var h = NoFollow.Open(path, NoFollow.Access.Read, 0, null, out _);
        return h is null ? null : new FileStream(h, FileAccess.Read, 1);
    }

    /// <summary>The whole file, or null if it does not exist (read to the end: a concurrent append may lengthen it).</summary>
    public static byte[]? ReadAllBytes(string path)
    {
        using var fs = OpenRead(path);
        if (fs is null)
            return null;
        using var ms = new MemoryStream();
        fs.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>The whole file as UTF-8 text (a BOM removed), or null if it does not exist.</summary>
    public static string? ReadAllText(string path)
    {
        using var fs = OpenRead(path);
        if (fs is null)
            return null;
        using var r = new StreamReader(fs, Utf8, detectEncodingFromByteOrderMarks: true);
        return r.ReadToEnd();
    }

    /// <summary>Creates an empty file that must not exist yet; false if something (anything, a link included) is already there.</summary>
    public static bool TryCreateNew(string path, int fileMode)
    {
        try
        {
            NoFollow.Open(path, NoFollow.Access.CreateNew, fileMode, null, out _)!.Dispose();
            return true;
        }
        catch (IOException) when (Exists(path))
        {
            return false;
        }
    }

    /// <summary>Creates the file empty if it is missing (a regular file only); keeps what is there.</summary>
    public static void Touch(string path, int fileMode) =>
        NoFollow.Open(path, NoFollow.Access.ReadWriteCreate, fileMode, null, out _)!.Dispose();

    /// <summary>Appends text as it is (a job log's free-form lines), on the same checked descriptor as records.</summary>
    public static void AppendText(string path, string text, int fileMode)
    {
        using var h = NoFollow.Open(path, NoFollow.Access.Append, fileMode, null, out _)!;
        RandomAccess.Write(h, Utf8.GetBytes(text), RandomAccess.GetLength(h));
    }

    /// <summary>Whether anything (a file, directory or link, dangling or not) is at <paramref name="path"/>.</summary>
    private static bool Exists(string path) => File.Exists(path) || Directory.Exists(path) || new FileInfo(path).LinkTarget is not null;

    /// <summary>
    /// Appends whole lines with one write call on an O_APPEND descriptor, then flushes to disk.
    /// If the file does not end in a newline (files written by the old tool may not), a newline is
    /// written first so the new record never joins the last one. Callers that need ordering with
    /// other writers hold the DB lock.
    /// </summary>
    public static void AppendLines(string path, IEnumerable<string> lines, int fileMode)
    {
        var sb = new StringBuilder();
        foreach (var line in lines)
        {
            if (line.Contains('\n') || line.Contains('\r'))
                throw new ArgumentException($"a record must be one line: '{line}'", nameof(lines));
            sb.Append(line).Append('\n');
        }
        if (sb.Length == 0)
            return;
        AppendBytes(path, Utf8.GetBytes(sb.ToString()), fileMode);
    }

    /// <summary>
    /// As <see cref="AppendLines(string, IEnumerable{string}, int)"/> for lines given as exact bytes
    /// (a DB rewrite moving lines it must not re-encode).
    /// </summary>
    public static void AppendLines(string path, IEnumerable<byte[]> lines, int fileMode)
    {
        var ms = new MemoryStream();
        foreach (var line in lines)
        {
            if (line.AsSpan().Contains((byte)'\n'))
                throw new ArgumentException("a record must be one line", nameof(lines));
            ms.Write(line);
            ms.WriteByte((byte)'\n');
        }
        if (ms.Length > 0)
            AppendBytes(path, ms.ToArray(), fileMode);
    }

    private static void AppendBytes(string path, byte[] bytes, int fileMode)
    {
        // O_APPEND: every write lands at the end whatever the offset; the offset below only reads the last byte.
        using var h = NoFollow.Open(path, NoFollow.Access.Append, fileMode, null, out var created)!;
        var before = RandomAccess.GetLength(h);
        if (!created && before > 0 && !EndsWithNewline(h, before))
            bytes = [(byte)'\n', .. bytes];
        try
        {
            RandomAccess.Write(h, bytes, before);
            NoFollow.Flush(h, path);
        }
        catch (IOException ex)
        {
            // A full disk can take part of the write (a short write, then ENOSPC): cut the
            // partial record off again, or it would be read as a record (its run number may be whole).
            RemovePartialAppend(h, before, bytes);
            throw NoFollow.Named(ex, path);
        }
    }

    /// <summary>Truncates back to <paramref name="before"/> if what follows is a prefix of our own bytes.</summary>
    private static void RemovePartialAppend(Microsoft.Win32.SafeHandles.SafeFileHandle h, long before, byte[] bytes)
    {
        try
        {
            var extra = RandomAccess.GetLength(h) - before;
            if (extra <= 0 || extra > bytes.Length)
                return;
            var tail = new byte[extra];
            if (RandomAccess.Read(h, tail, before) == extra && tail.AsSpan().SequenceEqual(bytes.AsSpan(0, (int)extra)))
                NoFollow.Truncate(h, before);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Replaces a file's content atomically: a reader sees the old or the new file, never a mix.</summary>
    public static void WriteAllTextAtomic(string path, string content, int fileMode) =>
        WriteAllBytesAtomic(path, Utf8.GetBytes(content), fileMode);

    /// <summary>Replaces a file's content with exact bytes, atomically (temp file, fsync, rename).</summary>
    public static void WriteAllBytesAtomic(string path, byte[] content, int fileMode) =>
        NoFollow.WriteAtomic(path, content, fileMode, null);

    /// <summary>Replaces a file with content written piece by piece into the new file's handle, atomically and durably (temp file, fsync, rename).</summary>
    public static void WriteDurableAtomic(string path, Action<Microsoft.Win32.SafeHandles.SafeFileHandle> write, int fileMode) =>
        NoFollow.WriteAtomic(path, write, fileMode, null);

    /// <summary>
    /// Replaces a derived output (a text array, a picture: made again by rerunning its job)
    /// atomically, temp file then rename, like <see cref="WriteAllBytesAtomic"/> but without the
    /// fsync: the kernel writes it back, and a job's outputs are not held up by the disk (a
    /// 2.16 Mpx detector's are about 160 MB). Readers see the old file or the whole new one;
    /// only a machine crash soon after can lose the new one.
    /// </summary>
    public static void WriteOutputAtomic(string path, byte[] content, int fileMode) =>
        NoFollow.WriteAtomic(path, content, fileMode, null, durable: false);

    /// <summary>A derived output written piece by piece into the new file's handle (as <see cref="WriteOutputAtomic(string, byte[], int)"/>).</summary>
    public static void WriteOutputAtomic(string path, Action<Microsoft.Win32.SafeHandles.SafeFileHandle> write, int fileMode) =>
        NoFollow.WriteAtomic(path, write, fileMode, null, durable: false);

    /// <summary>Rewrites a file from lines (each ends with a newline), atomically.</summary>
    public static void WriteAllLinesAtomic(string path, IEnumerable<string> lines, int fileMode)
    {
        var sb = new StringBuilder();
        foreach (var l in lines)
            sb.Append(l).Append('\n');
        WriteAllTextAtomic(path, sb.ToString(), fileMode);
    }

    public static void TrySetMode(string path, int mode)
    {
        if (OperatingSystem.IsWindows())
            return;
        try
        {
            File.SetUnixFileMode(path, (UnixFileMode)mode);
        }
        catch (UnauthorizedAccessException) { } // not the owner: leave the mode as it is
        catch (IOException) { }
    }

    private static bool EndsWithNewline(Microsoft.Win32.SafeHandles.SafeFileHandle h, long length)
    {
        Span<byte> last = stackalloc byte[1];
        return RandomAccess.Read(h, last, length - 1) == 1 && last[0] == '\n';
    }
}
