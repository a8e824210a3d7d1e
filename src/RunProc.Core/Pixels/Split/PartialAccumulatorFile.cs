using System.Buffers.Binary;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
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
}

/// <summary>
/// The file a part of a split pixel_status run leaves for the merge: one detector's exact integer
/// accumulator. Layout (little endian): magic "RPPACC\r\n", u32 format version, u32 header length,
/// the header as UTF-8 JSON, then the per-pixel arrays below-low i32, above-high i32, sum i64,
/// sum of squares u128, max i32, min i32, and last the SHA-256 of everything before it.
/// </summary>
public static class PartialAccumulatorFile
{
    public const int FormatVersion = 1;
    public const string Extension = ".rpacc";
    private static readonly byte[] Magic = "RPPACC\r\n"u8.ToArray();
    private const int BytesPerPixel = 4 + 4 + 8 + 16 + 4 + 4;

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
        var length = Magic.Length + 8 + json.Length + (long)n * BytesPerPixel + 32;
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
        SHA256.HashData(bytes.AsSpan(0, at), bytes.AsSpan(at, 32));
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
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw Bad(path, "the file does not exist"); }
        if (bytes.Length < Magic.Length + 8 + 32)
            throw Bad(path, "too short for a partial accumulator file");
        var jsonLength = CheckPrefix(path, bytes, bytes.Length);
        var body = bytes.Length - 32;
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(bytes.AsSpan(0, body), hash);
        if (!hash.SequenceEqual(bytes.AsSpan(body, 32)))
            throw Bad(path, "the checksum does not match: the file is damaged or was cut short; run this part again");
        var at = Magic.Length + 8;
        var header = ParseHeader(path, bytes.AsSpan(at, jsonLength).ToArray());
        at += jsonLength;
        var pixels = header.Shape.Aggregate(1L, (a, b) => a * b);
        if (pixels <= 0 || pixels > int.MaxValue || body - at != pixels * BytesPerPixel)
            throw Bad(path, $"the arrays hold {body - at} bytes, not {pixels} pixels × {BytesPerPixel}");
        var acc = new PixelStatusAccumulator((int)pixels, header.GateLow, header.GateHigh);
        at = Get(bytes, at, acc.BelowLow);
        at = Get(bytes, at, acc.AboveHigh);
        at = Get(bytes, at, acc.Sum);
        at = Get(bytes, at, acc.SumSquares);
        at = Get(bytes, at, acc.Max);
        Get(bytes, at, acc.Min);
        acc.Events = header.Events;
        return (header, acc);
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

    private static int Get<T>(byte[] src, int at, T[] values) where T : unmanaged
    {
        var dest = MemoryMarshal.AsBytes(values.AsSpan());
        src.AsSpan(at, dest.Length).CopyTo(dest);
        return at + dest.Length;
    }

    static PartialAccumulatorFile()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("partial accumulator files are written on little-endian machines only.");
    }
}
