using System.Runtime.CompilerServices;

namespace RunProc.Catalog;

/// <summary>
/// A run file name of the experiment's own prefix packed into one integer, whose order is that of
/// <see cref="ExperimentScan.CompareNames"/> (ties, names that differ only in digit widths, broken
/// by the widths). A listing is parsed, sorted and grouped as these: a <see cref="RunFileName"/>
/// holds a string, so every copy of one into a heap array is a GC write barrier, and a full scan
/// moves 600,000 of them (the barriers alone were a tenth of its CPU time).
/// </summary>
internal static class RunFileKey
{
    // run (Names.MaxRun < 2^21) | stream, chunk (3 digits < 2^10) | kind (1..3) | in progress | digit widths (< 16 each)
    private const int RunShift = 43, StreamShift = 33, ChunkShift = 23, KindShift = 21, InProgressShift = 20;

    /// <summary>The bits of everything but the run number: a file's pattern.</summary>
    public const ulong PatternMask = (1UL << RunShift) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Pack(in RunFileName n) =>
        ((ulong)(uint)n.Run << RunShift) | ((ulong)(uint)n.Stream << StreamShift) | ((ulong)(uint)n.Chunk << ChunkShift)
        | ((ulong)n.Kind << KindShift) | (n.InProgress ? 1UL << InProgressShift : 0)
        | ((ulong)n.RunWidth << 8) | ((ulong)n.StreamWidth << 4) | n.ChunkWidth;

    /// <summary>Whether <paramref name="n"/> fits a key (the parsers' ranges always do; checked for names from elsewhere).</summary>
    public static bool Fits(in RunFileName n) =>
        (uint)n.Run < 1u << 21 && (uint)n.Stream < 1u << 10 && (uint)n.Chunk < 1u << 10 && (byte)n.Kind is >= 1 and <= 3
        && n.RunWidth < 16 && n.StreamWidth < 16 && n.ChunkWidth < 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Run(ulong key) => (int)(key >> RunShift);

    public static RunFileName Unpack(ulong key, string prefix) => new(prefix, (int)(key >> RunShift),
        (int)(key >> StreamShift) & 0x3FF, (int)(key >> ChunkShift) & 0x3FF, (RunFileKind)((key >> KindShift) & 3),
        ((key >> InProgressShift) & 1) != 0, (byte)((key >> 8) & 0xF), (byte)((key >> 4) & 0xF), (byte)(key & 0xF));

    /// <summary>
    /// Sorts keys ascending: a listing comes in hash order, run numbers are dense, so the keys are
    /// placed by run number (a counting sort) and the few files of a run sorted by insertion, in
    /// linear time; sparse run numbers fall back to an ordinary sort.
    /// </summary>
    public static void Sort(Span<ulong> keys)
    {
        var n = keys.Length;
        if (n < 2)
            return;
        int min = int.MaxValue, max = int.MinValue;
        var sorted = true;
        for (var i = 0; i < n; i++)
        {
            var run = Run(keys[i]);
            if (run < min) min = run;
            if (run > max) max = run;
            sorted &= i == 0 || keys[i - 1] <= keys[i];
        }
        if (sorted)
            return;
        var range = max - min + 1;
        if (range > 4 * n + 1024)
        {
            keys.Sort();
            return;
        }
        var starts = Scratch(ref t_starts, range + 1);
        starts.AsSpan(0, range + 1).Clear();
        foreach (var k in keys)
            starts[Run(k) - min + 1]++;
        for (var r = 1; r <= range; r++)
            starts[r] += starts[r - 1];
        var items = Scratch(ref t_items, n);
        foreach (var k in keys)
            items[starts[Run(k) - min]++] = k;
        for (var i = 1; i < n; i++)
        {
            var item = items[i];
            var j = i - 1;
            while (j >= 0 && items[j] > item)
            {
                items[j + 1] = items[j];
                j--;
            }
            items[j + 1] = item;
        }
        items.AsSpan(0, n).CopyTo(keys);
    }

    [ThreadStatic] private static int[]? t_starts;
    [ThreadStatic] private static ulong[]? t_items;

    /// <summary>A per-thread buffer of at least <paramref name="size"/> elements (a huge one is not kept).</summary>
    internal static T[] Scratch<T>(ref T[]? slot, int size)
    {
        if (slot is { } a && a.Length >= size)
            return a;
        var fresh = new T[Math.Max(size, 1024)];
        if (fresh.Length <= 1 << 16)
            slot = fresh;
        return fresh;
    }
}
