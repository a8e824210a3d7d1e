using RunProc.Batch;
using Xunit;

namespace RunProc.Tests.Batch;

public class CommandTemplateTests
{
    private static TemplateValues Values(string exp = "xpptut15", int run = 7) => new()
    {
        Process = "pixel_status", Experiment = exp, Run = run, WorkDirectory = "/db/w", LogFile = "/db/l.txt",
        ConfigPath = "/etc/rp.psd1", Attempt = 2, JobName = "rp.x", RunProcArgv = new[] { "/usr/bin/dotnet", "/p/pwsh.dll", "-File", "/m/entry.ps1", "/m/RunProc.psd1" },
    };

    [Fact]
    public void Every_placeholder_expands_in_its_own_element()
    {
        var argv = CommandTemplate.Expand(new[] { "prog", "{exp}", "{run}", "{run4}", "{dsname}", "{ins}", "{workdir}/nda-{exp}-{run4}.txt", "{logfile}", "{config}", "{process}", "{attempt}", "{jobname}", "{{literal}}" }, Values());
        Assert.Equal(new[] { "prog", "xpptut15", "7", "0007", "exp=xpptut15:run=7", "XPP", "/db/w/nda-xpptut15-0007.txt", "/db/l.txt", "/etc/rp.psd1", "pixel_status", "2", "rp.x", "{literal}" }, argv);
    }

    [Fact]
    public void Runproc_expands_to_the_pwsh_argv_prefix()
    {
        var argv = CommandTemplate.Expand(ProcessDefinitionCommand(), Values());
        Assert.Equal(new[] { "/usr/bin/dotnet", "/p/pwsh.dll", "-File", "/m/entry.ps1", "/m/RunProc.psd1", "Invoke-PixelStatus", "-Experiment", "xpptut15", "-Run", "7", "-OutputDirectory", "/db/w", "-Deploy", "-ConfigPath", "/etc/rp.psd1", "-JobName", "rp.x" }, argv);
    }

    private static IReadOnlyList<string> ProcessDefinitionCommand() => RunProc.Config.ProcessDefinition.PixelStatusCommand;

    [Theory]
    [InlineData("{nope}", "unknown placeholder")]
    [InlineData("x{exp", "unclosed")]
    [InlineData("a{runproc}", "whole argv element")]
    public void Bad_templates_name_the_problem(string element, string message)
    {
        var ex = Assert.Throws<ArgumentException>(() => CommandTemplate.Expand(new[] { "prog", element }, Values()));
        Assert.Contains(message, ex.Message);
    }

    [Theory]
    [InlineData("xpp;rm -rf /")]
    [InlineData("../etc")]
    [InlineData("XPPTUT15")]
    public void Invalid_names_never_reach_a_command(string exp) =>
        Assert.Throws<ArgumentException>(() => CommandTemplate.Expand(new[] { "prog", "{exp}" }, Values(exp)));

    [Fact]
    public void Runproc_without_a_known_pwsh_is_an_error() =>
        Assert.Throws<ArgumentException>(() => CommandTemplate.Expand(new[] { "{runproc}", "Get-ProcConfig" }, new TemplateValues
        {
            Process = "p", Experiment = "xpptut15", Run = 1, WorkDirectory = "/w", LogFile = "/l", ConfigPath = "/c",
        }));

    [Fact]
    public void Display_quotes_for_a_posix_shell()
    {
        Assert.Equal("prog 'a b' 'it'\\''s' plain-1.txt", CommandTemplate.Display(new[] { "prog", "a b", "it's", "plain-1.txt" }));
    }

    [Fact]
    public void Crontab_line_quotes_and_escapes_percent()
    {
        var line = CronTable.BuildLine("0 * * * *", new[] { "/usr/bin/dotnet", "/a b/pwsh.dll", "x%y" }, "/db/cycle.log", "# RunProc:p:abc");
        Assert.Equal("0 * * * * /usr/bin/dotnet '/a b/pwsh.dll' x\\%y >> /db/cycle.log 2>&1 # RunProc:p:abc", line);
        Assert.Throws<ArgumentException>(() => CronTable.ValidateSchedule("0 * * *; rm -rf /"));
        Assert.Equal("@hourly", CronTable.ValidateSchedule("@hourly"));
    }

    [Fact]
    public void Crontab_edit_touches_only_the_marked_line()
    {
        const string current = "MAILTO=ops\n5 4 * * * /usr/bin/backup\n0 * * * * old # RunProc:p:abc\n";
        var added = CronTable.AddOrReplace(current, "1 * * * * new # RunProc:p:abc", "# RunProc:p:abc");
        Assert.Equal("MAILTO=ops\n5 4 * * * /usr/bin/backup\n1 * * * * new # RunProc:p:abc\n", added);
        var removed = CronTable.Remove(added, "# RunProc:p:abc", out var n);
        Assert.Equal(1, n);
        Assert.Equal("MAILTO=ops\n5 4 * * * /usr/bin/backup\n", removed);
        Assert.Equal("0 * * * * x # RunProc:q:1\n", CronTable.AddOrReplace("", "0 * * * * x # RunProc:q:1", "# RunProc:q:1"));
    }
}
