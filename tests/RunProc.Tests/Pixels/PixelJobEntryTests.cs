using RunProc.Config;
using System.Management.Automation;
using System.Reflection;
using RunProc.Module.Commands;
using RunProc.Pixels;
using Xunit;

namespace RunProc.Tests.Pixels;

/// <summary>The runproc-pixel job entry takes exactly the cmdlets' parameters, and binds them as PowerShell does.</summary>
public class PixelJobEntryTests
{
    public static TheoryData<string, Type> Cmdlets => new()
    {
        { PixelJobEntry.InvokeCmdlet, typeof(InvokePixelStatusCommand) },
        { PixelJobEntry.MergeCmdlet, typeof(MergePixelStatusCommand) },
    };

    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void Declares_the_parameters_of_the_cmdlet(string name, Type cmdlet)
    {
        var declared = PixelJobEntry.Parameters[name].ToDictionary(p => p.Name);
        var properties = cmdlet.GetProperties().Where(p => p.GetCustomAttributes<ParameterAttribute>().Any()).ToList();
        Assert.Equal(properties.Select(p => p.Name).Order(), declared.Keys.Order());
        foreach (var prop in properties)
        {
            var d = declared[prop.Name];
            var kind = prop.PropertyType switch
            {
                var t when t == typeof(string) => PixelJobEntry.Kind.String,
                var t when t == typeof(string[]) => PixelJobEntry.Kind.StringArray,
                var t when t == typeof(int) => PixelJobEntry.Kind.Int,
                var t when t == typeof(long) => PixelJobEntry.Kind.Long,
                var t when t == typeof(double) => PixelJobEntry.Kind.Double,
                var t when t == typeof(uint) => PixelJobEntry.Kind.UInt,
                var t when t == typeof(SwitchParameter) => PixelJobEntry.Kind.Switch,
                var t when t == typeof(PixelLimitMethod) => PixelJobEntry.Kind.Method,
                var t => throw new Xunit.Sdk.XunitException($"{prop.Name}: type {t} has no kind in PixelJobEntry"),
            };
            Assert.Equal(kind, d.Kind);
            var attr = prop.GetCustomAttributes<ParameterAttribute>().First();
            var set = attr.ParameterSetName == ParameterAttribute.AllParameterSets ? null : attr.ParameterSetName;
            Assert.Equal(set, d.Set);
            Assert.Equal(attr.Mandatory, d.Mandatory);
            Assert.Equal(attr.Position == int.MinValue ? -1 : attr.Position, d.Position);
            var range = prop.GetCustomAttribute<ValidateRangeAttribute>();
            Assert.Equal(range is null, d.Range is null);
            if (range is not null)
            {
                Assert.Equal(System.Convert.ToDouble(range.MinRange), d.Range!.Value.Min);
                Assert.Equal(System.Convert.ToDouble(range.MaxRange), d.Range!.Value.Max);
            }
            Assert.Equal(prop.GetCustomAttribute<ValidateSetAttribute>()?.ValidValues, d.ValidSet);
            Assert.Equal(prop.GetCustomAttribute<ValidatePatternAttribute>()?.RegexPattern, d.Pattern);
            Assert.Equal(prop.GetCustomAttribute<ValidateNotNullOrEmptyAttribute>() is not null, d.NotNullOrEmpty);
            Assert.Equal(prop.GetCustomAttribute<AliasAttribute>()?.AliasNames ?? (IList<string>)Array.Empty<string>(), d.Aliases);
        }
        // ConfigPath is declared by the common base (RunProcCmdlet).
        Assert.True(declared.ContainsKey("ConfigPath"));
    }

    [Fact]
    public void Binds_names_prefixes_switches_and_positions_as_the_pwsh_entry()
    {
        var b = PixelJobEntry.Bind(PixelJobEntry.InvokeCmdlet, new[] { "xpptut15", "-run", "12", "-Deploy", "-Throttle:3", "-DataMask", "0x3FFF", "-Method", "robust", "-Verbose" });
        Assert.Equal("xpptut15", b["Experiment"]);
        Assert.Equal(12, b["Run"]);
        Assert.Equal(true, b["Deploy"]);
        Assert.Equal(3, b["ThrottleLimit"]);
        Assert.Equal(0x3FFFu, b["DataMask"]);
        Assert.Equal(PixelLimitMethod.Robust, b["Method"]);
        Assert.Equal(true, b["Verbose"]);
        var p = PixelJobEntry.Bind(PixelJobEntry.InvokeCmdlet, new[] { "-FullName", "/d/a.h5", "-Deploy:false" });
        Assert.Equal(new[] { "/d/a.h5" }, p["Path"]);
        Assert.Equal(false, p["Deploy"]);
    }

