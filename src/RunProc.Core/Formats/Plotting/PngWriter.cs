using System.Buffers.Binary;
using System.IO.Compression;
using SkiaSharp;

namespace RunProc.Formats.Plotting;

/// <summary>A minimal PNG encoder: 8-bit RGB, one IDAT, the Sub filter on every row, zlib at its fastest level.</summary>
internal static class PngWriter
{
    private static readonly uint[] CrcTable = BuildCrcTable();

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static unsafe byte[] Encode(SKBitmap bitmap)
    {
        if (bitmap.ColorType != SKColorType.Rgba8888)
            throw new ArgumentException($"PngWriter takes RGBA8888 bitmaps, not {bitmap.ColorType}.");
        int w = bitmap.Width, h = bitmap.Height, stride = bitmap.RowBytes;
        var src = (byte*)bitmap.GetPixels();
        var raw = new byte[(long)h * (1 + 3 * w)];
        var o = 0;
        for (var y = 0; y < h; y++)
        {
            var row = src + (long)y * stride;
            raw[o++] = 1; // Sub: each byte minus the same channel of the pixel to its left
            byte pr = 0, pg = 0, pb = 0;
            for (var x = 0; x < w; x++)
            {
                byte r = row[4 * x], g = row[4 * x + 1], b = row[4 * x + 2];
                raw[o] = (byte)(r - pr);
                raw[o + 1] = (byte)(g - pg);
                raw[o + 2] = (byte)(b - pb);
                o += 3;
                (pr, pg, pb) = (r, g, b);
            }
        }
        using var idat = new MemoryStream(raw.Length / 4 + 1024);
        using (var z = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
            z.Write(raw);

        using var png = new MemoryStream((int)idat.Length + 128);
        png.Write(stackalloc byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A });
        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], h);
        ihdr[8] = 8;  // bit depth
        ihdr[9] = 2;  // colour type RGB
        ihdr[10] = 0; // deflate
        ihdr[11] = 0; // adaptive filtering (per-row filter byte)
        ihdr[12] = 0; // no interlace
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", idat.GetBuffer().AsSpan(0, (int)idat.Length));
        Chunk(png, "IEND", ReadOnlySpan<byte>.Empty);
        return png.ToArray();
    }

    private static void Chunk(Stream s, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(head, data.Length);
        for (var i = 0; i < 4; i++) head[4 + i] = (byte)type[i];
        s.Write(head);
        s.Write(data);
        var crc = Crc(0xFFFFFFFFu, head[4..]);
        crc = Crc(crc, data) ^ 0xFFFFFFFFu;
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        s.Write(tail);
    }

    private static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] BuildCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }
}
