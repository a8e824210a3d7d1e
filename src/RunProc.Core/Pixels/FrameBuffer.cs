using System.Runtime.InteropServices;
using RunProc.Formats;

namespace RunProc.Pixels;

/// <summary>
/// Native memory for a block of frames: aligned to 2 MiB and advised onto huge pages before its
/// first touch (see <see cref="MappedPages.AdviseHugePages"/> for why the kernel cares), so
/// a block the reader fills is scanned at the speed of its memory rather than of its page walks.
/// Not zeroed. Disposing gives it back to <see cref="HugeBlocks"/> (kept for the next buffer of
/// its size in this process, or freed); spans taken from it must not outlive it.
/// </summary>
public sealed unsafe class FrameBuffer : IDisposable
{
    private void* _block;

    /// <summary>Allocates <paramref name="bytes"/> bytes (rounded up to whole huge pages).</summary>
    public FrameBuffer(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        Bytes = bytes;
        _block = HugeBlocks.Rent(bytes, out var huge);
        HugePages = huge;
    }

    /// <summary>
    /// The distance in elements between frames of <paramref name="pixels"/> elements of
    /// <paramref name="elementSize"/> bytes in a reader's block. The kernel reads 16 frames at
    /// one pixel offset at once; where those 16 lines fall into fewer than 16 of the 64 line sets
    /// of a 4 KiB cache way (a frame that is a whole number of 4 KiB, as an epix/jungfrau module
    /// stack: 4,325,376 B = 33 × 128 KiB), they evict each other in the 8-way L1/L2 caches, and
    /// the frames are spaced further: rounded up to whole 64-byte lines, plus lines until 16
    /// frames use 16 sets (one line for that stack; `RunProc.Benchmarks alias`: 1.15–1.34× in
    /// CPU time). Other frames stay back to back.
    /// </summary>
    public static long FrameStride(int pixels, int elementSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pixels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(elementSize);
        var bytes = (long)pixels * elementSize;
        if (!SharesSets(bytes))
            return pixels;
        var lines = (bytes + 63) / 64;
        while (SharesSets(lines * 64))
            lines++;
        return lines * 64 / elementSize;
    }

    /// <summary>
    /// True where the lines of frames 0..15 at <paramref name="stride"/> bytes apart (at one
    /// pixel offset) are distinct lines in fewer distinct sets of the 64 of 4 KiB (tiny frames
    /// that share a line do not count: they evict nothing).
    /// </summary>
    private static bool SharesSets(long stride)
    {
        ulong sets = 0;
        var lines = new HashSet<long>();
        for (var f = 0L; f < 16; f++)
        {
            var line = f * stride >> 6;
            lines.Add(line);
            sets |= 1UL << (int)(line & 63);
        }
        return System.Numerics.BitOperations.PopCount(sets) < lines.Count;
    }

    /// <summary>Size in bytes as asked.</summary>
    public long Bytes { get; }

    /// <summary>True where the OS took the huge-page advice (Linux with transparent huge pages not "never").</summary>
    public bool HugePages { get; }

    /// <summary>The first byte.</summary>
    public void* Pointer => _block != null ? _block : throw new ObjectDisposedException(nameof(FrameBuffer));

    /// <summary>Elements <paramref name="start"/>..start+count of the buffer viewed as <typeparamref name="T"/>.</summary>
    public Span<T> AsSpan<T>(long start, int count) where T : unmanaged
    {
        if (start < 0 || count < 0 || (start + count) * sizeof(T) > Bytes)
            throw new ArgumentOutOfRangeException(nameof(start), $"elements {start}..{start + count} of {sizeof(T)} bytes are outside this {Bytes}-byte buffer.");
        return new Span<T>((T*)Pointer + start, count);
    }

    public void Dispose()
    {
        if (_block != null)
        {
            HugeBlocks.Return(_block, Bytes, HugePages); // kept for the next buffer of this size, or freed
            _block = null;
        }
    }
}
