using System.Runtime.InteropServices;
using RunProc.Formats;

namespace RunProc.Pixels;

/// <summary>
/// Native blocks aligned to 2 MiB and advised onto huge pages (accumulators, reader frame
/// buffers), with the last few freed ones kept for the next of exactly the same size in this
/// process. A fresh block's first touch is the kernel zeroing every huge page (measured
/// 2026-12-03: ~8 ms of CPU for an epix10ka quad's 23.8 MB accumulator, about a fifth of its
/// whole xtc2 analysis); a block kept from a finished analysis is already mapped, so a session
/// that analyses one run after another (Invoke-PixelStatus in a loop, a job with several
/// detectors) pays that once. At most <see cref="MaxKept"/> blocks and <see cref="MaxKeptBytes"/>
/// stay kept; <see cref="Trim"/> frees them.
/// </summary>
internal static unsafe class HugeBlocks
{
    public const int MaxKept = 4;
    public const long MaxKeptBytes = 1L << 30;

    private static readonly object s_gate = new();
    private static readonly List<(nint Block, long Bytes, bool Huge)> s_kept = new(MaxKept + 1);

    /// <summary>Bytes rounded up to whole huge pages: the size a block of <paramref name="bytes"/> has.</summary>
    public static long Rounded(long bytes) => (bytes + MappedPages.HugePage - 1) & ~(MappedPages.HugePage - 1);

    /// <summary>
    /// A block of <see cref="Rounded"/>(<paramref name="bytes"/>) bytes, not zeroed: a kept one of
    /// exactly that size if there is one, else a new one. <paramref name="huge"/>: the OS took the
    /// huge-page advice (for a kept block, when it was first allocated).
    /// </summary>
    public static void* Rent(long bytes, out bool huge)
    {
        var size = Rounded(bytes);
        lock (s_gate)
        {
            for (var i = s_kept.Count - 1; i >= 0; i--)
                if (s_kept[i].Bytes == size)
                {
                    var b = s_kept[i];
                    s_kept.RemoveAt(i);
                    huge = b.Huge;
                    return (void*)b.Block;
                }
        }
        var block = NativeMemory.AlignedAlloc((nuint)size, (nuint)MappedPages.HugePage);
        huge = MappedPages.AdviseHugePages(block, size);
        return block;
    }

    /// <summary>Gives a block back: kept for the next <see cref="Rent"/> of its size, or freed (the oldest kept goes first).</summary>
    public static void Return(void* block, long bytes, bool huge)
    {
        if (block == null)
            return;
        var size = Rounded(bytes);
        if (!Keeps(size))
        {
            NativeMemory.AlignedFree(block);
            return;
        }
        List<nint>? free = null;
        lock (s_gate)
        {
            s_kept.Add(((nint)block, size, huge));
            var total = s_kept.Sum(k => k.Bytes);
            while (s_kept.Count > MaxKept || total > MaxKeptBytes)
            {
                (free ??= new()).Add(s_kept[0].Block);
                total -= s_kept[0].Bytes;
                s_kept.RemoveAt(0);
            }
        }
        if (free is not null)
            foreach (var b in free)
                NativeMemory.AlignedFree((void*)b);
    }

    /// <summary>Whether a block of <paramref name="bytes"/> is kept when given back (not past <see cref="MaxKeptBytes"/>).</summary>
    public static bool Keeps(long bytes) => Rounded(bytes) <= MaxKeptBytes;

    /// <summary>Blocks kept now.</summary>
    public static int KeptCount
    {
        get
        {
            lock (s_gate)
                return s_kept.Count;
        }
    }

    /// <summary>Frees every kept block (bytes freed).</summary>
    public static long Trim()
    {
        List<(nint Block, long Bytes, bool Huge)> all;
        lock (s_gate)
        {
            all = new(s_kept);
            s_kept.Clear();
        }
        foreach (var (b, _, _) in all)
            NativeMemory.AlignedFree((void*)b);
        return all.Sum(k => k.Bytes);
    }

    /// <summary>Bytes kept now.</summary>
    public static long KeptBytes
    {
        get
        {
            lock (s_gate)
                return s_kept.Sum(k => k.Bytes);
        }
    }
}
