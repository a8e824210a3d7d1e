using System.Globalization;
using System.Text;
using System.Text.Json;
using PureHDF;
using PureHDF.Filters;
using PureHDF.VOL.Native;

namespace RunProc.Demo;

/// <summary>
/// Generates the demo facility: 2 instruments, 3 experiments (one not under control), 10 runs of
/// detector frames (a 4-segment and a 1-segment detector, uint16) with bad pixels injected at
/// known places: the LCLS-II experiment mfx101332224 as xtc2 (the epix10ka in stream s000 with
/// its gain bit set, the jungfrau in s001, smalldata index beside), the LCLS-I-style ones as
/// HDF5 (the epix10ka compressed); one run still being written, a processing DB with
/// experiments.txt, and a config file pointing at all of it. Deterministic for a given seed.
/// </summary>
public static class DemoFacilityGenerator
{
    /// <summary>The process the demo config sets up.</summary>
    public const string ProcessName = RunProc.Config.ProcessDefinition.PixelStatus;

    /// <summary>
    /// Directory of run files under each experiment: xtc/, where LCLS keeps the DAQ's files. The
    /// config names one run directory for the whole facility, so the HDF5 runs are there too.
    /// </summary>
    public const string RunDirectory = "xtc";

    /// <summary>The demo's detectors: a multi-segment one (compressed, chunked by frame) and a single-segment one (contiguous).</summary>
    public static readonly IReadOnlyList<DemoDetector> Detectors = new[]
    {
        new DemoDetector("epix10ka", "/entry/data/epix10ka", 4, 176, 192, Compressed: true),
        new DemoDetector("jungfrau", "/entry/data/jungfrau", 1, 352, 384, Compressed: false),
    };

    // (instrument, experiment, under control, LCLS-II xtc2, runs as (run, chunks, last chunk in progress)).
    private static readonly (string Ins, string Exp, bool Control, bool Xtc2, (int Run, int Chunks, bool InProgress)[] Runs)[] Layout =
    {
        ("XPP", "xpptut15", true, false, new[] { (1, 1, false), (2, 1, false), (3, 1, false), (4, 2, true) }),
        ("MFX", "mfx101332224", true, true, new[] { (7, 1, false), (8, 2, false), (9, 1, false), (10, 1, false) }),
        ("XPP", "xppc00121", false, false, new[] { (1, 1, false), (2, 1, false) }),
    };

    /// <summary>xtc2 stream of each detector (the DAQ writes one stream per node).</summary>
    public static int Xtc2Stream(DemoDetector d) => Detectors.ToList().IndexOf(d);

    /// <summary>True for an experiment the demo writes as LCLS-II xtc2.</summary>
    public static bool IsXtc2(string experiment) => Layout.Any(l => l.Exp == experiment && l.Xtc2);

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>The facility that <see cref="Generate"/> would write at <paramref name="path"/>, without touching the disk.</summary>
    public static DemoFacility Plan(string path, DemoFacilityOptions? options = null)
    {
        options ??= new DemoFacilityOptions();
        if (options.FramesPerFile < 10)
            throw new ArgumentOutOfRangeException(nameof(options), options.FramesPerFile, "FramesPerFile must be at least 10 (the noisy pixel's pattern repeats every 10 frames).");
        if (options.PerClass is < 1 or > 1000)
            throw new ArgumentOutOfRangeException(nameof(options), options.PerClass, "PerClass must be 1..1000.");
        var root = System.IO.Path.GetFullPath(path);
        var dataRoot = System.IO.Path.Combine(root, "data");
        var dbRoot = System.IO.Path.Combine(root, "db");
        var runs = new List<DemoRun>();
        var experiments = new List<DemoExperiment>();
        foreach (var (ins, exp, control, xtc2, expRuns) in Layout)
        {
            experiments.Add(new DemoExperiment(ins, exp, control));
            var dir = System.IO.Path.Combine(dataRoot, ins, exp, RunDirectory);
            foreach (var (run, chunks, inProgress) in expRuns)
            {
                var files = new List<string>();
                foreach (var stream in xtc2 ? Enumerable.Range(0, Detectors.Count) : new[] { 0 })
                    for (var c = 0; c < chunks; c++)
                    {
                        var name = xtc2
                            ? string.Create(CultureInfo.InvariantCulture, $"{exp}-r{run:D4}-s{stream:D3}-c{c:D3}.xtc2")
                            : string.Create(CultureInfo.InvariantCulture, $"{exp}-r{run:D4}-s00-c{c:D2}.h5");
                        if (inProgress && c == chunks - 1)
                            name += ".inprogress";
                        files.Add(System.IO.Path.Combine(dir, name));
                    }
                runs.Add(new DemoRun(ins, exp, run, chunks * options.FramesPerFile, files, inProgress, control));
            }
        }
        return new DemoFacility
        {
            Path = root,
            ConfigPath = System.IO.Path.Combine(root, DemoFacility.ConfigFileName),
            DataRoot = dataRoot,
            DbRoot = dbRoot,
            Process = ProcessName,
            RunDirectory = RunDirectory,
            Instruments = Layout.Select(l => l.Ins).Distinct().ToArray(),
            Experiments = experiments,
            Runs = runs,
            Detectors = Detectors,
            InjectedPixels = Detectors.SelectMany(d => PlaceBadPixels(d, options.Seed, options.PerClass)).ToArray(),
            Seed = options.Seed,
            Created = DateTime.UtcNow,
        };
    }

