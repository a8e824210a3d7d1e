using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using RunProc.Db;
using RunProc.Tests.Catalog;
using Xunit;

namespace RunProc.Tests.Fuzz;

/// <summary>
/// Fuzzing of the DB record parser (<see cref="ProcRecord.TryParse"/>) and of the DB files it reads:
/// no crash, no hang, the fast run-number path agrees with the full parser, rewrites keep every
/// line they do not move byte for byte, and Format/TryParse round-trip.
/// CI runs a few ten thousand inputs; RUNPROC_LONG=1 runs over 10^6.
/// </summary>
public class ProcRecordFuzzTests
{
    internal static readonly string[] Seeds =
    {
        "0151 2017-10-05T15:19:21 dubrovin psanaphi106 cwd:/reg/neh/home/dubrovin cmd:proc_new_datasets",
        "0152 2017-10-05T15:19:22 dubrovin psanaphi106 cwd:/home cmd:proc_new_datasets -s extra fields\r",
        "0001 2026-01-02T03:04:05 root host cwd:/ cmd:Invoke-ProcCycle",
        "99999 2026-11-24T21:32:18 op h cwd:/a b/c cmd:Submit-ProcJob -Force",
        "0153",
        "  0007   2020-01-01T00:00:00   x   y   cwd:/   cmd:z  ",
        "# a comment",
        "",
        "garbage line here",
        "0000 2017-10-05T15:19:21 - - cwd: cmd:",
    };

