using System.Text;

namespace RunProc.Tests.Fuzz;

/// <summary>
/// A seeded generator of hostile inputs for the text parsers: valid seeds mutated (bit flips, byte
/// and character insertions, deletions, duplications, splices), random bytes decoded as UTF-8 and
/// Latin-1, unicode look-alikes (non-ASCII digits and spaces, line and paragraph separators,
/// surrogates, BiDi controls, NUL), and very long inputs. Deterministic for a seed, so a failure
/// message's seed and index replay it.
/// </summary>
internal sealed class Mutator
{
    private readonly Random _rng;
    private readonly string[] _seeds;

    // Characters chosen to confuse whitespace splitting, digit tests and line handling.
    private static readonly string[] Nasty =
    {
        "\0", "\r", "\n", "\r\n", "\t", "\v", "\f", " ", "\u00a0", "\u0085", "\u2028", "\u2029", "\u3000", "\u200b", "\ufeff",
        "\u202e", "\u0301", "\ud800", "\udc00", "\ud83d\ude00", "\uffff", "\ufffd", "\u0660", "\u0967", "\uff11", "\u00b2",
        "-", "--", ".", "..", "/", "../", "\\", ":", "cwd:", " cwd:", " cmd:", "cmd:", "#", "*", "?", "$(id)", ";", "`", "'", "\"",
        "e", "r", "s", "c", "xtc", "xtc2", "h5", ".inprogress", "0", "9", "00000", "99999", "100000", "2147483648", "-1", "+1",
        "T", "2017-10-05T15:19:21", "9999-12-31T23:59:59", "0000-00-00T00:00:00", "İ", "ß", "K", "ı",
    };

    public Mutator(int seed, params string[] seeds)
    {
        _rng = new Random(seed);
        _seeds = seeds;
    }

    public Random Random => _rng;

    /// <summary>The next input.</summary>
    public string Next()
    {
        var k = _rng.Next(100);
        if (k < 55)
            return Mutate(_seeds[_rng.Next(_seeds.Length)], 1 + _rng.Next(_rng.Next(8) + 1));
        if (k < 70)
            return RandomBytesAsText(_rng.Next(0, 200));
        if (k < 80)
            return RandomFrom(Nasty, _rng.Next(1, 30));
        if (k < 90)
            return Splice(_seeds[_rng.Next(_seeds.Length)], _seeds[_rng.Next(_seeds.Length)]);
        if (k < 99)
            return Mutate(RandomString(_rng.Next(0, 100)), _rng.Next(3));
        return VeryLong();
    }

    /// <summary>Raw bytes for file-level fuzzing: a mutated seed line, encoded, sometimes with invalid UTF-8 or a BOM.</summary>
    public byte[] NextBytes()
    {
        var k = _rng.Next(100);
        if (k < 60)
            return Encoding.UTF8.GetBytes(Next());
        var b = new byte[_rng.Next(1, 120)];
        _rng.NextBytes(b);
        if (k < 70)
        {
            var seed = Encoding.UTF8.GetBytes(_seeds[_rng.Next(_seeds.Length)]);
            var at = _rng.Next(seed.Length + 1);
            return seed[..at].Concat(b.Take(_rng.Next(1, 8))).Concat(seed[at..]).ToArray();
        }
        if (k < 75)
            return new byte[] { 0xFF, 0xFE }.Concat(b).ToArray();
        if (k < 78)
            return new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Encoding.UTF8.GetBytes(_seeds[_rng.Next(_seeds.Length)])).ToArray();
        return b;
    }

    public string Mutate(string s, int steps)
    {
        var sb = new StringBuilder(s);
        for (var i = 0; i < steps; i++)
        {
            var at = sb.Length == 0 ? 0 : _rng.Next(sb.Length + 1);
            switch (_rng.Next(9))
            {
                case 0 when sb.Length > 0: // flip a bit of a character
                    at = Math.Min(at, sb.Length - 1);
                    sb[at] = (char)(sb[at] ^ (1 << _rng.Next(16)));
                    break;
                case 1 when sb.Length > 0: // flip a low bit (stays ASCII-ish)
                    at = Math.Min(at, sb.Length - 1);
                    sb[at] = (char)(sb[at] ^ (1 << _rng.Next(7)));
                    break;
                case 2: // insert a nasty token
                    sb.Insert(at, Nasty[_rng.Next(Nasty.Length)]);
                    break;
                case 3 when sb.Length > 0: // delete a range
                    at = Math.Min(at, sb.Length - 1);
                    sb.Remove(at, Math.Min(sb.Length - at, 1 + _rng.Next(6)));
                    break;
                case 4 when sb.Length > 0: // duplicate a range
                    at = Math.Min(at, sb.Length - 1);
                    var len = Math.Min(sb.Length - at, 1 + _rng.Next(12));
                    sb.Insert(at, sb.ToString(at, len));
                    break;
                case 5: // insert a random char (any BMP value, surrogates included)
                    sb.Insert(at, (char)_rng.Next(0, 0x10000));
                    break;
                case 6 when sb.Length > 0: // replace a digit by another digit
                    at = Math.Min(at, sb.Length - 1);
                    if (char.IsAsciiDigit(sb[at])) sb[at] = (char)('0' + _rng.Next(10));
                    else sb[at] = (char)_rng.Next(0x20, 0x7f);
                    break;
                case 7: // truncate
                    sb.Length = Math.Min(sb.Length, at);
                    break;
                default: // insert an ASCII character
                    sb.Insert(at, (char)_rng.Next(0x20, 0x7f));
                    break;
            }
        }
        return sb.ToString();
    }

    private string Splice(string a, string b)
    {
        var i = _rng.Next(a.Length + 1);
        var j = _rng.Next(b.Length + 1);
        return a[..i] + b[j..];
    }

    private string RandomBytesAsText(int n)
    {
        var b = new byte[n];
        _rng.NextBytes(b);
        return _rng.Next(2) == 0 ? Encoding.UTF8.GetString(b) : Encoding.Latin1.GetString(b);
    }

    private string RandomFrom(string[] tokens, int n)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < n; i++) sb.Append(tokens[_rng.Next(tokens.Length)]);
        return sb.ToString();
    }

    private string RandomString(int n)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_.:/ \t";
        var c = new char[n];
        for (var i = 0; i < n; i++) c[i] = alphabet[_rng.Next(alphabet.Length)];
        return new string(c);
    }

    private string VeryLong()
    {
        var seed = _seeds[_rng.Next(_seeds.Length)];
        return _rng.Next(4) switch
        {
            0 => new string('9', _rng.Next(1_000, 200_000)) + seed,
            1 => seed + new string(' ', _rng.Next(1_000, 200_000)) + seed,
            2 => string.Concat(Enumerable.Repeat(seed, _rng.Next(100, 3_000))),
            _ => new string((char)_rng.Next(0x20, 0x10000), _rng.Next(1_000, 100_000)),
        };
    }
}
