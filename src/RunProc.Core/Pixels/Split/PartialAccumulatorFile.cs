using System.Buffers.Binary;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using RunProc.IO;

namespace RunProc.Pixels.Split;

/// <summary>
/// What one part of a split run says about its accumulator: whose detector it is, which events of
/// which files it holds, and every setting that shapes the result, so the merge can refuse parts
/// that do not belong together.
/// </summary>
public sealed record PartialHeader
{
    public required string RunProcVersion { get; init; }
    public required string Experiment { get; init; }
    public required int Run { get; init; }
    public string? Instrument { get; init; }

    /// <summary>The detector: dataset path in the run files and the source name used for outputs.</summary>
    public required string Dataset { get; init; }
    public required string Source { get; init; }
    public required int[] Shape { get; init; }

    /// <summary>The element type on disk (UInt16, Int32, ...).</summary>
    public required string ElementType { get; init; }
    public uint? DataMask { get; init; }
    public required int GateLow { get; init; }
    public required int GateHigh { get; init; }

    /// <summary>The limits of the status rule: the merge applies exactly these.</summary>
    public required PixelStatusOptions Options { get; init; }

    public required int Part { get; init; }
    public required int PartCount { get; init; }
    public required PartCoverage Coverage { get; init; }

    /// <summary>Events accumulated here, and where they are in the detector's event sequence over the run's files.</summary>
    public required long Events { get; init; }
    public required long EventFirst { get; init; }

    /// <summary>The files this part read for this detector.</summary>
    public required IReadOnlyList<string> SourceFiles { get; init; }

    /// <summary>xtc2: events of this part's share lacking a segment (not analysed); 0 for other formats. Since format version 2.</summary>
    public long SkippedIncomplete { get; init; }

    /// <summary>xtc2: complete events of this part's share with damage ≠ 0 (analysed only when <see cref="DamagedIncluded"/>). Since format version 2.</summary>
    public long DamagedEvents { get; init; }

    /// <summary>xtc2: damaged events were analysed (-IncludeDamaged), a setting that shapes the result. Since format version 2.</summary>
    public bool DamagedIncluded { get; init; }
}

/// <summary>
/// The file a part of a split pixel_status run leaves for the merge: one detector's exact integer
/// accumulator, in blocks of pixels that each carry their own checksum, so the merge checks a
/// block and adds it in one pass while it is in cache. Layout (little endian), format version 3:
/// <code>
///   0   magic "RPPACC\r\n"
///   8   u32 format version
///  12   u32 header length L
///  16   u32 pixels per block B
///  20   u8 ×4: the widths in bytes of the counts (2|4), the sum (4|8), the sum of squares (8|16), max/min (2|4)
///  24   the header, UTF-8 JSON (L bytes), zero padding, and the 128-bit XxHash3 of all before it,
///       ending on a 64-byte boundary
///  then for each block of c = min(B, pixels left) pixels: below-low, above-high, sum, sum of
///  squares, max and min (c values each, at the widths above), the 128-bit XxHash3 of those six
///  (seeded with the block's index, so blocks cannot trade places), zero padding to 64 bytes.
/// </code>
/// The widths are the narrowest that hold every value of this part — unsigned 16-bit counts and
/// max/min for up to 65,535 events of 16-bit data, 32-bit sums, 64-bit squares — so a 2.16 Mpx
/// part is 43 MB instead of the 87 MB of the full-width arrays. Version 2 added the xtc2 event
/// counts to the header; version 3 the blocks and widths. Older files are refused, naming the
/// part to run again. The checksum is against damage, not a signature.
/// </summary>
public static class PartialAccumulatorFile
{
    public const int FormatVersion = 3;
    public const string Extension = ".rpacc";
    private static readonly byte[] Magic = "RPPACC\r\n"u8.ToArray();
    private const int PrefixBytes = 24;
    private const int HashBytes = 16;
    private const int Align = 64;

    /// <summary>Pixels per block: the merged sum's 40 B/px of a block (320 KiB) stay in L2 while every part's block is added into it.</summary>
    internal const int BlockPixels = 8192;

    /// <summary>Blocks filled (in parallel) per write to the file.</summary>
    private const int BlocksPerWrite = 16;

    private static readonly JsonSerializerOptions Json = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>The version of this RunProc build (informational version, with the commit).</summary>
    public static string RunProcVersion { get; } =
        typeof(PartialAccumulatorFile).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>Writes the accumulator atomically (temp file, fsync, rename), at the narrowest widths that hold its values.</summary>
    public static void Write(string path, PartialHeader header, PixelStatusAccumulator acc, int fileMode) =>
        WriteAt(path, header, acc, fileMode, PartialLayout.Narrowest(acc));

