using System.Buffers.Binary;
using RunProc.IO;

namespace RunProc.Catalog;

/// <summary>
/// The append-only journal next to a scan cache file (<c>&lt;name&gt;.journal</c> beside
/// <c>&lt;name&gt;.cache</c>): a cycle that changed a few entries appends them as records instead
/// of rewriting the whole cache file. On this VM writing a file costs about its size in fresh
/// page-cache pages (~0.8 MB for both caches of 1,000 experiments, 5-10 ms), an append a page
/// or two. The journal belongs to one cache file: it starts with that file's random id, and a
/// journal with another id (the cache file was rewritten since) is not read. Records are
/// length-prefixed and checksummed; reading stops at the first bad one (a torn append, or two
/// writers interleaved on a network file system) and the owner then rewrites the cache file.
/// Any record is safe to apply in any order: every cache entry carries the stamps it is valid
/// for, and an older entry only fails its check.
/// </summary>
internal static class CacheJournal
{
    private const uint Magic = 0x4A435052; // "RPCJ"
    public const int HeaderSize = 16;      // magic, version, id of the cache file
    private const int RecordHeader = 12;   // length, checksum

    /// <summary>The journal of a cache file: the same name with <c>.journal</c>.</summary>
    public static string PathOf(string cacheFile) => Path.ChangeExtension(cacheFile, ".journal");

    /// <summary>
    /// The record payloads of a journal for the cache file with <paramref name="id"/>, as
    /// (offset, length) into <paramref name="data"/>. <paramref name="damaged"/>: the journal belongs to
    /// another cache file or has a bad record (the records before it are still returned).
    /// </summary>
    public static List<(int At, int Length)> Read(byte[] data, int version, ulong id, out bool damaged)
    {
        var records = new List<(int, int)>();
        damaged = false;
        if (data.Length < HeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(data) != Magic
            || BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(4)) != version || BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(8)) != id)
        {
            damaged = true;
            return records;
        }
        var p = HeaderSize;
        while (p < data.Length)
        {
            if (data.Length - p < RecordHeader)
            {
                damaged = true;
                break;
            }
            var length = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(p));
            var sum = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(p + 4));
            if (length < 0 || length > data.Length - p - RecordHeader || CacheCodec.Checksum(data.AsSpan(p + RecordHeader, length)) != sum)
            {
                damaged = true;
                break;
            }
            records.Add((p + RecordHeader, length));
            p += RecordHeader + length;
        }
        return records;
    }

    /// <summary>Starts a batch of records (written by <see cref="Append"/>).</summary>
    public static CacheWriter Batch() => new(4096);

    /// <summary>Adds one record whose payload <paramref name="write"/> writes.</summary>
    public static void Record(CacheWriter w, Action<CacheWriter> write)
    {
        var at = w.Length;
        w.I32(0);
        w.I64(0);
        write(w);
        var length = w.Length - at - RecordHeader;
        w.PatchI32(at, length);
        BinaryPrimitives.WriteUInt64LittleEndian(w.Written.Slice(at + 4), CacheCodec.Checksum(w.Written.Slice(at + RecordHeader, length)));
    }

    /// <summary>
    /// Appends a batch with one write on an O_APPEND descriptor (no link followed, a regular file
    /// only); a journal created here starts with the header of the cache file <paramref name="id"/>.
    /// </summary>
    public static void Append(string journal, int version, ulong id, CacheWriter batch, int fileMode)
    {
        using var h = NoFollow.Open(journal, NoFollow.Access.Append, fileMode, null, out var created)!;
        if (created || RandomAccess.GetLength(h) == 0)
        {
            var head = new byte[HeaderSize + batch.Length];
            BinaryPrimitives.WriteUInt32LittleEndian(head, Magic);
            BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(4), version);
            BinaryPrimitives.WriteUInt64LittleEndian(head.AsSpan(8), id);
            batch.Written.CopyTo(head.AsSpan(HeaderSize));
            RandomAccess.Write(h, head, 0);
        }
        else
            RandomAccess.Write(h, batch.Written, RandomAccess.GetLength(h));
    }

    /// <summary>Deletes the journal after its cache file was rewritten with everything (a missing one is fine).</summary>
    public static void Delete(string journal)
    {
        try
        {
            File.Delete(journal);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A journal left behind has the old id: it is not read, and the next save rewrites again.
        }
    }

    /// <summary>A new id for a rewritten cache file (never 0).</summary>
    public static ulong NewId() => (ulong)Random.Shared.NextInt64(1, long.MaxValue);

    /// <summary>Whether the journal has grown enough that the next save should rewrite the cache file instead.</summary>
    public static bool Full(long journalBytes, long cacheBytes) => journalBytes > 16 * 1024 + cacheBytes / 4;
}

