#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Split runs (issue 15): the merge's cost against one part's analysis on a 2.16 Mpx detector
    (16 × 352 × 384 uint16), and one reconciliation pass over a 1,000-task Slurm job array (one
    squeue call). Everything is measured in this run; the merge's cost does not grow with the
    events of a part (it reads one accumulator per part), so it is set against a part of 1,250
    and of 12,500 events: the part's fixed cost plus that many times the per-frame cost, both
    measured here (the analysis of all frames against that of one part's frames, best of 7 interleaved).
.PARAMETER Root
    The repository root (the built module is <Root>/RunProc.psd1).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Root,
    [int] $Frames = 160,
    [int] $Parts = 8,
    [int] $ArrayTasks = 1000,
    [int] $Passes = 5
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Import-Module (Join-Path $Root 'RunProc.psd1') -Force

$base = Join-Path ([IO.Path]::GetTempPath()) ('runproc-split-bench-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
$held = [Collections.Generic.List[string]]::new()
try {
    New-Item -ItemType Directory -Force "$base/db", "$base/data/XPP/xppbench1/xtc" | Out-Null
    $config = Join-Path $base 'runproc.psd1'
    Set-Content $config @"
@{
    DataRoot = './data'; DbRoot = './db'; SettleSeconds = 0
    Processes = @{ arr = @{ Command = @('/bin/true', '{part}'); MergeCommand = @('/bin/true'); Parts = $ArrayTasks; Scheduler = 'Slurm'; MaxJobs = 100000 } }
}
"@
    $cfg = Get-ProcConfig -ConfigPath $config

    # 1. Merge against one part's analysis: one run file of $Frames frames split by events into $Parts parts.
    $npy = "$base/data/XPP/xppbench1/xtc/xppbench1-r0001-s00-c00.npy"
    & /usr/bin/python3 -c "import numpy as np, sys; rng = np.random.default_rng(1); a = np.lib.format.open_memmap(sys.argv[1], mode='w+', dtype=np.uint16, shape=($Frames, 16, 352, 384)); [a.__setitem__(i, rng.integers(900, 1100, size=(16, 352, 384), dtype=np.uint16)) for i in range($Frames)]; a.flush()" $npy
    if ($LASTEXITCODE -ne 0) { throw 'python3 with numpy is needed' }
    $runner = [RunProc.Pixels.PixelStatusRunner]::new($cfg)
    $req = [RunProc.Pixels.PixelStatusRequest]@{ Files = [string[]]@($npy); Experiment = 'xppbench1'; Run = 1 }
    $partDir = "$base/parts"
    $partTimes = foreach ($k in 0..($Parts - 1)) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        [RunProc.Pixels.Split.PixelStatusSplit]::RunPart($runner, $req, 'xppbench1', 1, $k, $Parts, $partDir, $cfg.FileMode, $cfg.DirectoryMode, $null, [Threading.CancellationToken]::None) | Out-Null
        $sw.Stop()
        $sw.Elapsed.TotalMilliseconds
    }
    $mergeTimes = foreach ($i in 1..3) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $merged = [RunProc.Pixels.Split.PixelStatusSplit]::Merge($partDir, $Parts, 'xppbench1', 1, [Threading.CancellationToken]::None)
        $sw.Stop()
        $sw.Elapsed.TotalMilliseconds
    }
    if ($merged[0].Accumulator.Events -ne $Frames) { throw "merged $($merged[0].Accumulator.Events) events, expected $Frames" }
    # The outputs are the unsplit run's too (same Finish): measured for scale, not an overhead of splitting.
    $outReq = [RunProc.Pixels.PixelStatusRequest]@{ Files = [string[]]@($npy); Experiment = 'xppbench1'; Run = 1; OutputDirectory = "$base/out" }
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $h = $merged[0].Header
    $runner.Finish([RunProc.Pixels.PixelStatusRunner+OutputDetector]::new($h.Source, $h.Dataset, $h.Shape), $merged[0].Accumulator, $outReq, 'xppbench1', 1) | Out-Null
    $sw.Stop()
    $finishMs = $sw.Elapsed.TotalMilliseconds

    $part = ($partTimes | Sort-Object)[[int][Math]::Floor($Parts / 2)]
    $merge = ($mergeTimes | Sort-Object)[1]
    $framesPerPart = $Frames / $Parts
    # The cost of one more event of a part, without the part's fixed costs (open, accumulator,
    # partial file): the analysis of the detector (open + accumulate, as a part does it) over all
    # $Frames frames against the same over $framesPerPart, each the best of 7 interleaved rounds in this run, so the
    # difference is $($Frames - $framesPerPart) frames of kernel and reading, not noise.
    function Measure-Analysis([long] $events) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $opened = [RunProc.Pixels.PixelReadPipeline]::OpenDetectors($req.Files, [string[]]@())
        try { $acc = [RunProc.Pixels.PixelReadPipeline]::Accumulate($opened.Item1[0], ([RunProc.Pixels.PixelStatusRequest]@{ Files = $req.Files; Experiment = 'xppbench1'; Run = 1; Events = $events }), $null, [Threading.CancellationToken]::None) }
        finally { $opened.Item2.Dispose() }
        $sw.Stop()
        if ($acc.Events -ne $events) { throw "analysed $($acc.Events) events, expected $events" }
        $sw.Elapsed.TotalMilliseconds
    }
    # Rounds interleaved (few, all, few, all, ...), so a changing machine load hits both alike.
    $few = [double]::MaxValue; $all = [double]::MaxValue
    foreach ($i in 1..7) {
        $few = [Math]::Min($few, (Measure-Analysis $framesPerPart))
        $all = [Math]::Min($all, (Measure-Analysis $Frames))
    }
    $perFrame = ($all - $few) / ($Frames - $framesPerPart)
    if ($perFrame -le 0) { throw "the analysis of $Frames frames ($all ms) was not slower than of $framesPerPart ($few ms): the machine is too busy to measure; run again" }
    $fixed = [Math]::Max(0, $part - $perFrame * $framesPerPart)
    $partFile = (Get-ChildItem $partDir -Filter *.rpacc | Select-Object -First 1).Length / 1MB
    Write-Host ('Split bench: 2,162,688 px uint16, {0} frames in {1} parts by events ({2} frames a part); partial file {3:N1} MiB' -f $Frames, $Parts, $framesPerPart, $partFile)
    Write-Host ('Split bench: one part (open, analyse, write its accumulator): median {0:N0} ms for {1} frames; analysis best of 7 interleaved: {2:N1} ms for {1} frames, {3:N1} ms for {4}: {5:N3} ms a further frame ({6:N2} GB/s), so {7:N0} ms fixed a part' -f $part, $framesPerPart, $few, $all, $Frames, $perFrame, (2 * 2162688 / $perFrame / 1e6), $fixed)
    Write-Host ('Split bench: merge of {0} parts (manifests, headers, checksums, add): median {1:N0} ms = {2:P1} of one part here (in order: {3} ms; the first in this process pays its one-time costs)' -f $Parts, $merge, ($merge / $part), (($mergeTimes | ForEach-Object { $_.ToString('N0') }) -join ', '))
    foreach ($events in 1250, 12500) {
        $partMs = $fixed + $perFrame * $events
        Write-Host ('Split bench:   ... for a part of {0:N0} events (a 10^4 / 10^5-event run in {1}): that part {2:N0} ms, the merge {3:P2} of it (target for 12,500 events: <= 5 %)' -f $events, $Parts, $partMs, ($merge / $partMs))
    }
    Write-Host ('Split bench: writing the outputs (text arrays, HDF5), the same for an unsplit run: {0:N0} ms' -f $finishMs)

    # 2. One reconciliation pass over a $ArrayTasks-task job array held PENDING (and its merge, held too).
    if (-not (Get-Command sbatch -ErrorAction Ignore)) { throw 'sbatch is not installed: run tests/setup/install-prerequisites.sh and tests/setup/start-slurm.sh' }
    $arrayId = & sbatch --parsable --hold "--array=0-$($ArrayTasks - 1)" -J rp-bench-array -o /dev/null --wrap true
    $held.Add($arrayId)
    $mergeId = & sbatch --parsable --hold -J rp-bench-merge -o /dev/null --wrap true
    $held.Add($mergeId)
    $exp = 'xppbench1'
    $dir = New-Item -ItemType Directory -Force "$base/db/arr/XPP/$exp"
    $log = Join-Path $dir "log-$exp-r0001-2026-01-01T00:00:00.txt"
    Set-Content $log '# bench'
    $name = "rp.arr.$exp.r0001.a1.bench0"
    $lines = @(
        (@{ t = '2026-01-01T00:00:00Z'; ev = 'intent'; name = $name; run = 1; attempt = 1; sched = 'Slurm'; log = $log; parts = $ArrayTasks } | ConvertTo-Json -Compress)
        (@{ t = '2026-01-01T00:00:01Z'; ev = 'sub-intent'; name = $name; sub = "$name.p1"; idx = @(0..($ArrayTasks - 1)); array = $true; status = "$base/s-p@RUNPROC_PART@.status" } | ConvertTo-Json -Compress)
        (@{ t = '2026-01-01T00:00:02Z'; ev = 'sub-submitted'; name = $name; sub = "$name.p1"; id = $arrayId; array = $true } | ConvertTo-Json -Compress)
        (@{ t = '2026-01-01T00:00:03Z'; ev = 'sub-intent'; name = $name; sub = "$name.m2"; idx = @($ArrayTasks); status = "$base/s-merge.status" } | ConvertTo-Json -Compress)
        (@{ t = '2026-01-01T00:00:04Z'; ev = 'sub-submitted'; name = $name; sub = "$name.m2"; id = $mergeId } | ConvertTo-Json -Compress)
    )
    Set-Content "$base/db/arr/XPP/$exp-jobs.txt" $lines
    $benv = [RunProc.Batch.BatchEnvironment]@{ WrapperScript = (Join-Path $Root 'bin/scripts/runproc-job.sh'); ConfigPath = $config }
    $times = @()
    $commands = @()
    foreach ($p in 1..$Passes) {
        $ctl = [RunProc.Batch.BatchController]::new([RunProc.Db.ProcDb]::new($cfg, 'arr'), $cfg.GetProcess('arr'), $benv, $null)
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $r = $ctl.Reconcile([Threading.CancellationToken]::None, $null)
        $sw.Stop()
        $job = @($r.Jobs)[0]
        $pending = @($job.PartJobs | Where-Object { $_.State -eq 'Pending' }).Count
        if ($pending -ne $ArrayTasks + 1) { throw "pass saw $pending pending parts and merge, expected $($ArrayTasks + 1): $($r.Problems -join '; ')" }
        $times += $sw.Elapsed.TotalMilliseconds
        $commands += $r.QueryCommands
    }
    $median = ($times | Sort-Object)[[int][Math]::Floor($times.Count / 2)]
    $sq = [Diagnostics.Stopwatch]::StartNew()
    & squeue -h -r -t all -j "$arrayId,$mergeId" -o '%i %T %r' | Out-Null
    $sq.Stop()
    Write-Host ('Split bench: one reconciliation pass over a {0}-task job array and its merge: median {1:N0} ms over {2} passes (min {3:N0}, max {4:N0}); {5} scheduler command(s) per pass; the squeue itself {6:N0} ms' -f $ArrayTasks, $median, $Passes, ($times | Measure-Object -Minimum).Minimum, ($times | Measure-Object -Maximum).Maximum, (($commands | Sort-Object -Unique) -join '/'), $sq.Elapsed.TotalMilliseconds)
}
finally {
    if ($held.Count) { & scancel @held 2>$null }
    Remove-Item -Recurse -Force $base -ErrorAction SilentlyContinue
}
