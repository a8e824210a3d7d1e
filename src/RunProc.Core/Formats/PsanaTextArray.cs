using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace RunProc.Formats;

/// <summary>
/// psana's text n-d array format (PSCalib NDArrIO save_txt / load_txt), byte for byte: '#'
/// comment lines, the metadata block (HOST, WORK_DIR, FILE_NAME, DATE_TIME, UID, SHAPE,
/// DATATYPE, then DTYPE, NDIM, DIM:i), an empty line, then the array folded to 2-D (all leading
/// dimensions into rows), one row a line, values separated by one space.
/// </summary>
public static class PsanaTextArray
{
    /// <summary>Metadata written into the header (defaults: this host, directory, user, time).</summary>
    public sealed record Metadata
    {
        public string Host { get; init; } = Environment.MachineName;
        public string WorkDir { get; init; } = Environment.CurrentDirectory;
        public string User { get; init; } = Environment.UserName;
        public DateTime Time { get; init; } = DateTime.Now;
    }

    /// <summary>Formats an int64 array ('%d').</summary>
    public static string Format(IReadOnlyList<long> values, int[] shape, string fileName, IEnumerable<string> comments, Metadata? meta = null) =>
        Encoding.UTF8.GetString(Utf8(values.ToArray().AsSpan(), shape, fileName, comments, meta));

    /// <summary>Formats a float64 array with <paramref name="decimals"/> decimals ('%.3f' for 3).</summary>
    public static string Format(IReadOnlyList<double> values, int[] shape, string fileName, IEnumerable<string> comments, int decimals = 3, Metadata? meta = null) =>
        Encoding.UTF8.GetString(Utf8(values.ToArray().AsSpan(), shape, fileName, comments, decimals, meta));

    /// <summary>
    /// The file's bytes for an integer array ('%d', DATATYPE int64 whatever the element type, as
    /// psana wrote status and counts). Formatted straight into byte buffers: no string per value.
    /// </summary>
    public static byte[] Utf8<T>(ReadOnlySpan<T> values, int[] shape, string fileName, IEnumerable<string> comments, Metadata? meta = null)
        where T : unmanaged, IBinaryInteger<T> =>
        Body(values, Header(values.Length, shape, fileName, comments, "int64", meta), shape, new IntegerWriter<T>());

    /// <summary>The file's bytes for a float64 array with <paramref name="decimals"/> decimals ('%.3f' for 3).</summary>
    public static byte[] Utf8(ReadOnlySpan<double> values, int[] shape, string fileName, IEnumerable<string> comments, int decimals = 3, Metadata? meta = null)
    {
        if (decimals is < 0 or > 9)
            throw new ArgumentOutOfRangeException(nameof(decimals), decimals, "0 to 9 decimals.");
        return Body(values, Header(values.Length, shape, fileName, comments, "float64", meta), shape,
            new DoubleWriter(decimals, "F" + decimals.ToString(CultureInfo.InvariantCulture)));
    }

    private static byte[] Header(int count, int[] shape, string fileName, IEnumerable<string> comments, string dtype, Metadata? meta)
    {
        var total = shape.Aggregate(1L, (a, b) => a * b);
        if (total != count)
            throw new ArgumentException($"shape ({string.Join(",", shape)}) holds {total} values, not {count}.", nameof(shape));
        meta ??= new Metadata();
        var sb = new StringBuilder(1024);
        foreach (var c in comments)
            sb.Append("# ").Append(c).Append('\n');
        sb.Append('\n');
        sb.Append("# HOST        ").Append(meta.Host).Append('\n');
        sb.Append("# WORK_DIR    ").Append(meta.WorkDir).Append('\n');
        sb.Append("# FILE_NAME   ").Append(fileName).Append('\n');
        sb.Append("# DATE_TIME   ").Append(meta.Time.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture)).Append('\n');
        sb.Append("# UID         ").Append(meta.User).Append('\n');
        sb.Append("# SHAPE       ").Append(ShapeText(shape)).Append('\n');
        sb.Append("# DATATYPE    ").Append(dtype).Append('\n');
        sb.Append('\n');
        sb.Append("# DTYPE       ").Append(dtype).Append('\n');
        sb.Append("# NDIM        ").Append(shape.Length.ToString(CultureInfo.InvariantCulture)).Append('\n');
        for (var i = 0; i < shape.Length; i++)
            sb.Append("# DIM:").Append(i.ToString(CultureInfo.InvariantCulture)).Append("       ").Append(shape[i].ToString(CultureInfo.InvariantCulture)).Append('\n');
        // 2-D and more: an empty line, then one row a line. 1-D: save_txt ends the header with an
        // empty line and a space, then each value and a space.
        sb.Append(shape.Length > 1 ? "\n" : "\n ");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>How one value is written: at most <see cref="MaxLength"/> bytes, about <see cref="Typical"/>.</summary>
    private interface IValueWriter<T>
    {
        int MaxLength { get; }
        int Typical { get; }
        int Write(T value, Span<byte> dst);
    }

