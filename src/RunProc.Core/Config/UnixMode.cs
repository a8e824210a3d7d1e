using System.Globalization;

namespace RunProc.Config;

/// <summary>
/// A file or directory mode (permission, setgid and sticky bits). Written and shown in octal, as
/// chmod takes it ('0664', '02775'); used as the number wherever a mode is applied.
/// </summary>
public readonly record struct UnixMode(int Value)
{
    public static implicit operator int(UnixMode m) => m.Value;

    public static implicit operator UnixMode(int value) => new(value);

    public static explicit operator UnixFileMode(UnixMode m) => (UnixFileMode)m.Value;

    /// <summary>Octal digits with a leading 0, e.g. 0664, 02775.</summary>
    public override string ToString() => "0" + Convert.ToString(Value, 8);

    /// <summary>Parses a string of 1 to 5 octal digits (at most 07777).</summary>
    public static bool TryParse(string text, out UnixMode mode)
    {
        mode = default;
        var t = text.Trim();
        if (t.Length is 0 or > 5 || !t.All(c => c is >= '0' and <= '7'))
            return false;
        var v = Convert.ToInt32(t, 8);
        if (v > 4095)
            return false;
        mode = new UnixMode(v);
        return true;
    }

    /// <summary>How to write <paramref name="number"/> (a mode written without quotes) as the string it was probably meant to be.</summary>
    internal static string Suggest(object number)
    {
        var digits = Convert.ToString(number, CultureInfo.InvariantCulture) ?? "";
        return TryParse(digits, out _) ? "'" + (digits.StartsWith('0') ? digits : "0" + digits) + "'" : "'0664'";
    }
}
