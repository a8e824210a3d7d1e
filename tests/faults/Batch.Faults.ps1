#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Long batch fault runs on the local scheduler: concurrency (8 controllers started at the same
    instant over one DB and 1,000 pending runs, repeated), crash (SIGKILL of the controller at random
    instants during submit and watch, >= 200 trials), a query racing a job's end, and hostile names (never executed). Prints and
    records the figures: duplicates and lost runs must be 0.
.PARAMETER Quick
    A shortened long run (fewer repeats and trials) when time is short.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Root,
    [int] $Runs = 1000,
    [int] $Controllers = 8,
    [int] $Repeats = 3,
    [int] $CrashTrials = 200,
    [int] $RunsPerCrashTrial = 5,
    [int] $EndRaceJobs = 300,
    [int] $Seed = [Environment]::TickCount,
    [switch] $Quick,
    [int] $RunId = $PID
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
if ($Quick) { $Repeats = 1; $CrashTrials = [Math]::Min($CrashTrials, 40); $EndRaceJobs = [Math]::Min($EndRaceJobs, 60) }
$Manifest = Join-Path $Root 'RunProc.psd1'
Import-Module $Manifest -Force
Import-Module (Join-Path $PSScriptRoot 'FaultKit.psm1') -Force
$work = Join-Path ([IO.Path]::GetTempPath()) ("runproc-batch-faults-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory -Force $work | Out-Null
$failures = [Collections.Generic.List[string]]::new()
function Fig([string] $Figure, $Value, [string] $Note = '') { Add-FaultFigure -Root $Root -RunId $RunId -Figure $Figure -Value $Value -Note $Note }
function Check([bool] $Ok, [string] $What) { if (-not $Ok) { $failures.Add($What); Write-Warning "FAILED: $What" } }

try {
    # ------------------------------------------------------------------ concurrency
    Write-Host "== concurrency: $Controllers controllers x $Runs runs, $Repeats repeat(s) per mode" -ForegroundColor Cyan
    $tot = @{ Dup = 0; Lost = 0; Runs = 0; Exec = 0; Trials = 0; DupRec = 0; Warn = 0 }
    foreach ($mode in 'Cycle', 'Submit') {
        foreach ($rep in 1..$Repeats) {
            $f = New-FaultFacility -Path (Join-Path $work "conc-$mode-$rep")
            $perExp = 100
            foreach ($e in 1..[Math]::Ceiling($Runs / $perExp)) {
                $n = [Math]::Min($perExp, $Runs - ($e - 1) * $perExp)
                Add-FaultRun $f ('xppconc{0:D3}' -f $e) (1..$n)
            }
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $out = Invoke-ConcurrentController -Facility $f -Manifest $Manifest -Count $Controllers -Mode $mode -Trial $rep
            $concSeconds = $sw.Elapsed.TotalSeconds
            $ran = @($out | Where-Object { $_.Output -match '"Ran":true' }).Count
            $cycles = Wait-FaultQuiet $f
            $m = Measure-FaultOutcome $f
            $tot.Trials++; $tot.Runs += $m.Runs; $tot.Exec += $m.Executions
            $tot.Dup += $m.DuplicateSubmissions + $m.DuplicateExecutions; $tot.Lost += $m.Lost + $m.NotDone
            $tot.DupRec += $m.DuplicateRecords; $tot.Warn += $m.DbWarnings + $m.BadJournalLines
            Write-Host ("  {0} #{1}: {2} runs, {3} executions, {4} jobs, dup sub {5}, dup exec {6}, lost {7}, not done {8}, DB warnings {9}; {10} of {11} cycles ran; {12:0.0} s concurrent, {13} more cycle(s)" -f `
                    $mode, $rep, $m.Runs, $m.Executions, $m.Jobs, $m.DuplicateSubmissions, $m.DuplicateExecutions, $m.Lost, $m.NotDone, ($m.DbWarnings + $m.BadJournalLines), $ran, $Controllers, $concSeconds, $cycles)
            Check ($m.DuplicateSubmissions -eq 0 -and $m.DuplicateExecutions -eq 0 -and $m.DuplicateRecords -eq 0) "concurrency $mode #${rep}: duplicates: $($m.DuplicatedRuns)"
            Check ($m.Lost -eq 0 -and $m.NotDone -eq 0) "concurrency $mode #${rep}: lost runs"
            Check ($m.DbWarnings -eq 0 -and $m.BadJournalLines -eq 0) "concurrency $mode #${rep}: DB files do not parse"
            $failed = @($out | Where-Object ExitCode -ne 0)
            Check ($failed.Count -eq 0) "concurrency $mode #${rep}: $($failed.Count) controller(s) failed: $(if ($failed) { $failed[0].Output })"
            if ($mode -eq 'Cycle') { Check ($ran -eq 1) "concurrency Cycle #${rep}: $ran cycles ran at once (the cycle lock must admit one)" }
        }
    }
    Fig 'concurrency: trials (8 controllers at once)' $tot.Trials "$Repeats x Invoke-ProcCycle, $Repeats x Get-PendingRun | Submit-ProcJob"
    Fig 'concurrency: runs submitted in total' $tot.Runs "$Runs pending runs per trial"
    Fig 'concurrency: duplicate submissions/executions' $tot.Dup 'must be 0'
    Fig 'concurrency: lost runs' $tot.Lost 'must be 0'
    Fig 'concurrency: duplicate -proc-runs records' $tot.DupRec 'must be 0'
    Fig 'concurrency: DB/journal lines that do not parse' $tot.Warn 'must be 0'

    # ------------------------------------------------------------------ crash
    Write-Host "== crash: $CrashTrials SIGKILL trials (seed $Seed)" -ForegroundColor Cyan
    $rng = [Random]::new($Seed)
    $f = New-FaultFacility -Path (Join-Path $work 'crash')
    $exps = 1..5 | ForEach-Object { 'xppcrash{0:D2}' -f $_ }
    $next = @{}; foreach ($e in $exps) { $next[$e] = 1 }
    function Add-TrialRuns {
        $e = $exps[$rng.Next($exps.Count)]
        Add-FaultRun $f $e ($next[$e]..($next[$e] + $RunsPerCrashTrial - 1))
        $next[$e] += $RunsPerCrashTrial
    }
    # The kill instant is uniform over the controller's working time, learnt per mode from the
    # trials the kill missed (calibrated once without a kill).
    $durations = @{ Cycle = [Collections.Generic.List[double]]::new(); SubmitWatch = [Collections.Generic.List[double]]::new() }
    foreach ($mode in 'Cycle', 'SubmitWatch') {
        Add-TrialRuns
        $cal = Invoke-CrashTrial -Facility $f -Manifest $Manifest -Trial (100000 + $durations[$mode].Count + ($mode -eq 'Cycle' ? 0 : 50000)) -Mode $mode
        $durations[$mode].Add([Math]::Max(100, $cal.WorkMs))
    }
    $landed = @{ Cycle = 0; SubmitWatch = 0 }; $parseFailures = 0; $trialsRun = 0
    foreach ($t in 1..$CrashTrials) {
        Add-TrialRuns
        $mode = if ($rng.Next(2) -eq 0) { 'Cycle' } else { 'SubmitWatch' }
        $recent = @($durations[$mode] | Select-Object -Last 5)
        $window = ($recent | Measure-Object -Average).Average
        $delay = $rng.Next(0, [int]$window + 1)
        $r = Invoke-CrashTrial -Facility $f -Manifest $Manifest -Trial $t -Mode $mode -DelayMs $delay
        $trialsRun++
        if ($r.Killed) { $landed[$mode]++ } else { $durations[$mode].Add([Math]::Max(100, $r.WorkMs)) }
        # Every DB file still parses after every kill.
        if ($t % 10 -eq 0 -or $t -eq $CrashTrials) {
            $m = Measure-FaultOutcome $f
            if ($m.DbWarnings + $m.BadJournalLines -gt 0) { $parseFailures++; Check $false "crash trial ${t}: DB files do not parse after the kill" }
            Write-Host ("  trial {0}: {1} killed in Cycle, {2} in SubmitWatch so far; {3} runs, {4} executions, {5} jobs" -f $t, $landed.Cycle, $landed.SubmitWatch, $m.Runs, $m.Executions, $m.Jobs)
        }
    }
    $cycles = Wait-FaultQuiet $f
    $m = Measure-FaultOutcome $f
    Write-Host ("  after {0} clean cycle(s): {1} runs, {2} executions, {3} jobs, dup sub {4}, dup exec {5}, dup records {6}, lost {7}, not done {8}, DB warnings {9}, bad journal lines {10}" -f `
            $cycles, $m.Runs, $m.Executions, $m.Jobs, $m.DuplicateSubmissions, $m.DuplicateExecutions, $m.DuplicateRecords, $m.Lost, $m.NotDone, $m.DbWarnings, $m.BadJournalLines)
    Check ($m.DuplicateSubmissions + $m.DuplicateExecutions + $m.DuplicateRecords -eq 0) "crash: duplicates: $($m.DuplicatedRuns)"
    Check ($m.Lost + $m.NotDone -eq 0) 'crash: lost runs'
    Check ($m.DbWarnings + $m.BadJournalLines -eq 0) 'crash: DB files do not parse'
    Fig 'crash: SIGKILL trials' $trialsRun "seed $Seed; kills landed: $($landed.Cycle) in Invoke-ProcCycle, $($landed.SubmitWatch) in Submit|Watch"
    Fig 'crash: runs' $m.Runs "$RunsPerCrashTrial new runs per trial; $($m.Jobs) journal jobs (voided intents included)"
    Fig 'crash: duplicate submissions/executions' ($m.DuplicateSubmissions + $m.DuplicateExecutions + $m.DuplicateRecords) 'must be 0'
    Fig 'crash: lost runs (no Done job / never ran)' ($m.Lost + $m.NotDone) 'must be 0'
    Fig 'crash: DB checks with unparsable lines' $parseFailures "checked every 10 trials and at the end"

    # ------------------------------------------------------------------ end race
    # A query racing a job's end (status read before the end line, wrapper gone after it) must read
    # Done, never Lost (Lost is retried: the run would run twice). Short jobs polled back to back.
    Write-Host "== end race: $EndRaceJobs short jobs polled back to back until they end" -ForegroundColor Cyan
    $raceDir = Join-Path $work 'endrace'
    New-Item -ItemType Directory -Force $raceDir | Out-Null
    $wrapper = (Get-ChildItem -Recurse -File (Join-Path $Root 'bin') -Filter 'runproc-job.sh' | Select-Object -First 1).FullName
    $raceLost = 0
    foreach ($i in 1..$EndRaceJobs) {
        $sched = [RunProc.Batch.LocalScheduler]::new("$raceDir/spool", "$raceDir/slots", 4)
        $name = "race$i"
        $spec = [RunProc.Batch.JobSpec]@{ Name = $name; Command = [string[]]@('/bin/sh', '-c', 'exit 0'); LogFile = "$raceDir/$name.txt"; StatusFile = "$raceDir/$name.status"; WorkDirectory = $raceDir; TimeLimitMinutes = 5; WrapperScript = $wrapper }
        $null = $sched.Submit($spec, [Threading.CancellationToken]::None)
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        do { $st = $sched.Query([string[]]@($name), [Threading.CancellationToken]::None).Known[$name] } until ($st.State.ToString() -in 'Done', 'Lost', 'Failed' -or [DateTime]::UtcNow -gt $deadline)
        if ($st.State.ToString() -ne 'Done') { $raceLost++ }
    }
    Check ($raceLost -eq 0) "end race: $raceLost of $EndRaceJobs jobs read as something else than Done"
    Fig 'end race: jobs not read as Done' $raceLost "of $EndRaceJobs exit-0 jobs polled back to back (before the fix: 8 of 150 read Lost)"

    # ------------------------------------------------------------------ hostile names
    Write-Host '== hostile names: nothing executed' -ForegroundColor Cyan
    $f = New-FaultFacility -Path (Join-Path $work 'names')
    $pwned = Join-Path $work 'pwned'
    Add-FaultRun $f 'xppsafe01' (1..3)
    $bad = @('../x', ('a;touch ' + $pwned), ('$(touch ' + $pwned + ')'), ('`touch ' + $pwned + '`'), 'xppé15', ('x' * 300), 'xpp tut15')
    New-Item -ItemType Directory -Force (Join-Path $f.Db 'fz') | Out-Null
    Set-Content (Join-Path $f.Db 'fz/experiments.txt') (@($bad) + 'xppsafe01')
    foreach ($n in @('a;touch x', '$(touch x)', '`touch x`', 'xppé15')) {
        $d = Join-Path $f.Data "XPP/$n/xtc"
        New-Item -ItemType Directory -Force $d | Out-Null
        [IO.File]::WriteAllText((Join-Path $d "$n-r0001-s00-c00.xtc"), 'x')
    }
    $rejected = 0
    foreach ($n in $bad) {
        $err = $null
        Submit-ProcJob -Process fz -Experiment $n -Run 1 -ConfigPath $f.Config -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
        if (@($err).Count -gt 0) { $rejected++ }
    }
    Invoke-ProcCycle -Process fz -ConfigPath $f.Config -WarningAction SilentlyContinue | Out-Null
    Invoke-ProcCycle -Process fz -All -ConfigPath $f.Config -WarningAction SilentlyContinue | Out-Null
    $null = Wait-FaultQuiet $f
    $m = Measure-FaultOutcome $f
    $executedBad = $m.UnknownExecutions + $(if (Test-Path $pwned) { 1 } else { 0 }) + $(if (Test-Path (Join-Path $f.Path 'x')) { 1 } else { 0 })
    Check ($rejected -eq $bad.Count) "hostile names: $rejected of $($bad.Count) rejected by Submit-ProcJob"
    Check ($executedBad -eq 0) 'hostile names: a command ran for a hostile name'
    Check ($m.Lost + $m.NotDone -eq 0) 'hostile names: the valid runs were not all processed'
    Fig 'hostile names: rejected by Submit-ProcJob' "$rejected/$($bad.Count)" 'InvalidExperimentName'
    Fig 'hostile names: commands executed for them' $executedBad 'must be 0 (experiments.txt, disk, -Experiment)'
}
finally {
    # Local jobs are detached; they have all ended when Wait-FaultQuiet returned.
    if (-not $failures.Count) { Remove-Item -Recurse -Force $work -ErrorAction Ignore }
    else { Write-Warning "work directory kept for inspection: $work" }
}
if ($failures.Count) { throw "batch faults: $($failures.Count) check(s) failed: $($failures -join '; ')" }
