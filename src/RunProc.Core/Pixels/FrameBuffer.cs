using System.Runtime.InteropServices;
using RunProc.Formats;

namespace RunProc.Pixels;

/// <summary>
/// Native memory for a block of frames: aligned to 2 MiB and advised onto huge pages before its
/// first touch (see <see cref="MappedPages.AdviseHugePages"/> for why the kernel cares), so
/// a block the reader fills is scanned at the speed of its memory rather than of its page walks.
/// Not zeroed. Disposing frees it; spans taken from it must not outlive it.
/// </summary>
public sealed unsafe class FrameBuffer : IDisposable
{
    private void* _block;

    /// <summary>Allocates <paramref name="bytes"/> bytes (rounded up to whole huge pages).</summary>
    public FrameBuffer(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        Bytes = bytes;
        var rounded = (bytes + MappedPages.HugePage - 1) & ~(MappedPages.HugePage - 1);
        _block = NativeMemory.AlignedAlloc((nuint)rounded, (nuint)MappedPages.HugePage);
        HugePages = MappedPages.AdviseHugePages(_block, rounded);
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
            NativeMemory.AlignedFree(_block);
            _block = null;
        }
    }
}