    [Theory]
    [InlineData(new[] { "-Experiment", "x" }, "missing mandatory parameters: Run")]
    [InlineData(new[] { "-Experiment", "x", "-Run", "100000" }, "greater than the maximum allowed range of 99999")]
    [InlineData(new[] { "-Experiment", "x", "-Run", "one" }, "Cannot convert value \"one\" to type \"System.Int32\"")]
    [InlineData(new[] { "-Experiment", "x", "-Run", "1", "-Colour", "red" }, "matches parameter name 'Colour'")]
    [InlineData(new[] { "-Experiment", "x", "-Run", "1", "-Rms", "1" }, "is ambiguous")]
    [InlineData(new[] { "-Experiment", "x", "-Run", "1", "-ArrayType", "xyz" }, "does not belong to the set")]
    [InlineData(new[] { "-Experiment", "x", "-Run", "1", "-JobName", "a b" }, "does not match the")]
    [InlineData(new[] { "-Experiment", "x", "-Run", "1", "-Confirm" }, "run Invoke-PixelStatus through pwsh")]
    [InlineData(new[] { "-Experiment", "x", "-Run", "1", "-Path", "/a.h5" }, "Parameter set cannot be resolved")]
    public void Refuses_what_the_cmdlet_refuses_with_its_message(string[] args, string message)
    {
        var ex = Assert.Throws<PixelJobEntry.BindingException>(() => PixelJobEntry.Bind(PixelJobEntry.InvokeCmdlet, args));
        Assert.Contains(message, ex.Message);
    }

    [Fact]
    public void Exit_codes_are_the_pwsh_entrys()
    {
        var o = new StringWriter();
        var e = new StringWriter();
        Assert.Equal(2, PixelJobEntry.Run(Array.Empty<string>(), o, e));
        Assert.Equal(2, PixelJobEntry.Run(new[] { "Get-ProcJob" }, o, e));
        Assert.Contains("not a cmdlet this entry runs", e.ToString());
        Assert.Equal(1, PixelJobEntry.Run(new[] { "Invoke-PixelStatus", "-Experiment", "x" }, o, e));
        Assert.Contains("ERROR: RunProc entry: Invoke-PixelStatus failed: Cannot process command because of one or more missing mandatory parameters: Run.", o.ToString());
        var missing = Path.Combine(Path.GetTempPath(), $"runproc-nofile-{Guid.NewGuid():N}.h5");
        o = new StringWriter();
        Assert.Equal(1, PixelJobEntry.Run(new[] { "Invoke-PixelStatus", "-Path", missing }, o, e));
        Assert.Contains($"ERROR: Invoke-PixelStatus: Cannot find path '{missing}' because it does not exist. (Check the path of the run file.)", o.ToString());
    }

    [Fact]
    public void Input_it_cannot_process_exits_65_so_the_cycle_does_not_retry()
    {
        var dir = Directory.CreateTempSubdirectory("runproc-entry-").FullName;
        try
        {
            // An LCLS-I .xtc (not read), and an xtc2 run whose only detector has no 'raw' (no frames in it).
            var lcls1 = Path.Combine(dir, "xpptut15-r0001-s00-c00.xtc");
            File.WriteAllBytes(lcls1, new byte[64]);
            List<string> chunks;
            using (var w = new RunProc.Formats.Xtc2StreamWriter(dir, "mfx101332224", 1, 0))
            {
                var names = w.Declare(0, "hsd", "hsd", "fex", 0x010000, 0, new RunProc.Formats.Xtc2Field("peaks", RunProc.Formats.Xtc2DataType.UInt16, 1));
                w.Configure(1UL << 32);
                w.L1Accept((1UL << 32) + 1, new[] { (names, new[] { RunProc.Formats.Xtc2Value.Array<ushort>(new ushort[8], 8) }) });
                chunks = w.Files;
            }
            var flat = chunks[0];
            var e = new StringWriter();
            foreach (var (file, id) in new[] { (lcls1, "LCLS-I xtc is not read yet"), (flat, "No detector frame stacks") })
            {
                var o = new StringWriter();
                var code = PixelJobEntry.Run(new[] { "Invoke-PixelStatus", "-Path", file }, o, e);
                Assert.True(code == ProcessDefinition.DataErrorExitCode, $"{code}: {o}");
                Assert.Contains(id, o.ToString());
            }
            // Another error (a missing file): an ordinary failure (1), retried as before.
            var other = new StringWriter();
            Assert.Equal(1, PixelJobEntry.Run(new[] { "Invoke-PixelStatus", "-Path", Path.Combine(dir, "missing.h5") }, other, e));
            Assert.Contains("does not exist", other.ToString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
