# Split runs end to end (issue 15): the built module, pixel_status in parts on the real one-node
# Slurm (one job array + a merge with afterok) and on the local scheduler (one job per part, then
# the merge); the deployed status must equal the unsplit run's bit for bit. Also: a failing part
# retried alone, a cancelled array, a controller killed between the array and the merge, and the
# batch resources in the recorded argv.

BeforeAll {
    $script:Root = Split-Path -Parent $PSScriptRoot
    Import-Module (Join-Path $Root 'RunProc.psd1') -Force
    $script:Base = Join-Path ([IO.Path]::GetTempPath()) ("runproc-split-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    $xtc = Join-Path $Base 'data/XPP/xpptut15/xtc'
    New-Item -ItemType Directory -Force $xtc | Out-Null

    # Run 4: four stream files; run 1: one file. Written by h5py (independent of RunProc), old enough to be settled.
    $py = @'
import sys, os, numpy as np, h5py
d = sys.argv[1]
rng = np.random.default_rng(15)
def frames(n):
    x = rng.integers(900, 1100, size=(n, 2, 12, 16), dtype=np.uint16)
    x[:, 0, 0, 0] = 20000
    x[:, 1, 3, 3] = 1000
    x[::3, 0, 5, 5] = 0
    return x
for s in range(4):
    with h5py.File(f"{d}/xpptut15-r0004-s{s:02d}-c00.h5", "w") as f:
        f.create_dataset("XppGon.0:Epix100a.0", data=frames(5))
with h5py.File(f"{d}/xpptut15-r0001-s00-c00.h5", "w") as f:
    f.create_dataset("XppGon.0:Epix100a.0", data=frames(14))
for n in os.listdir(d):
    os.utime(os.path.join(d, n), (1e9, 1e9))
'@
    $pyFile = Join-Path $Base 'make.py'
    Set-Content $pyFile $py
    & /usr/bin/python3 $pyFile $xtc
    if ($LASTEXITCODE -ne 0) { throw 'python3 with h5py/numpy is needed for these tests' }

    $split = "@('{runproc}', 'Invoke-PixelStatus', '-Experiment', '{exp}', '-Run', '{run}', '-Part', '{part}', '-PartCount', '{parts}', '-PartDirectory', '{partdir}', '-ConfigPath', '{config}')"
    $merge = "@('{runproc}', 'Merge-PixelStatus', '-Experiment', '{exp}', '-Run', '{run}', '-PartCount', '{parts}', '-PartDirectory', '{partdir}', '-OutputDirectory', '{workdir}', '-Deploy', '-ConfigPath', '{config}')"
    # The generic split process: part 1 fails on its first try; the merge checks that every part left its file.
    $flaky = "@('/bin/sh', '-c', 'mkdir -p `"`$2`"; if [ `$1 = 1 ] && [ ! -e `"`$2/failed-once`" ]; then touch `"`$2/failed-once`"; exit 3; fi; echo ok > `"`$2/part-`$1`"', 'sh', '{part}', '{partdir}')"
    $flakyMerge = "@('/bin/sh', '-c', 'for k in 0 1 2; do test -e `"`$1/part-`$k`" || exit 4; done', 'sh', '{partdir}')"
    $script:Configs = @{}
    foreach ($s in 'Local', 'Slurm', 'Ref') {
        $sched = if ($s -eq 'Ref') { 'Local' } else { $s }
        $path = Join-Path $Base "runproc-$s.psd1"
        Set-Content $path @"
@{
    DataRoot = './data'; DbRoot = './db-$s'; SettleSeconds = 0; RunDirectory = 'xtc'; CalibDir = '$Base/calib-$s/{exp}'
    Processes = @{
        pixel_status = @{ Scheduler = '$sched'; Parts = 4; MaxJobs = 2; PollSeconds = 1; Account = 'lcls:{exp}'; Cpus = 1; MemoryGB = 1 }
        ps3    = @{ Scheduler = '$sched'; Parts = 3; PollSeconds = 1; Command = $split; MergeCommand = $merge }
        flaky  = @{ Scheduler = '$sched'; Parts = 3; Attempts = 2; PollSeconds = 1; Command = $flaky; MergeCommand = $flakyMerge }
        sleepy = @{ Scheduler = '$sched'; Parts = 2; PollSeconds = 1; Command = @('/bin/sleep', '300', '{part}'); MergeCommand = @('/bin/true') }
        killed = @{ Scheduler = '$sched'; Parts = 2; PollSeconds = 1; Command = @('/bin/sh', '-c', 'exit 0', '{part}'); MergeCommand = @('/bin/true') }
    }
}
"@
        $Configs[$s] = $path
    }
    # The reference: the unsplit run, deployed by Invoke-PixelStatus in this session.
    foreach ($r in 4, 1) { Invoke-PixelStatus -Experiment xpptut15 -Run $r -Deploy -ConfigPath $Configs.Ref | Out-Null }

    function script:Deployed([string] $Sched, [int] $Run) {
        # The deployed status file without the lines that say who wrote it where and when (they differ between any two runs and stores).
        # .NET calls: the path holds '::' (Epix100a::CalibV1), which PowerShell would read as a provider name.
        $dir = Join-Path $Base "calib-$Sched"
        if (-not [IO.Directory]::Exists($dir)) { return $null }
        $f = [IO.Directory]::GetFiles($dir, "$Run-end.data", [IO.SearchOption]::AllDirectories) | Select-Object -First 1
        if (-not $f) { return $null }
        ([IO.File]::ReadAllLines($f) | Where-Object { $_ -notmatch '^# (HOST|WORK_DIR|FILE_NAME|DATE_TIME|UID) ' }) -join "`n"
    }

    function script:Wait-Final($Job, [string] $Config, [int] $Seconds = 240) {
        # One Watch-ProcJob pass at a time until the attempt ends; the deadline is a hang guard, not a timing assertion.
        $deadline = (Get-Date).AddSeconds($Seconds)
        while ($true) {
            $now = $Job | Watch-ProcJob -Once -ConfigPath $Config -WarningAction SilentlyContinue
            if ($now.State -notin 'Submitting', 'Pending', 'Running', 'Suspended') { return $now }
            if ((Get-Date) -gt $deadline) { throw "job $($Job.Name) stayed $($now.State) ($($now.SchedulerState))" }
            Start-Sleep -Milliseconds 500
        }
    }
}

AfterAll {
    foreach ($c in $Configs.Values) {
        Get-ProcJob -Active -ConfigPath $c -ErrorAction SilentlyContinue | Stop-ProcJob -Confirm:$false -ConfigPath $c -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
    }
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'Split runs on the <_> scheduler' -ForEach 'Local', 'Slurm' {
    BeforeAll { $script:Cfg = $Configs[$_] }

    It 'deploys the unsplit status bit for bit: a 4-file run in 4 parts and a 1-file run by events in 3' {
        $a = Submit-ProcJob -Process pixel_status -Experiment xpptut15 -Run 4 -ConfigPath $Cfg
        $b = Submit-ProcJob -Process ps3 -Experiment xpptut15 -Run 1 -ConfigPath $Cfg
        $a.Parts | Should -Be 4
        (Wait-Final $a $Cfg).State | Should -Be 'Done' -Because (Get-Content $a.LogFile -Raw -ErrorAction SilentlyContinue)
        (Wait-Final $b $Cfg).State | Should -Be 'Done' -Because (Get-Content $b.LogFile -Raw -ErrorAction SilentlyContinue)
        $row = Get-ProcJob -Process pixel_status -ConfigPath $Cfg -Experiment xpptut15 -Run 4
        $row | Should -HaveCount 1                           # one row per run attempt
        ($row.PartsDone, $row.Parts) | Should -Be @(4, 4)
        ($row | Format-Table | Out-String -Width 250) | Should -Match ' 4/4 '
        $ref4 = Deployed Ref 4
        $ref4 | Should -Not -BeNullOrEmpty
        Deployed $_ 4 | Should -BeExactly $ref4
        Deployed $_ 1 | Should -BeExactly (Deployed Ref 1)
        $parts = Get-ChildItem -Recurse (Join-Path $Base "db-$_/ps3") -Filter '*.rpacc'
        $parts | Should -HaveCount 3
    }

    It 'retries a failing part alone' {
        $j = Submit-ProcJob -Process flaky -Experiment xpptut15 -Run 4 -ConfigPath $Cfg
        $end = Wait-Final $j $Cfg
        $end.State | Should -Be 'Done' -Because (Get-Content $j.LogFile -Raw -ErrorAction SilentlyContinue)
        $end.Attempt | Should -Be 1
        ($end.PartJobs | ForEach-Object Tries) | Should -Be @(1, 2, 1, 1)   # parts 0..2 and the merge
        @(Get-ProcJob -Process flaky -ConfigPath $Cfg) | Should -HaveCount 1
    }

    It 'ends a cancelled split run Cancelled, array and merge' {
        $j = Submit-ProcJob -Process sleepy -Experiment xpptut15 -Run 4 -ConfigPath $Cfg
        $j | Watch-ProcJob -Once -ConfigPath $Cfg | Out-Null
        $j | Stop-ProcJob -Confirm:$false -ConfigPath $Cfg
        $end = Wait-Final $j $Cfg
        $end.State | Should -Be 'Cancelled'
        $end.PartJobs | Where-Object { $_.State -notin 'Cancelled', 'NotSubmitted' } | Should -BeNullOrEmpty
    }

    It 'submits the merge exactly once after a controller is killed between the two submissions' {
        $config = [RunProc.Module.ConfigLoader]::Load($Cfg)
        $def = $config.GetProcess('killed')
        $env = [RunProc.Batch.BatchEnvironment]@{ WrapperScript = (Join-Path $Root 'bin/scripts/runproc-job.sh'); ConfigPath = $Cfg }
        $c = [RunProc.Batch.BatchController]::new([RunProc.Db.ProcDb]::new($config, 'killed'), $def, $env, $null)
        $c.StepHook = [Action[string]] { param($step) if ($step -eq 'parts-submitted') { throw 'killed between the array and the merge' } }
        { $c.Submit('xpptut15', 4, $false, $null, [Threading.CancellationToken]::None) } | Should -Throw '*killed*'
        $j = Get-ProcJob -Process killed -ConfigPath $Cfg
        $j.MergeJob.State | Should -Be 'NotSubmitted'
        $end = Wait-Final $j $Cfg
        $end.State | Should -Be 'Done'
        $end.MergeJob.Tries | Should -Be 1
        (Get-Content $end.LogFile | Where-Object { $_ -match 'submit the merge' }) | Should -HaveCount 1
    }
}

Describe 'Batch resources and split submissions in -WhatIf' {
    It 'shows the array with its resources and the merge with its dependency on Slurm' {
        # What-if messages go to the host: run it in a child pwsh and read what it prints.
        $exe = [Environment]::ProcessPath
        $pwsh = if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @($exe, [Environment]::GetCommandLineArgs()[0]) } else { @($exe) }
        $cmd = "Import-Module '$(Join-Path $Root 'RunProc.psd1')'; Submit-ProcJob -Process pixel_status -Experiment xpptut15 -Run 1 -ConfigPath '$($Configs.Slurm)' -WhatIf"
        $rest = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $cmd)
        $out = (& $pwsh[0] @rest 2>&1 | Out-String) -replace '\s+', ' '
        $out | Should -Match '--account=lcls:xpptut15'
        $out | Should -Match '--cpus-per-task=1'
        $out | Should -Match '--mem=1G'
        $out | Should -Match '--array=0-3%2'
        $out | Should -Match 'then the merge of its 4 parts: sbatch .*--dependency=afterok:'
    }
}
