using System.IO.MemoryMappedFiles;

namespace RunProc.Formats;

/// <summary>
/// A whole file mapped read-only, with a stable pointer to its first byte, advised onto huge
/// pages (the kernel scans frames in place faster there). The readers that scan frames in place
/// (.npy, xtc2) share it.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;

    private MappedFile() { }

    /// <summary>The first byte of the file; null once disposed.</summary>
    public byte* Base { get; private set; }

    /// <summary>Maps <paramref name="path"/> (not empty); the caller turns I/O errors into errors naming the file.</summary>
    public static MappedFile Open(string path)
    {
        var m = new MappedFile();
        try
        {
            m._map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            m._view = m._map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            m._view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            m.Base = p + m._view.PointerOffset;
            MappedPages.AdviseHugePages(p, m._view.PointerOffset + m._view.Capacity); // as Hdf5FrameFile
            return m;
        }
        catch
        {
            m.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_view is not null)
        {
            if (Base != null)
                _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _view = null;
        }
        _map?.Dispose();
        _map = null;
        Base = null;
    }
}
