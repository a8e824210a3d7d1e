using RunProc.Catalog;
using Xunit;

namespace RunProc.Tests.Catalog;

public class RunFileNameTests
{
    [Theory]
    [InlineData("xpptut15-r0260-s01-c00.xtc", "xpptut15", 260, 1, 0, RunFileKind.Xtc, false)]
    [InlineData("e123-r0007-s05-c02.xtc", "xpptut15", 7, 5, 2, RunFileKind.Xtc, false)]
    [InlineData("mfx101332224-r0007-s000-c000.xtc2", "mfx101332224", 7, 0, 0, RunFileKind.Xtc2, false)]
    [InlineData("mfx101332224-r0007-s012-c003.xtc2.inprogress", "mfx101332224", 7, 12, 3, RunFileKind.Xtc2, true)]
    [InlineData("cxil2316-r0151-s00-c00.h5", "cxil2316", 151, 0, 0, RunFileKind.H5, false)]
    [InlineData("xpptut15-r0001-s00-c00.xtc.inprogress", "xpptut15", 1, 0, 0, RunFileKind.Xtc, true)]
    [InlineData("xpptut15-r12345-s00-c00.xtc", "xpptut15", 12345, 0, 0, RunFileKind.Xtc, false)]
    public void Parses_RunFiles_AndRebuildsTheName(string file, string exp, int run, int stream, int chunk, RunFileKind kind, bool inProgress)
    {
        Assert.True(RunFileName.TryParse(file, exp, out var n, out var reason), reason);
        Assert.Equal(run, n.Run);
        Assert.Equal(stream, n.Stream);
        Assert.Equal(chunk, n.Chunk);
        Assert.Equal(kind, n.Kind);
        Assert.Equal(inProgress, n.InProgress);
        Assert.Equal(file, n.ToString());
    }

    [Theory]
    [InlineData("xpptut15-r0260-s01-c00.xtc.bak")]
    [InlineData("xpptut15-r260-s01-c00.xtc")]
    [InlineData("xpptut15-r0260-s1-c00.xtc")]
    [InlineData("index")]
    [InlineData(".xpptut15-r0260-s01-c00.xtc")]
    [InlineData("xpptut16-r0260-s01-c00.xtc")]
    [InlineData("xpptut15-r0260-s01-c00.XTC")]
    [InlineData("xpptut15-r0260-s01-c00.smd.xtc2")]
    [InlineData("xpptut15-r0260-s01-c00.xtc\n")]
    [InlineData("xpptut15-r0260-s01-c00.xtc.inprogress.inprogress")]
    [InlineData("-r0260-s01-c00.xtc")]
    [InlineData("e1234567-r0260-s01-c00.xtc")]
    [InlineData("xpptut15-r123456-s01-c00.xtc")]
    [InlineData("xpptut15-r0260-s0001-c00.xtc")]
    [InlineData("xpptut15-r0260-s01-c00")]
    [InlineData("xpptut15-r0260-c00-s01.xtc")]
    [InlineData("Xpptut15-r0260-s01-c00.xtc")]
    public void Rejects_OtherNames(string file)
    {
        Assert.False(RunFileName.TryParse(file, "xpptut15", out _, out var reason));
        Assert.False(string.IsNullOrEmpty(reason));
    }

    [Theory]
    [InlineData("xpptut15-r0260-s01-c00.xtc")]
    [InlineData("xpptut15-r00260-s001-c003.h5")]
    [InlineData("xpptut15-r0260-s01-c00.xtc2.inprogress")]
    [InlineData("xpptut15-r0260-s01-c00.xtc.inprogress")]
    [InlineData("xpptut15-r026-s01-c00.xtc")]
    [InlineData("xpptut15-r000260-s01-c00.xtc")]
    [InlineData("xpptut15-r0260-s1-c00.xtc")]
    [InlineData("xpptut15-r0260-s0001-c00.xtc")]
    [InlineData("xpptut15-r0260-s01-c00.xtcx")]
    [InlineData("xpptut15-r0260-s01-c00")]
    [InlineData("xpptut15-r0260-s01-c00.xtc\n")]
    [InlineData("xpptut15x-r0260-s01-c00.xtc")]
    [InlineData("xpptut15_r0260-s01-c00.xtc")]
    [InlineData("xpptut15-r0000-s01-c00.xtc")]
    [InlineData("xpptut15-r99999-s01-c00.xtc")]
    [InlineData("e123-r0007-s05-c02.xtc")]
    [InlineData("xpptut15-x0260-s01-c00.xtc")]
    [InlineData("xpptut15-r0260-s01-c00.xtc.inprogress.inprogress")]
    public void The_byte_fast_path_agrees_with_the_general_parser(string file)
    {
        var general = RunFileName.TryParse(file, "xpptut15", out var expected, out _);
        var fast = RunFileName.TryParseOwn(System.Text.Encoding.UTF8.GetBytes(file), "xpptut15", "xpptut15"u8, out var got);
        // The fast path takes exactly the names with the experiment's own prefix that the general parser accepts.
        Assert.Equal(general && expected.Prefix == "xpptut15", fast);
        if (fast)
            Assert.Equal(expected, got);
    }

    [Fact]
    public void The_linear_sort_orders_names_as_the_comparison_does()
    {
        var rng = new Random(7);
        foreach (var (runs, spread) in new[] { (50, 60), (200, 200), (30, 90000), (1, 1) })
        {
            var names = new List<RunFileName>();
            for (var k = 0; k < runs; k++)
            {
                var run = 1 + rng.Next(spread);
                for (var s = 0; s < 3; s++)
                    names.Add(new RunFileName("xpptut15", run, rng.Next(4), rng.Next(3), (RunFileKind)(1 + rng.Next(3)), rng.Next(5) == 0, 4, 2, 2));
            }
            var expected = names.OrderBy(n => n, Comparer<RunFileName>.Create(ExperimentScan.CompareNames)).ToList();
            ExperimentScan.SortNames(names);
            Assert.Equal(expected.Select(ExperimentScan.Key), names.Select(ExperimentScan.Key));
            Assert.Equal(expected.OrderBy(n => n.ToString()).Select(n => n.ToString()), names.OrderBy(n => n.ToString()).Select(n => n.ToString()));
        }
    }
}
