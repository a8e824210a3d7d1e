#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Catalog scan benchmark: a full Get-PendingRun -All versus incremental rescans, in one run.
.DESCRIPTION
    Generates a facility of -Instruments x -Experiments x -Runs x -Files empty run files (default
    10 x 100 x 200 x 3 = 600,000 files) with a processing DB in which every run but the last
    -Unprocessed (default 1) of each experiment is recorded as processed, so each scan returns that
    many pending runs per experiment (-Unprocessed 0: an up-to-date DB, the hourly cron's usual state).
    Then, with the built module imported in this process:
      full         Get-PendingRun -All with the caches deleted first (every directory listed, every
                   file stat'ed, every record file read; the caches are written);
      incremental  Get-PendingRun -All after new runs were added to -ChangedPercent of the
                   experiments (default 1%) 2.5 s earlier: unchanged directories and record
                   files come from the caches; the changed directories are listed.
      old tool     the old tool's exp_run_new(ALL) (Python, as RunProcUtils did it: os.listdir of
                   every instrument and run directory, the run number from each *.xtc name, the
                   first field of every -proc-runs.txt line), timed inside python3 on the same tree
                   in the same run (interpreter start-up excluded, as the module import is for
                   RunProc); its pending runs are checked too.
      RunProc's part the same scans through the core API (RunScan.Pending) in this process, without
                   PowerShell's pipeline: the cmdlet's time minus this is PowerShell's output of the
                   runs (about a thousand objects); and the full scan without the caches (listing and
                   records only), so the cache writes' share is printed as a phase of its own.
    Each is timed -Repeat times (median reported); the output of every scan is checked against the
    expected pending runs, so a fast but wrong cache fails the benchmark. Prints full and
    incremental times and their ratio (target >= 50x), the old tool against the full scan (target
    >= 3x), and the metadata calls of one full scan counted with strace -c (stat, lstat, fstat,
    statx, newfstatat, access, readlink families; a child pwsh that only imports and warms up is
    subtracted) against the budget 2 x (files of unrecorded runs + directories + record files).
    Timings are with a warm OS file cache.
.EXAMPLE
    dotnet pwsh ./tests/bench/Catalog.Bench.ps1 -Root . -Experiments 20
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Root,
    [int] $Instruments = 10,
    [int] $Experiments = 100,
    [int] $Runs = 200,
    [int] $Files = 3,
    [double] $ChangedPercent = 1,
    # Runs per experiment left unrecorded in the DB (pending in every scan); 0 = the DB is up to date.
    [int] $Unprocessed = 1,
    [int] $Repeat = 5,
    # Where the facility is generated (default: a new temp directory, removed afterwards).
    [string] $Path,
    [switch] $Keep,
    # Skip the strace count (e.g. where strace is not installed).
    [switch] $NoStrace
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$Root = (Resolve-Path $Root).ProviderPath
Import-Module (Join-Path $Root 'RunProc.psd1') -Force

# The generator is C# (600k files from a PowerShell loop would dominate the benchmark's own run time).
Add-Type -TypeDefinition @'
using System;
using System.IO;
using System.Text;
public static class CatalogBenchGenerator
{
    public static long Generate(string dataRoot, string dbRoot, string[] instruments, int experiments, int runs, int files, int unprocessed)
    {
        long n = 0;
        var utf8 = new UTF8Encoding(false);
        foreach (var ins in instruments)
        {
            var dbIns = Path.Combine(dbRoot, "pixel_status", ins);
            Directory.CreateDirectory(dbIns);
            for (int e = 0; e < experiments; e++)
            {
                string exp = Experiment(ins, e);
                string dir = Path.Combine(dataRoot, ins, exp, "xtc");
                Directory.CreateDirectory(dir);
                for (int r = 1; r <= runs; r++)
                    for (int s = 0; s < files; s++)
                    {
                        File.Create(Path.Combine(dir, string.Format("{0}-r{1:D4}-s{2:D2}-c00.xtc", exp, r, s))).Dispose();
                        n++;
                    }
                var sb = new StringBuilder();
                for (int r = 1; r <= runs - unprocessed; r++)
                    sb.AppendFormat("{0:D4} 2026-01-01T00:00:00 bench benchhost cwd:/bench cmd:proc_new_datasets\n", r);
                File.WriteAllText(Path.Combine(dbIns, exp + "-proc-runs.txt"), sb.ToString(), utf8);
            }
        }
        return n;
    }

    public static string Experiment(string ins, int e) { return ins.ToLowerInvariant() + "b" + e.ToString("D5"); }

    public static void AddRun(string dataRoot, string ins, int e, int run, int files)
    {
        string exp = Experiment(ins, e);
        string dir = Path.Combine(dataRoot, ins, exp, "xtc");
        for (int s = 0; s < files; s++)
            File.Create(Path.Combine(dir, string.Format("{0}-r{1:D4}-s{2:D2}-c00.xtc", exp, run, s))).Dispose();
    }
}
'@

$allInstruments = @('SXR', 'AMO', 'XPP', 'XCS', 'CXI', 'MEC', 'MFX', 'DET', 'MOB', 'USR', 'DIA')
if ($Instruments -lt 1 -or $Instruments -gt $allInstruments.Count) { throw "-Instruments must be 1..$($allInstruments.Count)" }
$ins = $allInstruments[0..($Instruments - 1)]
$base = if ($Path) { $Path } else { Join-Path ([IO.Path]::GetTempPath()) ("runproc-catalog-bench-" + [guid]::NewGuid().ToString('N').Substring(0, 8)) }
$dataRoot = Join-Path $base 'data'
$dbRoot = Join-Path $base 'db'
New-Item -ItemType Directory -Force $base | Out-Null
$config = Join-Path $base 'runproc.psd1'
# SettleSeconds 0: freshly generated files count as settled (readiness is still computed for every run).
Set-Content $config "@{ DataRoot = '$dataRoot'; DbRoot = '$dbRoot'; Instruments = @('$($ins -join "','")'); SettleSeconds = 0 }"

try {
    $total = $Instruments * $Experiments * $Runs * $Files
    Write-Host ("Generating {0} instruments x {1} experiments x {2} runs x {3} files = {4:N0} files in {5} ..." -f $Instruments, $Experiments, $Runs, $Files, $total, $base)
    $gen = [Diagnostics.Stopwatch]::StartNew()
    $null = [CatalogBenchGenerator]::Generate($dataRoot, $dbRoot, $ins, $Experiments, $Runs, $Files, $Unprocessed)
    Write-Host ("  generated in {0:N1} s" -f $gen.Elapsed.TotalSeconds)
    # Directories modified within the timestamp granularity (2 s) of a scan are listed again by design; let them age.
    Start-Sleep -Seconds 3

    $expected = [Collections.Generic.HashSet[string]]::new()
    foreach ($i in $ins) {
        foreach ($e in 0..($Experiments - 1)) {
            for ($r = $Runs - $Unprocessed + 1; $r -le $Runs; $r++) { $null = $expected.Add("$([CatalogBenchGenerator]::Experiment($i, $e))/$r") }
        }
    }

    function Test-Scan([object[]] $result, [string] $what) {
        $got = [Collections.Generic.HashSet[string]]::new()
        foreach ($r in $result) { $null = $got.Add("$($r.Experiment)/$($r.Run)") }
        if (-not $got.SetEquals($expected)) {
            $missing = @($expected | Where-Object { -not $got.Contains($_) } | Select-Object -First 5)
            $extra = @($got | Where-Object { -not $expected.Contains($_) } | Select-Object -First 5)
            throw "$what returned wrong pending runs ($($got.Count) instead of $($expected.Count)); missing: $($missing -join ', '); unexpected: $($extra -join ', ')"
        }
    }

    # Wall time is what a user waits and what the ratio uses. Process CPU time is shown for context
    # only: it includes the runtime's background JIT and GC threads, which can exceed a short scan's wall time.
    $proc = [Diagnostics.Process]::GetCurrentProcess()
    $db = [RunProc.Db.ProcDb]::new((Get-ProcConfig -ConfigPath $config), 'pixel_status')
    $runScan = [RunProc.Db.RunScan]::new($db)
    function Measure-Scan([string] $what, [switch] $Api, [switch] $NoCache) {
        $proc.Refresh(); $cpu0 = $proc.TotalProcessorTime
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $result = if ($Api) { $runScan.Pending([RunProc.Db.RunScanQuery]@{ All = $true; UseCache = -not $NoCache }) } else { @(Get-PendingRun -All -ConfigPath $config) }
        $sw.Stop()
        $proc.Refresh(); $cpu = ($proc.TotalProcessorTime - $cpu0).TotalMilliseconds
        Test-Scan $result $what
        Write-Host ("  {0,-14} {1,9:N1} ms wall {2,9:N1} ms process CPU  ({3} pending runs)" -f $what, $sw.Elapsed.TotalMilliseconds, $cpu, $result.Count)
        [pscustomobject]@{ Wall = $sw.Elapsed.TotalMilliseconds; Cpu = $cpu }
    }

    # The two caches an incremental scan uses: the run-directory listings and the per-process record/pending cache.
    $caches = @((Join-Path $dbRoot '.catalog-cache'), (Join-Path $dbRoot 'pixel_status/.done-cache'))
    # Warm-up: JIT and module load, on one experiment.
    $null = Get-PendingRun -ConfigPath $config -Experiment ([CatalogBenchGenerator]::Experiment($ins[0], 0)) -NoCache

    $null = $runScan.Pending([RunProc.Db.RunScanQuery]@{ Experiments = [string[]]@([CatalogBenchGenerator]::Experiment($ins[0], 0)); UseCache = $false })
    $full = foreach ($k in 1..$Repeat) {
        Remove-Item -Recurse -Force $caches -ErrorAction Ignore
        Measure-Scan "full #$k"
    }
    $fullApi = foreach ($k in 1..$Repeat) {
        Remove-Item -Recurse -Force $caches -ErrorAction Ignore
        Measure-Scan "full API #$k" -Api
    }
    $fullNoCache = foreach ($k in 1..$Repeat) { Measure-Scan "no-cache API #$k" -Api -NoCache }
    $changed = [Math]::Max(1, [int][Math]::Floor($Instruments * $Experiments * $ChangedPercent / 100))
    $rng = [Random]::new(42)
    $nextRun = @{}
    function Add-NewRuns {
        # New runs in $changed random experiments: each gets a run that is pending.
        foreach ($c in 1..$changed) {
            $i = $ins[$rng.Next($ins.Count)]; $e = $rng.Next($Experiments)
            $key = "$i/$e"
            $run = if ($nextRun.ContainsKey($key)) { $nextRun[$key] } else { $Runs + 1 }
            $nextRun[$key] = $run + 1
            [CatalogBenchGenerator]::AddRun($dataRoot, $i, $e, $run, $Files)
            $null = $expected.Add("$([CatalogBenchGenerator]::Experiment($i, $e))/$run")
        }
        # Like a cron cycle, the scan comes a while after the DAQ wrote: a directory listed within the
        # timestamp granularity (2 s) of its change is (correctly) listed again on the next scan too.
        Start-Sleep -Milliseconds 2500
    }
    # The caches as a cycle leaves them (the API rounds above wrote them with the same content).
    $null = @(Get-PendingRun -All -ConfigPath $config)
    Start-Sleep -Milliseconds 2500
    $incr = foreach ($k in 1..$Repeat) { Add-NewRuns; Measure-Scan "incremental #$k" }
    $incrApi = foreach ($k in 1..$Repeat) { Add-NewRuns; Measure-Scan "incr. API #$k" -Api }
    function Get-Median([double[]] $values) { ($values | Sort-Object)[[int][Math]::Floor($values.Count / 2)] }

    # The old tool on the same tree (its pending runs now include the incremental rounds' new runs).
    $oldScript = Join-Path $base 'exp_run_new_all.py'
    Set-Content $oldScript @'
import os, sys, time, json
DIR_INS, DIR_LOG, PROC, INS, REPEAT = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(','), int(sys.argv[5])
def experiments(ins):
    # old rule: directory names of the instrument that start with its lower-case name, shorter than 10
    return sorted(e for e in os.listdir('%s/%s' % (DIR_INS, ins)) if e.startswith(ins.lower()) and len(e) < 10)
def runs_in_xtc_dir(exp):
    d = '%s/%s/%s/xtc' % (DIR_INS, exp[:3].upper(), exp)
    files = sorted(f for f in os.listdir(d) if os.path.splitext(f)[1] == '.xtc')
    return sorted(set(f.split('-')[1].lstrip('r') for f in files))
def runs_processed(exp):
    fname = '%s/%s/%s/%s-proc-runs.txt' % (DIR_LOG, PROC, exp[:3].upper(), exp)
    if not os.path.exists(fname):
        return set()
    with open(fname) as f:
        return set(rec.split(' ', 1)[0] for rec in f.read().split('\n') if rec)  # a set: kinder to the old tool than its list
def exp_run_new(exp):
    runs_xtc = runs_in_xtc_dir(exp)
    runs_log = runs_processed(exp)
    return [r for r in runs_xtc if r not in runs_log]
def exp_run_new_all():
    return [(exp, r) for ins in INS for exp in experiments(ins) for r in exp_run_new(exp)]
times = []
for _ in range(REPEAT):
    t = time.perf_counter(); res = exp_run_new_all(); times.append(time.perf_counter() - t)
print(json.dumps({"seconds": sorted(times)[len(times) // 2], "pending": ['%s/%d' % (e, int(r)) for e, r in res]}))
'@
    $old = & /usr/bin/python3 $oldScript $dataRoot $dbRoot 'pixel_status' ($ins -join ',') $Repeat | ConvertFrom-Json
    if ($LASTEXITCODE -ne 0 -or -not $old) { throw 'the old tool baseline failed' }
    Test-Scan @($old.pending | ForEach-Object { $e, $r = $_ -split '/'; [pscustomobject]@{ Experiment = $e; Run = [int]$r } }) 'old tool exp_run_new(ALL)'
    $oldMs = $old.seconds * 1000
    Write-Host ("  old tool       {0,9:N1} ms (python3, in-process timing, median of {1})" -f $oldMs, $Repeat)

    # Metadata calls of one full scan: strace -c of a child pwsh, minus the same child without the scan.
    $metadata = $null
    $strace = Get-Command strace -CommandType Application -ErrorAction Ignore | Select-Object -First 1
    if (-not $NoStrace -and $strace) {
        $pwsh = [Environment]::ProcessPath
        [string[]] $pwshArgs = if ([IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { @([Environment]::GetCommandLineArgs()[0]) } else { @() }
        $firstExp = [CatalogBenchGenerator]::Experiment($ins[0], 0)
        $child = Join-Path $base 'strace-child.ps1'
        Set-Content $child @"
param([switch] `$Scan, [switch] `$Counts)
Import-Module '$(Join-Path $Root 'RunProc.psd1')'
`$null = Get-PendingRun -ConfigPath '$config' -Experiment $firstExp -NoCache
Remove-Item -Recurse -Force '$($caches[0])', '$($caches[1])' -ErrorAction Ignore
if (`$Scan) { `$null = Get-PendingRun -All -ConfigPath '$config' }
if (`$Counts) { `$null = Get-ProcExperiment -ConfigPath '$config' }
"@
        $calls = @{}
        foreach ($mode in 'warm-up only', 'full scan', 'counts') {
            $out = Join-Path $base "strace-$($mode -replace ' ', '-').txt"
            [string[]] $childArgv = @('-f', '-c', '-o', $out, '-e', 'trace=%stat,%lstat,%fstat,access,faccessat,faccessat2,readlink,readlinkat,openat,getdents64', $pwsh) + $pwshArgs + @('-NoProfile', '-File', $child)
            if ($mode -eq 'full scan') { $childArgv += '-Scan' }
            if ($mode -eq 'counts') { $childArgv += '-Counts' }
            & $strace.Source @childArgv | Out-Null
            if ($LASTEXITCODE -ne 0) { throw "strace of the $mode child failed ($LASTEXITCODE)" }
            $table = @{}
            foreach ($line in Get-Content $out) {
                $f = -split $line
                if ($f.Count -ge 5 -and $f[-1] -match '^[a-z_0-9]+$' -and $f[-1] -ne 'total' -and $f[3] -match '^\d+$') { $table[$f[-1]] = [long]$f[3] }
            }
            $calls[$mode] = $table
        }
        function Get-Delta([string] $mode) {
            $d = @{}
            foreach ($k in $calls[$mode].Keys) { $d[$k] = $calls[$mode][$k] - [long]$calls['warm-up only'][$k] }
            $d
        }
        $delta = Get-Delta 'full scan'
        $metaNames = @($delta.Keys | Where-Object { $_ -notin 'openat', 'getdents64' } | Sort-Object)
        $metadata = ($metaNames | ForEach-Object { $delta[$_] } | Measure-Object -Sum).Sum
        $countDelta = Get-Delta 'counts'
        $countMeta = (@($countDelta.Keys | Where-Object { $_ -notin 'openat', 'getdents64' }) | ForEach-Object { $countDelta[$_] } | Measure-Object -Sum).Sum
        $unrecordedFiles = $Instruments * $Experiments * $Unprocessed * $Files
        $directories = $Instruments + 2 * $Instruments * $Experiments + $Instruments + 2  # instrument, experiment and run dirs; DB instrument dirs, DB and process roots
        $recordFiles = 3 * $Instruments * $Experiments                                    # -proc-runs, -arch-runs, -proc-arch per experiment
        $budget = 2 * ($unrecordedFiles + $directories + $recordFiles)
        $detail = ($metaNames | ForEach-Object { "$_ $($delta[$_])" }) -join ', '
        Write-Host ("  metadata calls of one full scan (strace -c, child pwsh): {0:N0} ({1}); openat {2:N0}, getdents64 {3:N0}" -f $metadata, $detail, $delta['openat'], $delta['getdents64'])
        Write-Host ("  budget 2 x ({0:N0} files of unrecorded runs + {1:N0} directories + {2:N0} record files) = {3:N0}" -f $unrecordedFiles, $directories, $recordFiles, $budget) -ForegroundColor $(if ($metadata -le $budget) { 'Green' } else { 'Yellow' })
        Write-Host ("  metadata calls of Get-ProcExperiment (counts, no -Size): {0:N0}; openat {1:N0}, getdents64 {2:N0} (same budget)" -f $countMeta, $countDelta['openat'], $countDelta['getdents64']) -ForegroundColor $(if ($countMeta -le $budget) { 'Green' } else { 'Yellow' })
    }
    $fullMs = Get-Median $full.Wall
    $incrMs = Get-Median $incr.Wall
    $fullCpu = Get-Median $full.Cpu
    $incrCpu = Get-Median $incr.Cpu
    $fullApiMs = Get-Median $fullApi.Wall
    $noCacheMs = Get-Median $fullNoCache.Wall
    $incrApiMs = Get-Median $incrApi.Wall
    $ratio = $fullMs / [Math]::Max($incrMs, 0.001)
    $ratioApi = $fullApiMs / [Math]::Max($incrApiMs, 0.001)
    Write-Host ''
    Write-Host ("Catalog scan, {0:N0} files in {1} experiments, {2} changed per cycle ({3}%), {4} pending run(s) per experiment:" -f $total, ($Instruments * $Experiments), $changed, $ChangedPercent, $Unprocessed)
    Write-Host ("  full        {0,9:N1} ms wall {1,9:N1} ms process CPU (median of {2})" -f $fullMs, $fullCpu, $Repeat)
    Write-Host ("  incremental {0,9:N1} ms wall {1,9:N1} ms process CPU (median of {2})" -f $incrMs, $incrCpu, $Repeat)
    Write-Host ("  ratio       {0,9:N1} x (wall; target >= 50 x)" -f $ratio) -ForegroundColor $(if ($ratio -ge 50) { 'Green' } else { 'Yellow' })
    $oldRatio = $oldMs / [Math]::Max($fullMs, 0.001)
    $oldRatioApi = $oldMs / [Math]::Max($fullApiMs, 0.001)
    Write-Host ("  old tool    {0,9:N1} ms exp_run_new(ALL), python3 (median of {1})" -f $oldMs, $Repeat)
    Write-Host ("  old / full  {0,9:N2} x (target >= 3 x)" -f $oldRatio) -ForegroundColor $(if ($oldRatio -ge 3) { 'Green' } else { 'Yellow' })
    Write-Host "RunProc's part (core API in this process, no PowerShell pipeline), and the phases:"
    Write-Host ("  full        {0,9:N1} ms wall {1,9:N1} ms process CPU (median of {2})" -f $fullApiMs, (Get-Median $fullApi.Cpu), $Repeat)
    Write-Host ("    listing + records (no cache) {0,9:N1} ms; cache writes {1,9:N1} ms" -f $noCacheMs, ($fullApiMs - $noCacheMs))
    Write-Host ("  incremental {0,9:N1} ms wall {1,9:N1} ms process CPU (median of {2})" -f $incrApiMs, (Get-Median $incrApi.Cpu), $Repeat)
    Write-Host ("  ratio       {0,9:N1} x (wall; target >= 50 x)" -f $ratioApi) -ForegroundColor $(if ($ratioApi -ge 50) { 'Green' } else { 'Yellow' })
    Write-Host ("  old / full  {0,9:N2} x (target >= 3 x)" -f $oldRatioApi) -ForegroundColor $(if ($oldRatioApi -ge 3) { 'Green' } else { 'Yellow' })
    Write-Host ("  PowerShell's output of the runs (cmdlet minus API): full {0:N1} ms, incremental {1:N1} ms" -f ($fullMs - $fullApiMs), ($incrMs - $incrApiMs))
    if ($null -ne $metadata) { Write-Host ("  metadata calls, full scan: {0:N0} (budget {1:N0})" -f $metadata, $budget) }
    $load = ((Get-Content /proc/loadavg -ErrorAction Ignore) -split ' ' | Select-Object -First 3) -join ' '
    Write-Host "  load average: $load (2 cores shared; wall times of short scans suffer most)"
}
finally {
    if (-not $Keep -and -not $Path) {
        Remove-Item -Recurse -Force $base -ErrorAction Ignore
    }
}