    /// <summary>Writes at the given widths (tests: every width on any data); they must hold every value.</summary>
    internal static void Write(string path, PartialHeader header, PixelStatusAccumulator acc, int fileMode, PartialLayout layout)
    {
        if (!layout.Holds(acc))
            throw new ArgumentException($"the widths {layout} do not hold this accumulator's values.", nameof(layout));
        WriteAt(path, header, acc, fileMode, layout);
    }

    /// <summary>Writes at widths known to hold every value (the narrowest, or checked by the caller).</summary>
    private static void WriteAt(string path, PartialHeader header, PixelStatusAccumulator acc, int fileMode, PartialLayout layout)
    {
        if (acc.PixelCount != header.Shape.Aggregate(1L, (a, b) => a * b) || acc.GateLow != header.GateLow || acc.GateHigh != header.GateHigh || acc.Events != header.Events)
            throw new ArgumentException("the header does not describe this accumulator (pixels, gates or events differ).", nameof(header));
        var json = JsonSerializer.SerializeToUtf8Bytes(header, Json);
        var headerEnd = AlignUp(PrefixBytes + json.Length + HashBytes);
        var head = new byte[headerEnd];
        Magic.CopyTo(head, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(8), FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(12), (uint)json.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(16), BlockPixels);
        layout.WriteTo(head.AsSpan(20, 4));
        json.CopyTo(head, PrefixBytes);
        XxHash128.Hash(head.AsSpan(0, headerEnd - HashBytes), head.AsSpan(headerEnd - HashBytes));

        var n = acc.PixelCount;
        var blocks = (n + BlockPixels - 1) / BlockPixels;
        var stride = BlockStride(layout, BlockPixels);
        var buffer = new byte[Math.Min(blocks, BlocksPerWrite) * stride];
        SafeFile.WriteDurableAtomic(path, handle =>
        {
            RandomAccess.Write(handle, head, 0);
            long at = headerEnd;
            for (var b0 = 0; b0 < blocks; b0 += BlocksPerWrite)
            {
                var count = Math.Min(BlocksPerWrite, blocks - b0);
                Parallel.For(0, count, i =>
                {
                    var b = b0 + i;
                    var first = b * BlockPixels;
                    var block = buffer.AsSpan(i * stride, stride);
                    var used = layout.Put(acc, first, Math.Min(BlockPixels, n - first), block);
                    BlockChecksum.Hash(block[..used], block.Slice(used, HashBytes), b);
                    block[(used + HashBytes)..].Clear();
                });
                var last = b0 + count == blocks;
                var bytes = (count - 1) * stride + (last ? BlockStride(layout, n - (blocks - 1) * BlockPixels) : stride);
                RandomAccess.Write(handle, buffer.AsSpan(0, bytes), at);
                at += bytes;
            }
        }, fileMode);
    }

    private static int AlignUp(int bytes) => (bytes + Align - 1) / Align * Align;

    /// <summary>Bytes a block of <paramref name="pixels"/> takes in the file: its arrays, its checksum, the padding.</summary>
    private static int BlockStride(PartialLayout layout, int pixels) => AlignUp(pixels * layout.BytesPerPixel + HashBytes);

    /// <summary>Reads only the header (after checking the prefix, version and the header's checksum), e.g. to list parts.</summary>
    public static PartialHeader ReadHeader(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        var prefix = new byte[PrefixBytes];
        if (fs.Read(prefix) != prefix.Length)
            throw Bad(path, "too short for a partial accumulator file");
        var (jsonLength, _, _) = CheckPrefix(path, prefix, fs.Length);
        var head = new byte[AlignUp(PrefixBytes + jsonLength + HashBytes)];
        prefix.CopyTo(head, 0);
        fs.ReadExactly(head.AsSpan(PrefixBytes));
        return CheckHeader(path, head, jsonLength);
    }

    /// <summary>Reads and verifies a file: prefix, version, checksums, header, array sizes. Every failure names the file.</summary>
    public static (PartialHeader Header, PixelStatusAccumulator Accumulator) Read(string path)
    {
        using var part = OpenPartial.Open(path);
        return (part.Header, Sum(new[] { part }, 1));
    }

