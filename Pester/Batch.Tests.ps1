# Batch jobs end to end: the built module, real detached local jobs and the real one-node Slurm
# (tests/setup/start-slurm.sh), Invoke-ProcCycle in separate pwsh processes, and the crontab entry
# run under cron's bare environment. The two time-limit jobs (~60-80 s) start first and are checked
# last, so they run while everything else is tested.

BeforeAll {
    $script:Root = Split-Path -Parent $PSScriptRoot
    $script:Manifest = Join-Path $Root 'RunProc.psd1'
    Import-Module $Manifest -Force

    # The argv of this same pwsh ('dotnet <...>/pwsh.dll' for the dotnet local tool).
    $exe = [Environment]::ProcessPath
    $script:Pwsh = if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @($exe, [Environment]::GetCommandLineArgs()[0]) } else { @($exe) }
    $script:Entry = Join-Path $Root 'bin/scripts/Invoke-RunProcEntry.ps1'

    $script:Base = Join-Path ([IO.Path]::GetTempPath()) ("runproc-batch-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    New-Item -ItemType Directory -Force (Join-Path $Base 'db') | Out-Null
    $old = (Get-Date).AddHours(-2)
    foreach ($exp in 'xpptut15', 'xppl1316') {
        $dir = New-Item -ItemType Directory -Force (Join-Path $Base "data/XPP/$exp/xtc")
        foreach ($r in 1..4) {
            $f = New-Item -ItemType File -Force (Join-Path $dir ("{0}-r{1:D4}-s00-c00.xtc" -f $exp, $r))
            $f.LastWriteTime = $old
        }
    }
    $script:Config = Join-Path $Base 'runproc.psd1'
    Set-Content -Path $Config -Value @"
@{
    DataRoot = './data'; DbRoot = './db'; SettleSeconds = 0
    Processes = @{
        l_ok    = @{ Command = @('/bin/sh', '-c', 'echo ok run `$1; exit 0', '{exp}', '{run}'); PollSeconds = 1 }
        l_three = @{ Command = @('/bin/sh', '-c', 'exit 3'); Attempts = 1; PollSeconds = 1 }
        l_sleep = @{ Command = @('/bin/sleep', '300'); Attempts = 1; PollSeconds = 1 }
        l_slow  = @{ Command = @('/bin/sleep', '300'); Attempts = 1; TimeLimitMinutes = 1; PollSeconds = 1 }
        l_lost  = @{ Command = @('/bin/sh', '-c', 'exit 0'); Attempts = 1; PollSeconds = 1 }
        s_ok    = @{ Command = @('/bin/sh', '-c', 'echo ok run `$1; exit 0', '{exp}', '{run}'); Scheduler = 'Slurm'; PollSeconds = 1 }
        s_three = @{ Command = @('/bin/sh', '-c', 'exit 3'); Scheduler = 'Slurm'; Attempts = 1; PollSeconds = 1 }
        s_sleep = @{ Command = @('/bin/sleep', '300'); Scheduler = 'Slurm'; Attempts = 1; PollSeconds = 1 }
        s_slow  = @{ Command = @('/bin/sleep', '300'); Scheduler = 'Slurm'; Attempts = 1; TimeLimitMinutes = 1; PollSeconds = 1 }
        s_lost  = @{ Command = @('/bin/sh', '-c', 'exit 0'); Scheduler = 'Slurm'; Attempts = 1; PollSeconds = 1 }
        cyc     = @{ Command = @('{runproc}', 'Get-ProcConfig', '-ConfigPath', '{config}'); MaxJobs = 3; PollSeconds = 1 }
        race    = @{ Command = @('/bin/sh', '-c', 'exit 0'); MaxJobs = 100; PollSeconds = 1 }
        cron    = @{ Command = @('/bin/sh', '-c', 'echo cron ran `$0', '{run}'); MaxJobs = 100; PollSeconds = 1 }
        multi   = @{ Command = @('/bin/sh', '-c', 'exit 0'); MaxJobs = 4; PollSeconds = 1 }
    }
}
"@
    # Time-limit jobs first: they take a minute or more and are checked by the last test.
    $script:SlowJobs = @(
        Submit-ProcJob -Process l_slow -Experiment xpptut15 -Run 1 -ConfigPath $Config
        Submit-ProcJob -Process s_slow -Experiment xpptut15 -Run 1 -ConfigPath $Config
    )

    function script:Wait-ProcJobState {
        # Polls (one Watch-ProcJob -Once pass at a time) until the job is in one of $State; 150 s is a hang guard, not a timing assertion.
        param($Job, [string[]] $State, [int] $Seconds = 150)
        $deadline = (Get-Date).AddSeconds($Seconds)
        while ($true) {
            $now = $Job | Watch-ProcJob -Once -ConfigPath $Config -WarningAction SilentlyContinue
            if ($now.State -in $State) { return $now }
            if ((Get-Date) -gt $deadline) { throw "job $($Job.Name) stayed $($now.State), expected $($State -join '/')" }
            Start-Sleep -Milliseconds 300
        }
    }

    function script:Invoke-Pwsh {
        # Runs a RunProc cmdlet in a new pwsh process through the fixed entry script; returns its output lines.
        param([string[]] $Arguments)
        $rest = @($Pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $Entry, $Manifest) + $Arguments
        & $Pwsh[0] @rest 2>&1
    }
}

