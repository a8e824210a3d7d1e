using System.Runtime.CompilerServices;
using System.Globalization;

namespace RunProc.Catalog;

/// <summary>The kind of a run data file, from its extension.</summary>
public enum RunFileKind : byte
{
    /// <summary>LCLS-I <c>.xtc</c>.</summary>
    Xtc = 1,
    /// <summary>LCLS-II <c>.xtc2</c>.</summary>
    Xtc2 = 2,
    /// <summary>HDF5 run file <c>.h5</c>.</summary>
    H5 = 3,
}

/// <summary>
/// A parsed run file name: <c>&lt;exp&gt;-rRRRR-sSS-cCC.xtc</c> (LCLS-I, also the old <c>eNNN-</c>
/// prefix), <c>...-sSSS-cCCC.xtc2</c> (LCLS-II) and <c>.h5</c> files named the same way, each
/// optionally ending in <c>.inprogress</c> while the DAQ still writes it.
/// </summary>
public readonly record struct RunFileName(
    string Prefix, int Run, int Stream, int Chunk, RunFileKind Kind, bool InProgress,
    byte RunWidth, byte StreamWidth, byte ChunkWidth)
{
    // Digit widths are kept so the name can be rebuilt exactly (the scan cache stores no strings).
    // A hand-written parser, not a regex: a rescan parses every name of a changed directory.
    private const string Expected = "not a run file name (<exp>-rNNNN-sNN-cNN.xtc/.xtc2/.h5)";

    /// <summary>
    /// Parses <paramref name="fileName"/> (no directory). The prefix must be the experiment's name or
    /// the old <c>eNNN</c> form; anything else is not a run file of this experiment.
    /// </summary>
    /// <param name="reason">Why the name was rejected, for a verbose message.</param>
    public static bool TryParse(string fileName, string experiment, out RunFileName name, out string? reason) =>
        TryParse(fileName.AsSpan(), experiment, out name, out reason);

    /// <inheritdoc cref="TryParse(string, string, out RunFileName, out string?)"/>
    public static bool TryParse(ReadOnlySpan<char> s, string experiment, out RunFileName name, out string? reason)
    {
        name = default;
        reason = Expected;
        var dash = s.IndexOf('-');
        if (dash < 1 || dash > 64)
            return false;
        var prefix = s[..dash];
        foreach (var c in prefix)
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
                return false;
        if (prefix[0] == '_')
            return false;
        var p = dash;
        if (!Digits(s, ref p, "-r", 4, 5, out var run, out var rw)
            || !Digits(s, ref p, "-s", 2, 3, out var stream, out var sw)
            || !Digits(s, ref p, "-c", 2, 3, out var chunk, out var cw))
            return false;
        var rest = s[p..];
        var inProgress = rest.EndsWith(".inprogress", StringComparison.Ordinal);
        if (inProgress)
            rest = rest[..^".inprogress".Length];
        RunFileKind kind;
        if (rest.SequenceEqual(".xtc")) kind = RunFileKind.Xtc;
        else if (rest.SequenceEqual(".xtc2")) kind = RunFileKind.Xtc2;
        else if (rest.SequenceEqual(".h5")) kind = RunFileKind.H5;
        else return false;
        string prefixText;
        if (prefix.SequenceEqual(experiment))
            prefixText = experiment;
        else if (prefix.Length is >= 2 and <= 7 && prefix[0] == 'e' && AllDigits(prefix[1..]))
            prefixText = prefix.ToString();
        else
        {
            reason = $"belongs to '{prefix}', not to experiment '{experiment}'";
            return false;
        }
        if (!Names.IsRun(run))
        {
            reason = $"run number {run} is out of range";
            return false;
        }
        name = new RunFileName(prefixText, run, stream, chunk, kind, inProgress, (byte)rw, (byte)sw, (byte)cw);
        reason = null;
        return true;
    }

    /// <summary>
    /// The common case of <see cref="TryParse(ReadOnlySpan{char}, string, out RunFileName, out string?)"/>
    /// on the listing's UTF-8 bytes, without widening them: a name that starts with the experiment's
    /// own name (<paramref name="experimentUtf8"/>). False for anything else (the general parser then
    /// decides, and says why a name is not a run file); true exactly when the general parser would
    /// accept the name with the experiment's prefix, with the same result.
    /// </summary>
    public static bool TryParseOwn(ReadOnlySpan<byte> s, string experiment, ReadOnlySpan<byte> experimentUtf8, out RunFileName name)
    {
        name = default;
        if (!s.StartsWith(experimentUtf8))
            return false;
        var p = experimentUtf8.Length;
        if (!Digits(s, ref p, (byte)'r', 4, 5, out var run, out var rw)
            || !Digits(s, ref p, (byte)'s', 2, 3, out var stream, out var sw)
            || !Digits(s, ref p, (byte)'c', 2, 3, out var chunk, out var cw))
            return false;
        var rest = s[p..];
        var inProgress = rest.EndsWith(".inprogress"u8);
        if (inProgress)
            rest = rest[..^".inprogress".Length];
        RunFileKind kind;
        if (rest.SequenceEqual(".xtc"u8)) kind = RunFileKind.Xtc;
        else if (rest.SequenceEqual(".xtc2"u8)) kind = RunFileKind.Xtc2;
        else if (rest.SequenceEqual(".h5"u8)) kind = RunFileKind.H5;
        else return false;
        if (!Names.IsRun(run))
            return false;
        name = new RunFileName(experiment, run, stream, chunk, kind, inProgress, (byte)rw, (byte)sw, (byte)cw);
        return true;
    }

    /// <summary>'-', <paramref name="tag"/>, then min..max digits at <paramref name="p"/> (bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Digits(ReadOnlySpan<byte> s, ref int p, byte tag, int min, int max, out int value, out int width)
    {
        value = 0;
        width = 0;
        if (p + 2 > s.Length || s[p] != (byte)'-' || s[p + 1] != tag)
            return false;
        p += 2;
        while (p < s.Length && (uint)(s[p] - '0') <= 9 && width <= max)
        {
            value = value * 10 + (s[p] - '0');
            p++;
            width++;
        }
        return width >= min && width <= max;
    }

    private static bool AllDigits(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
            if (!char.IsAsciiDigit(c)) return false;
        return true;
    }

    /// <summary>Reads <paramref name="tag"/> then min..max digits at <paramref name="p"/>.</summary>
    private static bool Digits(ReadOnlySpan<char> s, ref int p, string tag, int min, int max, out int value, out int width)
    {
        value = 0;
        width = 0;
        if (!s[p..].StartsWith(tag, StringComparison.Ordinal))
            return false;
        p += tag.Length;
        while (p < s.Length && char.IsAsciiDigit(s[p]) && width <= max)
        {
            value = value * 10 + (s[p] - '0');
            p++;
            width++;
        }
        return width >= min && width <= max;
    }

    private int NameLength => Prefix.Length + 2 + RunWidth + 2 + StreamWidth + 2 + ChunkWidth
        + (Kind switch { RunFileKind.Xtc => 4, RunFileKind.Xtc2 => 5, _ => 3 }) + (InProgress ? 11 : 0);

    private void WriteName(Span<char> span)
    {
        var p = 0;
        Prefix.CopyTo(span);
        p += Prefix.Length;
        Put(span, ref p, "-r", Run, RunWidth);
        Put(span, ref p, "-s", Stream, StreamWidth);
        Put(span, ref p, "-c", Chunk, ChunkWidth);
        var e = Kind switch { RunFileKind.Xtc => ".xtc", RunFileKind.Xtc2 => ".xtc2", _ => ".h5" };
        e.CopyTo(span[p..]);
        p += e.Length;
        if (InProgress)
            ".inprogress".CopyTo(span[p..]);
    }

    /// <summary>The file name this was parsed from.</summary>
    public override string ToString() => string.Create(NameLength, this, static (span, n) => n.WriteName(span));

    /// <summary>The file's path in <paramref name="directory"/>, as <c>Path.Join(directory, ToString())</c> gives it, built once.</summary>
    public string PathIn(string directory)
    {
        var sep = directory.Length > 0 && directory[^1] != '/' ? 1 : 0;
        return string.Create(directory.Length + sep + NameLength, (Name: this, Directory: directory, Sep: sep), static (span, s) =>
        {
            s.Directory.CopyTo(span);
            if (s.Sep == 1)
                span[s.Directory.Length] = '/';
            s.Name.WriteName(span[(s.Directory.Length + s.Sep)..]);
        });
    }

    private static void Put(Span<char> span, ref int p, string tag, int value, int width)
    {
        tag.CopyTo(span[p..]);
        p += tag.Length;
        for (var i = width - 1; i >= 0; i--)
        {
            span[p + i] = (char)('0' + value % 10);
            value /= 10;
        }
        p += width;
    }
}
