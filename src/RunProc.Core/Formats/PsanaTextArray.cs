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
    public static unsafe byte[] Utf8<T>(ReadOnlySpan<T> values, int[] shape, string fileName, IEnumerable<string> comments, Metadata? meta = null)
        where T : unmanaged, IBinaryInteger<T>
    {
        var header = Header(values.Length, shape, fileName, comments, "int64", meta);
        fixed (T* pinned = values)
        {
            var address = (nint)pinned;
            var n = values.Length;
            return Body(n, header, shape, typeof(T) == typeof(int)
                ? (first, count, column, columns, rows) => FormatInt32(new ReadOnlySpan<int>((int*)address + first, count), column, columns, rows)
                : (first, count, column, columns, rows) => FormatBlock(new ReadOnlySpan<T>((T*)address + first, count), column, columns, rows, new IntegerWriter<T>()));
        }
    }

    /// <summary>The file's bytes for a float64 array with <paramref name="decimals"/> decimals ('%.3f' for 3).</summary>
    public static byte[] Utf8(ReadOnlySpan<double> values, int[] shape, string fileName, IEnumerable<string> comments, int decimals = 3, Metadata? meta = null)
    {
        if (decimals is < 0 or > 9)
            throw new ArgumentOutOfRangeException(nameof(decimals), decimals, "0 to 9 decimals.");
        var header = Header(values.Length, shape, fileName, comments, "float64", meta);
        var format = "F" + decimals.ToString(CultureInfo.InvariantCulture);
        unsafe
        {
            fixed (double* pinned = values)
            {
                var address = (nint)pinned;
                return Body(values.Length, header, shape,
                    (first, count, column, columns, rows) => FormatFloat64(new ReadOnlySpan<double>((double*)address + first, count), column, columns, rows, decimals, format));
            }
        }
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

    /// <summary>Values formatted a block at a time.</summary>
    private const int BlockValues = 1 << 14;

    /// <summary>
    /// Writes the file of an integer array (as <see cref="Utf8{T}"/>) to <paramref name="path"/>,
    /// a derived output: temp file then rename, no fsync (<see cref="IO.SafeFile.WriteOutputAtomic(string, byte[], int)"/>).
    /// The text is never held whole: a few blocks at a time are formatted on all cores into reused
    /// buffers and written as they are ready.
    /// </summary>
    public static void WriteFile<T>(string path, ReadOnlyMemory<T> values, int[] shape, string fileName, IEnumerable<string> comments, int fileMode, Metadata? meta = null)
        where T : unmanaged, IBinaryInteger<T>
    {
        if (typeof(T) == typeof(int))
        {
            WriteFile(path, System.Runtime.CompilerServices.Unsafe.As<ReadOnlyMemory<T>, ReadOnlyMemory<int>>(ref values), shape, fileName, comments, fileMode, meta);
            return;
        }
        var header = Header(values.Length, shape, fileName, comments, "int64", meta);
        IO.SafeFile.WriteOutputAtomic(path, h => Stream(h, values.Length, header, shape,
            (first, count, column, columns, rows) => FormatBlock(values.Span.Slice(first, count), column, columns, rows, new IntegerWriter<T>())), fileMode);
    }

    /// <summary>
    /// Writes the file of an int32 array (the status, mask, max and min) as <see cref="WriteFile{T}"/>.
    /// int32 and float64 have their own non-generic formatting loops: ReadyToRun does not precompile
    /// RunProc's generic methods over the runtime's types, and a job would otherwise format its first
    /// 2 million values in unoptimised, just-compiled code.
    /// </summary>
    public static void WriteFile(string path, ReadOnlyMemory<int> values, int[] shape, string fileName, IEnumerable<string> comments, int fileMode, Metadata? meta = null)
    {
        var header = Header(values.Length, shape, fileName, comments, "int64", meta);
        IO.SafeFile.WriteOutputAtomic(path, h => Stream(h, values.Length, header, shape,
            (first, count, column, columns, rows) => FormatInt32(values.Span.Slice(first, count), column, columns, rows)), fileMode);
    }

    /// <summary>
    /// Writes the mask file of a status array (1 where the status is 0, else 0; as <see cref="WriteFile(string, ReadOnlyMemory{int}, int[], string, IEnumerable{string}, int, Metadata?)"/>
    /// of the mask): made from the status as it is formatted, so no mask array is held.
    /// </summary>
    public static void WriteMaskFile(string path, ReadOnlyMemory<int> status, int[] shape, string fileName, IEnumerable<string> comments, int fileMode, Metadata? meta = null)
    {
        var header = Header(status.Length, shape, fileName, comments, "int64", meta);
        IO.SafeFile.WriteOutputAtomic(path, h => Stream(h, status.Length, header, shape,
            (first, count, column, columns, rows) => FormatInt32(status.Span.Slice(first, count), column, columns, rows, mask: true)), fileMode);
    }

    /// <summary>Writes the file of a float64 array with <paramref name="decimals"/> decimals (as <see cref="WriteFile{T}"/>).</summary>
    public static void WriteFile(string path, ReadOnlyMemory<double> values, int[] shape, string fileName, IEnumerable<string> comments, int fileMode, int decimals = 3, Metadata? meta = null)
    {
        if (decimals is < 0 or > 9)
            throw new ArgumentOutOfRangeException(nameof(decimals), decimals, "0 to 9 decimals.");
        var header = Header(values.Length, shape, fileName, comments, "float64", meta);
        var format = "F" + decimals.ToString(CultureInfo.InvariantCulture);
        IO.SafeFile.WriteOutputAtomic(path, h => Stream(h, values.Length, header, shape,
            (first, count, column, columns, rows) => FormatFloat64(values.Span.Slice(first, count), column, columns, rows, decimals, format)), fileMode);
    }

    /// <summary>Fills <paramref name="dst"/> with the array's values from element <paramref name="first"/> on.</summary>
    public delegate void Float64Source(int first, Span<double> dst);

    /// <summary>
    /// Writes the file of a float64 array of <paramref name="count"/> values (as
    /// <see cref="WriteFile(string, ReadOnlyMemory{double}, int[], string, IEnumerable{string}, int, int, Metadata?)"/>)
    /// whose values are made as they are formatted, a few hundred at a time into a buffer on the
    /// stack: the mean and rms files of a detector need no 17 MB array each.
    /// </summary>
    public static void WriteFile(string path, int count, Float64Source values, int[] shape, string fileName, IEnumerable<string> comments, int fileMode, int decimals = 3, Metadata? meta = null)
    {
        if (decimals is < 0 or > 9)
            throw new ArgumentOutOfRangeException(nameof(decimals), decimals, "0 to 9 decimals.");
        ArgumentNullException.ThrowIfNull(values);
        var header = Header(count, shape, fileName, comments, "float64", meta);
        var format = "F" + decimals.ToString(CultureInfo.InvariantCulture);
        IO.SafeFile.WriteOutputAtomic(path, h => Stream(h, count, header, shape,
            (first, n, column, columns, rows) => FormatFloat64(values, first, n, column, columns, rows, decimals, format)), fileMode);
    }

    /// <summary>Columns a row, whether values are cut into rows (2-D and more), and values a block (whole rows).</summary>
    private static (int Columns, bool Rows, int PerBlock) Layout(int[] shape)
    {
        var columns = shape.Length == 0 ? 1 : Math.Max(1, shape[^1]);
        var rows = shape.Length > 1;
        return (columns, rows, rows ? Math.Max(1, BlockValues / columns) * columns : BlockValues);
    }

    /// <summary>Formats the values [first, first + count) into a pooled buffer; column is the first value's column.</summary>
    private delegate (byte[] Buffer, int Length) BlockFormatter(int first, int count, int column, int columns, bool rows);

    /// <summary>The header, then the values, a wave of blocks at a time (formatted in parallel, written in order).</summary>
    private static void Stream(SafeFileHandle handle, int n, byte[] header, int[] shape, BlockFormatter format)
    {
        RandomAccess.Write(handle, header, 0);
        long offset = header.Length;
        var (columns, rows, perBlock) = Layout(shape);
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
                parts[k] = format(at, Math.Min(perBlock, n - at), at % columns, columns, rows);
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
    private static byte[] Body(int n, byte[] header, int[] shape, BlockFormatter format)
    {
        var (columns, rows, perBlock) = Layout(shape);
        var blocks = (n + perBlock - 1) / perBlock;
        var parts = new byte[blocks][];
        var lengths = new int[blocks];
        void Format(int b)
        {
            var first = b * perBlock;
            (parts[b], lengths[b]) = format(first, Math.Min(perBlock, n - first), first % columns, columns, rows);
        }
        if (blocks == 1)
            Format(0);
        else
            Parallel.For(0, blocks, Format);
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

    /// <summary>A block of int32 values ('%d'), non-generic so that it is precompiled.</summary>
    private static unsafe (byte[] Buffer, int Length) FormatInt32(ReadOnlySpan<int> values, int column, int columns, bool rows, bool mask = false)
    {
        const int reserve = FixedPoint.MaxIntegerLength + 1;
        var buffer = ArrayPool<byte>.Shared.Rent(values.Length * 7 + reserve);
        var len = 0;
        var i = 0;
        while (i < values.Length)
        {
            if (buffer.Length - len < reserve)
                buffer = Grow(buffer, len);
            fixed (byte* start = buffer)
            fixed (byte* pairs = Pairs)
            fixed (int* from = values)
            {
                var p = start + len;
                var limit = start + buffer.Length - reserve;
                for (; i < values.Length && p <= limit; i++)
                {
                    var v = from[i];
                    if (mask)
                        v = v == 0 ? 1 : 0;
                    if (v >= 0)
                        p = Digits((uint)v, p, pairs);
                    else
                    {
                        *p++ = (byte)'-';
                        p = Digits(0u - (uint)v, p, pairs);
                    }
                    if (rows && ++column == columns)
                    {
                        *p++ = (byte)'\n';
                        column = 0;
                    }
                    else
                        *p++ = (byte)' ';
                }
                len = (int)(p - start);
            }
        }
        return (buffer, len);
    }

    /// <summary>"00" "01" … "99": two digits a 16-bit store.</summary>
    private static ReadOnlySpan<byte> Pairs =>
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"u8;

    /// <summary>
    /// The decimal digits of v at p (as <see cref="FixedPoint.WriteUInt32"/>), two at a time from
    /// the pairs table by 16-bit stores, the short lengths of detector values without a loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe byte* Digits(uint v, byte* p, byte* pairs)
    {
        if (v < 10)
        {
            *p = (byte)('0' + v);
            return p + 1;
        }
        if (v < 100)
        {
            *(ushort*)p = *(ushort*)(pairs + 2 * v);
            return p + 2;
        }
        if (v < 10_000)
        {
            var hi = v / 100;
            var lo = v - hi * 100;
            if (hi < 10)
            {
                *p = (byte)('0' + hi);
                *(ushort*)(p + 1) = *(ushort*)(pairs + 2 * lo);
                return p + 3;
            }
            *(ushort*)p = *(ushort*)(pairs + 2 * hi);
            *(ushort*)(p + 2) = *(ushort*)(pairs + 2 * lo);
            return p + 4;
        }
        return p + FixedPoint.WriteUInt32(v, new Span<byte>(p, FixedPoint.MaxIntegerLength));
    }

    /// <summary>
    /// '%.3f' of v at p: <see cref="FixedPoint.Write"/>'s fast path inlined (the same test, so the
    /// same digits: v·1000 below 10^9 and not within 10^-6 of a half), every other value through it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe byte* Fixed3(double v, byte* p, byte* pairs, string format)
    {
        if (v >= 0 && !double.IsNegative(v))
        {
            var scaled = v * 1e3;
            if (scaled < 1e9)
            {
                var whole = Math.Floor(scaled);
                var frac = scaled - whole;
                if (Math.Abs(frac - 0.5) > 1e-6)
                {
                    var n = (uint)whole + (frac > 0.5 ? 1u : 0u);
                    var ip = n / 1000;
                    var fp = n - ip * 1000;
                    p = Digits(ip, p, pairs);
                    var first2 = fp / 10;
                    *p = (byte)'.';
                    *(ushort*)(p + 1) = *(ushort*)(pairs + 2 * first2);
                    p[3] = (byte)('0' + (fp - first2 * 10));
                    return p + 4;
                }
            }
        }
        return p + FixedPoint.Write(v, 3, format, new Span<byte>(p, FixedPoint.MaxLength));
    }

    /// <summary>A block of float64 values ('%.Nf'), non-generic so that it is precompiled.</summary>
    private static (byte[] Buffer, int Length) FormatFloat64(ReadOnlySpan<double> values, int column, int columns, bool rows, int decimals, string format)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(values.Length * (7 + decimals) + FixedPoint.MaxLength + 1);
        var len = 0;
        AppendFloat64(values, ref buffer, ref len, ref column, columns, rows, decimals, format);
        return (buffer, len);
    }

    /// <summary>A block of float64 values made by <paramref name="source"/> a chunk at a time (as the other <c>FormatFloat64</c>).</summary>
    private static (byte[] Buffer, int Length) FormatFloat64(Float64Source source, int first, int count, int column, int columns, bool rows, int decimals, string format)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(count * (7 + decimals) + FixedPoint.MaxLength + 1);
        var len = 0;
        Span<double> chunk = stackalloc double[512];
        for (var k = 0; k < count; k += chunk.Length)
        {
            var values = chunk[..Math.Min(chunk.Length, count - k)];
            source(first + k, values);
            AppendFloat64(values, ref buffer, ref len, ref column, columns, rows, decimals, format);
        }
        return (buffer, len);
    }

    private static unsafe void AppendFloat64(ReadOnlySpan<double> values, ref byte[] buffer, ref int len, ref int column, int columns, bool rows, int decimals, string format)
    {
        const int reserve = FixedPoint.MaxLength + 1;
        var i = 0;
        while (i < values.Length)
        {
            if (buffer.Length - len < reserve)
                buffer = Grow(buffer, len);
            fixed (byte* start = buffer)
            fixed (byte* pairs = Pairs)
            fixed (double* from = values)
            {
                var p = start + len;
                var limit = start + buffer.Length - reserve;
                for (; i < values.Length && p <= limit; i++)
                {
                    p = decimals == 3 ? Fixed3(from[i], p, pairs, format) : p + FixedPoint.Write(from[i], decimals, format, new Span<byte>(p, reserve));
                    if (rows && ++column == columns)
                    {
                        *p++ = (byte)'\n';
                        column = 0;
                    }
                    else
                        *p++ = (byte)' ';
                }
                len = (int)(p - start);
            }
        }
    }

    private static byte[] Grow(byte[] buffer, int len)
    {
        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
        buffer.AsSpan(0, len).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(buffer);
        return bigger;
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
