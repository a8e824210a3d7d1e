using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using SkiaSharp;

namespace RunProc.Formats.Plotting;

/// <summary>A minimal PNG encoder: 8-bit RGB, one IDAT, no filter, zlib at its fastest level.</summary>
internal static class PngWriter
{
    private static readonly byte[] Signature = { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A };

    /// <summary>Bytes before the compressed data: signature, IHDR chunk, IDAT length and type.</summary>
    private const int Lead = 8 + 25 + 8;

    /// <summary>Bytes after it: the IDAT CRC and the IEND chunk.</summary>
    private const int Tail = 4 + 12;

    /// <summary>
    /// The PNG file of an RGBA8888 bitmap, in one buffer (the segment holds the file). Rows go to
    /// zlib one at a time from a reused row buffer; the output buffer is sized for deflate's worst
    /// case but only the pages written are touched, and nothing is copied after compression.
    /// </summary>
    public static unsafe ArraySegment<byte> Encode(SKBitmap bitmap)
    {
        if (bitmap.ColorType != SKColorType.Rgba8888)
            throw new ArgumentException($"PngWriter takes RGBA8888 bitmaps, not {bitmap.ColorType}.");
        int w = bitmap.Width, h = bitmap.Height, stride = bitmap.RowBytes;
        var src = (byte*)bitmap.GetPixels();
        var rawLength = (long)h * (1 + 3 * w);
        // zlib-ng's fastest level may grow incompressible data by up to 1/8 (9-bit literals), plus block and wrapper bytes.
        var capacity = Lead + rawLength + rawLength / 8 + 1024 + Tail;
        var file = GC.AllocateUninitializedArray<byte>((int)Math.Min(capacity, Array.MaxLength));
        int compressed;
        using (var idat = new MemoryStream(file, Lead, file.Length - Lead - Tail, writable: true))
        {
            var line = new byte[1 + 3 * w];
            using (var z = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
                for (var y = 0; y < h; y++)
                {
                    var row = src + (long)y * stride;
                    line[0] = 0; // None: these pictures are flat areas and noisy maps, where Sub neither shrinks nor speeds up deflate
                    for (int x = 0, o = 1; x < w; x++, o += 3)
                    {
                        line[o] = row[4 * x];
                        line[o + 1] = row[4 * x + 1];
                        line[o + 2] = row[4 * x + 2];
                    }
                    z.Write(line);
                }
            compressed = (int)idat.Position;
        }
        var span = file.AsSpan();
        Signature.CopyTo(span);
        var ihdr = span.Slice(8 + 8, 13);
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], h);
        ihdr[8] = 8;  // bit depth
        ihdr[9] = 2;  // colour type RGB
        ihdr[10] = 0; // deflate
        ihdr[11] = 0; // adaptive filtering (per-row filter byte)
        ihdr[12] = 0; // no interlace
        var at = Chunk(span, 8, "IHDR", 13);
        at = Chunk(span, at, "IDAT", compressed);
        at = Chunk(span, at, "IEND", 0);
        return new ArraySegment<byte>(file, 0, at);
    }

    /// <summary>Completes the chunk at <paramref name="at"/> whose data is in place: length, type, CRC; returns where the next begins.</summary>
    private static int Chunk(Span<byte> file, int at, string type, int length)
    {
        BinaryPrimitives.WriteInt32BigEndian(file[at..], length);
        for (var i = 0; i < 4; i++) file[at + 4 + i] = (byte)type[i];
        // PNG's CRC is the ISO-HDLC CRC-32 of the type and data.
        var crc = Crc32.HashToUInt32(file.Slice(at + 4, 4 + length));
        BinaryPrimitives.WriteUInt32BigEndian(file[(at + 8 + length)..], crc);
        return at + 12 + length;
    }
}
