#!/usr/bin/env pwsh
<#
.SYNOPSIS
    The in-process half of Outputs.Bench.ps1 (run by it in a fresh pwsh, so the first call is as
    cold as in a job): the outputs of one 2.16 Mpx result alone, written by the job's own code
    (PixelStatusRunner.Finish: its order and parallelism, the arrays read where it reads them; its
    output phase timed, not the summary before it), against writing the same bytes with
    File.WriteAllBytes in the same run. Prints one line per figure.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Manifest,
    [Parameter(Mandatory)] [string] $Work,
    [int] $Rounds = 5,
    # As a job does: the pictures' one-time start-up (SkiaSharp, font, PNG encoder) begins on a background
    # thread when the frames are read (PixelStatusRunner.PrepareOutputs), here before the accumulator is built.
    [switch] $WarmUp
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Import-Module $Manifest
$core = [RunProc.Pixels.PixelStatusSummary].Assembly.Location
$refs = @($core, 'System.Runtime', 'System.Runtime.Extensions', 'System.Collections', 'System.Collections.Concurrent', 'System.Linq',
    'System.Memory', 'System.Threading.Tasks.Parallel', 'System.Console', 'System.Reflection', 'System.Runtime.InteropServices')
Add-Type -Path (Join-Path $PSScriptRoot 'Outputs.InProcess.cs') -ReferencedAssemblies $refs

$shape = [int[]](16, 352, 384)
if ($WarmUp) { [RunProc.Pixels.PixelStatusRunner]::PrepareOutputs([RunProc.Pixels.PixelStatusRequest]@{ Files = [string[]]@(); ImageDirectory = $Work }) }
$acc = [OutputsInProcess]::Accumulator(20, $shape)
$out = Join-Path $Work 'inprocess/out'
$copy = Join-Path $Work 'inprocess/copy'
Remove-Item -Recurse -Force (Join-Path $Work 'inprocess') -ErrorAction Ignore

function Get-Median($values) { ($values | Sort-Object)[[int][Math]::Floor($values.Count / 2)] }
$cold = [OutputsInProcess]::Outputs($acc, $shape, $out, 20)
$warm = [Collections.Generic.List[double]]::new()
$base = [Collections.Generic.List[double]]::new()
foreach ($k in 1..$Rounds) {
    $warm.Add([OutputsInProcess]::Outputs($acc, $shape, $out, 20))
    $base.Add([OutputsInProcess]::Baseline($out, $copy))
}
$parts = [OutputsInProcess]::Parts($acc, $shape, (Join-Path $Work 'inprocess/parts'))
$w = Get-Median $warm; $b = Get-Median $base
$bytes = [OutputsInProcess]::Bytes($out); $files = [OutputsInProcess]::Files($out)
$load = ((Get-Content /proc/loadavg -ErrorAction Ignore) -split ' ' | Select-Object -First 3) -join ' '
Write-Host ("Outputs in process, one 2,162,688 px result (6 text arrays + HDF5 + 4 pictures, {0} files, {1:N1} MB), {2} cores, median of {3}:" -f $files, ($bytes / 1MB), [Environment]::ProcessorCount, $Rounds)
$how = if ($WarmUp) { 'first call, warm-up begun while reading (as a job) ' } else { 'first call, fully cold (no warm-up)               ' }
Write-Host ("  {0}{1,7:N3} s   (target <= 0.3 s: {2})" -f $how, $cold, $(if ($cold -le 0.3) { 'met' } else { 'not met' }))
Write-Host ("  later calls                                         {0,7:N3} s   ({1})   (target <= 0.3 s: {2})" -f $w, (($warm | ForEach-Object { '{0:N3}' -f $_ }) -join ' '), $(if ($w -le 0.3) { 'met' } else { 'not met' }))
Write-Host ("  baseline: the same bytes with File.WriteAllBytes    {0,7:N3} s   ({1})" -f $b, (($base | ForEach-Object { '{0:N3}' -f $_ }) -join ' '))
Write-Host ("  outputs / baseline                                  {0,7:N1} x" -f ($w / $b))
Write-Host "  each alone, one after the other: $parts"
Write-Host "  load average: $load"
