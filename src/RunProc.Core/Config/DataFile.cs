using System.Collections;
using System.Globalization;
using System.Text;

namespace RunProc.Config;

/// <summary>
/// Reads a PowerShell data file (.psd1) without PowerShell: the constant subset that
/// Import-PowerShellDataFile accepts and RunProc's config uses. One hashtable of
/// <c>key = value</c> pairs (newline or ';' separated); values are 'single' and "double" quoted
/// strings (here-strings too), numbers (int, long, double, 0x hex, the kb/mb/gb/tb/pb multipliers),
/// $true, $false, $null, arrays (<c>@(...)</c> or <c>a, b</c>), nested hashtables, unary +/-, and
/// comments (# and &lt;# #&gt;). Anything else (a variable, a command, a subexpression) is an
/// error naming the line and column. Values come back as PowerShell gives them: Hashtable
/// (keys case-insensitive), object[], string, int/long/double, bool, null.
/// </summary>
public static class DataFile
{
    /// <summary>A parse failure at a place in the file.</summary>
    public sealed class DataFileException(string message, int line, int column) : FormatException(message)
    {
        public int Line { get; } = line;
        public int Column { get; } = column;
    }

    /// <summary>The file's one top-level hashtable.</summary>
    public static Hashtable Parse(string text)
    {
        var p = new Reader(text);
        p.SkipBlank(newlines: true);
        if (p.AtEnd || p.Peek() != '@' || p.Peek(1) != '{')
            throw p.Fail("the file must contain one hashtable: @{ DataRoot = '...'; DbRoot = '...' }");
        var value = (Hashtable)p.Value()!;
        p.SkipBlank(newlines: true);
        if (!p.AtEnd)
            throw p.Fail($"unexpected '{p.Peek()}' after the hashtable");
        return value;
    }

    private sealed class Reader(string s)
    {
        private int _i;

        public bool AtEnd => _i >= s.Length;
        public char Peek(int ahead = 0) => _i + ahead < s.Length ? s[_i + ahead] : '\0';

        public DataFileException Fail(string what)
        {
            int line = 1, col = 1;
            for (var k = 0; k < Math.Min(_i, s.Length); k++)
            {
                if (s[k] == '\n') { line++; col = 1; }
                else col++;
            }
            return new DataFileException($"line {line}, column {col}: {what}", line, col);
        }

        /// <summary>Skips spaces, comments, line continuations and (if asked) newlines.</summary>
        public void SkipBlank(bool newlines)
        {
            while (!AtEnd)
            {
                var c = Peek();
                if (c == '\n' || c == '\r') { if (!newlines) return; _i++; }
                else if (c is ' ' or '\t' or '\f' or '\v' or '\u00a0' or '\ufeff') _i++;
                else if (c == '`' && (Peek(1) == '\n' || Peek(1) == '\r')) _i += 2;
                else if (c == '<' && Peek(1) == '#')
                {
                    var end = s.IndexOf("#>", _i + 2, StringComparison.Ordinal);
                    if (end < 0) throw Fail("the block comment <# is not closed with #>");
                    _i = end + 2;
                }
                else if (c == '#') { while (!AtEnd && Peek() != '\n') _i++; }
                else return;
            }
        }

        /// <summary>A value, with a ',' list of values making an array.</summary>
        public object? Value()
        {
            var first = Single();
            SkipBlank(newlines: false);
            if (Peek() != ',')
                return first;
            var list = new List<object?> { first };
            while (Peek() == ',')
            {
                _i++;
                SkipBlank(newlines: true);
                list.Add(Single());
                SkipBlank(newlines: false);
            }
            return list.ToArray();
        }

