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
        // The full path, built in one piece, is what Path.Join gives.
        foreach (var dir in new[] { "/data/XPP/xpptut15/xtc", "/data/XPP/xpptut15/xtc/", "", "xtc", "/" })
            Assert.Equal(Path.Join(dir, file), n.PathIn(dir));
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

    private static List<RunFileName> RandomNames(Random rng, string exp, int count, int maxRun)
    {
        var kinds = new[] { RunFileKind.Xtc, RunFileKind.Xtc2, RunFileKind.H5 };
        var set = new HashSet<RunFileName>();
        while (set.Count < count)
        {
            var kind = kinds[rng.Next(3)];
            var wide = kind == RunFileKind.Xtc2;
            set.Add(new RunFileName(exp, rng.Next(maxRun + 1), rng.Next(wide ? 1000 : 100), rng.Next(wide ? 1000 : 100), kind, rng.Next(8) == 0,
                (byte)(rng.Next(3) == 0 ? 5 : 4), (byte)(wide ? 3 : 2), (byte)(wide ? 3 : 2)));
        }
        return set.OrderBy(_ => rng.Next()).ToList();
    }

    [Fact]
    public void PackedKeys_RoundTrip_AndSortInTheOrderOfCompareNames()
    {
        var rng = new Random(7);
        foreach (var (count, maxRun) in new[] { (600, 200), (50, 99999), (3000, 1000), (1, 5) })
        {
            var names = RandomNames(rng, "xpptut15", count, maxRun);
            foreach (var n in names)
            {
                Assert.True(RunFileKey.Fits(n));
                Assert.Equal(n, RunFileKey.Unpack(RunFileKey.Pack(n), "xpptut15"));
                Assert.Equal(n.Run, RunFileKey.Run(RunFileKey.Pack(n)));
            }
            var keys = names.Select(n => RunFileKey.Pack(n)).ToArray();
            RunFileKey.Sort(keys);
            var byCompare = names.ToList();
            byCompare.Sort(ExperimentScan.CompareNames);
            // CompareNames ignores digit widths: compare what it orders by.
            static (int, int, int, RunFileKind, bool) Order(RunFileName n) => (n.Run, n.Stream, n.Chunk, n.Kind, n.InProgress);
            Assert.Equal(byCompare.Select(Order), keys.Select(k => Order(RunFileKey.Unpack(k, "xpptut15"))));
            var plain = names.Select(n => RunFileKey.Pack(n)).ToArray();
            Array.Sort(plain);
            Assert.Equal(plain, keys);
        }
    }

    [Fact]
    public void OwnPrefixBuild_GivesTheSameScanAsTheGeneralBuild()
    {
        var rng = new Random(11);
        var now = DateTime.UtcNow;
        foreach (var (count, maxRun) in new[] { (600, 200), (40, 90000), (5, 3) })
        {
            var names = RandomNames(rng, "xpptut15", count, maxRun);
            (long, long)? Stat(RunFileName n) => n.Run % 17 == 0 && n.Stream == 1 ? null : (n.Run * 10L + n.Stream, now.Ticks - TimeSpan.TicksPerHour + n.Chunk);
            bool NeedsStat(int run) => run % 3 != 0;
            var general = names.ToList();
            ExperimentScan.SortNames(general);
            var a = ExperimentScan.Build("XPP", "xpptut15", "/d", 1, 2, general, Stat, now, 120, null, NeedsStat);
            var keys = names.Select(n => RunFileKey.Pack(n)).ToArray();
            RunFileKey.Sort(keys);
            var b = ExperimentScan.BuildOwn("XPP", "xpptut15", "/d", 1, 2, keys, Stat, now, 120, null, NeedsStat);
            Assert.Equal(a.Runs, b.Runs);
            var filesA = a.Runs.SelectMany(r => Enumerable.Range(0, r.FileCount).Select(i => a.FileName(r, i).ToString()));
            var filesB = b.Runs.SelectMany(r => Enumerable.Range(0, r.FileCount).Select(i => b.FileName(r, i).ToString()));
            Assert.Equal(filesA, filesB);
            for (var i = 0; i < b.Runs.Length; i++)
            {
                var start = Array.FindIndex(keys, k => RunFileKey.Run(k) == b.Runs[i].Run);
                var end = Array.FindLastIndex(keys, k => RunFileKey.Run(k) == b.Runs[i].Run) + 1;
                // SameFiles against the listing: true unless a file vanished between listing and stat.
                Assert.Equal(b.Runs[i].FileCount == end - start, b.SameFiles(i, keys, start, end));
            }
        }
    }
}
