using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using SkiaSharp;

namespace RunProc.Formats.Plotting;

/// <summary>A minimal PNG encoder: 8-bit palette (or RGB), one IDAT, no filter, zlib at its fastest level.</summary>
internal static class PngWriter
{
    private static readonly byte[] Signature = { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A };

    /// <summary>Bytes after the compressed data: the IDAT CRC and the IEND chunk.</summary>
    private const int Tail = 4 + 12;

    /// <summary>
    /// The PNG file of an RGBA8888 bitmap, in one buffer (the segment holds the file). A picture of
    /// at most 256 colours is written with a palette, one byte a pixel; one with more (antialiased
    /// text) keeps its 256 most frequent colours exactly and draws each rarer one (a text edge)
    /// in its nearest palette colour; past <see cref="Palette.MaxDistinct"/> colours it is RGB.
    /// Rows go to zlib one at a time from a reused row buffer; the output buffer is sized for
    /// deflate's worst case but only the pages written are touched, and nothing is copied after.
    /// </summary>
    public static unsafe ArraySegment<byte> Encode(SKBitmap bitmap)
    {
        if (bitmap.ColorType != SKColorType.Rgba8888)
            throw new ArgumentException($"PngWriter takes RGBA8888 bitmaps, not {bitmap.ColorType}.");
        int w = bitmap.Width, h = bitmap.Height, stride = bitmap.RowBytes / 4;
        var src = (uint*)bitmap.GetPixels();
        var palette = Palette.TryBuild(src, w, h, stride);
        var bytesPerPixel = palette is null ? 3 : 1;
        var rawLength = (long)h * (1 + bytesPerPixel * w);
        var lead = 8 + 25 + (palette is null ? 0 : 12 + 3 * palette.Count) + 8;
        // zlib-ng's fastest level may grow incompressible data by up to 1/8 (9-bit literals), plus block and wrapper bytes.
        var capacity = lead + rawLength + rawLength / 8 + 1024 + Tail;
        var file = GC.AllocateUninitializedArray<byte>((int)Math.Min(capacity, Array.MaxLength));
        int compressed;
        using (var idat = new MemoryStream(file, lead, file.Length - lead - Tail, writable: true))
        {
            var line = new byte[1 + bytesPerPixel * w];
            using (var z = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
                for (var y = 0; y < h; y++)
                {
                    var row = src + (long)y * stride;
                    line[0] = 0; // None: these pictures are flat areas and noisy maps, where Sub neither shrinks nor speeds up deflate
                    if (palette is not null)
                        palette.Indices(new ReadOnlySpan<uint>(row, w), line.AsSpan(1));
                    else
                        for (int x = 0, o = 1; x < w; x++, o += 3)
                        {
                            var c = row[x];
                            line[o] = (byte)c;
                            line[o + 1] = (byte)(c >> 8);
                            line[o + 2] = (byte)(c >> 16);
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
        ihdr[8] = 8;                              // bit depth
        ihdr[9] = palette is null ? (byte)2 : (byte)3; // RGB, or palette indices
        ihdr[10] = 0;                             // deflate
        ihdr[11] = 0;                             // adaptive filtering (per-row filter byte)
        ihdr[12] = 0;                             // no interlace
        var at = Chunk(span, 8, "IHDR", 13);
        if (palette is not null)
        {
            for (var i = 0; i < palette.Count; i++)
            {
                var c = palette.Colours[i];
                span[at + 8 + 3 * i] = (byte)c;
                span[at + 9 + 3 * i] = (byte)(c >> 8);
                span[at + 10 + 3 * i] = (byte)(c >> 16);
            }
            at = Chunk(span, at, "PLTE", 3 * palette.Count);
        }
        at = Chunk(span, at, "IDAT", compressed);
        at = Chunk(span, at, "IEND", 0);
        return new ArraySegment<byte>(file, 0, at);
    }

    /// <summary>A picture's colours counted in an open-addressed table, and the 256 (at most) a palette keeps.</summary>
    private sealed class Palette
    {
        private const int Slots = 4096;

        /// <summary>More distinct colours than this: not worth a palette (a photo-like picture).</summary>
        public const int MaxDistinct = Slots / 2;

        private readonly uint[] _keys = new uint[Slots]; // opaque RGBA words; 0 = empty
        private readonly int[] _counts = new int[Slots];
        private readonly byte[] _index = new byte[Slots];
        private int _distinct;

        public uint[] Colours { get; private set; } = Array.Empty<uint>();
        public int Count => Colours.Length;

        public static unsafe Palette? TryBuild(uint* px, int w, int h, int stride)
        {
            var p = new Palette();
            var (last, lastSlot) = (0u, 0);
            for (var y = 0; y < h; y++)
            {
                var row = px + (long)y * stride;
                for (var x = 0; x < w; x++)
                {
                    var c = row[x] | 0xFF000000u;
                    if (c != last)
                    {
                        lastSlot = p.Slot(c);
                        if (lastSlot < 0) return null;
                        last = c;
                    }
                    p._counts[lastSlot]++;
                }
            }
            p.Choose();
            return p;
        }

        /// <summary>The slot of colour c, added when new; -1 once there are too many colours.</summary>
        private int Slot(uint c)
        {
            var i = (int)((c * 0x9E3779B1u) >> 20);
            while (true)
            {
                var k = _keys[i];
                if (k == c) return i;
                if (k == 0)
                {
                    if (++_distinct > MaxDistinct) return -1;
                    _keys[i] = c;
                    return i;
                }
                i = (i + 1) & (Slots - 1);
            }
        }

        /// <summary>The most frequent 256 colours are the palette; every other colour takes its nearest.</summary>
        private void Choose()
        {
            var used = Enumerable.Range(0, Slots).Where(i => _keys[i] != 0).OrderByDescending(i => _counts[i]).ThenBy(i => _keys[i]).ToArray();
            var kept = used.Take(256).ToArray();
            Colours = kept.Select(i => _keys[i]).ToArray();
            for (var k = 0; k < kept.Length; k++)
                _index[kept[k]] = (byte)k;
            foreach (var i in used.Skip(256))
            {
                var (best, bestDistance) = (0, int.MaxValue);
                for (var k = 0; k < Colours.Length; k++)
                {
                    var d = Distance(_keys[i], Colours[k]);
                    if (d < bestDistance) (best, bestDistance) = (k, d);
                }
                _index[i] = (byte)best;
            }
        }

        private static int Distance(uint a, uint b)
        {
            int dr = (int)(a & 0xFF) - (int)(b & 0xFF), dg = (int)(a >> 8 & 0xFF) - (int)(b >> 8 & 0xFF), db = (int)(a >> 16 & 0xFF) - (int)(b >> 16 & 0xFF);
            return dr * dr + dg * dg + db * db;
        }

        /// <summary>Palette indices of a row of pixels (every colour was counted).</summary>
        public void Indices(ReadOnlySpan<uint> row, Span<byte> dst)
        {
            var (last, index) = (0u, (byte)0);
            for (var x = 0; x < row.Length; x++)
            {
                var c = row[x] | 0xFF000000u;
                if (c != last)
                {
                    index = _index[Slot(c)];
                    last = c;
                }
                dst[x] = index;
            }
        }
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