    private readonly struct IntegerWriter<T> : IValueWriter<T> where T : unmanaged, IBinaryInteger<T>
    {
        public int MaxLength => Unsafe.SizeOf<T>() > 8 ? 64 : FixedPoint.MaxIntegerLength;
        public int Typical => 6;
        public int Write(T value, Span<byte> dst) => FixedPoint.WriteInteger(value, dst);
    }

    private readonly struct DoubleWriter(int decimals, string format) : IValueWriter<double>
    {
        public int MaxLength => FixedPoint.MaxLength;
        public int Typical => 6 + decimals;
        public int Write(double value, Span<byte> dst) => FixedPoint.Write(value, decimals, format, dst);
    }

    /// <summary>Values formatted a block at a time.</summary>
    private const int BlockValues = 1 << 16;

    /// <summary>
    /// Writes the file of an integer array (as <see cref="Utf8{T}"/>) to <paramref name="path"/>,
    /// a derived output: temp file then rename, no fsync (<see cref="IO.SafeFile.WriteOutputAtomic(string, byte[], int)"/>).
    /// The text is never held whole: a few blocks at a time are formatted on all cores into reused
    /// buffers and written as they are ready.
    /// </summary>
    public static void WriteFile<T>(string path, ReadOnlyMemory<T> values, int[] shape, string fileName, IEnumerable<string> comments, int fileMode, Metadata? meta = null)
        where T : unmanaged, IBinaryInteger<T>
    {
        var header = Header(values.Length, shape, fileName, comments, "int64", meta);
        IO.SafeFile.WriteOutputAtomic(path, h => Stream(h, values, header, shape, new IntegerWriter<T>()), fileMode);
    }

    /// <summary>Writes the file of a float64 array with <paramref name="decimals"/> decimals (as <see cref="WriteFile{T}"/>).</summary>
    public static void WriteFile(string path, ReadOnlyMemory<double> values, int[] shape, string fileName, IEnumerable<string> comments, int fileMode, int decimals = 3, Metadata? meta = null)
    {
        if (decimals is < 0 or > 9)
            throw new ArgumentOutOfRangeException(nameof(decimals), decimals, "0 to 9 decimals.");
        var header = Header(values.Length, shape, fileName, comments, "float64", meta);
        var writer = new DoubleWriter(decimals, "F" + decimals.ToString(CultureInfo.InvariantCulture));
        IO.SafeFile.WriteOutputAtomic(path, h => Stream(h, values, header, shape, writer), fileMode);
    }

    /// <summary>Columns a row, whether values are cut into rows (2-D and more), and values a block (whole rows).</summary>
    private static (int Columns, bool Rows, int PerBlock) Layout(int[] shape)
    {
        var columns = shape.Length == 0 ? 1 : Math.Max(1, shape[^1]);
        var rows = shape.Length > 1;
        return (columns, rows, rows ? Math.Max(1, BlockValues / columns) * columns : BlockValues);
    }

    /// <summary>The header, then the values, a wave of blocks at a time (formatted in parallel, written in order).</summary>
    private static void Stream<T, TW>(SafeFileHandle handle, ReadOnlyMemory<T> values, byte[] header, int[] shape, TW writer)
        where T : unmanaged where TW : struct, IValueWriter<T>
    {
        RandomAccess.Write(handle, header, 0);
        long offset = header.Length;
        var (columns, rows, perBlock) = Layout(shape);
        var n = values.Length;
        var blocks = (n + perBlock - 1) / perBlock;
        var wave = 2 * Environment.ProcessorCount;
        var parts = new (byte[] Buffer, int Length)[Math.Min(wave, blocks)];
        for (var start = 0; start < blocks; start += wave)
        {
            var count = Math.Min(wave, blocks - start);
            var first = start;
            Parallel.For(0, count, k =>
            {
                var at = (first + k) * perBlock;
                parts[k] = FormatBlock(values.Span.Slice(at, Math.Min(perBlock, n - at)), at % columns, columns, rows, writer);
            });
            for (var k = 0; k < count; k++)
            {
                RandomAccess.Write(handle, parts[k].Buffer.AsSpan(0, parts[k].Length), offset);
                offset += parts[k].Length;
                ArrayPool<byte>.Shared.Return(parts[k].Buffer);
            }
        }
    }

