using System.Globalization;
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
        Format(values.Count, shape, fileName, comments, "int64", meta, (sb, i) => sb.Append(values[i].ToString(CultureInfo.InvariantCulture)));

    /// <summary>Formats a float64 array with <paramref name="decimals"/> decimals ('%.3f' for 3).</summary>
    public static string Format(IReadOnlyList<double> values, int[] shape, string fileName, IEnumerable<string> comments, int decimals = 3, Metadata? meta = null)
    {
        var fmt = "F" + decimals.ToString(CultureInfo.InvariantCulture);
        return Format(values.Count, shape, fileName, comments, "float64", meta, (sb, i) => AppendDouble(sb, values[i], fmt));
    }

    private static void AppendDouble(StringBuilder sb, double v, string fmt)
    {
        // Python's '%f' spellings of the non-finite values.
        if (double.IsNaN(v)) sb.Append("nan");
        else if (double.IsPositiveInfinity(v)) sb.Append("inf");
        else if (double.IsNegativeInfinity(v)) sb.Append("-inf");
        else sb.Append(v.ToString(fmt, CultureInfo.InvariantCulture));
    }

    private static string Format(int count, int[] shape, string fileName, IEnumerable<string> comments, string dtype, Metadata? meta, Action<StringBuilder, int> value)
    {
        var total = shape.Aggregate(1L, (a, b) => a * b);
        if (total != count)
            throw new ArgumentException($"shape ({string.Join(",", shape)}) holds {total} values, not {count}.", nameof(shape));
        meta ??= new Metadata();
        var sb = new StringBuilder(count * 6 + 1024);
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
        var cols = shape.Length == 0 ? 1 : shape[^1];
        if (shape.Length > 1)
        {
            sb.Append('\n');
            for (var i = 0; i < count; i++)
            {
                value(sb, i);
                sb.Append((i + 1) % cols == 0 ? '\n' : ' ');
            }
        }
        else
        {
            // 1-D: save_txt ends the header with an empty line and a space, then each value and a space.
            sb.Append('\n').Append(' ');
            for (var i = 0; i < count; i++) { value(sb, i); sb.Append(' '); }
        }
        return sb.ToString();
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
