using System.Globalization;
using System.Numerics;
using System.Text;

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
    /// psana wrote status and counts). Formatted straight into the output buffer: no string per value.
    /// </summary>
    public static byte[] Utf8<T>(ReadOnlySpan<T> values, int[] shape, string fileName, IEnumerable<string> comments, Metadata? meta = null)
        where T : unmanaged, IBinaryInteger<T>
    {
        var w = Start(values.Length, shape, fileName, comments, "int64", meta, 8);
        for (var i = 0; i < values.Length; i++)
        {
            var dst = w.Reserve(24);
            values[i].TryFormat(dst, out var n, default, CultureInfo.InvariantCulture);
            w.Advance(n);
            w.Separator(i);
        }
        return w.ToArray();
    }

    /// <summary>The file's bytes for a float64 array with <paramref name="decimals"/> decimals ('%.3f' for 3).</summary>
    public static byte[] Utf8(ReadOnlySpan<double> values, int[] shape, string fileName, IEnumerable<string> comments, int decimals = 3, Metadata? meta = null)
    {
        if (decimals is < 0 or > 9)
            throw new ArgumentOutOfRangeException(nameof(decimals), decimals, "0 to 9 decimals.");
        var fmt = "F" + decimals.ToString(CultureInfo.InvariantCulture);
        var w = Start(values.Length, shape, fileName, comments, "float64", meta, 10 + decimals);
        for (var i = 0; i < values.Length; i++)
        {
            w.Advance(FixedPoint.Write(values[i], decimals, fmt, w.Reserve(FixedPoint.MaxLength)));
            w.Separator(i);
        }
        return w.ToArray();
    }

    private static Utf8Writer Start(int count, int[] shape, string fileName, IEnumerable<string> comments, string dtype, Metadata? meta, int bytesPerValue)
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
        var header = Encoding.UTF8.GetBytes(sb.ToString());
        var w = new Utf8Writer(header.Length + (long)count * bytesPerValue + 64, shape.Length == 0 ? 1 : shape[^1], shape.Length > 1);
        header.CopyTo(w.Reserve(header.Length));
        w.Advance(header.Length);
        return w;
    }

    /// <summary>A growing byte buffer with the separator rule of save_txt.</summary>
    private sealed class Utf8Writer
    {
        private byte[] _buffer;
        private int _length;
        private readonly int _columns;
        private readonly bool _rows;

        public Utf8Writer(long capacity, int columns, bool rows)
        {
            _buffer = new byte[(int)Math.Min(capacity, Array.MaxLength)];
            _columns = columns;
            _rows = rows;
        }

        public Span<byte> Reserve(int bytes)
        {
            if (_buffer.Length - _length < bytes)
                Array.Resize(ref _buffer, (int)Math.Min(Array.MaxLength, Math.Max((long)_buffer.Length * 3 / 2, (long)_length + bytes)));
            return _buffer.AsSpan(_length);
        }

        public void Advance(int bytes) => _length += bytes;

        public void Separator(int i)
        {
            Reserve(1)[0] = _rows && (i + 1) % _columns == 0 ? (byte)'\n' : (byte)' ';
            _length++;
        }

        public byte[] ToArray() => _length == _buffer.Length ? _buffer : _buffer.AsSpan(0, _length).ToArray();
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
