using System.Runtime.InteropServices;

namespace RunProc.Formats;

/// <summary>
/// Page-table hints for the memory frames are scanned from (Linux madvise; a no-op elsewhere or
/// where the kernel refuses, and the scan then works as usual, only slower).
/// <list type="bullet">
/// <item><see cref="Populate"/> pre-faults a mapped range (MADV_POPULATE_READ), so a scan of mapped
/// frames does not take one page fault per 4 KiB page on its first pass; done on a helper thread
/// for the next block while the kernel scans the current one.</item>
/// <item><see cref="AdviseHugePages"/> asks for 2 MiB pages (MADV_HUGEPAGE) before the range is
/// first touched. The kernel reads 16 frames a whole number of 128 KiB apart at once; on 4 KiB pages
/// under a VM's nested paging that pattern ran at ~10 GB/s on one core, on 2 MiB pages at ~14
/// (tests/RunProc.Benchmarks lab, 2-core Zen 4).</item>
/// </list>
/// </summary>
internal static unsafe partial class MappedPages
{
    private const int MadvHugePage = 14;
    private const int MadvPopulateRead = 22;
    private const long SmallPage = 4096;

    /// <summary>The size of a PMD (huge) page on x86-64 and arm64 with 4 KiB base pages.</summary>
    public const long HugePage = 2L << 20;

    /// <summary>Not Linux, or no madvise in libc: neither hint is asked for.</summary>
    private static volatile bool _noMadvise = !OperatingSystem.IsLinux();

    /// <summary>This kernel refused MADV_POPULATE_READ once (before Linux 5.14).</summary>
    private static volatile bool _noPopulate;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint addr, nuint length, int advice);

    public static void Populate(void* start, long bytes)
    {
        if (_noMadvise || _noPopulate || bytes <= 0)
            return;
        if (!Advise(start, bytes, MadvPopulateRead))
            _noPopulate = true; // e.g. EINVAL before Linux 5.14: stop asking
    }

    /// <summary>
    /// Asks for huge pages over the range; true if the kernel took the advice. One system call
    /// a buffer or file, so a refusal (EINVAL: THP off, or not for this kind of mapping) is not
    /// remembered: it says nothing about the next range.
    /// </summary>
    public static bool AdviseHugePages(void* start, long bytes)
    {
        if (_noMadvise || bytes <= 0)
            return false;
        return Advise(start, bytes, MadvHugePage);
    }

    private static bool Advise(void* start, long bytes, int advice)
    {
        var a = (long)start & ~(SmallPage - 1);
        var end = (long)start + bytes;
        try
        {
            return madvise((nint)a, (nuint)(end - a), advice) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _noMadvise = true;
            return false;
        }
    }
}
