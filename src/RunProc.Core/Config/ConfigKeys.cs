using System.Collections;

namespace RunProc.Config;

/// <summary>
/// The unknown-key check of a config table, reusable for every table (top level, a process): a
/// key not in the table's known list is an error naming it and the nearest known key, so a typo
/// such as 'Cpu' or 'Acount' is not silently ignored.
/// </summary>
public static class ConfigKeys
{
    /// <summary>Throws a <see cref="ConfigException"/> naming every key of <paramref name="table"/> not in <paramref name="known"/> (case-insensitive), each with its likeliest meaning.</summary>
    /// <param name="prefix">The table's own key ("Processes.pixel_status"), or "" for the top level.</param>
    public static void Check(IDictionary table, IReadOnlyList<string> known, string file, string prefix)
    {
        var unknown = table.Keys.Cast<object?>().Select(k => k?.ToString() ?? "")
            .Where(key => !known.Contains(key, StringComparer.OrdinalIgnoreCase)).Order(StringComparer.OrdinalIgnoreCase).ToList();
        if (unknown.Count == 0)
            return;
        string Full(string key) => prefix.Length == 0 ? key : prefix + "." + key;
        var knownList = $" Known keys: {string.Join(", ", known)}.";
        if (unknown.Count == 1)
        {
            var nearest = Nearest(unknown[0], known);
            throw new ConfigException(file, Full(unknown[0]), $"unknown key '{unknown[0]}'.{(nearest is null ? "" : $" Did you mean '{nearest}'?")}{knownList}");
        }
        // Every typo at once, so a config is not fixed one error per run.
        var each = unknown.Select(k => Nearest(k, known) is { } n ? $"'{k}' (did you mean '{n}'?)" : $"'{k}'");
        throw new ConfigException(file, Full(unknown[0]), $"{unknown.Count} unknown keys{(prefix.Length == 0 ? "" : " in " + prefix)}: {string.Join(", ", each)}.{knownList}");
    }

    /// <summary>The known key closest to <paramref name="key"/> by edit distance (case-insensitive), if it is plausibly a typo of it.</summary>
    public static string? Nearest(string key, IReadOnlyList<string> known)
    {
        // A shortened or lengthened key ('timelimit' for 'TimeLimitMinutes') is the likeliest meaning.
        var lower = key.ToLowerInvariant();
        if (lower.Length > 2 && known.FirstOrDefault(c => c.ToLowerInvariant() is var l && (l.Contains(lower) || lower.Contains(l))) is { } contained)
            return contained;
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known)
        {
            var d = Distance(key.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (d < bestDistance)
            {
                bestDistance = d;
                best = candidate;
            }
        }
        // A suggestion more than half rewritten is noise, not help.
        return best is not null && bestDistance <= Math.Max(2, best.Length / 2) ? best : null;
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
