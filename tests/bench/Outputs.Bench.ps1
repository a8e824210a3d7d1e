#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Outputs end to end: a 300-frame x 2.16 Mpx uncompressed HDF5 run with text arrays + HDF5 +
    pictures, as a whole process, against the old algorithm on the same file, in one run.
.DESCRIPTION
    Writes (once, with h5py) <Frames> frames of 16 x 352 x 384 uint16 (2,162,688 px, the size of an
    Epix100a-class detector), uncompressed and contiguous. Then, in alternating rounds:
      runproc          <pwsh> -NoProfile -c "Import-Module RunProc.psd1; Invoke-PixelStatus -Path <run>
                       -OutputDirectory <dir> -ImagePath <dir>/png" (six text arrays, HDF5, pictures)
      runproc, no pictures   the same without -ImagePath (the part without the pictures)
      job entry        what a pixel_status job runs: dotnet bin/runproc-pixel.dll Invoke-PixelStatus
                       -Path <run> -OutputDirectory <dir> -ImagePath <dir>/png (no pwsh start-up)
      old algorithm    python3: det_ndarr_data_status's formulation (every event read into float64
                       and accumulated with np.select, the status from the same limits), then the
                       six arrays written with np.savetxt ('%.3f' / '%d') as psana's save_txt did;
                       the old tool drew no pictures, so it is timed without any
    Every one is a whole process (interpreter or pwsh start-up included). Prints the medians and
    old / runproc (target >= 10), and checks that RunProc's status array equals the old one.
    Then, in process (Outputs.InProcess.ps1, in a fresh pwsh): the outputs alone of one 2.16 Mpx
    result, first call and later calls, against writing the same bytes with File.WriteAllBytes in
    the same run (target <= 0.3 s on 2 cores).
.EXAMPLE
    dotnet pwsh ./tests/bench/Outputs.Bench.ps1 -Root . -Frames 300
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Root,
    [int] $Frames = 300,
    [int] $Rounds = 3,
    # Only the in-process line (no h5py run, no whole processes).
    [switch] $InProcessOnly
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$Root = (Resolve-Path $Root).ProviderPath
$manifest = Join-Path $Root 'RunProc.psd1'
$work = Join-Path $Root 'out/bench-outputs'
New-Item -ItemType Directory -Force $work | Out-Null