    /// <summary>
    /// Writes the facility at <paramref name="path"/>. An existing folder must be empty, or a demo
    /// facility (it holds demo-facility.json) and <see cref="DemoFacilityOptions.Force"/> set; any
    /// other folder is never touched.
    /// </summary>
    /// <exception cref="IOException">The folder exists and may not be replaced.</exception>
    public static DemoFacility Generate(string path, DemoFacilityOptions? options = null, Action<DemoProgress>? progress = null, CancellationToken cancel = default)
    {
        options ??= new DemoFacilityOptions();
        var facility = Plan(path, options);
        PrepareFolder(facility.Path, options.Force);

        // The manifest goes first so that a half-written facility is still recognised (and -Force can replace it).
        File.WriteAllText(facility.ManifestPath, JsonSerializer.Serialize(facility, JsonOptions));

        // One unit of work per HDF5 file, or per xtc2 stream (its chunks are written in order).
        var files = facility.Runs
            .SelectMany(r => IsXtc2(r.Experiment)
                ? Detectors.Select(d => (Run: r, Files: r.Files.Where(f => f.Contains($"-s{Xtc2Stream(d):D3}-", StringComparison.Ordinal)).ToArray(), Chunk: -1))
                : r.Files.Select((f, i) => (Run: r, Files: new[] { f }, Chunk: i)))
            .ToArray();
        var total = facility.Runs.Sum(r => r.Files.Count);
        var done = 0;
        var pedestals = Detectors.ToDictionary(d => d.Name, d => Pedestals(d, options.Seed));
        var bad = facility.InjectedPixels.GroupBy(p => p.Detector).ToDictionary(g => g.Key, g => g.ToArray());
        var noise = NoiseTable(options.Seed);
        // Runs were "taken" earlier today, 10 minutes apart; the file being written is new.
        var start = DateTime.UtcNow.AddMinutes(-10 * (files.Length + 1));
        Parallel.ForEach(
            files.Select((f, i) => (f.Run, f.Files, f.Chunk, Order: i)),
            new ParallelOptions { MaxDegreeOfParallelism = options.Parallelism, CancellationToken = cancel },
            f =>
            {
                Directory.CreateDirectory(System.IO.Path.GetDirectoryName(f.Files[0])!);
                if (f.Chunk < 0)
                    WriteXtc2Stream(f.Files, f.Run, options.FramesPerFile, pedestals, bad, noise);
                else
                    WriteRunFile(f.Files[0], f.Run, f.Chunk * options.FramesPerFile, options.FramesPerFile, pedestals, bad, noise);
                foreach (var file in f.Files)
                {
                    var inProgress = file.EndsWith(".inprogress", StringComparison.Ordinal);
                    File.SetLastWriteTimeUtc(file, inProgress ? DateTime.UtcNow : start.AddMinutes(10 * f.Order));
                    progress?.Invoke(new DemoProgress(Interlocked.Increment(ref done), total, file));
                }
            });

        WriteDb(facility);
        File.WriteAllText(facility.ConfigPath, ConfigText(facility), new UTF8Encoding(false));
        return facility;
    }