    /// <summary>
    /// The header, then the values with save_txt's separators (a newline after the last value of a
    /// row, else a space). A big array is cut into blocks of whole rows, formatted on all cores into
    /// pooled buffers and joined once.
    /// </summary>
    private static unsafe byte[] Body<T, TW>(ReadOnlySpan<T> values, byte[] header, int[] shape, TW writer)
        where T : unmanaged where TW : struct, IValueWriter<T>
    {
        var (columns, rows, perBlock) = Layout(shape);
        var n = values.Length;
        var blocks = (n + perBlock - 1) / perBlock;
        var parts = new byte[blocks][];
        var lengths = new int[blocks];
        fixed (T* pinned = values)
        {
            var address = (nint)pinned;
            void Format(int b)
            {
                var first = b * perBlock;
                var block = new ReadOnlySpan<T>((T*)address + first, Math.Min(perBlock, n - first));
                (parts[b], lengths[b]) = FormatBlock(block, first % columns, columns, rows, writer);
            }
            if (blocks == 1)
                Format(0);
            else
                Parallel.For(0, blocks, Format);
        }
        var total = (long)header.Length;
        foreach (var l in lengths) total += l;
        if (total > Array.MaxLength)
            throw new InvalidOperationException($"the text array would be {total} bytes, more than one buffer holds; write it with PsanaTextArray.WriteFile.");
        var result = GC.AllocateUninitializedArray<byte>((int)total);
        header.CopyTo(result, 0);
        var at = header.Length;
        for (var b = 0; b < blocks; b++)
        {
            parts[b].AsSpan(0, lengths[b]).CopyTo(result.AsSpan(at));
            at += lengths[b];
            ArrayPool<byte>.Shared.Return(parts[b]);
        }
        return result;
    }

    private static (byte[] Buffer, int Length) FormatBlock<T, TW>(ReadOnlySpan<T> values, int column, int columns, bool rows, TW writer)
        where T : unmanaged where TW : struct, IValueWriter<T>
    {
        var reserve = writer.MaxLength + 1;
        var buffer = ArrayPool<byte>.Shared.Rent(values.Length * (writer.Typical + 1) + reserve);
        var len = 0;
        foreach (var v in values)
        {
            if (buffer.Length - len < reserve)
            {
                var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                buffer.AsSpan(0, len).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = bigger;
            }
            len += writer.Write(v, buffer.AsSpan(len));
            if (rows && ++column == columns)
            {
                buffer[len++] = (byte)'\n';
                column = 0;
            }
            else
                buffer[len++] = (byte)' ';
        }
        return (buffer, len);
    }

    /// <summary>Python's str(shape) without spaces: (32,185,388), (5,).</summary>
    public static string ShapeText(int[] shape) =>
        shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(",", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")";

    /// <summary>Reads a file back (as psana's load_txt): values, shape from SHAPE or DIM:i, and the comment lines.</summary>
    public static (double[] Values, int[] Shape, string DataType, IReadOnlyList<string> Comments) Read(string path)
    {
        var values = new List<double>();
        var comments = new List<string>();
        int[]? shape = null;
        var dims = new List<int>();
        var dtype = "float32";
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (line[0] == '#')
            {
                comments.Add(line);
                var f = line.Split(' ', 3);
                if (f.Length < 3) continue;
                var rest = f[2].Trim();
                switch (f[1])
                {
                    case "SHAPE":
                        shape = rest.Trim('(', ')').Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                        break;
                    case "DATATYPE": dtype = rest; break;
                    default:
                        if (f[1].StartsWith("DIM:", StringComparison.Ordinal)) dims.Add(int.Parse(rest, CultureInfo.InvariantCulture));
                        break;
                }
                continue;
            }
            foreach (var tok in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                values.Add(double.Parse(tok, NumberStyles.Float, CultureInfo.InvariantCulture));
        }
        shape ??= dims.Count > 0 ? dims.ToArray() : new[] { values.Count };
        if (shape.Aggregate(1L, (a, b) => a * b) != values.Count)
            throw new InvalidDataException($"{path}: SHAPE {ShapeText(shape)} does not match the {values.Count} values in the file.");
        return (values.ToArray(), shape, dtype, comments);
    }
}
