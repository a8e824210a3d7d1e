#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Job faults on the real one-node Slurm (started by tests/setup/start-slurm.sh): non-zero exit,
    scancel from outside, time limit, slurmd killed while a job runs, slurmctld stopped so status
    queries and submissions fail for a while. Each must end in the right state or be retried within
    the limit; a failed query never marks a job Failed (or Lost). The daemons are restarted with
    start-slurm.sh afterwards, whatever happens.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Root,
    [int] $Repeats = 3,
    [switch] $Quick,
    [int] $RunId = $PID
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
if ($Quick) { $Repeats = 1 }
Import-Module (Join-Path $Root 'RunProc.psd1') -Force
Import-Module (Join-Path $PSScriptRoot 'FaultKit.psm1') -Force
$work = Join-Path ([IO.Path]::GetTempPath()) ("runproc-slurm-faults-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
$failures = [Collections.Generic.List[string]]::new()
function Fig([string] $Figure, $Value, [string] $Note = '') { Add-FaultFigure -Root $Root -RunId $RunId -Figure $Figure -Value $Value -Note $Note }
function Check([bool] $Ok, [string] $What) { if (-not $Ok) { $failures.Add($What); Write-Warning "FAILED: $What" } }

Start-SlurmAgain -Root $Root
$f = New-SlurmFaultFacility -Path $work -OkSeconds 10
$exp = 'xppslurm01'
# s_ok cycles run in LIST mode over their own experiment only (the other processes' runs are not theirs).
$okExp = 'xppslurm02'
Add-ProcExperiment -Process s_ok -Experiment $okExp -ConfigPath $f.Config -WarningAction SilentlyContinue
$run = 0
$right = 0; $total = 0; $wrongWhileDown = 0; $queriesFailed = 0; $interfered = 0
function Expect($job, [string] $State, [string] $What) {
    $script:total++
    if ("$($job.State)" -eq $State) { $script:right++ } else { Check $false "${What}: ended $($job.State) [$($job.SchedulerState)], expected $State" }
}
try {
    # The time-limit job takes ~80 s on Slurm: start it first, check it last.
    $tlRun = ++$run
    $null = Submit-FaultJob $f s_tl $exp $tlRun

    foreach ($rep in 1..$Repeats) {
        Write-Host "== Slurm job faults, round $rep" -ForegroundColor Cyan
        # Non-zero exit: Failed with the exit code, log renamed.
        $r = ++$run
        $null = Submit-FaultJob $f s_exit3 $exp $r
        $j = Wait-FaultJob $f s_exit3 $exp $r -Final -Seconds 180
        Expect $j 'Failed' 'exit 3'
        Check ($j.ExitCode -eq 3) "exit 3: exit code $($j.ExitCode)"
        Check ($j.LogFile -like '*-FAILED') "exit 3: log not renamed: $($j.LogFile)"

        # scancel from outside RunProc: Cancelled, not Failed.
        $r = ++$run
        $null = Submit-FaultJob $f s_sleep $exp $r
        $j = Wait-FaultJob $f s_sleep $exp $r -State Running -Seconds 180
        & scancel $j.JobId
        $j = Wait-FaultJob $f s_sleep $exp $r -Final -Seconds 180
        Expect $j 'Cancelled' 'scancel'

        # slurmd killed while the job runs: it keeps its state while slurmd is gone and ends Done after the restart.
        $r = ++$run
        $null = Submit-FaultJob $f s_ok $okExp $r
        $j = Wait-FaultJob $f s_ok $okExp $r -State Running -Seconds 180
        try {
            $null = Stop-SlurmDaemon slurmd -Kill
            foreach ($i in 1..3) {
                Start-Sleep -Seconds 2
                $j = Get-FaultJob $f s_ok $okExp $r
                if (-not $j.IsActive -and "$($j.State)" -ne 'Done') { $wrongWhileDown++; Check $false "slurmd down: job became $($j.State)" }
            }
        }
        finally { Start-SlurmAgain -Root $Root }
        $j = Wait-FaultJob $f s_ok $okExp $r -Final -Seconds 300
        $done = @(Get-ProcJob -Process s_ok -Experiment $okExp -Run $r -ConfigPath $f.Config | Where-Object { "$($_.State)" -eq 'Done' })
        $total++; if ($done.Count -eq 1) { $right++ } else { Check $false "slurmd killed: run $r has $($done.Count) Done jobs (last $($j.State))" }

        # slurmctld stopped: queries and submissions fail; nothing is marked Failed or Lost; all completes after the restart.
        $r = ++$run
        $null = Submit-FaultJob $f s_ok $okExp $r
        $j = Wait-FaultJob $f s_ok $okExp $r -State Running -Seconds 180
        $r2 = ++$run
        try {
            $null = Stop-SlurmDaemon slurmctld
            $j = Get-FaultJob $f s_ok $okExp $r
            $queriesFailed += @($j.Warnings | Where-Object { "$_" -like '*squeue failed*' }).Count
            Check (@($j.Warnings).Count -gt 0) 'slurmctld down: no warning about the failed query'
            if (-not $j.IsActive) { $wrongWhileDown++; Check $false "slurmctld down: job became $($j.State) on a failed query" }
            # A cycle while the controller is down: the submission fails, the run stays to be retried,
            # and the cycle says so with an error record (CycleHadErrors: cron's entry exits non-zero).
            Add-FaultRun $f $okExp $r2
            $cycleErrors = $null
            $s = Invoke-ProcCycle -Process s_ok -ConfigPath $f.Config -WarningAction SilentlyContinue -ErrorAction SilentlyContinue -ErrorVariable cycleErrors
            # Slurm is shared: if another test restarted slurmctld meanwhile, a submission may rightly succeed.
            $ctldBack = (& scontrol ping 2>&1 | Out-String) -match 'UP'
            if ($ctldBack) { $interfered++ }
            else {
                Check ($s.Submitted -eq 0) "slurmctld down: $($s.Submitted) submitted while the controller was down"
                Check ($s.Errors -gt 0 -and @($cycleErrors | Where-Object { $_.FullyQualifiedErrorId -like 'CycleHadErrors*' }).Count -eq 1) "slurmctld down: the failed submission was not reported (Errors $($s.Errors), $(@($cycleErrors).Count) error record(s))"
            }
            $bad = @(Get-ProcJob -Process s_ok -ConfigPath $f.Config | Where-Object { "$($_.State)" -in 'Failed', 'Lost' })
            $wrongWhileDown += $bad.Count
            Check ($bad.Count -eq 0) "slurmctld down: $($bad.Count) job(s) marked Failed/Lost"
        }
        finally { Start-SlurmAgain -Root $Root }
        $j = Wait-FaultJob $f s_ok $okExp $r -Final -Seconds 300
        Expect $j 'Done' 'slurmctld stopped (running job)'
        $deadline = [datetime]::UtcNow.AddMinutes(5)
        do {
            # Just after the restart a submission may still fail (an error record): the next cycle retries it.
            Invoke-ProcCycle -Process s_ok -ConfigPath $f.Config -WarningAction SilentlyContinue -ErrorAction SilentlyContinue | Out-Null
            $j2 = Get-ProcJob -Process s_ok -Experiment $okExp -Run $r2 -Latest -ConfigPath $f.Config
            Start-Sleep -Milliseconds 500
        } while ((-not $j2 -or $j2.IsActive) -and [datetime]::UtcNow -lt $deadline)
        Expect $j2 'Done' 'slurmctld stopped (submission retried)'
        $ran = @(Get-Content $f.ExecLog | Where-Object { $_ -eq "$okExp $r2" }).Count
        Check ($ran -eq 1) "slurmctld stopped: the retried run ran $ran times"
    }

    $j = Wait-FaultJob $f s_tl $exp $tlRun -Final -Seconds 400
    Expect $j 'TimedOut' 'time limit'
}
finally {
    Start-SlurmAgain -Root $Root
    if (-not $failures.Count) { Remove-Item -Recurse -Force $work -ErrorAction Ignore } else { Write-Warning "work directory kept: $work" }
}
Fig 'Slurm faults: jobs ending in the right state' "$right/$total" "$Repeats round(s): exit 3, scancel, slurmd killed, slurmctld stopped (x2), + time limit"
Fig 'Slurm faults: jobs marked Failed/Lost by a failed query' $wrongWhileDown 'must be 0'
Fig 'Slurm faults: failed squeue passes survived' $queriesFailed "slurmctld stopped; restarted by another test meanwhile: $interfered"
if ($failures.Count) { throw "Slurm faults: $($failures.Count) check(s) failed: $($failures -join '; ')" }