    /// <summary>
    /// Adds the accumulators of <paramref name="parts"/> (all of one detector, already opened and
    /// checked to agree) with the exact integer additions of <see cref="PixelStatusAccumulator.Merge"/>,
    /// parallel over blocks of pixels: each part's block is read into the thread's buffer, checked
    /// against its checksum and then widened and added while it is in cache, so every file is read
    /// once. One accumulator is allocated (its arrays start as the first part's), nothing per
    /// pixel or per part. A damaged part is named (the first in part order) and nothing is returned (the accumulator is freed).
    /// </summary>
    public static PixelStatusAccumulator Sum(IReadOnlyList<OpenPartial> parts, int threads)
    {
        if (parts.Count == 0)
            throw new ArgumentException("no parts to add.", nameof(parts));
        var p0 = parts[0];
        foreach (var p in parts)
            if (p.Pixels != p0.Pixels || p.Header.GateLow != p0.Header.GateLow || p.Header.GateHigh != p0.Header.GateHigh)
                throw Bad(p.Path, $"{p.Pixels} px gates [{p.Header.GateLow},{p.Header.GateHigh}] cannot be added to {p0.Pixels} px gates [{p0.Header.GateLow},{p0.Header.GateHigh}]");
            else if (p.BlockPixels != p0.BlockPixels)
                throw Bad(p.Path, $"blocks of {p.BlockPixels} px cannot be added to blocks of {p0.BlockPixels} px ({p0.Path}); run the parts again with one RunProc version");
        var sum = PixelStatusAccumulator.Uninitialized(p0.Pixels, p0.Header.GateLow, p0.Header.GateHigh);
        long events = 0;
        try
        {
            foreach (var p in parts)
            {
                events += p.Header.Events;
                if (events > int.MaxValue)
                    sum.CheckEventBudget(events); // throws: the per-pixel counters are 32-bit
            }
            var n = p0.Pixels;
            var per = p0.BlockPixels;
            var blocks = (n + per - 1) / per;
            // A damaged block is marked and the rest still checked, so the part named is always the
            // first damaged one in part order, whatever the threads' order.
            var damaged = new int[parts.Count];
            var bufferBytes = parts.Max(p => p.BlockBytes);
            Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, () => new byte[bufferBytes], (b, _, buffer) =>
            {
                AddBlock(parts, sum, b, buffer, damaged);
                return buffer;
            }, _ => { });
            for (var k = 0; k < parts.Count; k++)
                if (damaged[k] != 0)
                    throw Bad(parts[k].Path, "the checksum does not match: the file is damaged or was cut short; run this part again");
        }
        catch
        {
            sum.Dispose(); // its 2 MiB pages now, not at a finalizer's leisure
            throw;
        }
        sum.Events = events;
        return sum;
    }

    /// <summary>Block <paramref name="b"/> of every part read, checked and added into <paramref name="sum"/> (the first part's copied); a damaged part is marked in <paramref name="damaged"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AddBlock(IReadOnlyList<OpenPartial> parts, PixelStatusAccumulator sum, int b, byte[] buffer, int[] damaged)
    {
        var per = parts[0].BlockPixels;
        var first = b * per;
        var count = Math.Min(per, sum.PixelCount - first);
        var copy = true;
        for (var k = 0; k < parts.Count; k++)
        {
            if (!parts[k].ReadBlock(b, count, buffer))
            {
                Volatile.Write(ref damaged[k], 1);
                continue;
            }
            // The block is in this thread's L2-sized buffer: widened and added from there.
            if (Volatile.Read(ref damaged[k]) == 0)
                fixed (byte* src = buffer)
                    parts[k].Layout.AddTo(sum, src, first, count, copy);
            copy = false;
        }
    }

    /// <summary>
    /// A partial accumulator file opened for reading, its prefix, header and header checksum
    /// checked, its length exactly that of its blocks (the blocks' checksums are checked by
    /// <see cref="Sum"/> as it adds them). Blocks are read with pread into the reader's own
    /// buffer, not mapped: on this VM faulting a mapping of the page cache in cost several times
    /// the merge's arithmetic. Part files are only ever replaced by rename, never rewritten in
    /// place, so an open file stays whole.
    /// </summary>
    public sealed class OpenPartial : IDisposable
    {
        private readonly SafeFileHandle _file;
        private long _blocksAt;
        private int _stride;

        private OpenPartial(string path, SafeFileHandle file)
        {
            Path = path;
            _file = file;
        }

        public string Path { get; }
        public PartialHeader Header { get; private set; } = null!;
        public int Pixels { get; private set; }

        /// <summary>The widths of this file's arrays.</summary>
        internal PartialLayout Layout { get; private set; }

        internal int BlockPixels { get; private set; }

        /// <summary>Bytes of the largest block with its checksum (a reader's buffer for <see cref="ReadBlock"/>).</summary>
        internal int BlockBytes => BlockPixels * Layout.BytesPerPixel + HashBytes;

        public static OpenPartial Open(string path)
        {
            SafeFileHandle file;
            try { file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
            catch (FileNotFoundException) { throw Bad(path, "the file does not exist"); }
            catch (DirectoryNotFoundException) { throw Bad(path, "the file does not exist"); }
            var m = new OpenPartial(path, file);
            try
            {
                var length = RandomAccess.GetLength(file);
                if (length < PrefixBytes + HashBytes)
                    throw Bad(path, "too short for a partial accumulator file");
                var prefix = new byte[PrefixBytes];
                RandomAccess.Read(file, prefix, 0);
                var (jsonLength, blockPixels, layout) = CheckPrefix(path, prefix, length);
                var head = new byte[AlignUp(PrefixBytes + jsonLength + HashBytes)];
                if (RandomAccess.Read(file, head, 0) != head.Length)
                    throw Bad(path, "too short for its header");
                m.Header = CheckHeader(path, head, jsonLength);
                var pixels = m.Header.Shape.Aggregate(1L, (a, b) => a * b);
                if (pixels <= 0 || pixels > int.MaxValue)
                    throw Bad(path, $"the header's shape [{string.Join(", ", m.Header.Shape)}] is not a detector's");
                var blocks = (pixels + blockPixels - 1) / blockPixels;
                var expected = head.Length + (blocks - 1) * (long)BlockStride(layout, blockPixels) + BlockStride(layout, (int)(pixels - (blocks - 1) * blockPixels));
                if (length != expected)
                    throw Bad(path, $"the file holds {length} bytes, not the {expected} of {pixels} pixels at {layout}: it was cut short or is damaged; run this part again");
                m.Pixels = (int)pixels;
                m.BlockPixels = blockPixels;
                m.Layout = layout;
                m._blocksAt = head.Length;
                m._stride = BlockStride(layout, blockPixels);
                return m;
            }
            catch
            {
                m.Dispose();
                throw;
            }
        }

        /// <summary>
        /// Reads block <paramref name="block"/> (<paramref name="count"/> pixels and its checksum)
        /// into <paramref name="buffer"/>; whether it matches its checksum.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        internal bool ReadBlock(int block, int count, byte[] buffer)
        {
            var used = count * Layout.BytesPerPixel;
            var span = buffer.AsSpan(0, used + HashBytes);
            if (RandomAccess.Read(_file, span, _blocksAt + (long)block * _stride) != span.Length)
                return false; // the file shrank after it was opened
            return BlockChecksum.Matches(span[..used], span[used..], block);
        }

        public void Dispose() => _file.Dispose();
    }

    private static (int JsonLength, int BlockPixels, PartialLayout Layout) CheckPrefix(string path, ReadOnlySpan<byte> prefix, long fileLength)
    {
        if (!prefix[..Magic.Length].SequenceEqual(Magic))
            throw Bad(path, "not a RunProc partial accumulator file (wrong magic)");
        var version = BinaryPrimitives.ReadUInt32LittleEndian(prefix[8..]);
        if (version != FormatVersion)
            throw Bad(path, $"format version {version}; this RunProc reads version {FormatVersion}: run the parts again with this version");
        var jsonLength = BinaryPrimitives.ReadUInt32LittleEndian(prefix[12..]);
        if (jsonLength == 0 || jsonLength > 16 << 20 || PrefixBytes + jsonLength + HashBytes > fileLength)
            throw Bad(path, $"header length {jsonLength} does not fit the file");
        var blockPixels = BinaryPrimitives.ReadUInt32LittleEndian(prefix[16..]);
        if (blockPixels == 0 || blockPixels > 1 << 20 || blockPixels % 64 != 0)
            throw Bad(path, $"{blockPixels} pixels per block is not a block size of this format");
        if (!PartialLayout.TryRead(prefix.Slice(20, 4), out var layout))
            throw Bad(path, $"the array widths {prefix[20]}/{prefix[21]}/{prefix[22]}/{prefix[23]} are not of this format");
        return ((int)jsonLength, (int)blockPixels, layout);
    }

    /// <summary>Checks the header's checksum (the prefix, the JSON and its padding) and parses the JSON.</summary>
    private static PartialHeader CheckHeader(string path, ReadOnlySpan<byte> head, int jsonLength)
    {
        Span<byte> hash = stackalloc byte[HashBytes];
        XxHash128.Hash(head[..^HashBytes], hash);
        if (!hash.SequenceEqual(head[^HashBytes..]))
            throw Bad(path, "the header's checksum does not match: the file is damaged; run this part again");
        try
        {
            return JsonSerializer.Deserialize<PartialHeader>(head.Slice(PrefixBytes, jsonLength), Json) ?? throw Bad(path, "empty header");
        }
        catch (JsonException ex) { throw Bad(path, "unreadable header: " + ex.Message); }
    }

    private static InvalidDataException Bad(string path, string what) => new($"{path}: {what}.");

    static PartialAccumulatorFile()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("partial accumulator files are written on little-endian machines only.");
    }
}
