using RunProc.Demo;
using RunProc.Formats;
using RunProc.Pixels;
using Xunit;

namespace RunProc.Tests.Demo;

/// <summary>RunProc's own reader and kernel on the demo files find exactly the injected pixels with the recorded bits.</summary>
public class DemoPixelStatusTests : IClassFixture<DemoFacilityFixture>
{
    private readonly DemoFacility _f;

    public DemoPixelStatusTests(DemoFacilityFixture fixture) => _f = fixture.Facility;

    [Theory]
    [InlineData("xpptut15", 2)]
    [InlineData("mfx101332224", 8)]
    public void Kernel_FindsTheInjectedPixels(string exp, int runNo)
    {
        var run = _f.Runs.Single(r => r.Experiment == exp && r.Run == runNo);
        foreach (var d in _f.Detectors)
        {
            PixelStatusAccumulator? acc = null;
            if (DemoFacilityGenerator.IsXtc2(exp))
            {
                // The runner's own path: the epix10ka's gain bit is masked by its detector type (0x3FFF).
                var req = new PixelStatusRequest { Files = run.Files };
                var (dets, handle) = PixelReadPipeline.OpenDetectors(run.Files, new[] { d.Name }, null, req.Xtc2Selection, null);
                using (handle)
                {
                    var det = dets.Single();
                    Assert.Equal(d.Pixels, det.Parts[0].FramePixels);
                    Assert.Equal(d.Segments, det.Xtc2!.Segments.Count);
                    acc = PixelReadPipeline.Accumulate(det, req, null, CancellationToken.None);
                }
            }
            else
                foreach (var file in run.Files)
                {
                    using var h5 = Hdf5FrameFile.Open(file);
                    var src = h5.Sources.Single(s => s.Dataset == d.DatasetPath);
                    Assert.Equal(d.Shape, src.FrameShape);
                    Assert.Equal(d.Compressed, src.Compressed);
                    acc ??= new PixelStatusAccumulator(src.FramePixels, 1, 16000);
                    var frames = new ushort[src.FrameCount * src.FramePixels];
                    src.ReadUInt16(0, (int)src.FrameCount, frames);
                    PixelStatusKernel.Accumulate(acc, frames);
                }
            Assert.Equal(run.Events, acc!.Events);
            var summary = PixelStatusSummary.Compute(acc, new PixelStatusOptions());
            var check = DemoCheck.Compare(run, d, null, Array.ConvertAll(summary.Status, s => (long)s), _f.InjectedPixels.Where(p => p.Detector == d.Name).ToArray());
            Assert.True(check.Passed, check.ToString());
            Assert.Equal(_f.InjectedPixels.Count(p => p.Detector == d.Name), summary.BadPixels);
        }
    }
}
