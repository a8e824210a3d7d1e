using RunProc.IO;

namespace RunProc.Catalog;

/// <summary>
/// The scan cache files this process last loaded or saved, kept decoded between scans: the next
/// scan of the same DB in this process (an interactive session, an admin script that scans in a
/// loop, the benchmark) takes a file's state from here instead of reading, checking and decoding
/// it again, when the file and its journal still have the identities (device, inode, size, times)
/// they had just after that load or save. A file another process wrote since is read again.
/// Nothing here decides what a scan returns: every cache entry carries the stamps it is valid for
/// and is checked against the files it describes, so even a stale state (another process wrote
/// between a save and its stat) only costs a listing or a read. A state is taken by one scan at a
/// time (a concurrent scan in another runspace reads the file itself) and put back after its save;
/// at most <see cref="Capacity"/> files are kept, the least recently kept dropped first.
/// </summary>
internal static class WarmCacheFiles
{
    /// <summary>Files kept at most (two per DB and process: the listings and the records of one process).</summary>
    public const int Capacity = 8;

    private sealed record Kept(object State, FileIdentity File, FileIdentity Journal, long Order);

    private static readonly Dictionary<string, Kept> s_kept = new(StringComparer.Ordinal);
    private static long s_order;

    /// <summary>
    /// The state kept for <paramref name="path"/> if the file and its journal still have these
    /// identities (it is then this caller's until it is kept again); else null.
    /// </summary>
    public static T? Take<T>(string path, FileIdentity file, FileIdentity journal) where T : class
    {
        lock (s_kept)
        {
            if (!s_kept.Remove(path, out var k))
                return null;
            return file.Exists && k.File == file && k.Journal == journal ? k.State as T : null;
        }
    }

    /// <summary>Keeps the state of <paramref name="path"/>, which is what the file (with identity <paramref name="file"/>) and its journal hold.</summary>
    public static void Keep(string path, object state, FileIdentity file, FileIdentity journal)
    {
        if (!file.Exists)
            return;
        lock (s_kept)
        {
            s_kept[path] = new Kept(state, file, journal, ++s_order);
            if (s_kept.Count > Capacity)
                s_kept.Remove(s_kept.MinBy(kv => kv.Value.Order).Key);
        }
    }

    /// <summary>Whether a state is kept for <paramref name="path"/> (for tests).</summary>
    internal static bool IsKept(string path)
    {
        lock (s_kept)
            return s_kept.ContainsKey(path);
    }
}