        private object? Single()
        {
            SkipBlank(newlines: false);
            var c = Peek();
            if (c == '@' && Peek(1) == '{') { _i += 2; return Table(); }
            if (c == '@' && Peek(1) == '(') { _i += 2; return ArrayExpression(); }
            if (c == '@' && Peek(1) is '\'' or '"') return HereString();
            if (c == '(')
            {
                _i++;
                SkipBlank(newlines: true);
                var v = Value();
                SkipBlank(newlines: true);
                Expect(')');
                return v;
            }
            if (c is '\'' or '\u2018' or '\u2019') return SingleQuoted();
            if (c is '"' or '\u201c' or '\u201d') return DoubleQuoted();
            if (c == '$') return Variable();
            if (c is '-' or '+' && (char.IsAsciiDigit(Peek(1)) || Peek(1) == '.'))
                return Number();
            if (c is '-' or '+')
            {
                _i++;
                var v = Single();
                return c == '+' ? v : v switch
                {
                    int n => (object)-n, long n => -n, double d => -d, decimal m => -m,
                    _ => throw Fail("unary '-' needs a number"),
                };
            }
            if (char.IsAsciiDigit(c) || (c == '.' && char.IsAsciiDigit(Peek(1)))) return Number();
            if (AtEnd) throw Fail("a value is missing at the end of the file");
            var at = _i;
            var word = Word();
            _i = at;
            throw Fail($"only constant values are allowed in a data file (strings, numbers, $true/$false/$null, @() arrays, @{{}} hashtables), not '{word}'");
        }

        private string Word()
        {
            var start = _i;
            while (!AtEnd && !char.IsWhiteSpace(Peek()) && Peek() is not (';' or ',' or ')' or '}')) _i++;
            return s[start.._i];
        }

        private void Expect(char c)
        {
            if (Peek() != c)
                throw Fail(AtEnd ? $"'{c}' is missing at the end of the file" : $"expected '{c}', found '{Peek()}'");
            _i++;
        }

        private Hashtable Table()
        {
            var table = new Hashtable(StringComparer.OrdinalIgnoreCase);
            while (true)
            {
                SkipBlank(newlines: true);
                while (Peek() == ';') { _i++; SkipBlank(newlines: true); }
                if (Peek() == '}') { _i++; return table; }
                if (AtEnd) throw Fail("the hashtable is not closed with '}'");
                var key = Key();
                SkipBlank(newlines: false);
                Expect('=');
                SkipBlank(newlines: true);
                var value = Value();
                if (table.ContainsKey(key))
                    throw Fail($"duplicate key '{key}' in a hashtable");
                table[key] = value;
                SkipBlank(newlines: false);
                if (AtEnd) throw Fail("the hashtable is not closed with '}'");
                if (Peek() is not (';' or '\n' or '\r' or '}'))
                    throw Fail($"expected a newline, ';' or '}}' after the value of '{key}', found '{Peek()}'");
            }
        }

        private string Key()
        {
            var c = Peek();
            if (c is '\'' or '\u2018' or '\u2019') return SingleQuoted();
            if (c is '"' or '\u201c' or '\u201d') return DoubleQuoted();
            var start = _i;
            while (!AtEnd && (char.IsLetterOrDigit(Peek()) || Peek() is '_' or '-' or '.')) _i++;
            if (_i == start) throw Fail($"expected a key name, found '{c}'");
            return s[start.._i];
        }

        private object?[] ArrayExpression()
        {
            var list = new List<object?>();
            while (true)
            {
                SkipBlank(newlines: true);
                while (Peek() == ';') { _i++; SkipBlank(newlines: true); }
                if (Peek() == ')') { _i++; return list.ToArray(); }
                if (AtEnd) throw Fail("the array @( is not closed with ')'");
                var v = Value();
                // @(a, b) is one array: its elements, not a nested array.
                if (v is object?[] items) list.AddRange(items);
                else list.Add(v);
            }
        }

        private string SingleQuoted()
        {
            _i++;
            var sb = new StringBuilder();
            while (true)
            {
                if (AtEnd) throw Fail("a quoted string is not closed");
                var c = s[_i++];
                if (c is '\'' or '\u2018' or '\u2019')
                {
                    if (Peek() is '\'' or '\u2018' or '\u2019') { sb.Append(s[_i++]); continue; }
                    return sb.ToString();
                }
                sb.Append(c);
            }
        }

        private string DoubleQuoted()
        {
            _i++;
            var sb = new StringBuilder();
            while (true)
            {
                if (AtEnd) throw Fail("a quoted string is not closed");
                var c = s[_i++];
                if (c is '"' or '\u201c' or '\u201d')
                {
                    if (Peek() is '"' or '\u201c' or '\u201d') { sb.Append(s[_i++]); continue; }
                    return sb.ToString();
                }
                if (c == '`') { sb.Append(Escape()); continue; }
                if (c == '$' && (char.IsLetterOrDigit(Peek()) || Peek() is '_' or '(' or '{' or ':' or '?' or '^' or '$'))
                {
                    _i--;
                    throw Fail("only constant values are allowed in a data file: a \"...\" string must not contain variables or $(...); use '...' quotes");
                }
                sb.Append(c);
            }
        }