    /// <summary>Reads a facility's manifest (demo-facility.json) back.</summary>
    public static DemoFacility Load(string pathOrManifest)
    {
        var manifest = Directory.Exists(pathOrManifest) ? System.IO.Path.Combine(pathOrManifest, DemoFacility.ManifestFileName) : pathOrManifest;
        if (!File.Exists(manifest))
            throw new FileNotFoundException($"'{manifest}' does not exist; generate the facility with New-ProcDemoFacility.", manifest);
        return JsonSerializer.Deserialize<DemoFacility>(File.ReadAllText(manifest), JsonOptions)
            ?? throw new InvalidDataException($"'{manifest}' is not a demo facility manifest.");
    }

    /// <summary>The config file text: relative DataRoot/DbRoot (relative to the config file) so the folder can be moved.</summary>
    public static string ConfigText(DemoFacility f)
    {
        var ins = string.Join(", ", f.Instruments.Select(i => $"'{i}'"));
        return $$"""
            # RunProc configuration of the demo facility, written by New-ProcDemoFacility.
            # Relative paths are relative to this file. Use it with -ConfigPath, or set $env:RUNPROC_CONFIG.
            @{
                DataRoot      = 'data'        # <DataRoot>/<INS>/<exp>/<RunDirectory>/<exp>-rNNNN-sNN-cNN.h5
                DbRoot        = 'db'          # <DbRoot>/<process>/experiments.txt, <INS>/<exp>-proc-runs.txt, logs
                Instruments   = @({{ins}})
                RunDirectory  = '{{f.RunDirectory}}'
                SettleSeconds = 1             # a run is ready 1 s after its newest file was written
                Processes     = @{
                    {{f.Process}} = @{
                        # The built-in default command plus PNG maps in the work folder's png/ subfolder.
                        Command     = @('{runproc}', 'Invoke-PixelStatus', '-Experiment', '{exp}', '-Run', '{run}',
                                        '-OutputDirectory', '{workdir}', '-ImagePath', '{workdir}/png', '-Deploy', '-ConfigPath', '{config}', '-JobName', '{jobname}')
                        Scheduler   = 'Local'
                        MaxJobs     = 2
                        PollSeconds = 1
                        Attempts    = 2
                    }
                }
            }

            """;
    }