AfterAll {
    # Leave nothing running: cancel whatever is still active.
    Get-ProcJob -Active -ConfigPath $Config -ErrorAction SilentlyContinue | Stop-ProcJob -Confirm:$false -ConfigPath $Config -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'Jobs on the <Name> scheduler' -ForEach @(
    @{ Name = 'Local'; P = 'l'; FailWord = 'EXIT'; DoneWord = 'DONE' }
    @{ Name = 'Slurm'; P = 's'; FailWord = 'FAILED'; DoneWord = 'COMPLETED' }
) {
    It 'runs a job that exits 0 to Done, with the old status lines in its log and the run recorded' {
        $job = Submit-ProcJob -Process "$($P)_ok" -Experiment xpptut15 -Run 2 -ConfigPath $Config
        $job.State | Should -Be 'Pending'
        $job.JobId | Should -Not -BeNullOrEmpty
        $done = $job | Watch-ProcJob -PollSeconds 1 -ConfigPath $Config
        $done.State | Should -Be 'Done'
        $done.ExitCode | Should -Be 0
        $done.SchedulerState | Should -Be $DoneWord
        $done.LogFile | Should -Match 'log-xpptut15-r0002-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.txt$'
        $log = Get-Content -Raw $done.LogFile
        $log | Should -Match 'ok run 2'
        $log | Should -Match "(?m)^\s+\d+ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d \S+ job $([regex]::Escape($done.JobId)) status $DoneWord$"
        Get-Content (Join-Path $Base "db/$($P)_ok/XPP/xpptut15-proc-runs.txt") | Should -Match '^0002 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d \S+ \S+ cwd:\S.* cmd:Submit-ProcJob$'
        # The table names the process and the scheduler's job id (a local job's id is its name: shown by its end, attempt and token).
        $table = $done | Format-Table | Out-String -Width 250
        $table | Should -Match '(?m)^Process\s+Experiment\s+Run\s+Try\s+JobId\s+State'
        $id = if ($P -eq 'l') { [regex]::Escape(($done.Name.Split('.') | Select-Object -Last 2) -join '.') } else { [regex]::Escape($done.JobId) }
        $table | Should -Match "(?m)^$($P)_ok\s+xpptut15\s+2\s+1\s+$id\s+Done"
        $recorded = Get-ProcRun -Process "$($P)_ok" -Experiment xpptut15 -Run 2 -ConfigPath $Config | Format-Table | Out-String -Width 250
        $recorded | Should -Match 'Recorded by'
        $recorded | Should -Match "Submit-ProcJob \($([regex]::Escape([Environment]::UserName))@"
    }

    It 'tells a command that failed with 3 apart, and renames its log' {
        $job = Submit-ProcJob -Process "$($P)_three" -Experiment xpptut15 -Run 2 -ConfigPath $Config
        $end = $job | Watch-ProcJob -PollSeconds 1 -ConfigPath $Config
        $end.State | Should -Be 'Failed'
        $end.ExitCode | Should -Be 3
        $end.LogFile | Should -BeLike "*.txt-$FailWord"
        Test-Path $end.LogFile | Should -BeTrue
        # Attempts = 1: the cycle does not retry it; an explicit -Force does.
        (Invoke-ProcCycle -Process "$($P)_three" -ConfigPath $Config).Submitted | Should -Be 0
        $again = Get-ProcJob -Process "$($P)_three" -State Failed -ConfigPath $Config | Submit-ProcJob -Force -ConfigPath $Config
        $again.Attempt | Should -Be 2
        ($again | Watch-ProcJob -PollSeconds 1 -ConfigPath $Config).State | Should -Be 'Failed'
    }

    It 'cancels a running job with Stop-ProcJob' {
        $job = Submit-ProcJob -Process "$($P)_sleep" -Experiment xpptut15 -Run 2 -ConfigPath $Config
        Wait-ProcJobState $job 'Running' | Out-Null
        $job | Stop-ProcJob -WhatIf -ConfigPath $Config
        (Wait-ProcJobState $job 'Running').State | Should -Be 'Running'
        # Stop-ProcJob waits for the end itself (60 s is a hang guard): no Watch-ProcJob pass is needed to see it Cancelled.
        $end = $job | Stop-ProcJob -Confirm:$false -PassThru -WaitSeconds 60 -ConfigPath $Config -WarningVariable late
        $late | Should -BeNullOrEmpty
        $end.State | Should -Be 'Cancelled'
        $end.LogFile | Should -BeLike '*.txt-CANCELLED'
        $recorded = Get-ProcJob -Process "$($P)_sleep" -ConfigPath $Config | Where-Object Name -eq $job.Name
        $recorded.State | Should -Be 'Cancelled'
        Test-Path -LiteralPath $end.LogFile | Should -BeTrue
    }

    It 'returns at once with -WaitSeconds 0, outputs nothing without -PassThru, and the next pass records the cancel' {
        # The run's last job was cancelled by the test before: -Force submits it again.
        $job = Submit-ProcJob -Process "$($P)_sleep" -Experiment xpptut15 -Run 2 -Force -ConfigPath $Config
        $job | Should -Not -BeNullOrEmpty
        Wait-ProcJobState $job 'Running' | Out-Null
        $out = $job | Stop-ProcJob -Confirm:$false -WaitSeconds 0 -ConfigPath $Config -WarningVariable asked -WarningAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        "$asked" | Should -BeLike '*cancel requested; Watch-ProcJob*'
        (Wait-ProcJobState $job 'Cancelled', 'Failed', 'Done').State | Should -Be 'Cancelled'
    }

    It 'makes a job the scheduler has forgotten Lost, not Done' {
        # A journal entry for a job id the scheduler never had (as after a scheduler reinstall or a lost spool).
        $ghostId = if ($P -eq 's') { '999999' } else { 'rp.l_lost.xpptut15.r0002.a1.000000' }
        $name = 'rp.' + "$($P)_lost" + '.xpptut15.r0002.a1.000000'
        $dir = New-Item -ItemType Directory -Force (Join-Path $Base "db/$($P)_lost/XPP/xpptut15")
        $logFile = Join-Path $dir 'log-xpptut15-r0002-2020-01-01T00:00:00.txt'
        Set-Content $logFile '# ghost'
        $sched = if ($P -eq 's') { 'Slurm' } else { 'Local' }
        $lines = @(
            @{ t = '2020-01-01T00:00:00Z'; ev = 'intent'; name = $name; run = 2; attempt = 1; sched = $sched; log = $logFile; status = ($logFile -replace '\.txt$', '.status') } | ConvertTo-Json -Compress
            @{ t = '2020-01-01T00:00:01Z'; ev = 'submitted'; name = $name; id = $ghostId } | ConvertTo-Json -Compress
        )
        Add-Content (Join-Path $Base "db/$($P)_lost/XPP/xpptut15-jobs.txt") $lines
        $j = Get-ProcJob -Process "$($P)_lost" -ConfigPath $Config
        $j.State | Should -Be 'Pending'
        $end = $j | Watch-ProcJob -Once -ConfigPath $Config
        $end.State | Should -Be 'Lost'
        $end.LogFile | Should -BeLike '*.txt-LOST'
    }
}

Describe 'Watch-ProcJob input' {
    It 'a pipeline that brings no job watches nothing; alone it watches every active job' {
        $job = Submit-ProcJob -Process l_sleep -Experiment xppl1316 -Run 3 -ConfigPath $Config
        try {
            @(@() | Watch-ProcJob -Process l_sleep -Once -ConfigPath $Config).Count | Should -Be 0
            # Submit-ProcJob submitting nothing (the run is active already): Watch-ProcJob returns with nothing.
            @(Get-PendingRun -Process l_sleep -Experiment xppl1316 -ConfigPath $Config | Where-Object Run -eq 3 | Submit-ProcJob -ConfigPath $Config -WarningAction SilentlyContinue | Watch-ProcJob -Once -ConfigPath $Config).Count | Should -Be 0
            $alone = @(Watch-ProcJob -Process l_sleep -Once -ConfigPath $Config)
            $alone.Name | Should -Contain $job.Name
            ($alone | Where-Object Name -eq $job.Name).IsActive | Should -BeTrue
        }
        finally {
            $job | Stop-ProcJob -Confirm:$false -ConfigPath $Config
            $job | Watch-ProcJob -PollSeconds 1 -ConfigPath $Config | Out-Null
        }
    }
}

Describe 'Invoke-ProcCycle' {
    It 'repeated from cron-like separate pwsh processes, takes every run of a facility to Done exactly once' {
        Add-ProcExperiment -Process cyc -Experiment xpptut15, xppl1316 -ConfigPath $Config | Out-Null
        $deadline = (Get-Date).AddSeconds(240)
        do {
            $out = Invoke-Pwsh @('Invoke-ProcCycle', '-Process', 'cyc', '-ConfigPath', $Config)
            $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
            $jobs = Get-ProcJob -Process cyc -ConfigPath $Config
            $notDone = @($jobs | Where-Object State -NE 'Done').Count
            # Past the deadline only a facility that is not done yet fails (a pass that finished it late is not a failure).
            if (($jobs.Count -lt 8 -or $notDone -gt 0) -and (Get-Date) -gt $deadline) { throw "cycles did not finish: $($jobs | Out-String)" }
            Start-Sleep -Milliseconds 500
        } while ($jobs.Count -lt 8 -or $notDone -gt 0)
        $jobs.Count | Should -Be 8
        ($jobs | Group-Object Experiment, Run | Where-Object Count -NE 1) | Should -BeNullOrEmpty
        $jobs | ForEach-Object { Get-Content -Raw $_.LogFile | Should -Match 'DbRoot' }  # {runproc} ran Get-ProcConfig in the job
        foreach ($exp in 'xpptut15', 'xppl1316') {
            $recorded = Get-Content (Join-Path $Base "db/cyc/XPP/$exp-proc-runs.txt") | ForEach-Object { $_.Substring(0, 4) }
            $recorded | Sort-Object | Should -Be @('0001', '0002', '0003', '0004')
        }
        $s = Invoke-ProcCycle -Process cyc -ConfigPath $Config
        $s.Submitted | Should -Be 0
        $s.Ran | Should -BeTrue
    }

    It 'started twice at the same instant, submits each run once' {
        Add-ProcExperiment -Process race -Experiment xpptut15, xppl1316 -ConfigPath $Config | Out-Null
        $go = Join-Path $Base 'go'
        $script = @"
while (-not (Test-Path '$go')) { Start-Sleep -Milliseconds 5 }
Import-Module '$Manifest'
Invoke-ProcCycle -Process race -ConfigPath '$Config' -WarningAction SilentlyContinue | ConvertTo-Json -Depth 1 -WarningAction SilentlyContinue
"@
        $procs = 1..2 | ForEach-Object {
            $psi = [Diagnostics.ProcessStartInfo]::new($Pwsh[0])
            foreach ($a in @($Pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $script)) { $psi.ArgumentList.Add($a) }
            $psi.RedirectStandardOutput = $true
            $psi.UseShellExecute = $false
            [Diagnostics.Process]::Start($psi)
        }
        Start-Sleep -Seconds 3  # both are loaded and polling for the go file
        New-Item -ItemType File $go | Out-Null
        $summaries = $procs | ForEach-Object { $o = $_.StandardOutput.ReadToEnd(); $_.WaitForExit(); $o | ConvertFrom-Json }
        ($summaries | Measure-Object Submitted -Sum).Sum | Should -Be 8
        $jobs = Get-ProcJob -Process race -ConfigPath $Config
        $jobs.Count | Should -Be 8
        ($jobs | Group-Object Experiment, Run | Where-Object Count -NE 1) | Should -BeNullOrEmpty
    }

    It 'says so and does nothing when another cycle holds the lock' {
        $lockPath = Join-Path $Base 'db/race/.cycle.lock'
        $holder = [IO.File]::Open($lockPath, 'OpenOrCreate', 'ReadWrite', 'None')
        try {
            $s = Invoke-ProcCycle -Process race -ConfigPath $Config -WarningVariable w -WarningAction SilentlyContinue
            $s.Ran | Should -BeFalse
            $w | Should -Match 'another cycle'
        } finally { $holder.Dispose() }
    }

    It 'exits non-zero from the cron entry when the cycle had errors (here: DataRoot does not exist)' {
        $bad = Join-Path $Base 'nodata.psd1'
        Set-Content -Path $bad -Value "@{ DataRoot = './no-such-data'; DbRoot = './db'; Processes = @{ cyc_bad = @{ Command = @('/bin/true') } } }"
        $out = Invoke-Pwsh @('Invoke-ProcCycle', '-Process', 'cyc_bad', '-ConfigPath', $bad)
        $LASTEXITCODE | Should -Be 1 -Because ($out -join "`n")
        ($out -join "`n") | Should -Match 'no-such-data'
        $s = Invoke-ProcCycle -Process cyc_bad -ConfigPath $bad -WarningAction SilentlyContinue -ErrorVariable e -ErrorAction SilentlyContinue
        $s.Errors | Should -Be 1
        $e.FullyQualifiedErrorId | Should -Match 'CycleHadErrors'
    }

    It 'submits nothing with -WhatIf' {
        $before = @(Get-ProcJob -Process l_ok -ConfigPath $Config).Count
        Get-PendingRun -Process l_ok -All -ConfigPath $Config | Submit-ProcJob -ConfigPath $Config -WhatIf -WarningAction SilentlyContinue
        @(Get-ProcJob -Process l_ok -ConfigPath $Config).Count | Should -Be $before
        Test-Path (Join-Path $Base 'db/l_ok/XPP/xppl1316-proc-runs.txt') | Should -BeFalse
    }
}

Describe 'Submit-ProcJob input' {
    It 'leaves a run that is still being written for a later cycle' {
        $dir = New-Item -ItemType Directory -Force (Join-Path $Base 'data/XPP/xpplive1/xtc')
        New-Item -ItemType File -Force (Join-Path $dir 'xpplive1-r0001-s00-c00.xtc') | Out-Null
        New-Item -ItemType File -Force (Join-Path $dir 'xpplive1-r0001-s01-c00.xtc.inprogress') | Out-Null
        $run = Get-PendingRun -Process l_ok -Experiment xpplive1 -IncludeNotReady -ConfigPath $Config
        $run.Ready | Should -BeFalse
        $out = $run | Submit-ProcJob -ConfigPath $Config -WarningVariable w -WarningAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        $w | Should -Match 'not ready'
        @(Get-ProcJob -Process l_ok -Experiment xpplive1 -ConfigPath $Config).Count | Should -Be 0
    }

    It 'submits several runs typed by hand (-Run 1, 2), each as its own job' {
        $jobs = @(Submit-ProcJob -Process multi -Experiment xpptut15 -Run 1, 2 -ConfigPath $Config)
        $jobs.Run | Should -Be @(1, 2)
        ($jobs | Watch-ProcJob -PollSeconds 1 -ConfigPath $Config).State | Should -Be @('Done', 'Done')
    }

    It 'refuses a run typed by hand that has no data files, and leaves one that is not ready' {
        Submit-ProcJob -Process l_ok -Experiment xpptut15 -Run 99 -ConfigPath $Config -ErrorVariable e -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $e[0].FullyQualifiedErrorId | Should -BeLike 'RunHasNoFiles*'
        "$($e[0])" | Should -Match 'no data files'
        Submit-ProcJob -Process l_ok -Experiment xpplive1 -Run 1 -ConfigPath $Config -WarningVariable w -WarningAction SilentlyContinue | Should -BeNullOrEmpty
        $w | Should -Match 'not ready'
        @(Get-ProcJob -Process l_ok -ConfigPath $Config | Where-Object { $_.Run -eq 99 -or $_.Experiment -eq 'xpplive1' }).Count | Should -Be 0
        Get-ProcRun -Process l_ok -Experiment xpptut15 -ConfigPath $Config -ErrorAction SilentlyContinue | Where-Object Run -EQ 99 | Should -BeNullOrEmpty
    }

    It 'Register-ProcRun refuses an experiment that is not in the catalog, unless -Force' {
        Register-ProcRun -Process l_ok -Experiment xppnosuch1 -Run 1 -ConfigPath $Config -ErrorVariable e -ErrorAction SilentlyContinue
        $e[0].FullyQualifiedErrorId | Should -BeLike 'ExperimentNotInCatalog*'
        Test-Path (Join-Path $Base 'db/l_ok/XPP/xppnosuch1-proc-runs.txt') | Should -BeFalse
        Register-ProcRun -Process l_ok -Experiment xppnosuch1 -Run 1 -Force -ConfigPath $Config
        Test-Path (Join-Path $Base 'db/l_ok/XPP/xppnosuch1-proc-runs.txt') | Should -BeTrue
    }

    It 'reports a bad run as a non-terminating error and goes on with the next' {
        $in = @(
            [pscustomobject]@{ Process = 'l_ok'; Experiment = 'XPP;rm'; Run = 1 }
            [pscustomobject]@{ Process = 'l_ok'; Experiment = 'xpptut15'; Run = 3 }
        )
        $jobs = $in | Submit-ProcJob -ConfigPath $Config -ErrorVariable e -ErrorAction SilentlyContinue
        $e.Count | Should -Be 1
        $e[0].FullyQualifiedErrorId | Should -BeLike 'InvalidRun*'
        $e[0].TargetObject | Should -Be 'XPP;rm run 1'
        @($jobs).Count | Should -Be 1
        ($jobs | Watch-ProcJob -PollSeconds 1 -ConfigPath $Config).State | Should -Be 'Done'
    }
}

Describe 'Register-ProcSchedule' {
    BeforeAll {
        $script:SavedCrontab = & crontab -l 2>$null
        $script:HadCrontab = $LASTEXITCODE -eq 0
        # Another user entry that must survive.
        "17 3 * * * /bin/true # someone else's entry" | & crontab -
    }
    AfterAll {
        if ($HadCrontab) { $SavedCrontab | & crontab - } else { & crontab -r 2>$null }
    }

    It 'adds an entry that works under cron''s bare environment, and removes only it' {
        Add-ProcExperiment -Process cron -Experiment xpptut15 -ConfigPath $Config | Out-Null
        Register-ProcSchedule -Process cron -Schedule '*/5 * * * *' -ConfigPath $Config -WhatIf
        (& crontab -l) -join "`n" | Should -Not -Match 'RunProc:cron'
        $entry = Register-ProcSchedule -Process cron -Schedule '*/5 * * * *' -ConfigPath $Config
        $tab = & crontab -l
        $line = @($tab | Where-Object { $_ -match 'RunProc:cron' })
        $line.Count | Should -Be 1
        $line[0] | Should -Be $entry.Line
        $tab | Should -Contain "17 3 * * * /bin/true # someone else's entry"
        # Registering again replaces, not duplicates.
        Register-ProcSchedule -Process cron -Schedule '*/5 * * * *' -ConfigPath $Config | Out-Null
        @(& crontab -l | Where-Object { $_ -match 'RunProc:cron' }).Count | Should -Be 1

        # The exact command cron would run (the line after its five schedule fields), with cron's environment.
        $command = ($line[0] -split ' ', 6)[5]
        $home2 = New-Item -ItemType Directory -Force (Join-Path $Base 'home')
        & env -i "HOME=$home2" 'PATH=/usr/bin:/bin' sh -c $command
        $LASTEXITCODE | Should -Be 0
        $cycleLog = Get-Content -Raw $entry.LogFile
        $cycleLog | Should -Match 'cron'
        $jobs = Get-ProcJob -Process cron -ConfigPath $Config
        $jobs.Count | Should -Be 4
        $jobs | ForEach-Object { ($_ | Watch-ProcJob -PollSeconds 1 -ConfigPath $Config).State | Should -Be 'Done' }

        Unregister-ProcSchedule -Process cron -ConfigPath $Config -Confirm:$false
        $after = & crontab -l
        $after -join "`n" | Should -Not -Match 'RunProc:cron'
        $after | Should -Contain "17 3 * * * /bin/true # someone else's entry"
    }
}

Describe 'Time limits' {
    It 'ends a job over its time limit as TimedOut on <_>' -ForEach 'Local', 'Slurm' {
        $job = $SlowJobs | Where-Object Scheduler -EQ $_
        $end = Wait-ProcJobState $job 'TimedOut', 'Failed', 'Done', 'Cancelled', 'Lost' -Seconds 240
        $end.State | Should -Be 'TimedOut'
        $end.LogFile | Should -BeLike '*.txt-TIMEOUT'
    }
}