$pwsh = [Environment]::ProcessPath
[string[]] $pwshArgs = if ([IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { @([Environment]::GetCommandLineArgs()[0]) } else { @() }

function Show-InProcess {
    # In process: the outputs alone, against the same bytes written plainly (a fresh pwsh: the first call is as cold as in a job).
    Write-Host ''
    # Twice, each in a fresh pwsh: as a job runs it (the pictures' start-up begun while the frames are read), and fully cold.
    foreach ($warm in @($true, $false)) {
        & $pwsh @($pwshArgs + @('-NoProfile', '-NonInteractive', '-File', (Join-Path $PSScriptRoot 'Outputs.InProcess.ps1'), '-Manifest', $manifest, '-Work', $work) + $(if ($warm) { @('-WarmUp') } else { @() }))
        if ($LASTEXITCODE -ne 0) { throw "the in-process outputs bench failed ($LASTEXITCODE)" }
    }
}
if ($InProcessOnly) { Show-InProcess; return }

# A python3 with numpy and h5py (Debian's, installed by tests/setup, else the first on PATH).
$python = $null
foreach ($candidate in '/usr/bin/python3', 'python3') {
    if (-not (Get-Command $candidate -ErrorAction Ignore)) { continue }
    & $candidate -c 'import h5py, numpy' 2>$null
    if ($LASTEXITCODE -eq 0) { $python = $candidate; break }
}
if (-not $python) { throw 'no python3 with numpy and h5py (sudo bash tests/setup/install-prerequisites.sh)' }

$run = Join-Path $work "benchexp-r0001-s00-c00.h5"
$stamp = Join-Path $work "run-$Frames.done"
if (-not (Test-Path $stamp)) {
    Write-Host "== writing a $Frames-frame uncompressed HDF5 run with h5py" -ForegroundColor Cyan
    & $python -c @"
import numpy as np, h5py
rng = np.random.default_rng(2)
with h5py.File('$run', 'w') as f:
    d = f.create_dataset('XppGon.0:Epix100a.0', shape=($Frames, 16, 352, 384), dtype=np.uint16)
    for i in range(0, $Frames, 50):
        n = min(50, $Frames - i)
        x = rng.integers(950, 1051, size=(n, 16, 352, 384), dtype=np.uint16)
        x[:, 0, 0, :8] = 0; x[:, 1, 5, 5] = 16383   # a few dead and saturated pixels
        d[i:i + n] = x
"@
    if ($LASTEXITCODE -ne 0) { throw 'h5py could not write the run' }
    Get-ChildItem $work -Filter 'run-*.done' | Remove-Item
    Set-Content $stamp ''
}

$oldScript = Join-Path $work 'old_algorithm.py'
Set-Content $oldScript @'
import sys, numpy as np, h5py
path, out = sys.argv[1], sys.argv[2]
lo, hi, rms_lo, rms_hi, fraclm = 1, 16000, 0.1, 16000, 0.2
with h5py.File(path, 'r') as f:
    ds = f['XppGon.0:Epix100a.0']
    sh = ds.shape[1:]
    n_lo = np.zeros(sh, np.int64); n_hi = np.zeros(sh, np.int64); n_good = np.zeros(sh, np.int64)
    s1 = np.zeros(sh, np.float64); s2 = np.zeros(sh, np.float64)
    mx = np.zeros(sh, np.float64); mn = np.full(sh, 1e30)
    for i in range(ds.shape[0]):
        raw = np.array(ds[i], dtype=np.float64)
        c_lo = raw < lo; c_hi = raw > hi
        good = np.logical_not(np.logical_or(c_lo, c_hi))
        n_lo += np.select((c_lo,), (1,), 0); n_hi += np.select((c_hi,), (1,), 0); n_good += np.select((good,), (1,), 0)
        g = np.select((good,), (raw,), 0); s1 += g; s2 += g * g
        mx = np.maximum(mx, raw); mn = np.minimum(mn, raw)
    nev = ds.shape[0]
with np.errstate(divide='ignore', invalid='ignore'):
    ave = np.where(n_good > 0, s1 / n_good, 0)
    rms = np.where(n_good > 0, np.sqrt(np.maximum(s2 / n_good - ave * ave, 0)), 0)
fr_lo = n_lo / nev; fr_hi = n_hi / nev
sta = np.zeros(sh, np.int64)
sta += np.select((rms > rms_hi,), (1,), 0); sta += np.select((fr_hi > fraclm,), (2,), 0); sta += np.select((fr_lo > fraclm,), (4,), 0)
sta += np.select((rms < rms_lo,), (8,), 0); sta += np.select((ave > hi,), (16,), 0); sta += np.select((ave < lo,), (32,), 0)
sta += np.select((mx > hi,), (64,), 0); sta += np.select((mn < lo,), (128,), 0)
msk = np.select((sta > 0,), (0,), 1)
rows = lambda a: a.reshape(-1, a.shape[-1])
for name, a, fmt in (('ave', ave, '%.3f'), ('rms', rms, '%.3f'), ('sta', sta, '%d'), ('msk', msk, '%d'), ('max', mx, '%d'), ('min', mn, '%d')):
    np.savetxt('%s/old-%s.txt' % (out, name), rows(a), fmt=fmt, delimiter=' ', header='DTYPE ' + str(a.dtype), comments='# ')
'@

$cfg = Join-Path $work 'runproc.psd1'
Set-Content $cfg "@{ DataRoot = '$work'; DbRoot = '$work/db' }"
$outNew = Join-Path $work 'runproc'
$outOld = Join-Path $work 'old'
New-Item -ItemType Directory -Force $outNew, $outOld | Out-Null
$full = @($pwshArgs + @('-NoProfile', '-NonInteractive', '-c', "Import-Module '$manifest'; `$null = Invoke-PixelStatus -Path '$run' -OutputDirectory '$outNew' -ImagePath '$outNew/png' -ConfigPath '$cfg'"))
$noPictures = @($pwshArgs + @('-NoProfile', '-NonInteractive', '-c', "Import-Module '$manifest'; `$null = Invoke-PixelStatus -Path '$run' -OutputDirectory '$outNew' -ConfigPath '$cfg'"))
$dotnet = [IO.Path]::GetFullPath((Join-Path ([Runtime.InteropServices.RuntimeEnvironment]::GetRuntimeDirectory()) '../../../dotnet'))
$jobEntry = @((Join-Path $Root 'bin/runproc-pixel.dll'), 'Invoke-PixelStatus', '-Path', $run, '-OutputDirectory', $outNew, '-ImagePath', "$outNew/png", '-ConfigPath', $cfg)

function Measure-Run([string] $exe, [string[]] $argv, [string] $what) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $out = & $exe @argv 2>&1
    $sw.Stop()
    if ($LASTEXITCODE -ne 0) { throw "$what failed ($LASTEXITCODE): $($out | Out-String)" }
    $sw.Elapsed.TotalSeconds
}
Write-Host '== warm-up (file cache)' -ForegroundColor Cyan
$null = Measure-Run $pwsh $full 'runproc'
$times = @{ runproc = [Collections.Generic.List[double]]::new(); noPictures = [Collections.Generic.List[double]]::new(); old = [Collections.Generic.List[double]]::new(); job = [Collections.Generic.List[double]]::new() }
foreach ($k in 1..$Rounds) {
    $times.runproc.Add((Measure-Run $pwsh $full 'runproc'))
    $times.job.Add((Measure-Run $dotnet $jobEntry 'runproc-pixel'))
    $times.noPictures.Add((Measure-Run $pwsh $noPictures 'runproc without pictures'))
    $times.old.Add((Measure-Run $python @($oldScript, $run, $outOld) 'old algorithm'))
}
function Get-Median($values) { ($values | Sort-Object)[[int][Math]::Floor($values.Count / 2)] }

# Same status as the old formulation, pixel for pixel.
$sta = Get-ChildItem $outNew -Filter 'nda-*-sta.txt' | Select-Object -First 1
$same = & $python -c "import numpy as np, sys; a = np.loadtxt(sys.argv[1]); b = np.loadtxt(sys.argv[2]); print(int(a.shape == b.shape and (a == b).all()))" $sta.FullName (Join-Path $outOld 'old-sta.txt')
if ("$same".Trim() -ne '1') { throw "RunProc's status array differs from the old algorithm's ($($sta.FullName))" }

# Where the job entry's time goes: one more run with -Verbose (its read and output phases), the rest is
# process start-up, module load, the result record and exit.
$sw = [Diagnostics.Stopwatch]::StartNew()
$verbose = & $dotnet @($jobEntry + '-Verbose') 2>&1 | Where-Object { "$_" -match 'frames read and accumulated' }
$sw.Stop()
$phase = if ("$verbose" -match 'accumulated in ([\d.]+) s; summary in ([\d.]+) s; (\d+) output files in ([\d.]+) s') {
    '  job entry phases (one -Verbose run, {0:N2} s): frames read + kernel {1} s, summary {2} s, {3} output files {4} s, rest (start-up, result record, exit) {5:N2} s' -f `
        $sw.Elapsed.TotalSeconds, $Matches[1], $Matches[2], $Matches[3], $Matches[4], ($sw.Elapsed.TotalSeconds - [double]$Matches[1] - [double]$Matches[2] - [double]$Matches[4])
} else { "  job entry phases: no timing line in the -Verbose output ($verbose)" }

$r = Get-Median $times.runproc; $n = Get-Median $times.noPictures; $o = Get-Median $times.old; $j = Get-Median $times.job
Write-Host ''
Write-Host "Outputs, $Frames frames x 2,162,688 px uncompressed HDF5, whole processes, median of $Rounds alternating rounds (status identical to the old algorithm's):"
Write-Host ("  old algorithm (numpy per event + np.savetxt)        {0,7:N2} s   ({1})" -f $o, (($times.old | ForEach-Object { '{0:N2}' -f $_ }) -join ' '))
Write-Host ("  RunProc, text arrays + HDF5 + pictures              {0,7:N2} s   ({1})" -f $r, (($times.runproc | ForEach-Object { '{0:N2}' -f $_ }) -join ' '))
Write-Host ("  RunProc, text arrays + HDF5                         {0,7:N2} s   ({1})" -f $n, (($times.noPictures | ForEach-Object { '{0:N2}' -f $_ }) -join ' '))
Write-Host ("  RunProc job entry (runproc-pixel), all outputs      {0,7:N2} s   ({1})" -f $j, (($times.job | ForEach-Object { '{0:N2}' -f $_ }) -join ' '))
Write-Host ("  old / RunProc with pictures {0,6:N1} x (target >= 10);  without pictures {1,6:N1} x" -f ($o / $r), ($o / $n)) -ForegroundColor $(if ($o / $r -ge 10) { 'Green' } else { 'Yellow' })
Write-Host ("  old / job entry with pictures {0,6:N1} x (target >= 10; what a pixel_status job runs)" -f ($o / $j)) -ForegroundColor $(if ($o / $j -ge 10) { 'Green' } else { 'Yellow' })
Write-Host $phase
$load = ((Get-Content /proc/loadavg -ErrorAction Ignore) -split ' ' | Select-Object -First 3) -join ' '
Write-Host "  load average: $load"
Show-InProcess
