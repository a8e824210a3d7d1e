using System.Text;
using RunProc.IO;

namespace RunProc.Db;

/// <summary>
/// A DB file read as lines: each line's text (UTF-8, for parsing) and its exact bytes (for
/// rewrites). A rewrite must give back every line it does not change byte for byte, even a line of
/// binary garbage or invalid UTF-8, so rewrites copy the bytes, never re-encode the text.
/// Lines are '\n' separated; '\r' is kept for the parser to trim; a final newline gives no phantom
/// empty line; a missing one is accepted. Only a UTF-8 byte-order mark is honoured (the files are
/// UTF-8/ASCII): other "BOMs" are just bytes of a malformed first line.
/// </summary>
internal sealed class DbLines
{
    private readonly byte[] _data;
    private readonly int[] _start;
    private readonly int[] _length;

    private DbLines(byte[] data, int[] start, int[] length, string[] text)
    {
        _data = data;
        _start = start;
        _length = length;
        Text = text;
    }

    /// <summary>Each line decoded as UTF-8 (invalid bytes become U+FFFD), a leading UTF-8 BOM removed.</summary>
    public string[] Text { get; }

    public int Count => Text.Length;

    /// <summary>The exact bytes of line <paramref name="i"/> (a leading BOM included), without the '\n'.</summary>
    public ReadOnlySpan<byte> Raw(int i) => _data.AsSpan(_start[i], _length[i]);

    /// <summary>The file's lines, or null if the file does not exist.</summary>
    public static DbLines? Read(string path)
    {
        // The length may change under a concurrent append (no lock for readers): read to the end.
        var data = SafeFile.ReadAllBytes(path);
        if (data is null)
            return null;
        var starts = new List<int>();
        var lengths = new List<int>();
        var pos = 0;
        while (pos < data.Length)
        {
            var nl = Array.IndexOf(data, (byte)'\n', pos);
            var end = nl < 0 ? data.Length : nl;
            starts.Add(pos);
            lengths.Add(end - pos);
            pos = nl < 0 ? data.Length : nl + 1;
        }
        var text = new string[starts.Count];
        for (var i = 0; i < text.Length; i++)
        {
            var span = data.AsSpan(starts[i], lengths[i]);
            if (i == 0 && span.StartsWith("\uFEFF"u8))
                span = span[3..];
            text[i] = Encoding.UTF8.GetString(span);
        }
        return new DbLines(data, starts.ToArray(), lengths.ToArray(), text);
    }

    /// <summary>Lines joined with '\n' after each, as a rewrite writes them.</summary>
    public static byte[] Join(IEnumerable<byte[]> lines)
    {
        var ms = new MemoryStream();
        foreach (var l in lines)
        {
            ms.Write(l);
            ms.WriteByte((byte)'\n');
        }
        return ms.ToArray();
    }
}