    [Fact]
    public void RecordParser_NeverThrows_NeverHangs_AndOnlyAcceptsALeadingRunNumber()
    {
        var count = FuzzBudget.Count(ci: 40_000, longRun: 1_200_000);
        var seed = FuzzBudget.Seed(nameof(RecordParser_NeverThrows_NeverHangs_AndOnlyAcceptsALeadingRunNumber));
        var m = new Mutator(seed, Seeds);
        long accepted = 0, rejected = 0, blank = 0;
        Watchdog.Run("ProcRecord.TryParse", seed, count, i =>
        {
            var line = m.Next();
            var rec = ProcRecord.TryParse(line, "f.txt", i + 1, RecordState.Processed, out var problem);
            var trimmed = line.TrimEnd('\r');
            if (rec is null)
            {
                if (problem is null)
                {
                    // Only a blank line is skipped silently.
                    Assert.True(string.IsNullOrWhiteSpace(trimmed), $"line {Show(line)} skipped without a problem");
                    blank++;
                }
                else
                {
                    Assert.False(string.IsNullOrWhiteSpace(trimmed));
                    Assert.True(problem.Length < 400, "a problem text must stay short even for a huge line");
                    rejected++;
                }
                return;
            }
            Assert.Null(problem);
            accepted++;
            Assert.InRange(rec.Run, 0, Names.MaxRun);
            Assert.Equal(trimmed, rec.Line);
            var first = trimmed.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries)[0];
            Assert.True(first.All(char.IsAsciiDigit), $"accepted run field {Show(first)}");
            Assert.Equal(int.Parse(first, NumberStyles.None, CultureInfo.InvariantCulture), rec.Run);
            if (rec.Time is { } t)
                Assert.Equal(rec.Line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[1], t.ToString(ProcRecord.TimeFormat, CultureInfo.InvariantCulture));
        });
        FuzzBudget.Record("record parser: inputs fuzzed", count, $"seed {seed}; {accepted} accepted, {rejected} rejected, {blank} blank");
    }

    [Fact]
    public void DbFiles_FastRunPath_AgreesWithTheParser_AndRewritesKeepEveryOtherLineByteForByte()
    {
        var files = FuzzBudget.Count(ci: 150, longRun: 8_000);
        const int linesPerFile = 128;
        var seed = FuzzBudget.Seed(nameof(DbFiles_FastRunPath_AgreesWithTheParser_AndRewritesKeepEveryOtherLineByteForByte));
        var m = new Mutator(seed, Seeds);
        using var f = new Facility();
        var db = new ProcDb(f.Config, "pixel_status");
        const string exp = "xpptut15";
        var path = db.ProcessedFile(exp);
        var archive = db.ArchiveFile(exp);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        long lines = 0, moved = 0;
        Watchdog.Run("DB file", seed, files, i =>
        {
            File.Delete(archive);
            var content = new List<byte[]>();
            for (var k = 0; k < linesPerFile; k++)
            {
                var b = m.Random.Next(3) == 0 ? Encoding.UTF8.GetBytes(Seeds[0].Replace("0151", m.Random.Next(0, 100000).ToString("D4", CultureInfo.InvariantCulture))) : m.NextBytes();
                // One line each: the line splitter is '\n'; keep '\r' and everything else.
                content.Add(b.Select(x => x == (byte)'\n' ? (byte)' ' : x).ToArray());
            }
            var finalNewline = m.Random.Next(4) != 0;
            // An empty last line without a final newline does not exist in a file: "a\n" is one line.
            if (!finalNewline && content[^1].Length == 0)
                content[^1] = Encoding.UTF8.GetBytes(Seeds[4]);
            var bytes = Join(content, finalNewline);
            File.WriteAllBytes(path, bytes);
            lines += content.Count;

            var fastWarnings = new List<DbWarning>();
            var parseWarnings = new List<DbWarning>();
            var fast = db.ReadDoneRuns(exp, fastWarnings.Add);
            var parsed = db.ReadRecords(exp, parseWarnings.Add);
            var byParser = parsed.Select(r => r.Run).ToHashSet();
            if (!byParser.SetEquals(fast))
            {
                // Name the lines the two readers disagree on.
                var diff = byParser.Except(fast).Concat(fast.Except(byParser)).ToHashSet();
                var lines = content.Select((l, k) => (l, k)).Where(x => diff.Any(d => Encoding.UTF8.GetString(x.l).Contains(d.ToString("D4", CultureInfo.InvariantCulture))))
                    .Select(x => $"line {x.k + 1}: {Convert.ToHexString(x.l.Take(40).ToArray())}");
                Assert.Fail($"fast path and parser disagree on runs {string.Join(",", diff)} (parser-only: {string.Join(",", byParser.Except(fast))}): {string.Join("; ", lines.Take(5))}");
            }
            Assert.Equal(parseWarnings.Select(w => w.Line), fastWarnings.Select(w => w.Line));
            Assert.All(parseWarnings, w => Assert.Equal(path, w.File));

            // A rewrite (code 40) moves some runs; every other line must stay exactly as it was.
            var runs = parsed.Select(r => r.Run).Distinct().Where(_ => m.Random.Next(3) == 0).ToHashSet();
            var result = db.MoveToArchive(exp, runs);
            moved += result.Count;
            var expectedKept = new List<byte[]>();
            var expectedMoved = new List<byte[]>();
            foreach (var line in content)
            {
                // A UTF-8 byte-order mark at the start of the file is not part of the first record.
                var text = line == content[0] && line.AsSpan().StartsWith("\uFEFF"u8) ? Encoding.UTF8.GetString(line.AsSpan(3)) : Encoding.UTF8.GetString(line);
                var rec = ProcRecord.TryParse(text, path, 0, RecordState.Processed, out _);
                if (rec is not null && runs.Contains(rec.Run))
                    expectedMoved.Add(line == content[0] && line.AsSpan().StartsWith("\uFEFF"u8) ? line[3..] : line);
                else
                    expectedKept.Add(line);
            }
            if (result.Count == 0)
            {
                Assert.Equal(bytes, File.ReadAllBytes(path));
                return;
            }
            AssertLines(expectedKept, File.ReadAllBytes(path), path);
            AssertLines(Distinct(expectedMoved), File.ReadAllBytes(archive), archive);
        });
        FuzzBudget.Record("DB files: fuzzed lines read + rewritten", lines, $"seed {seed}; {files} files, {moved} records moved to archive");
    }

    [Fact]
    public void FormatThenParse_RoundTrips()
    {
        var count = FuzzBudget.Count(ci: 3_000, longRun: 200_000);
        var text = Gen.OneOf(
            Gen.Elements("dubrovin", "psanaphi106", "/reg/neh/home/dubrovin", "proc_new_datasets", "", " ", "a b", "x\ty"),
            Gen.ArrayOf(Gen.OneOf(
                Gen.Elements('a', 'Z', '0', '/', '-', '_', ' ', '\t', '\r', '\n', '\0', '\u00a0', '\u0085', '\u2028', '\u3000', '\u200b', 'é', '\ufeff', ':'),
                Gen.Choose(0x20, 0xD7FF).Select(c => (char)c))).Select(a => new string(a)));
        var gen =
            from run in Gen.Choose(0, Names.MaxRun)
            from secs in Gen.Choose(0, int.MaxValue)
            from login in text
            from host in text
            from cwd in text
            from cmd in text
            select (run, time: new DateTime(2000, 1, 1).AddSeconds(secs), login, host, cwd, cmd);
        var checkedFields = 0L;
        Prop.ForAll(gen.ToArbitrary(), x =>
        {
            var line = ProcRecord.Format(x.run, x.time, x.login, x.host, x.cwd, x.cmd);
            Assert.DoesNotContain('\n', line);
            Assert.DoesNotContain('\r', line);
            var rec = ProcRecord.TryParse(line, "f", 1, RecordState.Processed, out var problem);
            Assert.Null(problem);
            Assert.NotNull(rec);
            Assert.Equal(x.run, rec!.Run);
            Assert.Equal(x.time, rec.Time);
            // Login and host are single fields: whatever they hold, they come back as one field each.
            Assert.Equal(Field(x.login), rec.Login);
            Assert.Equal(Field(x.host), rec.Host);
            // cwd and cmd are free text; defined when they do not contain the markers themselves.
            if (!(x.cwd + x.cmd).Contains(" cwd:") && !(x.cwd + x.cmd).Contains(" cmd:") && !x.login.Contains("cwd:") && !x.host.Contains("cwd:"))
            {
                Assert.Equal(OneLine(x.cwd), rec.Cwd);
                Assert.Equal(OneLine(x.cmd).Trim(), rec.Command);
                checkedFields++;
            }
        }).Check(FsCheck.Config.QuickThrowOnFailure.WithMaxTest(count).WithQuietOnSuccess(true));
        FuzzBudget.Record("record Format/TryParse round trips", count, $"{checkedFields} with all fields compared");
    }

    /// <summary>What a login or host must read back as: one field, never empty.</summary>
    private static string Field(string s)
    {
        var t = new string(OneLine(s).Trim().Select(c => char.IsWhiteSpace(c) ? '_' : c).ToArray());
        return t.Length == 0 ? "-" : t;
    }

    private static string OneLine(string s) => new(s.Select(c => char.IsControl(c) ? ' ' : c).ToArray());

    private static byte[] Join(List<byte[]> lines, bool finalNewline)
    {
        var ms = new MemoryStream();
        for (var i = 0; i < lines.Count; i++)
        {
            ms.Write(lines[i]);
            if (i < lines.Count - 1 || finalNewline) ms.WriteByte((byte)'\n');
        }
        return ms.ToArray();
    }

    private static List<byte[]> Distinct(List<byte[]> lines)
    {
        var seen = new HashSet<string>();
        return lines.Where(l => seen.Add(Convert.ToBase64String(TrimCr(l)))).ToList();
    }

    private static byte[] TrimCr(byte[] l) => l.Length > 0 && l[^1] == '\r' ? l[..^1] : l;

    private static void AssertLines(List<byte[]> expected, byte[] actual, string file)
    {
        var got = Split(actual);
        Assert.True(expected.Count == got.Count, $"{file}: expected {expected.Count} lines, found {got.Count}");
        for (var i = 0; i < expected.Count; i++)
            if (!expected[i].AsSpan().SequenceEqual(got[i]) && !TrimCr(expected[i]).AsSpan().SequenceEqual(got[i]))
                Assert.Fail($"{file}:{i + 1}: line changed by the rewrite: expected {Convert.ToHexString(expected[i])}, found {Convert.ToHexString(got[i])}");
    }

    private static List<byte[]> Split(byte[] b)
    {
        var list = new List<byte[]>();
        var start = 0;
        for (var i = 0; i < b.Length; i++)
            if (b[i] == '\n') { list.Add(b[start..i]); start = i + 1; }
        if (start < b.Length) list.Add(b[start..]);
        return list;
    }

    internal static string Show(string s) => s.Length > 200 ? Names.Show(s[..200]) + $"... ({s.Length} chars)" : Names.Show(s);
}
