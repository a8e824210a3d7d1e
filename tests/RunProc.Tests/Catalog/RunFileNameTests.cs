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
}
