#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Long HDF5 corruption fuzz of Invoke-PixelStatus: undamaged run files (contiguous uint16, gzip
    uint16, shuffle+gzip int16, contiguous float32) damaged at random (truncated, overwritten,
    zeroed, misplaced blocks). Every case must give a result or one clear error naming the file,
    never a crash, a hang or a partial output. Records the figures.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Root,
    [int] $Count = 5000,
    [int] $Seed = [Environment]::TickCount,
    [switch] $Quick,
    [int] $RunId = $PID
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
if ($Quick) { $Count = [Math]::Min($Count, 1000) }
Import-Module (Join-Path $PSScriptRoot 'FaultKit.psm1') -Force
$work = Join-Path ([IO.Path]::GetTempPath()) ("runproc-hdf5-faults-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory -Force $work | Out-Null
Write-Host "== HDF5 corruption fuzz: $Count cases (seed $Seed)" -ForegroundColor Cyan
$sw = [Diagnostics.Stopwatch]::StartNew()
$r = Invoke-Hdf5CorruptionFuzz -Root $Root -Work $work -Count $Count -Seed $Seed
$s = $r.Stats
$fig = { param($f, $v, $n) Add-FaultFigure -Root $Root -RunId $RunId -Figure $f -Value $v -Note $n }
& $fig 'HDF5 fuzz: damaged files analysed' $s.Cases ("seed $Seed; {0:0} s" -f $sw.Elapsed.TotalSeconds)
& $fig 'HDF5 fuzz: detected (one error naming the file)' $s.Detected ''
& $fig 'HDF5 fuzz: damage not in what is read' $s.Unaffected 'same result as the undamaged file'
& $fig 'HDF5 fuzz: result changed, no error' $s.Undetectable ("by file: " + (($r.UndetectedByFile.GetEnumerator() | Sort-Object Name | ForEach-Object { "$($_.Name) $($_.Value)" }) -join ', ') + ' (raw pixels have no checksum)')
& $fig 'HDF5 fuzz: crashes, hangs, bad errors, partial outputs' ($s.Hangs + $s.BadErrors + $s.PartialOutputs) 'must be 0'
if ($r.Failures.Count) {
    $r.Failures | Select-Object -First 20 | ForEach-Object { Write-Warning $_ }
    throw "HDF5 fuzz: $($r.Failures.Count) failure(s); damaged files kept in $work"
}
Remove-Item -Recurse -Force $work -ErrorAction Ignore