    private static void PrepareFolder(string root, bool force)
    {
        if (File.Exists(root))
            throw new IOException($"'{root}' is a file; give a folder for the demo facility.");
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            var isDemo = File.Exists(System.IO.Path.Combine(root, DemoFacility.ManifestFileName));
            if (!isDemo)
                throw new IOException($"'{root}' is not empty and is not a demo facility (no {DemoFacility.ManifestFileName}); choose another folder. It was left untouched.");
            if (!force)
                throw new IOException($"'{root}' already holds a demo facility; use -Force to replace it.");
            RemoveGenerated(root);
        }
        Directory.CreateDirectory(root);
    }

    /// <summary>
    /// -Force: removes what the generator wrote, as its manifest lists it (run files, config,
    /// experiments.txt, the manifest), and what processing the demo made of it (the demo process's
    /// DB tree, RunProc's caches and slots in the demo DbRoot, the calibration folders of the demo
    /// experiments); then folders left empty. Anything else in the folder stays, and nothing outside it is touched.
    /// </summary>
    private static void RemoveGenerated(string root)
    {
        var old = Load(root);
        var inside = System.IO.Path.GetFullPath(root).TrimEnd('/') + "/";
        bool Inside(string p) => System.IO.Path.GetFullPath(p).StartsWith(inside, StringComparison.Ordinal) && new FileInfo(p).LinkTarget is null;
        void File_(string p) { if (Inside(p) && File.Exists(p)) File.Delete(p); }
        void Tree(string p) { if (Inside(p) && Directory.Exists(p)) Directory.Delete(p, recursive: true); }
        foreach (var f in old.Runs.SelectMany(r => r.Files))
        {
            File_(f);
            File_(f.EndsWith(".inprogress", StringComparison.Ordinal) ? f[..^".inprogress".Length] : f + ".inprogress"); // the writer may have finished it
        }
        var db = new RunProc.Config.RunProcConfig { DbRoot = old.DbRoot };
        Tree(new RunProc.Db.ProcDbTree(db, old.Process).ProcessDirectory);
        Tree(RunProc.Db.ProcDbTree.CatalogCacheDirectory(db));
        Tree(RunProc.Db.ProcDbTree.LocalSlotsRoot(db));
        foreach (var e in old.Experiments)
            Tree(System.IO.Path.Combine(old.DataRoot, Names.Instrument(e.Instrument), Names.Experiment(e.Experiment), "calib"));
        File_(old.ConfigPath);
        File_(System.IO.Path.Combine(root, DemoFacility.ManifestFileName));
        RemoveEmptyFolders(root, isRoot: true);
    }

    private static void RemoveEmptyFolders(string dir, bool isRoot = false)
    {
        foreach (var sub in Directory.EnumerateDirectories(dir))
            if (new DirectoryInfo(sub).LinkTarget is null)
                RemoveEmptyFolders(sub);
        if (!isRoot && !Directory.EnumerateFileSystemEntries(dir).Any())
            Directory.Delete(dir);
    }

    private static void WriteDb(DemoFacility f)
    {
        var tree = new RunProc.Db.ProcDbTree(new RunProc.Config.RunProcConfig { DbRoot = f.DbRoot }, f.Process);
        var procDir = tree.ProcessDirectory;
        Directory.CreateDirectory(procDir);
        var sb = new StringBuilder();
        sb.Append("# Experiments under control of the ").Append(f.Process).Append(" process, one a line ('#' starts a comment).\n");
        foreach (var e in f.Experiments.Where(e => !e.UnderControl))
            sb.Append("# ").Append(e.Experiment).Append(" is deliberately not listed: only Get-PendingRun -All sees its runs.\n");
        foreach (var e in f.Experiments.Where(e => e.UnderControl))
            sb.Append(e.Experiment).Append('\n');
        File.WriteAllText(tree.ExperimentListFile, sb.ToString(), new UTF8Encoding(false));
    }

    private static void WriteRunFile(string path, DemoRun run, int firstEvent, int frames,
        Dictionary<string, ushort[]> pedestals, Dictionary<string, InjectedPixel[]> bad, short[] noise)
    {
        var data = new H5Group();
        foreach (var d in Detectors)
        {
            var buffer = Frames(d, run, firstEvent, frames, pedestals[d.Name], bad.GetValueOrDefault(d.Name) ?? Array.Empty<InjectedPixel>(), noise);
            var dims = new[] { (ulong)frames }.Concat(d.Shape.Select(s => (ulong)s)).ToArray();
            data[d.Name] = d.Compressed
                ? new H5Dataset(buffer,
                    chunks: new[] { 1u }.Concat(d.Shape.Select(s => (uint)s)).ToArray(),
                    fileDims: dims,
                    datasetCreation: new H5DatasetCreation(Filters: new List<H5Filter>
                    {
                        new(ShuffleFilter.Id),
                        new(DeflateFilter.Id, new Dictionary<string, object> { [DeflateFilter.COMPRESSION_LEVEL] = 1 }),
                    }))
                : new H5Dataset(buffer, fileDims: dims);
        }
        var file = new H5File
        {
            ["entry"] = new H5Group
            {
                ["data"] = data,
                ["experiment"] = new H5Dataset(run.Experiment),
                ["run"] = new H5Dataset(run.Run),
            },
        };
        // Temp name then rename: a file that has its final name is complete.
        var tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            file.Write(tmp);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>
    /// One xtc2 stream of a run, as the DAQ writes it: the detector of that stream (epix10ka: one
    /// Names per segment, raw (rows, cols) + aux, every word with gain bit 14 set as recorded
    /// epix10ka data has it; jungfrau: raw (1, rows, cols) + its scalars), chunks of FramesPerFile
    /// events, each file *.inprogress until closed, and the stream's smalldata index.
    /// </summary>
    private static void WriteXtc2Stream(IReadOnlyList<string> chunks, DemoRun run, int framesPerChunk,
        Dictionary<string, ushort[]> pedestals, Dictionary<string, InjectedPixel[]> bad, short[] noise)
    {
        var stream = int.Parse(System.IO.Path.GetFileName(chunks[0]).Split("-s")[1][..3], CultureInfo.InvariantCulture);
        var d = Detectors[stream];
        var epix = d.Name == "epix10ka";
        var dir = System.IO.Path.GetDirectoryName(chunks[0])!;
        using var w = new Formats.Xtc2StreamWriter(dir, run.Experiment, run.Run, stream, new Formats.Xtc2WriterOptions { SmallData = true, NodeId = stream + 1 });
        var names = new Formats.Xtc2Names[d.Segments];
        for (var s = 0; s < d.Segments; s++)
            names[s] = epix
                ? w.Declare(s, d.Name, "epix10ka", "raw", 0x020001, s,
                    new Formats.Xtc2Field("raw", Formats.Xtc2DataType.UInt16, 2), new Formats.Xtc2Field("aux", Formats.Xtc2DataType.UInt16, 2))
                : w.Declare(s, d.Name, "jungfrau", "raw", 0x000200, s,
                    new Formats.Xtc2Field("raw", Formats.Xtc2DataType.UInt16, 3), new Formats.Xtc2Field("frame_cnt", Formats.Xtc2DataType.UInt64, 0),
                    new Formats.Xtc2Field("timestamp", Formats.Xtc2DataType.UInt64, 0), new Formats.Xtc2Field("hotPixelThresh", Formats.Xtc2DataType.UInt16, 0),
                    new Formats.Xtc2Field("numHotPixels", Formats.Xtc2DataType.UInt32, 0), new Formats.Xtc2Field("maxHotPixels", Formats.Xtc2DataType.UInt32, 0));
        // Event times: 120 Hz from a second that differs per run; every stream uses the same ones.
        ulong Time(int evt) => (ulong)(1_100_000_000u + (uint)run.Run * 1000u + (uint)evt / 120) << 32 | (uint)(evt % 120) * 8_333_333u;
        var t0 = Time(0) - (5UL << 32);
        w.Configure(t0);
        w.BeginRun(t0 + 1);
        w.Transition(t0 + 1, Formats.Xtc2Transition.BeginStep);
        w.Transition(t0 + 2, Formats.Xtc2Transition.Enable);
        var segPx = d.Rows * d.Columns;
        var aux = new ushort[4 * d.Columns];
        for (var c = 0; c < chunks.Count; c++)
        {
            if (c > 0)
                w.NextChunk(Time(c * framesPerChunk) - 1);
            var first = c * framesPerChunk;
            var frames = Frames(d, run, first, framesPerChunk, pedestals[d.Name], bad.GetValueOrDefault(d.Name) ?? Array.Empty<InjectedPixel>(), noise);
            if (epix)
                for (var i = 0; i < frames.Length; i++) frames[i] |= 0x4000;
            for (var f = 0; f < framesPerChunk; f++)
            {
                var evt = first + f;
                var blocks = new List<(Formats.Xtc2Names, Formats.Xtc2Value[])>(d.Segments);
                for (var s = 0; s < d.Segments; s++)
                {
                    var raw = frames.AsSpan((f * d.Segments + s) * segPx, segPx);
                    blocks.Add((names[s], epix
                        ? new[] { Formats.Xtc2Value.Array<ushort>(raw, d.Rows, d.Columns), Formats.Xtc2Value.Array<ushort>(aux, 4, d.Columns) }
                        : new[]
                        {
                            Formats.Xtc2Value.Array<ushort>(raw, 1, d.Rows, d.Columns), Formats.Xtc2Value.Scalar((ulong)evt), Formats.Xtc2Value.Scalar(Time(evt)),
                            Formats.Xtc2Value.Scalar((ushort)15000), Formats.Xtc2Value.Scalar(0u), Formats.Xtc2Value.Scalar(3400u),
                        }));
                }
                w.L1Accept(Time(evt), blocks);
            }
        }
        var end = Time(chunks.Count * framesPerChunk) + 1;
        w.Transition(end, Formats.Xtc2Transition.Disable);
        w.Transition(end, Formats.Xtc2Transition.EndStep);
        w.EndRun(end + 1);
    }

    /// <summary>The frames of one detector in one file: pedestal + common mode + noise, with the bad pixels overwritten.</summary>
    internal static ushort[] Frames(DemoDetector d, DemoRun run, int firstEvent, int frames, ushort[] pedestal, InjectedPixel[] bad, short[] noise)
    {
        var px = d.Pixels;
        var buffer = new ushort[(long)frames * px];
        var runSalt = (uint)run.Run * 0x27D4EB2Fu ^ Fnv(run.Experiment); // each run gets its own noise
        for (var f = 0; f < frames; f++)
        {
            var evt = firstEvent + f;
            var hEvt = (uint)evt * 0x85EBCA77u + runSalt;
            var commonMode = noise[(int)((hEvt * 0xC2B2AE3Du) >> 16)] / 8; // ±3 ADU shared by the frame
            var frame = buffer.AsSpan(f * px, px);
            for (var p = 0; p < px; p++)
            {
                var n = noise[(int)(((uint)p * 0x9E3779B1u + hEvt) >> 16)];
                frame[p] = (ushort)(pedestal[p] + commonMode + n);
            }
            foreach (var b in bad)
                frame[b.Index] = DemoBadPixels.Value(b.Class, evt, noise[(int)(((uint)b.Index * 0x9E3779B1u + hEvt) >> 16)]);
        }
        return buffer;
    }

    /// <summary>Per-pixel dark levels: ~900–1500 ADU, a step per segment, a gentle gradient and pixel-to-pixel spread.</summary>
    internal static ushort[] Pedestals(DemoDetector d, int seed)
    {
        var rng = new Random(seed ^ (int)Fnv(d.Name));
        var ped = new ushort[d.Pixels];
        for (var s = 0; s < d.Segments; s++)
            for (var r = 0; r < d.Rows; r++)
                for (var c = 0; c < d.Columns; c++)
                    ped[(s * d.Rows + r) * d.Columns + c] = (ushort)(900 + 120 * s + (r + c) / 4 + rng.Next(0, 120));
        return ped;
    }

    /// <summary>65,536 Gaussian noise samples, sigma 6 ADU, clipped to ±30, so a normal pixel never leaves [1, 16000].</summary>
    internal static short[] NoiseTable(int seed)
    {
        var rng = new Random(seed);
        var t = new short[65536];
        for (var i = 0; i < t.Length; i++)
        {
            var u1 = 1.0 - rng.NextDouble();
            var u2 = rng.NextDouble();
            var g = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            t[i] = (short)Math.Clamp(Math.Round(6 * g), -30, 30);
        }
        return t;
    }

    private static IEnumerable<InjectedPixel> PlaceBadPixels(DemoDetector d, int seed, int perClass)
    {
        var rng = new Random(seed * 31 + (int)Fnv(d.Name));
        var taken = new HashSet<int>();
        var list = new List<InjectedPixel>();
        foreach (var c in Enum.GetValues<BadPixelClass>())
        {
            for (var i = 0; i < perClass; i++)
            {
                int idx;
                do idx = rng.Next(d.Pixels); while (!taken.Add(idx));
                var col = idx % d.Columns;
                var row = idx / d.Columns % d.Rows;
                var seg = idx / (d.Columns * d.Rows);
                list.Add(new InjectedPixel(d.Name, c, seg, row, col, idx, DemoBadPixels.ExpectedStatus(c)));
            }
        }
        return list.OrderBy(p => p.Index);
    }

    // A stable string hash (string.GetHashCode is randomized per process).
    private static uint Fnv(string s)
    {
        var h = 2166136261u;
        foreach (var ch in s) h = (h ^ ch) * 16777619u;
        return h;
    }
}
