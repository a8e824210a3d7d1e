using PureHDF;
using RunProc.Pixels;

namespace RunProc.Formats;

/// <summary>
/// Writes a detector's pixel-status arrays to HDF5 with a NeXus <c>NXdetector/pixel_mask</c>.
/// Layout: <c>/entry/instrument/&lt;source&gt;/</c> (NX_class NXentry / NXinstrument / NXdetector)
/// holding <c>pixel_mask</c> (uint32), <c>pixel_status</c> (uint8, the old bits), <c>mean</c>,
/// <c>rms</c>, <c>fraction_low</c>, <c>fraction_high</c> (float64), <c>max</c>, <c>min</c> (int32),
/// with the events and limits as attributes.
/// </summary>
public static class PixelStatusHdf5
{
    /// <summary>
    /// Status bit → NeXus pixel_mask bit. Every status bit maps into the low 16 bits, so NeXus
    /// readers reject exactly the pixels the old mask rejects (mask &amp; 0xFFFF != 0):
    /// rms high (1) → 4 noisy; saturated fraction (2), mean high (16), max high (64) → 3
    /// over-responding; cold fraction (4), mean low (32), min low (128) → 2 under-responding;
    /// rms low (8) → 1 dead. The original 8-bit status is also kept in bits 16–23 (not rejecting),
    /// so nothing is lost.
    /// </summary>
    public static uint NexusMask(int status)
    {
        uint m = 0;
        if ((status & 1) != 0) m |= 1u << 4;
        if ((status & (2 | 16 | 64)) != 0) m |= 1u << 3;
        if ((status & (4 | 32 | 128)) != 0) m |= 1u << 2;
        if ((status & 8) != 0) m |= 1u << 1;
        return m | ((uint)(status & 0xFF) << 16);
    }

    /// <summary>The NeXus mask of each 8-bit status word.</summary>
    private static readonly uint[] MaskOf = Enumerable.Range(0, 256).Select(NexusMask).ToArray();

    /// <summary>Writes the file (to a temporary name, then renamed into place).</summary>
    public static void Write(string path, string source, int[] shape, PixelStatusSummary s, IReadOnlyDictionary<string, object>? attributes = null)
    {
        var dims = shape.Select(d => (ulong)d).ToArray();
        var n = s.Status.Length;
        var mask = GC.AllocateUninitializedArray<uint>(n);
        var status = GC.AllocateUninitializedArray<byte>(n);
        var src = s.Status;
        for (var i = 0; i < src.Length; i++)
        {
            var v = src[i] & 0xFF;
            mask[i] = MaskOf[v];
            status[i] = (byte)v;
        }
        var det = new H5Group
        {
            ["pixel_mask"] = new H5Dataset(mask, fileDims: dims),
            ["pixel_status"] = new H5Dataset(status, fileDims: dims),
            ["mean"] = new H5Dataset(s.Mean, fileDims: dims),
            ["rms"] = new H5Dataset(s.Rms, fileDims: dims),
            ["fraction_low"] = new H5Dataset(s.FractionLow, fileDims: dims),
            ["fraction_high"] = new H5Dataset(s.FractionHigh, fileDims: dims),
            ["max"] = new H5Dataset(s.Max, fileDims: dims),
            ["min"] = new H5Dataset(s.Min, fileDims: dims),
        };
        det.Attributes = new Dictionary<string, object>
        {
            ["NX_class"] = "NXdetector",
            ["events"] = s.Events,
            ["mean_limits"] = new[] { s.MeanLimits.Low, s.MeanLimits.High },
            ["rms_limits"] = new[] { s.RmsLimits.Low, s.RmsLimits.High },
            ["bad_pixels"] = s.BadPixels,
        };
        if (attributes is not null)
            foreach (var kv in attributes) det.Attributes[kv.Key] = kv.Value;
        var instrument = new H5Group { [source] = det };
        instrument.Attributes = new Dictionary<string, object> { ["NX_class"] = "NXinstrument" };
        var entry = new H5Group { ["instrument"] = instrument };
        entry.Attributes = new Dictionary<string, object> { ["NX_class"] = "NXentry" };
        var file = new H5File { ["entry"] = entry };

        var full = Path.GetFullPath(path);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            file.Write(tmp);
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }
}
