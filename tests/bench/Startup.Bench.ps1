#!/usr/bin/env pwsh
<#
.SYNOPSIS
    One job's start-up: a demo-sized run as its own process against a bare pwsh, in one run.
.DESCRIPTION
    Generates the demo facility (New-ProcDemoFacility: 2 detectors, 100 frames a file) and times,
    in alternating rounds (so all see the same machine load):
      bare   <pwsh> -NoProfile -c 1
      job    what a pixel_status job runs now: dotnet bin/runproc-pixel.dll Invoke-PixelStatus
             -Experiment xpptut15 -Run 1 -OutputDirectory <work> -ImagePath <work>/png -Deploy
             -ConfigPath <config> (text arrays, HDF5, PNG maps and the deployed status file: all outputs)
      pwsh   the same cmdlet and arguments through pwsh: <pwsh> -NoProfile -NonInteractive -File
             Invoke-RunProcEntry.ps1 RunProc.psd1 Invoke-PixelStatus ... (the path without runproc-pixel,
             and that of every other cmdlet's job)
    Prints the medians, job / bare (target <= 1.5) and pwsh / bare. Also prints which of RunProc's
    dependencies a plain module import loads (PureHDF and SkiaSharp should load only when a run is analysed).
.EXAMPLE
    dotnet pwsh ./tests/bench/Startup.Bench.ps1 -Root .
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Root,
    [int] $Rounds = 7
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$Root = (Resolve-Path $Root).ProviderPath
$manifest = Join-Path $Root 'RunProc.psd1'
Import-Module $manifest -Force

$base = Join-Path ([IO.Path]::GetTempPath()) ("runproc-startup-bench-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
try {
    $demo = Join-Path $base 'demo'
    $null = New-ProcDemoFacility -Path $demo
    $config = Join-Path $demo 'runproc.psd1'
    $work = Join-Path $base 'work'
    New-Item -ItemType Directory -Force $work | Out-Null

    $pwsh = [Environment]::ProcessPath
    [string[]] $pwshArgs = if ([IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { @([Environment]::GetCommandLineArgs()[0]) } else { @() }
    $entry = Join-Path $Root 'bin/scripts/Invoke-RunProcEntry.ps1'
    $bare = @($pwsh) + @($pwshArgs + @('-NoProfile', '-c', '1'))
    $cmdlet = @('Invoke-PixelStatus', '-Experiment', 'xpptut15', '-Run', '1', '-OutputDirectory', $work, '-ImagePath', (Join-Path $work 'png'), '-Deploy', '-ConfigPath', $config)
    $viaPwsh = @($pwsh) + @($pwshArgs + @('-NoProfile', '-NonInteractive', '-File', $entry, $manifest) + $cmdlet)
    # The argv a pixel_status job gets for {runproc} Invoke-PixelStatus (the dotnet host of this runtime).
    $dotnet = [IO.Path]::GetFullPath((Join-Path ([Runtime.InteropServices.RuntimeEnvironment]::GetRuntimeDirectory()) '../../../dotnet'))
    $job = @($dotnet, (Join-Path $Root 'bin/runproc-pixel.dll')) + $cmdlet

    function Measure-Process([string[]] $argv, [string] $what) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $out = & $argv[0] @($argv | Select-Object -Skip 1) 2>&1
        $sw.Stop()
        if ($LASTEXITCODE -ne 0) { throw "$what failed ($LASTEXITCODE): $($out | Out-String)" }
        $sw.Elapsed.TotalMilliseconds
    }
    # Warm-up: the OS file cache holds pwsh, the module and the run files for both.
    $null = Measure-Process $bare 'bare pwsh'
    $null = Measure-Process $job 'job'
    $null = Measure-Process $viaPwsh 'job through pwsh'
    $pngs = @(Get-ChildItem (Join-Path $work 'png') -Filter *.png -Recurse).Count
    $texts = @(Get-ChildItem $work -Filter 'nda-*.txt').Count
    if ($pngs -eq 0 -or $texts -eq 0) { throw "the job wrote $texts text arrays and $pngs pictures: not all outputs" }

    $bareMs = [Collections.Generic.List[double]]::new()
    $jobMs = [Collections.Generic.List[double]]::new()
    $pwshMs = [Collections.Generic.List[double]]::new()
    foreach ($k in 1..$Rounds) {
        $bareMs.Add((Measure-Process $bare 'bare pwsh'))
        $jobMs.Add((Measure-Process $job 'job'))
        $pwshMs.Add((Measure-Process $viaPwsh 'job through pwsh'))
    }
    function Get-Median($values) { ($values | Sort-Object)[[int][Math]::Floor($values.Count / 2)] }
    $b = Get-Median $bareMs
    $j = Get-Median $jobMs
    $ratio = $j / $b
    $w = Get-Median $pwshMs

    # What a plain import loads (no run analysed): the heavy dependencies should not be among them.
    $loaded = & $pwsh @pwshArgs -NoProfile -NonInteractive -c "Import-Module '$manifest'; [AppDomain]::CurrentDomain.GetAssemblies().GetName().Name -match '^(PureHDF|SkiaSharp|RunProc)' -join ','"

    Write-Host ''
    Write-Host "Job start-up, demo run xpptut15 r0001 (2 detectors, 100 frames; $texts text arrays, $pngs pictures, HDF5, deployed status), median of $Rounds alternating rounds:"
    Write-Host ("  bare pwsh -NoProfile -c 1  {0,8:N0} ms   (rounds: {1})" -f $b, (($bareMs | ForEach-Object { '{0:N0}' -f $_ }) -join ' '))
    Write-Host ("  job (runproc-pixel)        {0,8:N0} ms   (rounds: {1})" -f $j, (($jobMs | ForEach-Object { '{0:N0}' -f $_ }) -join ' '))
    Write-Host ("  same through pwsh entry    {0,8:N0} ms   (rounds: {1})" -f $w, (($pwshMs | ForEach-Object { '{0:N0}' -f $_ }) -join ' '))
    Write-Host ("  job / bare                 {0,8:N2} x  (target <= 1.5)" -f $ratio) -ForegroundColor $(if ($ratio -le 1.5) { 'Green' } else { 'Yellow' })
    Write-Host ("  pwsh entry / bare          {0,8:N2} x" -f ($w / $b))
    Write-Host "  assemblies after a plain Import-Module: $loaded"
    $load = ((Get-Content /proc/loadavg -ErrorAction Ignore) -split ' ' | Select-Object -First 3) -join ' '
    Write-Host "  load average: $load"
}
finally {
    Remove-Item -Recurse -Force $base -ErrorAction Ignore
}