/// <summary>
/// What a scan cache keeps about one of its files between saves (the listing cache and the record
/// cache alike), and the save itself: the changed entries appended to the file's journal, or the
/// whole file rewritten under a new id (its journal then deleted) when a rewrite is due or the
/// journal would grow past <see cref="CacheJournal.Full"/>.
/// </summary>
internal abstract class JournaledCacheFile
{
    /// <summary>Something changed since the load or the last save.</summary>
    public volatile bool Dirty;
    /// <summary>The file was there (in this version) when loaded; else an upgrade may have left older files.</summary>
    public bool Existed;
    /// <summary>The id of the file as loaded or last written (its journal carries it); 0: none.</summary>
    public ulong Id;
    /// <summary>The entries changed since the load or the last save (appended to the journal).</summary>
    public readonly HashSet<string> Changed = new(StringComparer.Ordinal);
    /// <summary>The next save writes the whole file (a removal, a bad journal or entry).</summary>
    public bool Rewrite;
    public long FileBytes, JournalBytes;

    /// <summary>
    /// The state of the cache file <paramref name="name"/> in <paramref name="dir"/> as this process
    /// last kept it (<see cref="KeepWarm"/>), if the file and its journal are unchanged since; else null.
    /// </summary>
    public static T? TakeWarm<T>(DbDirectory dir, string name) where T : JournaledCacheFile =>
        Identities(dir, name) is var (file, journal) ? WarmCacheFiles.Take<T>(dir.PathOf(name), file, journal) : null;

    /// <summary>Keeps this state for the next scan in this process, unless it holds changes the file does not (a save failed).</summary>
    public void KeepWarm(DbDirectory dir, string name)
    {
        if (!Dirty && Identities(dir, name) is var (file, journal))
            WarmCacheFiles.Keep(dir.PathOf(name), this, file, journal);
    }

    // Null when they cannot be stat'ed: nothing is taken or kept (a read that follows reports the problem).
    private static (FileIdentity File, FileIdentity Journal)? Identities(DbDirectory dir, string name)
    {
        try
        {
            return (dir.Identity(name), dir.Identity(Path.GetFileName(CacheJournal.PathOf(name))));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <param name="directory">The cache directory.</param>
    /// <param name="name">The file's name (<c>&lt;key&gt;.cache</c>).</param>
    /// <param name="record">How a changed entry is written as a journal record; null: the entry is gone.</param>
    /// <param name="serialize">The whole file, with <see cref="Id"/> (already the new one).</param>
    /// <param name="write">Writes the whole file atomically.</param>
    public void Save(string directory, string name, int version, int fileMode,
        Func<string, Action<CacheWriter>?> record, Func<CacheWriter> serialize, Action<string, CacheWriter> write)
    {
        var path = Path.Join(directory, name);
        var journal = CacheJournal.PathOf(path);
        CacheWriter? batch = null;
        if (!Rewrite && Id != 0)
        {
            batch = CacheJournal.Batch();
            foreach (var key in Changed)
                if (record(key) is { } r)
                    CacheJournal.Record(batch, r);
            if (CacheJournal.Full(JournalBytes + batch.Length, FileBytes))
                batch = null;
        }
        if (batch is not null)
        {
            if (batch.Length > 0)
                CacheJournal.Append(journal, version, Id, batch, fileMode);
            JournalBytes += batch.Length;
        }
        else
        {
            Id = CacheJournal.NewId();
            var w = serialize();
            write(path, w);
            CacheJournal.Delete(journal);
            FileBytes = w.Length;
            JournalBytes = 0;
            Rewrite = false;
        }
        Changed.Clear();
        Dirty = false;
        if (!Existed)
        {
            Existed = true;
            CacheCodec.RemoveOtherCacheFiles(directory, name);
        }
    }
}
