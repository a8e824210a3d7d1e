using System.Buffers.Binary;
using System.Reflection;
using System.Runtime.InteropServices;
using System.IO.Hashing;
using System.IO.MemoryMappedFiles;
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
/// accumulator. Layout (little endian): magic "RPPACC\r\n", u32 format version, u32 header length,
/// the header as UTF-8 JSON (version 2 added the xtc2 event counts SkippedIncomplete, DamagedEvents
/// and DamagedIncluded; a version-1 file is refused, naming the part to run again), then the per-pixel arrays below-low i32, above-high i32, sum i64,
/// sum of squares u128, max i32, min i32, and last the 128-bit XxHash3 of everything before it (a
/// checksum against damage, not a signature; SHA-256 cost most of a merge's time).
/// </summary>
public static class PartialAccumulatorFile
{
    public const int FormatVersion = 2;
    public const string Extension = ".rpacc";
    private static readonly byte[] Magic = "RPPACC\r\n"u8.ToArray();
    private const int BytesPerPixel = 4 + 4 + 8 + 16 + 4 + 4;
    private const int HashBytes = 16;

    private static readonly JsonSerializerOptions Json = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>The version of this RunProc build (informational version, with the commit).</summary>
    public static string RunProcVersion { get; } =
        typeof(PartialAccumulatorFile).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>Writes the accumulator atomically (temp file, fsync, rename).</summary>
    public static void Write(string path, PartialHeader header, PixelStatusAccumulator acc, int fileMode)
    {
        if (acc.PixelCount != header.Shape.Aggregate(1L, (a, b) => a * b) || acc.GateLow != header.GateLow || acc.GateHigh != header.GateHigh || acc.Events != header.Events)
            throw new ArgumentException("the header does not describe this accumulator (pixels, gates or events differ).", nameof(header));
        var json = JsonSerializer.SerializeToUtf8Bytes(header, Json);
        var n = acc.PixelCount;
        var length = Magic.Length + 8 + json.Length + (long)n * BytesPerPixel + HashBytes;
        var bytes = new byte[checked((int)length)];
        var at = 0;
        Magic.CopyTo(bytes, at); at += Magic.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), FormatVersion); at += 4;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), (uint)json.Length); at += 4;
        json.CopyTo(bytes, at); at += json.Length;
        at = Put<int>(bytes, at, acc.BelowLow);
        at = Put<int>(bytes, at, acc.AboveHigh);
        at = Put<long>(bytes, at, acc.Sum);
        at = Put<UInt128>(bytes, at, acc.SumSquares);
        at = Put<int>(bytes, at, acc.Max);
        at = Put<int>(bytes, at, acc.Min);
        XxHash128.Hash(bytes.AsSpan(0, at), bytes.AsSpan(at, HashBytes));
        SafeFile.WriteAllBytesAtomic(path, bytes, fileMode);
    }

    /// <summary>Reads only the header (after checking the magic and version), e.g. to list parts.</summary>
    public static PartialHeader ReadHeader(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var head = new byte[Magic.Length + 8];
        if (fs.Read(head) != head.Length)
            throw Bad(path, "too short for a partial accumulator file");
        var jsonLength = CheckPrefix(path, head, fs.Length);
        var json = new byte[jsonLength];
        fs.ReadExactly(json);
        return ParseHeader(path, json);
    }

    /// <summary>Reads and verifies a file: magic, version, checksum, header, array sizes. Every failure names the file.</summary>
    public static (PartialHeader Header, PixelStatusAccumulator Accumulator) Read(string path)
    {
        using var part = MappedPartial.Open(path);
        return (part.Header, Sum(new[] { part }, 1));
    }

    /// <summary>
    /// Adds the accumulators of <paramref name="parts"/> (all of one detector, already opened and
    /// checked to agree): first every checksum (parallel over the files, at memory speed), then
    /// the exact integer additions of <see cref="PixelStatusAccumulator.Merge"/>, vectorised and
    /// parallel over pixel blocks, straight from the mapped files. One accumulator is allocated
    /// (its arrays start as the first part's), nothing per pixel or per part.
    /// </summary>
    public static PixelStatusAccumulator Sum(IReadOnlyList<MappedPartial> parts, int threads)
    {
        if (parts.Count == 0)
            throw new ArgumentException("no parts to add.", nameof(parts));
        var p0 = parts[0];
        foreach (var p in parts)
            if (p.Pixels != p0.Pixels || p.Header.GateLow != p0.Header.GateLow || p.Header.GateHigh != p0.Header.GateHigh)
                throw Bad(p.Path, $"{p.Pixels} px gates [{p.Header.GateLow},{p.Header.GateHigh}] cannot be added to {p0.Pixels} px gates [{p0.Header.GateLow},{p0.Header.GateHigh}]");
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) };
        // Every file is checked; the first bad one in part order is named (whatever the threads' order).
        var bad = new InvalidDataException?[parts.Count];
        Parallel.For(0, parts.Count, options, k => bad[k] = parts[k].ChecksumError());
        if (bad.FirstOrDefault(e => e is not null) is { } damaged)
            throw damaged;
        var sum = PixelStatusAccumulator.Uninitialized(p0.Pixels, p0.Header.GateLow, p0.Header.GateHigh);
        long events = 0;
        foreach (var p in parts)
        {
            events += p.Header.Events;
            if (events > int.MaxValue)
                sum.CheckEventBudget(events); // throws: the per-pixel counters are 32-bit
        }
        var n = p0.Pixels;
        var blocks = (n + MergeBlock - 1) / MergeBlock;
        Parallel.For(0, blocks, options, b =>
        {
            var a = b * MergeBlock;
            var count = Math.Min(MergeBlock, n - a);
            // The block of the sum stays in L2 while every part's block is streamed into it.
            for (var k = 0; k < parts.Count; k++)
                sum.AddBlock(parts[k].Source, a, count, copy: k == 0);
        });
        sum.Events = events;
        return sum;
    }

    /// <summary>Pixels per merge block: the sum's 40 B/px of it (320 KiB) stay in L2 across the parts.</summary>
    internal const int MergeBlock = 8192;

    /// <summary>
    /// A partial accumulator file mapped read-only, its prefix and header checked and its arrays
    /// located (the checksum is checked by <see cref="ChecksumError"/>, which <see cref="Sum"/>
    /// calls before adding). Part files are only ever replaced by rename, never rewritten in
    /// place, so a mapping stays whole.
    /// </summary>
    public sealed unsafe class MappedPartial : IDisposable
    {
        private MemoryMappedFile? _map;
        private MemoryMappedViewAccessor? _view;
        private byte* _base;
        private readonly long _length;

        private MappedPartial(string path, long length)
        {
            Path = path;
            _length = length;
        }

        public string Path { get; }
        public PartialHeader Header { get; private set; } = null!;
        public int Pixels { get; private set; }

        /// <summary>The per-pixel arrays in the mapping (in the file's order, each <see cref="Pixels"/> long).</summary>
        internal PixelStatusAccumulator.Arrays Source { get; private set; }

        public static MappedPartial Open(string path)
        {
            FileStream fs;
            try { fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1); }
            catch (FileNotFoundException) { throw Bad(path, "the file does not exist"); }
            catch (DirectoryNotFoundException) { throw Bad(path, "the file does not exist"); }
            MappedPartial? m = null;
            try
            {
                var length = fs.Length;
                if (length > int.MaxValue)
                    throw Bad(path, "too large for a partial accumulator file");
                if (length < Magic.Length + 8 + HashBytes)
                    throw Bad(path, "too short for a partial accumulator file");
                m = new MappedPartial(path, length);
                m._map = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
                fs = null!; // owned by the map now
                m._view = m._map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
                byte* p = null;
                m._view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
                m._base = p + m._view.PointerOffset;
                var bytes = new ReadOnlySpan<byte>(m._base, (int)length);
                var jsonLength = CheckPrefix(path, bytes, length);
                var at = Magic.Length + 8;
                m.Header = ParseHeader(path, bytes.Slice(at, jsonLength).ToArray());
                at += jsonLength;
                var body = length - HashBytes;
                var pixels = m.Header.Shape.Aggregate(1L, (a, b) => a * b);
                if (pixels <= 0 || pixels > int.MaxValue || body - at != pixels * BytesPerPixel)
                    throw Bad(path, $"the arrays hold {body - at} bytes, not {pixels} pixels × {BytesPerPixel}");
                m.Pixels = (int)pixels;
                var a0 = m._base + at;
                var n = pixels;
                m.Source = new PixelStatusAccumulator.Arrays((int*)a0, (int*)(a0 + 4 * n), (long*)(a0 + 8 * n), (UInt128*)(a0 + 16 * n), (int*)(a0 + 32 * n), (int*)(a0 + 36 * n));
                return m;
            }
            catch
            {
                m?.Dispose();
                fs?.Dispose();
                throw;
            }
        }

        /// <summary>Checks the 128-bit XxHash3 of everything before it (pre-faulting the mapping first); the error naming the file, or null.</summary>
        public InvalidDataException? ChecksumError()
        {
            var body = (int)(_length - HashBytes);
            RunProc.Formats.MappedPages.Populate(_base, _length);
            Span<byte> hash = stackalloc byte[HashBytes];
            XxHash128.Hash(new ReadOnlySpan<byte>(_base, body), hash);
            return hash.SequenceEqual(new ReadOnlySpan<byte>(_base + body, HashBytes)) ? null
                : Bad(Path, "the checksum does not match: the file is damaged or was cut short; run this part again");
        }

        public void Dispose()
        {
            if (_view is not null)
            {
                if (_base != null)
                    _view.SafeMemoryMappedViewHandle.ReleasePointer();
                _view.Dispose();
                _view = null;
            }
            _map?.Dispose();
            _map = null;
            _base = null;
        }
    }

    private static int CheckPrefix(string path, ReadOnlySpan<byte> head, long fileLength)
    {
        if (!head[..Magic.Length].SequenceEqual(Magic))
            throw Bad(path, "not a RunProc partial accumulator file (wrong magic)");
        var version = BinaryPrimitives.ReadUInt32LittleEndian(head[Magic.Length..]);
        if (version != FormatVersion)
            throw Bad(path, $"format version {version}; this RunProc reads version {FormatVersion}: run the parts again with this version");
        var jsonLength = BinaryPrimitives.ReadUInt32LittleEndian(head[(Magic.Length + 4)..]);
        if (jsonLength == 0 || jsonLength > 16 << 20 || Magic.Length + 8 + jsonLength > fileLength)
            throw Bad(path, $"header length {jsonLength} does not fit the file");
        return (int)jsonLength;
    }

    private static PartialHeader ParseHeader(string path, byte[] json)
    {
        try
        {
            return JsonSerializer.Deserialize<PartialHeader>(json, Json) ?? throw Bad(path, "empty header");
        }
        catch (JsonException ex) { throw Bad(path, "unreadable header: " + ex.Message); }
    }

    private static InvalidDataException Bad(string path, string what) => new($"{path}: {what}.");

    private static int Put<T>(byte[] dest, int at, T[] values) where T : unmanaged
    {
        // The per-pixel arrays are written as they are in memory: this is a little-endian format.
        var src = MemoryMarshal.AsBytes(values.AsSpan());
        src.CopyTo(dest.AsSpan(at));
        return at + src.Length;
    }


    static PartialAccumulatorFile()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("partial accumulator files are written on little-endian machines only.");
    }
}
