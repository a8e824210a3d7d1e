using System.Buffers.Binary;
using RunProc.Formats;
using RunProc.Tests.Formats;
using Xunit;

namespace RunProc.Tests.Fuzz;

/// <summary>
/// Mutated xtc2 runs (bit flips, hostile u32s written over headers, truncations, splices, in the
/// chunks and in the smalldata index) never crash or hang the reader and never make it allocate
/// more than the files hold: each one reads, or fails with a <see cref="FrameReadException"/>
/// naming one of the files.
/// </summary>
public class Xtc2FuzzTests
{
    private static readonly uint[] Hostile =
    {
        0, 1, 11, 12, 13, 20, 24, 0x7F, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFF, 1036, 1036 + 524, 0x0C000000, 0x02000000,
    };

    [Fact]
    public void MutatedRuns_ReadOrFailNamingTheFile_WithinTheFileSizeInMemory()
    {
        var count = FuzzBudget.Count(ci: 400, longRun: 100_000);
        var seed = FuzzBudget.Seed(nameof(MutatedRuns_ReadOrFailNamingTheFile_WithinTheFileSizeInMemory));
        var rng = new Random(seed);
        var root = Path.Join(Path.GetTempPath(), "runproc-xtc2-fuzz-" + Guid.NewGuid().ToString("N"));
        var seedDir = Path.Join(root, "seed");
        try
        {
            var spec = new Xtc2Sample.Spec
            {
                Events = 8, ChunkAt = new[] { 5 }, SmallData = true, OddOffsets = true, Damaged = new[] { 2 }, Missing = new[] { (3, 0, 1) },
                Detectors = new[] { new Xtc2Sample.Det("epixquad", "epix10ka", 2, 4, 8), new Xtc2Sample.Det("jungfrau", "jungfrau", 1, 3, 8, Rank3: true) },
            };
            var seedFiles = Xtc2Sample.Write(seedDir, spec);
            var chunks = seedFiles.Count;
            seedFiles.Add(Path.Join(seedDir, "smalldata", "mfx101332224-r0007-s000-c000.smd.xtc2"));
            var originals = seedFiles.Select(File.ReadAllBytes).ToArray();
            // Where structures start: dgram and xtc headers, the likeliest places for damage to matter.
            var starts = seedFiles.Select(HeaderOffsets).ToArray();
            var dir = Path.Join(root, "run");
            Directory.CreateDirectory(Path.Join(dir, "smalldata"));
            var targets = seedFiles.Select(f => Path.Join(dir, Path.GetRelativePath(seedDir, f))).ToArray();
            for (var k = 0; k < targets.Length; k++)
                File.WriteAllBytes(targets[k], originals[k]);
            using (var intact = Xtc2Run.Open(targets.Take(chunks).ToArray(), Array.Empty<string>()))
                Assert.Equal(new long[] { 6, 7 }, intact.Detectors.Select(d => d.EventsUsed));
            long failures = 0, reads = 0;
            var last = 0;
            Watchdog.Run("Xtc2Run", seed, count, i =>
            {
                File.WriteAllBytes(targets[last], originals[last]);
                var victim = last = rng.Next(targets.Length);
                var bytes = Mutate(rng, originals[victim], starts[victim]);
                File.WriteAllBytes(targets[victim], bytes);
                var total = targets.Sum(t => new FileInfo(t).Length);
                var before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    var sel = new Xtc2Selection(rng.Next(3), rng.Next(2) == 0 ? null : rng.Next(1, 9), rng.Next(2) == 0);
                    using var run = Xtc2Run.Open(targets.Take(chunks).ToArray(), Array.Empty<string>(), sel);
                    foreach (var d in run.Detectors)
                    {
                        if (d.Frames is not { FrameCount: > 0 } src) continue;
                        // As the pipeline reads them: uint16 frames as they are, other types (a
                        // mutated Names table can make the raw uint8, a frame type too) widened.
                        if (src.ElementType == FrameElementType.UInt16)
                        {
                            var buf = new ushort[src.FrameCount * src.FramePixels];
                            src.ReadUInt16(0, (int)src.FrameCount, buf);
                        }
                        var ints = new int[src.FramePixels];
                        src.ReadInt32(src.FrameCount - 1, 1, ints, 0x3FFF);
                    }
                    reads++;
                }
                catch (FrameReadException ex)
                {
                    failures++;
                    Assert.True(targets.Any(t => ex.Message.Contains(t, StringComparison.Ordinal)), $"seed {seed} input {i}: the error names no file: {ex.Message}");
                }
                var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                // Frames copied out (at most the files' bytes) plus bookkeeping; a size taken from a damaged header would be far more.
                Assert.True(allocated <= 2 * total + (1 << 20), $"seed {seed} input {i}: {allocated} bytes allocated for {total} bytes of files");
            });
            FuzzBudget.Record("xtc2 mutated runs read", count, $"{reads} read, {failures} refused with an error naming the file (seed {seed})");
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, true);
        }
    }

    private static long[] HeaderOffsets(string file)
    {
        var list = new List<long>();
        using var f = Xtc2File.Open(file);
        foreach (var d in f.Dgrams())
        {
            list.Add(d.Offset);
            Walk(f, d.Root, d.Index, list);
        }
        return list.ToArray();
    }

    private static void Walk(Xtc2File f, Xtc2Xtc x, long dgram, List<long> into)
    {
        into.Add(x.Offset);
        if (x.TypeId is Xtc2TypeId.Parent or Xtc2TypeId.ShapesData)
            foreach (var c in f.Children(x, dgram))
                Walk(f, c, dgram, into);
    }

    private static byte[] Mutate(Random rng, byte[] original, long[] starts)
    {
        var b = (byte[])original.Clone();
        var n = 1 + rng.Next(4);
        for (var m = 0; m < n; m++)
        {
            var at = rng.Next(2) == 0 && starts.Length > 0
                ? (int)Math.Min(b.Length - 1, starts[rng.Next(starts.Length)] + rng.Next(24))
                : rng.Next(b.Length);
            switch (rng.Next(6))
            {
                case 0: b[at] ^= (byte)(1 << rng.Next(8)); break;
                case 1:
                    if (at + 4 <= b.Length)
                        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), rng.Next(3) == 0 ? (uint)rng.Next() : Hostile[rng.Next(Hostile.Length)]);
                    break;
                case 2: Array.Resize(ref b, rng.Next(b.Length)); return b;
                case 3: b[at] = (byte)rng.Next(256); break;
                case 4:
                {
                    // Splice: a slice of the file copied over another place.
                    var len = rng.Next(1, 64);
                    var from = rng.Next(b.Length);
                    len = Math.Min(len, Math.Min(b.Length - from, b.Length - at));
                    Array.Copy(original, from, b, at, len);
                    break;
                }
                default:
                    if (at + 2 <= b.Length)
                        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(at), (ushort)Hostile[rng.Next(Hostile.Length)]);
                    break;
            }
            if (b.Length == 0) return b;
        }
        return b;
    }
}
