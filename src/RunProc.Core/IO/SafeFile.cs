using System.Text;

namespace RunProc.IO;

/// <summary>
/// Crash-safe file writes for the flat-file DB: whole-line appends, write-temp-then-rename rewrites,
/// directories and files created with the configured (group-writable) modes.
/// </summary>
public static class SafeFile
{
    private static readonly UTF8Encoding Utf8 = new(false);

    /// <summary>Creates a directory (and parents) with <paramref name="mode"/> (e.g. 02775) where it is new.</summary>
    public static void EnsureDirectory(string path, int mode)
    {
        if (Directory.Exists(path))
            return;
        var parent = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(parent) && !Directory.Exists(parent))
            EnsureDirectory(parent, mode);
        Directory.CreateDirectory(path);
        TrySetMode(path, mode);
    }

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
        var isNew = !File.Exists(path);
        using (var fs = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None))
        {
            var before = fs.Length;
            if (!isNew && before > 0 && !EndsWithNewline(path))
                bytes = [(byte)'\n', .. bytes];
            try
            {
                fs.Write(bytes, 0, bytes.Length);
                fs.Flush(true);
            }
            catch (IOException)
            {
                // A full disk can take part of the write (a short write, then ENOSPC): cut the
                // partial record off again, or it would be read as a record (its run number may be whole).
                RemovePartialAppend(path, before, bytes);
                throw;
            }
        }
        if (isNew)
            TrySetMode(path, fileMode);
    }

    /// <summary>Truncates <paramref name="path"/> back to <paramref name="before"/> if what follows is a prefix of our own bytes.</summary>
    private static void RemovePartialAppend(string path, long before, byte[] bytes)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, 1);
            var extra = fs.Length - before;
            if (extra <= 0 || extra > bytes.Length)
                return;
            var tail = new byte[extra];
            fs.Position = before;
            fs.ReadExactly(tail);
            if (tail.AsSpan().SequenceEqual(bytes.AsSpan(0, (int)extra)))
                fs.SetLength(before);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Replaces a file's content atomically: a reader sees the old or the new file, never a mix.</summary>
    public static void WriteAllTextAtomic(string path, string content, int fileMode) =>
        WriteAllBytesAtomic(path, Utf8.GetBytes(content), fileMode);

    /// <summary>Replaces a file's content with exact bytes, atomically (temp file, fsync, rename).</summary>
    public static void WriteAllBytesAtomic(string path, byte[] content, int fileMode)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                fs.Write(content, 0, content.Length);
                fs.Flush(true);
            }
            var mode = File.Exists(full) && !OperatingSystem.IsWindows() ? (int)File.GetUnixFileMode(full) : fileMode;
            TrySetMode(tmp, mode);
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

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

    private static bool EndsWithNewline(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (fs.Length == 0)
            return true;
        fs.Seek(-1, SeekOrigin.End);
        return fs.ReadByte() == '\n';
    }
}