        private string Escape()
        {
            if (AtEnd) throw Fail("a quoted string is not closed");
            var c = s[_i++];
            return c switch
            {
                '0' => "\0", 'a' => "\a", 'b' => "\b", 'e' => "\u001b", 'f' => "\f", 'n' => "\n", 'r' => "\r", 't' => "\t", 'v' => "\v",
                'u' when Peek() == '{' => Unicode(),
                _ => c.ToString(),
            };
        }

        private string Unicode()
        {
            var end = s.IndexOf('}', _i);
            if (end < 0 || !int.TryParse(s.AsSpan(_i + 1, end - _i - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var cp))
                throw Fail("`u{...} needs a hexadecimal code point");
            _i = end + 1;
            return char.ConvertFromUtf32(cp);
        }

        private string HereString()
        {
            var quote = s[_i + 1];
            var lineEnd = s.IndexOf('\n', _i + 2);
            if (lineEnd < 0 || s.AsSpan(_i + 2, lineEnd - _i - 2).Trim().Length != 0)
                throw Fail("a here-string's text starts on the line after @' or @\"");
            var close = "\n" + quote + "@";
            var end = s.IndexOf(close, lineEnd, StringComparison.Ordinal);
            if (end < 0) throw Fail($"the here-string is not closed with {quote}@ at the start of a line");
            var text = s[(lineEnd + 1)..end].TrimEnd('\r');
            if (quote == '"' && text.Contains('$'))
                throw Fail("only constant values are allowed in a data file: a @\"...\"@ here-string must not contain '$'; use @'...'@");
            _i = end + close.Length;
            return text.Replace("\r\n", "\n");
        }

        private object? Variable()
        {
            var start = _i;
            _i++;
            while (!AtEnd && (char.IsLetterOrDigit(Peek()) || Peek() == '_')) _i++;
            var name = s[(start + 1).._i];
            if (name.Equals("true", StringComparison.OrdinalIgnoreCase)) return true;
            if (name.Equals("false", StringComparison.OrdinalIgnoreCase)) return false;
            if (name.Equals("null", StringComparison.OrdinalIgnoreCase)) return null;
            _i = start;
            throw Fail($"only constant values are allowed in a data file: ${name} is a variable (use $true, $false or $null)");
        }

        private object Number()
        {
            var start = _i;
            if (Peek() is '-' or '+') _i++;
            var hex = Peek() == '0' && Peek(1) is 'x' or 'X';
            if (hex) _i += 2;
            while (!AtEnd && (char.IsAsciiLetterOrDigit(Peek()) || Peek() is '.' or '_' ||
                   (Peek() is '-' or '+' && !hex && _i > start && s[_i - 1] is 'e' or 'E'))) _i++;
            var text = s[start.._i].Replace("_", "");
            var neg = text.StartsWith('-');
            var body = text.TrimStart('-', '+');
            long multiplier = 1;
            foreach (var (suffix, m) in new[] { ("kb", 1L << 10), ("mb", 1L << 20), ("gb", 1L << 30), ("tb", 1L << 40), ("pb", 1L << 50) })
                if (body.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) { multiplier = m; body = body[..^2]; break; }
            var forceLong = body.EndsWith('l') || body.EndsWith('L');
            if (forceLong) body = body[..^1];
            object result;
            if (hex)
            {
                if (!long.TryParse(body.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var h))
                    throw Bad(text);
                // 0xFFFFFFFF is int -1 in PowerShell (a 32-bit pattern), as 0x7FFFFFFF is int.MaxValue.
                result = !forceLong && body.Length - 2 <= 8 ? (object)unchecked((int)(uint)h) : h;
            }
            else if (body.All(ch => char.IsAsciiDigit(ch)))
            {
                if (!decimal.TryParse(body, NumberStyles.None, CultureInfo.InvariantCulture, out var d)) throw Bad(text);
                result = d <= int.MaxValue && !forceLong ? (object)(int)d : d <= long.MaxValue ? (object)(long)d : (double)d;
            }
            else if (double.TryParse(body, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var f) && !forceLong)
                result = f;
            else
                throw Bad(text);
            if (multiplier != 1)
                result = result switch
                {
                    int n when (long)n * multiplier <= int.MaxValue => (int)(n * multiplier),
                    int n => (long)n * multiplier,
                    long n => n * multiplier,
                    double d => d * multiplier,
                    _ => result,
                };
            if (neg)
                result = result switch { int n => -n, long n => -n, double d => -d, _ => result };
            return result;
        }

        private DataFileException Bad(string text) => Fail($"'{text}' is not a number");
    }
}

/// <summary>Finds and reads the site configuration file (a PowerShell data file), for the cmdlets and the job entry alike.</summary>
public static class ConfigFile
{
    public const string EnvironmentVariable = "RUNPROC_CONFIG";

