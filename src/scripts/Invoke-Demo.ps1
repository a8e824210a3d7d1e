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
    Get-PendingRun -All -IncludeNotReady -Process $process -ConfigPath $cfgPath | Format-Table | Out-String -Width 160 | Out-Host

    Write-Step "3. Processing: Invoke-ProcCycle -Process $process, once a second, until every ready run is done"
    $expected = @($facility.Runs | Where-Object ShouldBeProcessed)
    $attempts = $config.Processes[$process].Attempts
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    $cycles = 0
    $finished = $false
    $latest = @{}
    while ($true) {
        $cycles++
        # MaxJobs deferral is expected here (7 runs, 2 at a time): it shows in the status line, not as a warning each second.
        $summary = Invoke-ProcCycle -Process $process -ConfigPath $cfgPath -WarningAction SilentlyContinue -WarningVariable cycleWarnings
        foreach ($w in $cycleWarnings) { if ("$w" -notmatch 'stay pending for the next cycle') { Write-Warning "$w" } }
        # The newest attempt of each run decides its state.
        $latest = @{}
        foreach ($j in @(Get-ProcJob -Process $process -ConfigPath $cfgPath -Latest)) { $latest["$($j.Experiment)/$($j.Run)"] = $j }
        $count = @{ Done = 0; Failed = 0; Active = 0; Waiting = 0 }
        foreach ($r in $expected) {
            $j = $latest["$($r.Experiment)/$($r.Run)"]
            $state = if ($j) { "$($j.State)" } else { 'Waiting' }
            # A failed, timed-out or lost run with attempts left is retried by a later cycle: not finished yet.
            if ($state -eq 'Done') { $count.Done++ }
            elseif ($state -in 'Failed', 'TimedOut', 'Lost' -and $j.Attempt -ge $attempts) { $count.Failed++ }
            elseif ($state -in 'Cancelled', 'NotSubmitted') { $count.Failed++ }
            elseif ($state -in 'Submitting', 'Pending', 'Running', 'Suspended') { $count.Active++ }
            else { $count.Waiting++ }
        }
        $ended = $count.Done + $count.Failed
        $status = "cycle $cycles, $([int]$clock.Elapsed.TotalSeconds) s: $($count.Done) done, $($count.Failed) failed, $($count.Active) running, $($count.Waiting) waiting (submitted $($summary.Submitted), retried $($summary.Retried) this cycle)"
        Write-Progress -Activity "Processing $($expected.Count) runs with $process (local scheduler, $($config.Processes[$process].MaxJobs) at a time)" -Status $status -PercentComplete ([int](100 * $ended / [Math]::Max(1, $expected.Count)))
        Write-Host "   $status"
        if ($ended -eq $expected.Count) { $finished = $true; break }
        if ([DateTime]::UtcNow -gt $deadline) { break }
        Start-Sleep -Seconds 1
    }
    Write-Progress -Activity "Processing with $process" -Completed
    if (-not $finished) { Write-Host "   Gave up after $TimeoutSeconds s: not every run finished (see the table and the logs below)." -ForegroundColor Red }

    Write-Step '4. Runs'
    $checks = @([RunProc.Demo.DemoCheck]::Check($facility, $config))
    # The bad-pixel counts as any user gets them: Get-ProcRun's per-detector results.
    $recorded = @{}
    foreach ($rr in @(Get-ProcRun -Process $process -ConfigPath $cfgPath -ErrorAction SilentlyContinue)) { $recorded["$($rr.Experiment)/$($rr.Run)"] = $rr }
    $notReady = @{}
    foreach ($r in @(Get-PendingRun -All -IncludeNotReady -Process $process -ConfigPath $cfgPath | Where-Object { -not $_.Ready })) {
        $notReady["$($r.Experiment)/$($r.Run)"] = $r.NotReadyReason
    }
    $notes = [Collections.Generic.List[string]]::new()
    $rows = foreach ($r in $facility.Runs) {
        $key = "$($r.Experiment)/$($r.Run)"
        $job = $latest[$key]
        $state = if ($job) { "$($job.State)" }
        elseif (-not $r.UnderControl) { 'not under control' }
        elseif ($notReady.ContainsKey($key)) { $notes.Add("$($r.Experiment) run $($r.Run) is not ready: $($notReady[$key])"); 'not ready' }
        else { 'not processed' }
        $row = [ordered]@{
            Experiment = $r.Experiment
            Run        = $r.Run
            Events     = $r.Events
            State      = $state
            Attempt    = if ($job) { $job.Attempt } else { $null }
        }
        foreach ($d in $facility.Detectors) {
            $res = if ($recorded.ContainsKey($key)) { $recorded[$key].Detectors | Where-Object { $_.Detector.Split('.')[-1] -eq $d.Name } }
            $row["Bad $($d.Name)"] = if ($res) { $res.BadPixels } else { $null }
        }
        [pscustomobject]$row
    }
    $rows | Format-Table -AutoSize | Out-String -Width 200 | Out-Host
    foreach ($n in $notes) { Write-Host "   $n" }
    Write-Host "   xppc00121 is not in experiments.txt: only Get-PendingRun -All sees its runs."
    foreach ($j in $latest.Values | Where-Object { "$($_.State)" -ne 'Done' } | Select-Object -First 2) {
        $log = @($j.LogFile, "$($j.LogFile)-$($j.State.ToString().ToUpperInvariant())") + @(Get-ChildItem "$($j.LogFile)*" -ErrorAction Ignore | ForEach-Object FullName) |
            Where-Object { $_ -and (Test-Path -LiteralPath $_ -PathType Leaf) } | Select-Object -First 1
        Write-Host "   $($j.Experiment) run $($j.Run) ended $($j.State) (exit code $($j.ExitCode)); the end of its log $log :" -ForegroundColor Yellow
        if ($log) { Get-Content -LiteralPath $log -Tail 6 | ForEach-Object { Write-Host "      $_" -ForegroundColor DarkGray } }
    }

    Write-Step '5. Where the results are'
    $show = {
        param($Title, $Files)
        $Files = @($Files | Where-Object { $_ })
        Write-Host ("   {0,-28} {1,3} file(s)" -f $Title, $Files.Count)
        $Files | Group-Object DirectoryName | Select-Object -First 4 | ForEach-Object { Write-Host "      $($_.Name)/  ($($_.Count))" -ForegroundColor DarkGray }
    }
    & $show 'Calibration (status) files' (Get-ChildItem $facility.DataRoot -Recurse -File -Filter '*-end.data' -ErrorAction Ignore)
    & $show 'Job logs' (Get-ChildItem (Join-Path $facility.DbRoot $process) -Recurse -File -Filter 'log-*.txt*' -ErrorAction Ignore)
    & $show 'PNG maps' (Get-ChildItem (Join-Path $facility.DbRoot $process) -Recurse -File -Filter '*.png' -ErrorAction Ignore)
    $report = Export-ProcReport -Process $process -Path (Join-Path $facility.Path 'report') -ConfigPath $cfgPath
    Write-Host ("   {0,-28} {1}" -f 'HTML report', $report.Index)
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
