using System.Collections;

namespace RunProc.Config;

/// <summary>The unknown-key rule of every table in a config file: an unknown key is an error naming it and the nearest known key.</summary>
internal static class ConfigKeys
{
    /// <param name="prefix">The table's own key path with a trailing dot ("Processes.pixel_status."), or "" at the top.</param>
    public static void Check(IDictionary table, string file, string prefix, IReadOnlyList<string> known)
    {
        foreach (var k in table.Keys)
        {
            var key = k?.ToString() ?? "";
            if (known.Contains(key, StringComparer.OrdinalIgnoreCase))
                continue;
            var hint = Nearest(key, known) is { } nearest ? $"the nearest valid key is '{nearest}'; " : "";
            throw new ConfigException(file, prefix + key, $"unknown key '{key}'; {hint}known keys{(prefix.Length > 0 ? " here" : "")}: {string.Join(", ", known)}.");
        }
    }

    /// <summary>The known key closest to <paramref name="key"/>, ignoring case: one that contains it or is contained in it (a shortened key) first, else the least edit distance.</summary>
    internal static string? Nearest(string key, IReadOnlyList<string> known)
    {
        var k = key.ToLowerInvariant();
        return known.OrderBy(c => c.ToLowerInvariant() is var l && k.Length > 2 && (l.Contains(k) || k.Contains(l)) ? 0 : 1)
                    .ThenBy(c => Distance(k, c.ToLowerInvariant())).FirstOrDefault();
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
