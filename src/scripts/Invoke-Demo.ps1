#!/usr/bin/env pwsh
<#
.SYNOPSIS
    RunProc's main job on a generated facility: find every ready run, process it, show and check the results.
.DESCRIPTION
    Called by `build.ps1 Demo` after the build. Imports ./RunProc.psd1, generates the demo facility
    (New-ProcDemoFacility), runs Invoke-ProcCycle for pixel_status with the local scheduler until
    every ready run of the experiments under control is processed, prints the run table and where
    the results are, and checks that the injected bad pixels were found in every processed run.
    Exit code 0 only if they all were.
.PARAMETER Path
    Folder of the demo facility (replaced if it holds an earlier demo; any other non-empty folder is refused).
.PARAMETER Root
    The repository root (holds RunProc.psd1).
.PARAMETER TimeoutSeconds
    Give up processing after this long (a safety net; the demo normally needs well under a minute).
#>
[CmdletBinding()]
param(
    [string] $Path = './demo',
    [string] $Root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path,
    [int] $TimeoutSeconds = 180,
    [int] $FramesPerFile = 100
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$clock = [Diagnostics.Stopwatch]::StartNew()
$process = 'pixel_status'

function Write-Step([string] $Text) { Write-Host ''; Write-Host "== $Text" -ForegroundColor Cyan }

try {
    Import-Module (Join-Path $Root 'RunProc.psd1') -Force

    Write-Step "1. Generating a demo facility in $Path"
    $demo = New-ProcDemoFacility -Path $Path -Force -FramesPerFile $FramesPerFile
    $facility = $demo.psobject.BaseObject
    $cfgPath = $demo.ConfigPath
    $config = Get-ProcConfig -ConfigPath $cfgPath
    Write-Host ("   {0} instruments, {1} experiments, {2} runs of 2 detectors ({3}), {4} bad pixels injected; config {5}" -f
        $facility.Instruments.Count, $facility.Experiments.Count, $facility.Runs.Count,
        (($facility.Detectors | ForEach-Object { "$($_.Name) $($_.ShapeText)" }) -join ', '), $facility.InjectedPixels.Count, $cfgPath)

    Write-Step '2. What the catalog sees (Get-PendingRun -All -IncludeNotReady)'
    Get-PendingRun -All -IncludeNotReady -Process $process -ConfigPath $cfgPath | Format-Table | Out-Host

    Write-Step "3. Processing: Invoke-ProcCycle -Process $process, once a second, until every ready run is done"
    $expected = @($facility.Runs | Where-Object ShouldBeProcessed)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    $cycles = 0
    $finished = $false
    while ($true) {
        $cycles++
        $summary = Invoke-ProcCycle -Process $process -ConfigPath $cfgPath
        # The newest job of each run decides its state (earlier attempts may have failed).
        $latest = @{}
        foreach ($j in @(Get-ProcJob -Process $process -ConfigPath $cfgPath)) {
            $key = "$($j.Experiment)/$($j.Run)"
            if (-not $latest.ContainsKey($key) -or $j.Attempt -gt $latest[$key].Attempt) { $latest[$key] = $j }
        }
        $states = foreach ($r in $expected) { $j = $latest["$($r.Experiment)/$($r.Run)"]; if ($j) { $j.State.ToString() } else { 'Waiting' } }
        $final = @($states | Where-Object { $_ -notin 'Waiting', 'Submitting', 'Pending', 'Running', 'Suspended' }).Count
        $done = @($states | Where-Object { $_ -eq 'Done' }).Count
        $pending = @(Get-PendingRun -Process $process -ConfigPath $cfgPath).Count
        $status = "cycle $cycles : $done done, $($final - $done) ended otherwise, $($expected.Count - $final) to go; submitted $($summary.Submitted) this cycle"
        Write-Progress -Activity "Processing $($expected.Count) runs with $process (local scheduler, 2 at a time)" -Status $status -PercentComplete ([int](100 * $final / [Math]::Max(1, $expected.Count)))
        Write-Host "   $status"
        if ($final -eq $expected.Count -and $pending -eq 0) { $finished = $true; break }
        if ([DateTime]::UtcNow -gt $deadline) { break }
        Start-Sleep -Seconds 1
    }
    Write-Progress -Activity "Processing with $process" -Completed
    if (-not $finished) { Write-Host "   Gave up after $TimeoutSeconds s: not every run finished (see the table and the logs below)." -ForegroundColor Red }

    Write-Step '4. Runs'
    $checks = @([RunProc.Demo.DemoCheck]::Check($facility, $config))
    $notReady = @{}
    foreach ($r in @(Get-PendingRun -All -IncludeNotReady -Process $process -ConfigPath $cfgPath | Where-Object { -not $_.Ready })) {
        $notReady["$($r.Experiment)/$($r.Run)"] = $r.NotReadyReason
    }
    $rows = foreach ($r in $facility.Runs) {
        $key = "$($r.Experiment)/$($r.Run)"
        $job = $latest[$key]
        $state = if ($job) { $job.State.ToString() }
        elseif (-not $r.UnderControl) { 'not under control' }
        elseif ($notReady.ContainsKey($key)) { "not ready: $($notReady[$key])" }
        else { 'not processed' }
        $row = [ordered]@{
            Experiment = $r.Experiment
            Run        = $r.Run
            Events     = $r.Events
            State      = $state
            Attempts   = if ($job) { $job.Attempt } else { '' }
        }
        foreach ($d in $facility.Detectors) {
            $c = $checks | Where-Object { $_.Experiment -eq $r.Experiment -and $_.Run -eq $r.Run -and $_.Detector -eq $d.Name }
            $row["Bad $($d.Name)"] = if ($c -and -not $c.Problem) { $c.BadPixels } else { '' }
        }
        [pscustomobject]$row
    }
    $rows | Format-Table -AutoSize | Out-Host

    Write-Step '5. Where the results are'
    $show = {
        param($Title, $Files)
        $Files = @($Files)
        Write-Host ("   {0,-28} {1,3} file(s)" -f $Title, $Files.Count)
        $Files | Group-Object DirectoryName | Select-Object -First 4 | ForEach-Object { Write-Host "      $($_.Name)/  ($($_.Count))" -ForegroundColor DarkGray }
    }
    & $show 'Calibration (status) files' (Get-ChildItem $facility.DataRoot -Recurse -File -Filter '*-end.data' -ErrorAction Ignore)
    & $show 'Job logs' (Get-ChildItem (Join-Path $facility.DbRoot $process) -Recurse -File -Filter 'log-*' -ErrorAction Ignore)
    & $show 'PNG maps' (Get-ChildItem $facility.Path -Recurse -File -Filter '*.png' -ErrorAction Ignore)
    & $show 'Text arrays (ave, rms, sta...)' (Get-ChildItem (Join-Path $facility.DbRoot $process) -Recurse -File -Filter 'nda-*.txt' -ErrorAction Ignore)
    Write-Host "   Processed-run records: $(Join-Path $facility.DbRoot $process)/<INS>/<exp>-proc-runs.txt"

    Write-Step '6. Were the injected bad pixels found?'
    foreach ($c in $checks) {
        $mark = if ($c.Passed) { 'ok  ' } else { 'FAIL' }
        $text = if ($c.Problem) { $c.Problem } else { "$($c.Found)/$($c.Injected) injected found with the expected status, $($c.WrongBits) with other bits, $($c.Missed) missed, $($c.Unexpected) other pixels flagged" }
        Write-Host ("   {0} {1,-13} r{2:D4} {3,-9} {4}" -f $mark, $c.Experiment, $c.Run, $c.Detector, $text) -ForegroundColor $(if ($c.Passed) { 'Gray' } else { 'Red' })
    }
    $ok = $finished -and $checks.Count -eq ($expected.Count * $facility.Detectors.Count) -and -not ($checks | Where-Object { -not $_.Passed })
    $perRun = $facility.InjectedPixels.Count
    Write-Host ''
    if ($ok) {
        Write-Host "DEMO PASSED: all $perRun injected bad pixels were found, with the expected status bits, in each of the $($expected.Count) processed runs ($([int]$clock.Elapsed.TotalSeconds) s)." -ForegroundColor Green
        exit 0
    }
    Write-Host "DEMO FAILED: the injected bad pixels were not all found in every processed run (see above; job logs are under $(Join-Path $facility.DbRoot $process))." -ForegroundColor Red
    exit 1
}
catch {
    Write-Host "DEMO FAILED: $($_.Exception.Message)" -ForegroundColor Red
    Write-Host $_.ScriptStackTrace -ForegroundColor DarkGray
    exit 2
}
