#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Batch costs on the local one-node Slurm: submissions per second through Submit-ProcJob (intent,
    -proc-runs.txt record, sbatch, job id, all under the DB lock), next to raw sbatch; and the cost of
    one reconciliation pass with 1,000 active jobs (one batched squeue per pass).
.PARAMETER Root
    The repository root (the built module is <Root>/RunProc.psd1).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Root,
    [int] $Submissions = 100,
    [int] $ActiveJobs = 1000,
    [int] $Passes = 5
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Import-Module (Join-Path $Root 'RunProc.psd1') -Force

if (-not (Get-Command sbatch -ErrorAction Ignore)) { throw 'sbatch is not installed: run tests/setup/install-prerequisites.sh and tests/setup/start-slurm.sh' }
& scontrol ping | Out-Null
if ($LASTEXITCODE -ne 0) { throw 'Slurm is not running: run tests/setup/start-slurm.sh' }

$base = Join-Path ([IO.Path]::GetTempPath()) ('runproc-batch-bench-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
$held = [Collections.Generic.List[string]]::new()
try {
    New-Item -ItemType Directory -Force "$base/db" | Out-Null
    $runDir = New-Item -ItemType Directory -Force "$base/data/XPP/xppbench1/xtc"
    $old = (Get-Date).AddHours(-2)
    foreach ($r in 1..$Submissions) {
        $f = New-Item -ItemType File -Force (Join-Path $runDir ('xppbench1-r{0:D4}-s00-c00.xtc' -f $r))
        $f.LastWriteTime = $old
    }
    $config = Join-Path $base 'runproc.psd1'
    Set-Content $config @"
@{
    DataRoot = './data'; DbRoot = './db'; SettleSeconds = 0
    Processes = @{
        bench = @{ Command = @('/bin/true'); Scheduler = 'Slurm'; MaxJobs = 100000; PollSeconds = 1 }
        recon = @{ Command = @('/bin/true'); Scheduler = 'Slurm'; MaxJobs = 100000; PollSeconds = 1 }
    }
}
"@

    # 1. Submissions per second.
    $runs = Get-PendingRun -Process bench -All -ConfigPath $config
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $jobs = $runs | Submit-ProcJob -ConfigPath $config
    $sw.Stop()
    if (@($jobs).Count -ne $Submissions) { throw "submitted $(@($jobs).Count) of $Submissions" }
    $rate = $Submissions / $sw.Elapsed.TotalSeconds

    $raw = 50
    $sw2 = [Diagnostics.Stopwatch]::StartNew()
    $rawIds = foreach ($i in 1..$raw) { & sbatch --parsable -J rp-bench-raw -o /dev/null --wrap true }
    $sw2.Stop()
    $rawRate = $raw / $sw2.Elapsed.TotalSeconds

    # 2. One reconciliation pass with $ActiveJobs active jobs: held jobs stay PENDING for as long as we like.
    $sw3 = [Diagnostics.Stopwatch]::StartNew()
    foreach ($i in 1..$ActiveJobs) { $held.Add((& sbatch --parsable --hold -J "rp-bench-held" -o /dev/null --wrap true)) }
    $sw3.Stop()
    $perExp = 100
    $exps = [Math]::Ceiling($ActiveJobs / $perExp)
    for ($e = 0; $e -lt $exps; $e++) {
        $exp = 'xppbench{0:D2}' -f ($e + 10)
        $dir = New-Item -ItemType Directory -Force "$base/db/recon/XPP/$exp"
        $lines = [Collections.Generic.List[string]]::new()
        for ($k = 0; $k -lt $perExp -and ($e * $perExp + $k) -lt $ActiveJobs; $k++) {
            $run = $k + 1
            $name = "rp.recon.$exp.r{0:D4}.a1.bench0" -f $run
            $log = Join-Path $dir ('log-{0}-r{1:D4}-2026-01-01T00:00:00.txt' -f $exp, $run)
            Set-Content $log '# bench'
            $lines.Add((@{ t = '2026-01-01T00:00:00Z'; ev = 'intent'; name = $name; run = $run; attempt = 1; sched = 'Slurm'; log = $log; status = ($log -replace '\.txt$', '.status') } | ConvertTo-Json -Compress))
            $lines.Add((@{ t = '2026-01-01T00:00:01Z'; ev = 'submitted'; name = $name; id = $held[$e * $perExp + $k] } | ConvertTo-Json -Compress))
        }
        Set-Content "$base/db/recon/XPP/$exp-jobs.txt" $lines
    }
    $cfg = Get-ProcConfig -ConfigPath $config
    $benv = [RunProc.Batch.BatchEnvironment]@{ WrapperScript = (Join-Path $Root 'bin/scripts/runproc-job.sh'); ConfigPath = $config }
    $times = @()
    $commands = @()
    foreach ($p in 1..$Passes) {
        # A fresh controller each pass, as a new cron cycle would have (journals are read from disk).
        $ctl = [RunProc.Batch.BatchController]::new([RunProc.Db.ProcDb]::new($cfg, 'recon'), $cfg.GetProcess('recon'), $benv, $null)
        $sw4 = [Diagnostics.Stopwatch]::StartNew()
        $r = $ctl.Reconcile([Threading.CancellationToken]::None, $null)
        $sw4.Stop()
        if ($r.Jobs.Count -ne $ActiveJobs) { throw "pass saw $($r.Jobs.Count) jobs, expected $ActiveJobs" }
        if (@($r.Jobs | Where-Object { $_.State -ne 'Pending' }).Count) { throw 'a held job changed state' }
        $times += $sw4.Elapsed.TotalMilliseconds
        $commands += $r.QueryCommands
    }
    $median = ($times | Sort-Object)[[int][Math]::Floor($times.Count / 2)]
    $sqSw = [Diagnostics.Stopwatch]::StartNew()
    & squeue -h -t all -j ($held -join ',') -o '%i %T %r' | Out-Null
    $sqSw.Stop()

    Write-Host ('Batch bench: submissions to the local Slurm through Submit-ProcJob: {0} jobs in {1:N2} s = {2:N1} jobs/s (raw sbatch alone: {3:N1} jobs/s)' -f $Submissions, $sw.Elapsed.TotalSeconds, $rate, $rawRate)
    Write-Host ('Batch bench: one reconciliation pass with {0} active Slurm jobs: median {1:N0} ms over {2} passes (min {3:N0}, max {4:N0}); {5} scheduler command(s) per pass; the squeue itself {6:N0} ms' -f $ActiveJobs, $median, $Passes, ($times | Measure-Object -Minimum).Minimum, ($times | Measure-Object -Maximum).Maximum, (($commands | Sort-Object -Unique) -join '/'), $sqSw.Elapsed.TotalMilliseconds)
}
finally {
    foreach ($chunk in 0..([Math]::Ceiling($held.Count / 500) - 1)) {
        $ids = @($held | Select-Object -Skip ($chunk * 500) -First 500)
        if ($ids.Count) { & scancel @ids 2>$null }
    }
    Remove-Item -Recurse -Force $base -ErrorAction SilentlyContinue
}
