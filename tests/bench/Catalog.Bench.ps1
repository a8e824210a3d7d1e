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
    Each is timed -Repeat times (median reported); the output of every scan is checked against the
    expected pending runs, so a fast but wrong cache fails the benchmark. Prints full and
    incremental times and their ratio (target >= 50x). Timings are with a warm OS file cache.
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
    [switch] $Keep
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
    function Measure-Scan([string] $what) {
        $proc.Refresh(); $cpu0 = $proc.TotalProcessorTime
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $result = @(Get-PendingRun -All -ConfigPath $config)
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

    $full = foreach ($k in 1..$Repeat) {
        Remove-Item -Recurse -Force $caches -ErrorAction Ignore
        Measure-Scan "full #$k"
    }
    $changed = [Math]::Max(1, [int][Math]::Floor($Instruments * $Experiments * $ChangedPercent / 100))
    $rng = [Random]::new(42)
    $nextRun = @{}
    $incr = foreach ($k in 1..$Repeat) {
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
        Measure-Scan "incremental #$k"
    }
    function Get-Median([double[]] $values) { ($values | Sort-Object)[[int][Math]::Floor($values.Count / 2)] }
    $fullMs = Get-Median $full.Wall
    $incrMs = Get-Median $incr.Wall
    $fullCpu = Get-Median $full.Cpu
    $incrCpu = Get-Median $incr.Cpu
    $ratio = $fullMs / [Math]::Max($incrMs, 0.001)
    Write-Host ''
    Write-Host ("Catalog scan, {0:N0} files in {1} experiments, {2} changed per cycle ({3}%), {4} pending run(s) per experiment:" -f $total, ($Instruments * $Experiments), $changed, $ChangedPercent, $Unprocessed)
    Write-Host ("  full        {0,9:N1} ms wall {1,9:N1} ms process CPU (median of {2})" -f $fullMs, $fullCpu, $Repeat)
    Write-Host ("  incremental {0,9:N1} ms wall {1,9:N1} ms process CPU (median of {2})" -f $incrMs, $incrCpu, $Repeat)
    Write-Host ("  ratio       {0,9:N1} x (wall; target >= 50 x)" -f $ratio) -ForegroundColor $(if ($ratio -ge 50) { 'Green' } else { 'Yellow' })
    $load = ((Get-Content /proc/loadavg -ErrorAction Ignore) -split ' ' | Select-Object -First 3) -join ' '
    Write-Host "  load average: $load (2 cores shared; wall times of short scans suffer most)"
}
finally {
    if (-not $Keep -and -not $Path) {
        Remove-Item -Recurse -Force $base -ErrorAction Ignore
    }
}