    /// <summary>The default path: $env:RUNPROC_CONFIG, else ~/.config/runproc/runproc.psd1.</summary>
    public static string DefaultPath()
    {
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env))
            return env;
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".config", "runproc", "runproc.psd1");
    }

    /// <summary>
    /// The config for a call: <paramref name="path"/> (already resolved) if given; else, where
    /// <paramref name="builtInDefaultsWithoutConfig"/> and no default file exists, the built-in defaults; else the default file.
    /// </summary>
    public static RunProcConfig For(string? path, bool builtInDefaultsWithoutConfig) =>
        path is null && builtInDefaultsWithoutConfig && string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(EnvironmentVariable))
            && !File.Exists(DefaultPath())
            ? new RunProcConfig()
            : Load(path);

    /// <summary>Reads and validates a config file; every failure is a <see cref="ConfigException"/> naming the file.</summary>
    public static RunProcConfig Load(string? path)
    {
        var explicitPath = !string.IsNullOrWhiteSpace(path);
        var file = Path.GetFullPath(explicitPath ? path! : DefaultPath());
        if (!File.Exists(file))
        {
            var how = Directory.Exists(file)
                ? "is a directory, not a config file; give the path of the .psd1 file."
                : explicitPath
                ? "the file does not exist; check the -ConfigPath value."
                : $"the file does not exist; create it (the README's 'Configuration reference' and Get-Help about_RunProc list every key; New-ProcDemoFacility writes a working one), set $env:{EnvironmentVariable} to its path, or pass -ConfigPath.";
            throw new ConfigException(file, null, how);
        }
        // The same file, unchanged since this process last read it (a session or script calling cmdlet
        // after cmdlet): its config again. A config is a function of the file's text, its path and
        // the home directory (for ~), and immutable. Only a file last changed (ctime, which no one
        // can set back) more than 2 s before it was read is remembered: a rewrite of the same size in
        // the same timestamp tick would otherwise look unchanged.
        var identity = RunProc.IO.DbDirectory.IdentityOf(file);
        var settled = identity.CtimeNs < (DateTime.UtcNow - DateTime.UnixEpoch - TimeSpan.FromSeconds(2)).Ticks * 100;
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        lock (s_loaded)
            if (identity.Exists && s_loaded.TryGetValue(file, out var known) && known.Identity == identity && known.Home == home)
                return known.Config;
        var config = Read(file);
        lock (s_loaded)
        {
            if (s_loaded.Count >= 16)
                s_loaded.Clear();
            if (identity.Exists && settled)
                s_loaded[file] = (identity, home, config);
            else
                s_loaded.Remove(file);
        }
        return config;
    }

    private static readonly Dictionary<string, (RunProc.IO.FileIdentity Identity, string Home, RunProcConfig Config)> s_loaded = new(StringComparer.Ordinal);

    private static RunProcConfig Read(string file)
    {
        string text;
        try { text = File.ReadAllText(file); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(file, null, $"cannot be read: {ex.Message}");
        }
        Hashtable table;
        try { table = DataFile.Parse(text); }
        catch (DataFile.DataFileException ex)
        {
            throw new ConfigException(file, null, $"not a valid PowerShell data file: {ex.Message}.");
        }
        return RunProcConfig.FromDictionary(table, file);
    }
}
