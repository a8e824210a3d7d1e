using System.Runtime.InteropServices;

namespace RunProc.Formats;

/// <summary>
/// Pre-faults the page tables of a memory-mapped range (Linux madvise MADV_POPULATE_READ), so a
/// scan of mapped frames does not take one page fault per 4 KiB page on its first pass; done on a
/// helper thread for the next block while the kernel scans the current one. A no-op elsewhere or
/// where the kernel does not support it (the scan then faults the pages in as usual).
/// </summary>
internal static unsafe partial class MappedPages
{
    private const int MadvPopulateRead = 22;
    private static volatile bool _unsupported = !OperatingSystem.IsLinux();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint addr, nuint length, int advice);

    public static void Populate(void* start, long bytes)
    {
        if (_unsupported || bytes <= 0)
            return;
        const long page = 4096;
        var a = (long)start & ~(page - 1);
        var end = (long)start + bytes;
        try
        {
            if (madvise((nint)a, (nuint)(end - a), MadvPopulateRead) != 0)
                _unsupported = true; // e.g. EINVAL before Linux 5.14: stop asking
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _unsupported = true;
        }
    }
}
