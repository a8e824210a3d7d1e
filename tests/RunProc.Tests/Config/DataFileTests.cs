using System.Collections;
using System.Management.Automation.Language;
using RunProc.Config;
using RunProc.Demo;
using Xunit;

namespace RunProc.Tests.Config;

/// <summary>The core's data-file reader (used by the cmdlets and the runproc-pixel job entry) gives what PowerShell gives.</summary>
public class DataFileTests
{
    public static TheoryData<string> Files => new()
    {
        DemoFacilityGenerator.ConfigText(new DemoFacility
        {
            Path = "/tmp/demo", ConfigPath = "/tmp/demo/runproc.psd1", DataRoot = "data", DbRoot = "db", Process = "pixel_status", RunDirectory = "xtc",
            Instruments = new[] { "XPP", "MFX" }, Experiments = Array.Empty<DemoExperiment>(), Runs = Array.Empty<DemoRun>(),
            Detectors = Array.Empty<DemoDetector>(), InjectedPixels = Array.Empty<InjectedPixel>(),
        }),
        "@{ DataRoot = '/d'; DbRoot = \"/db\" ; Instruments = 'XPP','MFX' }",
        "@{\n  DataRoot = '/d' # comment\n  <# block\n comment #>\n  SettleSeconds = 0\n  FileMode = 0x1B4\n  Big = 3000000000\n  Neg = -5\n  F = 1.5e3\n  Kb = 4kb\n  T = $true; N = $null; No = $FALSE\n}",
        "@{ 'Quoted Key' = 'it''s'; \"K2\" = \"tab`there `\"q`\" \"\"x\"\"\"; Empty = @(); One = @('a'); Nested = @{ A = @{ B = @(1, 2, 3) } } }",
        "@{\n  Processes = @{\n    pixel_status = @{\n      Command = @('{runproc}', 'Invoke-PixelStatus',\n                  '-Experiment', '{exp}')\n      Scheduler = 'Slurm'; MaxJobs = 4\n    }\n  }\n  Lines = @(\n    'a'\n    'b'; 'c'\n  )\n  Here = @'\nline 1\n  line 2\n'@\n}",
        "\ufeff@{ Paren = ('x'); One = (1) }",
    };

    [Theory]
    [MemberData(nameof(Files))]
    public void Reads_what_PowerShell_reads(string text)
    {
        // PowerShell reads a file without its byte-order mark.
        var ast = Parser.ParseInput(text.TrimStart('\ufeff'), out _, out var errors);
        Assert.Empty(errors);
        var expected = ((HashtableAst)ast.Find(a => a is HashtableAst, false)!).SafeGetValue();
        AssertSame(expected, DataFile.Parse(text), "$");
    }

    private static void AssertSame(object? expected, object? actual, string where)
    {
        switch (expected)
        {
            case null:
                Assert.True(actual is null, $"{where}: expected null, got {actual}");
                break;
            case Hashtable e:
                var a = Assert.IsType<Hashtable>(actual);
                Assert.Equal(e.Count, a.Count);
                foreach (DictionaryEntry kv in e)
                {
                    Assert.True(a.ContainsKey(kv.Key), $"{where}: key {kv.Key} missing");
                    AssertSame(kv.Value, a[kv.Key], $"{where}.{kv.Key}");
                }
                Assert.True(a.ContainsKey(e.Keys.Cast<object>().FirstOrDefault()?.ToString()?.ToUpperInvariant() ?? ""), $"{where}: keys are case-insensitive");
                break;
            case object[] e:
                var arr = Assert.IsType<object[]>(actual);
                Assert.Equal(e.Length, arr.Length);
                for (var i = 0; i < e.Length; i++)
                    AssertSame(e[i], arr[i], $"{where}[{i}]");
                break;
            default:
                Assert.True(actual is not null, $"{where}: expected {expected}, got null");
                Assert.Equal(expected.GetType(), actual!.GetType());
                Assert.Equal(expected, actual);
                break;
        }
    }

    [Theory]
    [InlineData("@{ DataRoot = $HOME }", "line 1, column 15", "$HOME is a variable")]
    [InlineData("@{ DataRoot = \"$env:HOME/x\" }", "line 1, column 16", "must not contain variables")]
    [InlineData("@{\n  DataRoot = Get-Location\n}", "line 2, column 14", "only constant values")]
    [InlineData("@{ DataRoot = '/d'", "line 1, column 19", "not closed")]
    [InlineData("'not a table'", "line 1, column 1", "one hashtable")]
    public void Names_the_place_of_what_is_not_a_constant(string text, string place, string what)
    {
        var ex = Assert.Throws<DataFile.DataFileException>(() => DataFile.Parse(text));
        Assert.Contains(place, ex.Message);
        Assert.Contains(what, ex.Message);
    }

    [Fact]
    public void A_bad_config_file_is_a_ConfigException_naming_the_file()
    {
        var file = Path.Combine(Path.GetTempPath(), $"runproc-datafile-{Guid.NewGuid():N}.psd1");
        File.WriteAllText(file, "@{ DataRoot = $x }");
        try
        {
            var ex = Assert.Throws<ConfigException>(() => ConfigFile.Load(file));
            Assert.Contains(file, ex.Message);
            Assert.Contains("not a valid PowerShell data file", ex.Message);
            // A directory given as the config: said so.
            var dir = Path.GetDirectoryName(file)!;
            Assert.Contains("is a directory, not a config file", Assert.Throws<ConfigException>(() => ConfigFile.Load(dir)).Message);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public async Task A_config_file_is_read_again_only_when_it_changed()
    {
        var file = Path.Combine(Path.GetTempPath(), $"runproc-datafile-{Guid.NewGuid():N}.psd1");
        File.WriteAllText(file, "@{ DataRoot = '/d'; SettleSeconds = 11 }");
        try
        {
            // Just written (within the 2 s timestamp rule): read on every load.
            Assert.NotSame(ConfigFile.Load(file), ConfigFile.Load(file));
            await Task.Delay(2200);
            var first = ConfigFile.Load(file);
            Assert.Same(first, ConfigFile.Load(file));
            Assert.Same(first, ConfigFile.Load(Path.Join(Path.GetDirectoryName(file), ".", Path.GetFileName(file))));
            // Rewritten with the same size and the old mtime: the change time still tells.
            var mtime = File.GetLastWriteTimeUtc(file);
            File.WriteAllText(file, "@{ DataRoot = '/d'; SettleSeconds = 22 }");
            File.SetLastWriteTimeUtc(file, mtime);
            var second = ConfigFile.Load(file);
            Assert.Equal(22, second.SettleSeconds);
            Assert.Equal(11, first.SettleSeconds);
            // A broken file is an error on every load, not the last good config.
            File.WriteAllText(file, "@{ DataRoot = $x }");
            Assert.Throws<ConfigException>(() => ConfigFile.Load(file));
            Assert.Throws<ConfigException>(() => ConfigFile.Load(file));
        }
        finally { File.Delete(file); }
    }
}
