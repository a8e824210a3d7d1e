using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using RunProc.Catalog;
using Xunit;

namespace RunProc.Tests.Fuzz;

/// <summary>
/// Fuzzing of the run-file-name parser (<see cref="RunFileName.TryParse"/>): no crash and no hang on
/// any input, an accepted name always rebuilds to itself, belongs to the experiment (or the old
/// eNNN form) and has a run in range; every well-formed name round-trips.
/// </summary>
public class RunFileNameFuzzTests
{
    private static readonly string[] Experiments = { "xpptut15", "mfx101332224", "cxil2316", "e123", "a1" };

    private static readonly string[] Seeds =
    {
        "xpptut15-r0260-s01-c00.xtc", "xpptut15-r0260-s01-c00.xtc.inprogress", "e123-r0007-s00-c00.xtc",
        "mfx101332224-r0007-s000-c000.xtc2", "mfx101332224-r0007-s000-c000.xtc2.inprogress",
        "cxil2316-r12345-s02-c01.h5", "xpptut15-r0260-s01-c00.smd.xtc", "xpptut15-r0260.json", "..", ".", "",
        "index", "xpptut15-r99999-s999-c999.h5",
    };

    [Fact]
    public void Parser_NeverThrows_NeverHangs_AndAcceptedNamesRebuildExactly()
    {
        var count = FuzzBudget.Count(ci: 40_000, longRun: 1_200_000);
        var seed = FuzzBudget.Seed(nameof(Parser_NeverThrows_NeverHangs_AndAcceptedNamesRebuildExactly));
        var m = new Mutator(seed, Seeds);
        long accepted = 0;
        Watchdog.Run("RunFileName.TryParse", seed, count, i =>
        {
            var name = m.Next();
            var exp = m.Random.Next(4) == 0 ? m.Mutate(Experiments[m.Random.Next(Experiments.Length)], 1) : Experiments[m.Random.Next(Experiments.Length)];
            if (!RunFileName.TryParse(name, exp, out var parsed, out var reason))
            {
                Assert.False(string.IsNullOrEmpty(reason));
                return;
            }
            accepted++;
            Assert.Null(reason);
            Assert.Equal(name, parsed.ToString());
            Assert.True(parsed.Prefix == exp || (parsed.Prefix.Length > 1 && parsed.Prefix[0] == 'e' && parsed.Prefix[1..].All(char.IsAsciiDigit)),
                $"{ProcRecordFuzzTests.Show(name)} accepted for experiment {exp}");
            Assert.InRange(parsed.Run, 0, Names.MaxRun);
            Assert.True(name.All(c => c < 128), $"non-ASCII name {ProcRecordFuzzTests.Show(name)} accepted");
            Assert.DoesNotContain('/', name);
            Assert.Equal(name.EndsWith(".inprogress", StringComparison.Ordinal), parsed.InProgress);
        });
        FuzzBudget.Record("run-file-name parser: inputs fuzzed", count, $"seed {seed}; {accepted} accepted");
    }

    [Fact]
    public void WellFormedNames_RoundTrip()
    {
        var count = FuzzBudget.Count(ci: 5_000, longRun: 200_000);
        var gen =
            from exp in Gen.Elements(Experiments)
            from old in Gen.Elements(false, false, false, true)
            from oldNo in Gen.Choose(0, 999999)
            from kind in Gen.Elements(RunFileKind.Xtc, RunFileKind.Xtc2, RunFileKind.H5)
            from runWidth in Gen.Elements(4, 5)
            from run in Gen.Choose(0, runWidth == 4 ? 9999 : Names.MaxRun)
            from sw in Gen.Elements(2, 3)
            from cw in Gen.Elements(2, 3)
            from s in Gen.Choose(0, sw == 2 ? 99 : 999)
            from c in Gen.Choose(0, cw == 2 ? 99 : 999)
            from ip in Gen.Elements(false, true)
            select (exp, prefix: old ? "e" + oldNo.ToString(CultureInfo.InvariantCulture) : exp, kind, run, runWidth, s, sw, c, cw, ip);
        Prop.ForAll(gen.ToArbitrary(), x =>
        {
            var ext = x.kind switch { RunFileKind.Xtc => "xtc", RunFileKind.Xtc2 => "xtc2", _ => "h5" };
            var name = $"{x.prefix}-r{x.run.ToString(new string('0', x.runWidth), CultureInfo.InvariantCulture)}" +
                       $"-s{x.s.ToString(new string('0', x.sw), CultureInfo.InvariantCulture)}-c{x.c.ToString(new string('0', x.cw), CultureInfo.InvariantCulture)}.{ext}{(x.ip ? ".inprogress" : "")}";
            Assert.True(RunFileName.TryParse(name, x.exp, out var p, out var reason), $"{name}: {reason}");
            Assert.Equal(new RunFileName(x.prefix, x.run, x.s, x.c, x.kind, x.ip, (byte)x.runWidth, (byte)x.sw, (byte)x.cw), p);
            Assert.Equal(name, p.ToString());
        }).Check(FsCheck.Config.QuickThrowOnFailure.WithMaxTest(count).WithQuietOnSuccess(true));
        FuzzBudget.Record("run-file-name round trips", count);
    }
}
