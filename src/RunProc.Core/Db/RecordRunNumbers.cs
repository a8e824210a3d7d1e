using System.Runtime.CompilerServices;
using System.Text;

namespace RunProc.Db;

/// <summary>
/// The run numbers of a record file (-proc-runs.txt, -arch-runs.txt): the first field of every
/// line, parsed from the file's bytes without a string or object per line. A line that is not of
/// the common form (<c>NNNN &lt;white space&gt;...</c>) is decided by the full parser
/// (<see cref="ProcRecord.TryParse"/>), so this reader and the record reader always agree; a
/// malformed line is decoded for its warning.
/// </summary>
internal static class RecordRunNumbers
{
    /// <summary>Appends the run of every record line of <paramref name="data"/> to <paramref name="runs"/> (file order, duplicates kept).</summary>
    public static void Parse(ReadOnlySpan<byte> data, string file, List<int> runs, Action<DbWarning>? warn)
    {
        var span = data;
        if (span.StartsWith("\uFEFF"u8))
            span = span[3..];
        var lineNo = 0;
        while (!span.IsEmpty)
        {
            lineNo++;
            var nl = span.IndexOf((byte)'\n');
            var line = nl < 0 ? span : span[..nl];
            span = nl < 0 ? default : span[(nl + 1)..];
            var s = 0;
            while (s < line.Length && line[s] is (byte)' ' or (byte)'\t' or (byte)'\r') s++;
            if (s == line.Length)
                continue; // blank
            var n = s;
            var run = 0;
            while (n < line.Length && n - s < 7 && line[n] is >= (byte)'0' and <= (byte)'9')
                run = run * 10 + (line[n++] - '0');
            if (n > s && n - s <= 6 && (n == line.Length || line[n] is (byte)' ' or (byte)'\t' or (byte)'\r') && Names.IsRun(run))
            {
                runs.Add(run);
                continue;
            }
            // Not the common form: the full parser decides (a run followed by another white space,
            // e.g. NBSP, is a record; a line of white space is blank).
            var text = Encoding.UTF8.GetString(line).TrimEnd('\r');
            var rec = ProcRecord.TryParse(text, file, lineNo, RecordState.Processed, out var problem);
            if (rec is not null)
                runs.Add(rec.Run);
            else if (problem is not null)
                warn?.Invoke(new DbWarning(file, lineNo, problem + "; line skipped", text));
        }
    }

    /// <summary>Sorts <paramref name="runs"/> and removes duplicates (records are usually appended in run order: then only a check).</summary>
    public static int[] SortedDistinct(List<int> runs)
    {
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(runs);
        var ascending = true;
        for (var i = 1; i < span.Length && ascending; i++)
            ascending = span[i] > span[i - 1];
        if (ascending)
            return span.ToArray();
        var a = span.ToArray();
        Array.Sort(a);
        var k = 0;
        for (var i = 0; i < a.Length; i++)
            if (k == 0 || a[i] != a[k - 1])
                a[k++] = a[i];
        return k == a.Length ? a : a[..k];
    }

    /// <summary>Whether sorted <paramref name="runs"/> holds <paramref name="run"/> (a plain binary search, no generic comparer).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Contains(int[] runs, int run)
    {
        int lo = 0, hi = runs.Length - 1;
        while (lo <= hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            var r = runs[mid];
            if (r == run) return true;
            if (r < run) lo = mid + 1; else hi = mid - 1;
        }
        return false;
    }
}
