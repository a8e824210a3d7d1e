# Short CI versions of the fault runs that need the built module: hostile names, binary DB lines,
# a read-only DB directory and a full disk through the cmdlets. (The long runs: tests/faults.)
# Read-only and full-disk cases use real mounts (a read-only bind mount, a small tmpfs): the tests
# run as root, where permission bits do not stop writes.

BeforeAll {
    $script:Root = Split-Path -Parent $PSScriptRoot
    Import-Module (Join-Path $Root 'RunProc.psd1') -Force

    function script:New-Facility {
        $dir = Join-Path ([IO.Path]::GetTempPath()) ("runproc-faults-" + [guid]::NewGuid().ToString('N'))
        New-Item -ItemType Directory -Force "$dir/data", "$dir/db" | Out-Null
        $cfg = Join-Path $dir 'runproc.psd1'
        Set-Content $cfg "@{ DataRoot = '$dir/data'; DbRoot = '$dir/db'; SettleSeconds = 0 }"
        [pscustomobject]@{ Root = $dir; Data = "$dir/data"; Db = "$dir/db"; Config = $cfg; Proc = "$dir/db/pixel_status" }
    }

    function script:New-Run([string] $Data, [string] $Exp, [int] $Run, [int] $Streams = 2) {
        $ins = $Exp.Substring(0, 3).ToUpperInvariant()
        $d = Join-Path $Data "$ins/$Exp/xtc"
        New-Item -ItemType Directory -Force $d | Out-Null
        foreach ($s in 0..($Streams - 1)) {
            $f = Join-Path $d ('{0}-r{1:D4}-s{2:D2}-c00.xtc' -f $Exp, $Run, $s)
            [IO.File]::WriteAllText($f, 'x')
            (Get-Item $f).LastWriteTimeUtc = [datetime]::UtcNow.AddHours(-2)
        }
    }

    function script:Invoke-Mount([string[]] $Arguments) {
        & mount @Arguments 2>&1 | Out-String | Write-Verbose
        if ($LASTEXITCODE -ne 0) { throw "mount $($Arguments -join ' ') failed: these tests need root" }
    }

    function script:Get-Snapshot([string] $Dir) {
        $h = @{}
        Get-ChildItem -Recurse -File -Force $Dir | Where-Object Name -ne '.runproc-db.lock' | Where-Object FullName -notlike '*.catalog-cache*' |
            ForEach-Object { $h[$_.FullName] = [Convert]::ToHexString([IO.File]::ReadAllBytes($_.FullName)) }
        $h
    }

    $script:Hostile = @('../x', 'a;rm -rf ~', '$(id)', '`id`', 'xpp tut15', 'xppé15', ('x' * 300), 'XPPTUT15', "xpp`ttut")
}

Describe 'Faults: hostile experiment names' {
    BeforeEach {
        $script:F = New-Facility
        New-Run $F.Data 'xpptut15' 1
    }
    AfterEach { Remove-Item -Recurse -Force $F.Root -ErrorAction Ignore }

    It 'Add-ProcExperiment rejects <_> with InvalidExperimentName and writes nothing' -ForEach @('../x', 'a;rm -rf ~', '$(id)', 'xppé15', ('x' * 300)) {
        $err = $null
        Add-ProcExperiment -Experiment $_ -ConfigPath $F.Config -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidExperimentName,*'
        $err[0].TargetObject | Should -Be $_
        $err[0].Exception.Message.Length | Should -BeLessThan 400
        Test-Path (Join-Path $F.Proc 'experiments.txt') | Should -BeFalse
        Test-Path (Join-Path $F.Root 'x') | Should -BeFalse
    }

    It 'hostile lines in experiments.txt are warnings with file:line; only the valid experiment is used' {
        New-Item -ItemType Directory -Force $F.Proc | Out-Null
        $list = Join-Path $F.Proc 'experiments.txt'
        Set-Content $list -Value (@($Hostile) + 'xpptut15')
        $warn = $null
        $runs = @(Get-PendingRun -ConfigPath $F.Config -WarningVariable warn -WarningAction SilentlyContinue)
        $runs.Experiment | Sort-Object -Unique | Should -Be 'xpptut15'
        $runs.Run | Should -Be 1
        $warn.Count | Should -Be $Hostile.Count
        foreach ($i in 1..$Hostile.Count) { ($warn | Where-Object { "$_" -like "*experiments.txt:${i}:*" }) | Should -Not -BeNullOrEmpty }
        # Recording through the pipeline records only the valid runs.
        $runs | Register-ProcRun -ConfigPath $F.Config
        (Get-ChildItem -Recurse -File $F.Db | Where-Object Name -like '*-proc-runs.txt').Name | Should -Be 'xpptut15-proc-runs.txt'
    }

    It 'hostile experiment directories on disk are ignored by -All (and reported with -Verbose)' {
        foreach ($n in @('a;rm -rf ~', '$(id)', '`id`', 'xpp tut15', 'xppé15')) {
            New-Item -ItemType Directory -Force (Join-Path $F.Data "XPP/$n/xtc") | Out-Null
            [IO.File]::WriteAllText((Join-Path $F.Data "XPP/$n/xtc/$n-r0001-s00-c00.xtc"), 'x')
        }
        # The longest directory name the file system allows (NAME_MAX 255 bytes; 300 characters cannot exist on disk).
        New-Item -ItemType Directory -Force (Join-Path $F.Data ("XPP/xpp" + '1' * 252 + "/xtc")) | Out-Null
        $verbose = Get-PendingRun -All -ConfigPath $F.Config -Verbose 4>&1 | Where-Object { $_ -is [Management.Automation.VerboseRecord] }
        $runs = @(Get-PendingRun -All -ConfigPath $F.Config)
        $runs.Experiment | Should -Be 'xpptut15'
        @($verbose | Where-Object Message -like 'Ignoring*not an experiment name*').Count | Should -Be 6
        $runs | Register-ProcRun -ConfigPath $F.Config
        @(Get-ChildItem -Recurse $F.Db | Where-Object { $_.Name -match '[;$`]' }).Count | Should -Be 0
    }

    It 'Register-ProcRun and Get-PendingRun refuse a hostile -Experiment with an error and no file' -ForEach @('../x', '$(id)', 'a;rm -rf ~') {
        $err = $null
        Register-ProcRun -Experiment $_ -Run 1 -ConfigPath $F.Config -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidExperimentName,*'
        Get-PendingRun -Experiment $_ -ConfigPath $F.Config -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidExperimentName,*'
        @(Get-ChildItem -Recurse -File $F.Db -ErrorAction Ignore | Where-Object Name -like '*proc-runs*').Count | Should -Be 0
    }
}

Describe 'Faults: binary and malformed DB lines through the cmdlets' {
    BeforeEach { $script:F = New-Facility }
    AfterEach { Remove-Item -Recurse -Force $F.Root -ErrorAction Ignore }

    It 'Get-ProcRun warns with file:line, and Move-ArchivedRun keeps every other line byte for byte' {
        New-Run $F.Data 'xpptut15' 2
        $file = Join-Path $F.Proc 'XPP/xpptut15-proc-runs.txt'
        New-Item -ItemType Directory -Force (Split-Path $file) | Out-Null
        $enc = [Text.Encoding]::UTF8
        $lines = @(
            [byte[]](0xFF, 0xFE, 0x00, 0x41),
            $enc.GetBytes('0001 2017-10-05T15:19:21 dubrovin psanaphi106 cwd:/reg cmd:proc_new_datasets'),
            [byte[]](0x30, 0x30, 0x30, 0x32, 0x20, 0xC3, 0x28),
            [byte[]](0x00, 0x01, 0x1B, 0x5B, 0x32, 0x4A),
            $enc.GetBytes('0003 2017-10-05T15:19:21 dubrovin psanaphi106 cwd:/reg cmd:proc_new_datasets')
        )
        $bytes = [Collections.Generic.List[byte]]::new()
        foreach ($l in $lines) { $bytes.AddRange($l); $bytes.Add(10) }
        [IO.File]::WriteAllBytes($file, $bytes.ToArray())
        $warn = $null
        $recs = @(Get-ProcRun -Experiment xpptut15 -ConfigPath $F.Config -WarningVariable warn -WarningAction SilentlyContinue)
        ($recs.Run | Sort-Object) | Should -Be @(1, 2, 3)
        @($warn).Count | Should -Be 2
        "$($warn[0])" | Should -BeLike "*xpptut15-proc-runs.txt:1:*"
        "$($warn[1])" | Should -BeLike "*xpptut15-proc-runs.txt:4:*"

        # Runs 1 and 3 have no data: they move; the binary lines and run 2 stay exactly as they were.
        Move-ArchivedRun -Experiment xpptut15 -ConfigPath $F.Config -WarningAction SilentlyContinue
        $kept = [Collections.Generic.List[byte]]::new()
        foreach ($l in $lines[0], $lines[2], $lines[3]) { $kept.AddRange($l); $kept.Add(10) }
        [Convert]::ToHexString([IO.File]::ReadAllBytes($file)) | Should -Be ([Convert]::ToHexString($kept.ToArray()))
        (Get-Content (Join-Path $F.Proc 'XPP/xpptut15-arch-runs.txt')).Count | Should -Be 2
    }
}

Describe 'Faults: read-only DB directory and full disk' {
    BeforeEach {
        $script:F = New-Facility
        New-Run $F.Data 'xpptut15' 1
        New-Run $F.Data 'xpptut15' 2
        Add-ProcExperiment xpptut15 -ConfigPath $F.Config
        Register-ProcRun -Experiment xpptut15 -Run 1, 9 -ConfigPath $F.Config
    }
    AfterEach {
        & umount $F.Db 2>$null
        Remove-Item -Recurse -Force $F.Root -ErrorAction Ignore
    }

    It 'a read-only DB gives at once an error naming the DB and the cause; nothing changes; reading still works' {
        $before = Get-Snapshot $F.Db
        Invoke-Mount @('--bind', $F.Db, $F.Db)
        Invoke-Mount @('-o', 'remount,ro,bind', $F.Db)
        $errs = @()
        $err = $null
        Register-ProcRun -Experiment xpptut15 -Run 2 -ConfigPath $F.Config -ErrorVariable err -ErrorAction SilentlyContinue; $errs += $err
        Move-ArchivedRun -Experiment xpptut15 -ConfigPath $F.Config -ErrorVariable err -ErrorAction SilentlyContinue; $errs += $err
        Remove-ProcExperiment xpptut15 -ConfigPath $F.Config -ErrorVariable err -ErrorAction SilentlyContinue; $errs += $err
        Add-ProcExperiment xpptut16 -ConfigPath $F.Config -ErrorVariable err -ErrorAction SilentlyContinue; $errs += $err
        $errs.Count | Should -Be 4
        foreach ($e in $errs) {
            $e.Exception.Message | Should -BeLike "*Read-only file system*$($F.Proc)*"
            $e.FullyQualifiedErrorId | Should -Not -BeLike 'DbLockTimeout*'
        }
        (Get-PendingRun -ConfigPath $F.Config).Run | Should -Be 2
        & umount $F.Db
        $after = Get-Snapshot $F.Db
        $after.Count | Should -Be $before.Count
        foreach ($k in $before.Keys) { $after[$k] | Should -Be $before[$k] }
    }

    It 'a full disk gives an error naming the file; no half-written record; it works again once there is room' {
        # Move the DB onto a 256 KiB tmpfs and fill it.
        Add-ProcExperiment xpptut16 -ConfigPath $F.Config -WarningAction SilentlyContinue
        $saved = Join-Path $F.Root 'db-saved'
        Copy-Item -Recurse $F.Db $saved
        Invoke-Mount @('-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', $F.Db)
        Copy-Item -Recurse "$saved/*" $F.Db
        $filler = Join-Path $F.Db 'filler.bin'
        $fs = [IO.FileStream]::new($filler, 'Create', 'Write', 'None', 1)
        try { while ($true) { $fs.Write([byte[]]::new(512), 0, 512) } } catch { }
        try { while ($true) { $fs.WriteByte(1) } } catch { }
        $fs.Dispose()
        $file = Join-Path $F.Proc 'XPP/xpptut15-proc-runs.txt'
        $before = [IO.File]::ReadAllBytes($file)
        $err = $null
        # 2,000 runs' records cannot fit.
        Register-ProcRun -Experiment xpptut15 -Run (1000..2999) -ConfigPath $F.Config -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].Exception.Message | Should -BeLike "*No space left on device*xpptut15-proc-runs.txt*"
        [Convert]::ToHexString([IO.File]::ReadAllBytes($file)) | Should -Be ([Convert]::ToHexString($before))
        Remove-ProcExperiment xpptut16 -ConfigPath $F.Config -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].Exception.Message | Should -BeLike '*No space left on device*'
        @(Get-ChildItem -Force -Recurse $F.Db | Where-Object Name -like '*.tmp-*').Count | Should -Be 0
        (Get-Content (Join-Path $F.Proc 'experiments.txt')) | Should -Be @('xpptut15', 'xpptut16')
        Remove-Item $filler
        Register-ProcRun -Experiment xpptut15 -Run (1000..1999) -ConfigPath $F.Config
        (Get-ProcRun -Experiment xpptut15 -ConfigPath $F.Config -WarningVariable warn).Count | Should -Be 1002
        @($warn).Count | Should -Be 0
    }
}

Describe 'Faults: batch on the local scheduler (short versions of tests/faults/Batch.Faults.ps1)' {
    BeforeAll {
        Import-Module (Join-Path $Root 'tests/faults/FaultKit.psm1') -Force
        $script:Manifest = Join-Path $Root 'RunProc.psd1'
        $script:Work = Join-Path ([IO.Path]::GetTempPath()) ("runproc-faults-batch-" + [guid]::NewGuid().ToString('N'))
    }
    AfterAll { Remove-Item -Recurse -Force $Work -ErrorAction Ignore }

    It '8 controllers started at the same instant (<_>) submit each of 120 runs exactly once and lose none' -ForEach 'Cycle', 'Submit' {
        $f = New-FaultFacility -Path (Join-Path $Work "conc-$_")
        Add-FaultRun $f 'xppconc001' (1..60)
        Add-FaultRun $f 'xppconc002' (1..60)
        $out = Invoke-ConcurrentController -Facility $f -Manifest $Manifest -Count 8 -Mode $_
        @($out | Where-Object ExitCode -ne 0).Count | Should -Be 0
        if ($_ -eq 'Cycle') { @($out | Where-Object { $_.Output -match '"Ran":true' }).Count | Should -Be 1 }
        Wait-FaultQuiet $f -Minutes 5 | Out-Null
        $m = Measure-FaultOutcome $f
        $m.Executions | Should -Be 120
        $m.DuplicateSubmissions | Should -Be 0 -Because "duplicated: $($m.DuplicatedRuns)"
        $m.DuplicateExecutions | Should -Be 0 -Because "duplicated: $($m.DuplicatedRuns)"
        $m.DuplicateRecords | Should -Be 0
        $m.Lost | Should -Be 0
        $m.NotDone | Should -Be 0
        $m.DbWarnings + $m.BadJournalLines | Should -Be 0
    }

    It 'a controller killed with SIGKILL at random instants neither loses nor duplicates a run; the DB still parses' {
        $f = New-FaultFacility -Path (Join-Path $Work 'crash')
        $rng = [Random]::new(20261124)
        Add-FaultRun $f 'xppcrash01' (1..5)
        $cal = Invoke-CrashTrial -Facility $f -Manifest $Manifest -Trial 0 -Mode Cycle
        $killed = 0
        foreach ($t in 1..4) {
            Add-FaultRun $f 'xppcrash01' ((5 * $t + 1)..(5 * $t + 5))
            $mode = ('Cycle', 'SubmitWatch')[$t % 2]
            $r = Invoke-CrashTrial -Facility $f -Manifest $Manifest -Trial $t -Mode $mode -DelayMs ($rng.Next(0, [Math]::Max(200, $cal.WorkMs)))
            if ($r.Killed) { $killed++ }
            $m = Measure-FaultOutcome $f
            $m.DbWarnings + $m.BadJournalLines | Should -Be 0
        }
        Wait-FaultQuiet $f -Minutes 5 | Out-Null
        $m = Measure-FaultOutcome $f
        $m.Runs | Should -Be 25
        $m.DuplicateSubmissions + $m.DuplicateExecutions + $m.DuplicateRecords | Should -Be 0 -Because "duplicated: $($m.DuplicatedRuns)"
        $m.Lost + $m.NotDone | Should -Be 0
        $m.DbWarnings + $m.BadJournalLines | Should -Be 0
    }

    It 'runs a command for no hostile name (experiments.txt, directories on disk, -Experiment)' {
        $f = New-FaultFacility -Path (Join-Path $Work 'names')
        $pwned = Join-Path $Work 'pwned'
        Add-FaultRun $f 'xppsafe01' (1..2)
        $bad = @('../x', ('a;touch ' + $pwned), ('$(touch ' + $pwned + ')'), ('`touch ' + $pwned + '`'), 'xppé15', ('x' * 300))
        New-Item -ItemType Directory -Force (Join-Path $f.Db 'fz') | Out-Null
        Set-Content (Join-Path $f.Db 'fz/experiments.txt') (@($bad) + 'xppsafe01')
        foreach ($n in @('a;touch x', '$(touch x)', 'xppé15')) {
            New-Item -ItemType Directory -Force (Join-Path $f.Data "XPP/$n/xtc") | Out-Null
            [IO.File]::WriteAllText((Join-Path $f.Data "XPP/$n/xtc/$n-r0001-s00-c00.xtc"), 'x')
        }
        foreach ($n in $bad) {
            $err = $null
            Submit-ProcJob -Process fz -Experiment $n -Run 1 -ConfigPath $f.Config -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            @($err).Count | Should -BeGreaterThan 0 -Because "Submit-ProcJob -Experiment '$n' must be refused"
        }
        Invoke-ProcCycle -Process fz -ConfigPath $f.Config -WarningAction SilentlyContinue | Out-Null
        Invoke-ProcCycle -Process fz -All -ConfigPath $f.Config -WarningAction SilentlyContinue | Out-Null
        Wait-FaultQuiet $f -Minutes 5 | Out-Null
        $m = Measure-FaultOutcome $f
        $m.UnknownExecutions | Should -Be 0
        $m.Executions | Should -Be 2
        Test-Path $pwned | Should -BeFalse
        Test-Path (Join-Path $f.Path 'x') | Should -BeFalse
    }
}

Describe 'Faults: job faults on the real Slurm (short versions of tests/faults/Slurm.Faults.ps1)' {
    BeforeAll {
        Import-Module (Join-Path $Root 'tests/faults/FaultKit.psm1') -Force
        Start-SlurmAgain -Root $Root
        $script:SF = New-SlurmFaultFacility -Path (Join-Path ([IO.Path]::GetTempPath()) ("runproc-faults-slurm-" + [guid]::NewGuid().ToString('N'))) -OkSeconds 6
        Add-ProcExperiment -Process s_ok -Experiment xppslurm02 -ConfigPath $SF.Config -WarningAction SilentlyContinue
    }
    AfterAll {
        # Whatever a test did to the daemons, leave Slurm running for the other tests.
        Start-SlurmAgain -Root $Root
        Remove-Item -Recurse -Force $SF.Path -ErrorAction Ignore
    }

    It 'a job that exits 3 ends Failed with exit code 3 and a -FAILED log' {
        $null = Submit-FaultJob $SF s_exit3 xppslurm01 1
        $j = Wait-FaultJob $SF s_exit3 xppslurm01 1 -Final -Seconds 180
        "$($j.State)" | Should -Be 'Failed'
        $j.ExitCode | Should -Be 3
        $j.LogFile | Should -BeLike '*-FAILED'
    }

    It 'a job cancelled with scancel outside RunProc ends Cancelled' {
        $null = Submit-FaultJob $SF s_sleep xppslurm01 2
        $j = Wait-FaultJob $SF s_sleep xppslurm01 2 -State Running -Seconds 180
        & scancel $j.JobId
        "$((Wait-FaultJob $SF s_sleep xppslurm01 2 -Final -Seconds 180).State)" | Should -Be 'Cancelled'
    }

    It 'a job whose slurmd is killed keeps its state meanwhile and ends Done exactly once after the restart' {
        $null = Submit-FaultJob $SF s_ok xppslurm02 3
        $null = Wait-FaultJob $SF s_ok xppslurm02 3 -State Running -Seconds 180
        try {
            $null = Stop-SlurmDaemon slurmd -Kill
            Start-Sleep -Seconds 2
            $j = Get-FaultJob $SF s_ok xppslurm02 3
            ($j.IsActive -or "$($j.State)" -eq 'Done') | Should -BeTrue -Because "state $($j.State) while slurmd is down"
        }
        finally { Start-SlurmAgain -Root $Root }
        "$((Wait-FaultJob $SF s_ok xppslurm02 3 -Final -Seconds 300).State)" | Should -Be 'Done'
        @(Get-ProcJob -Process s_ok -Experiment xppslurm02 -Run 3 -ConfigPath $SF.Config | Where-Object { "$($_.State)" -eq 'Done' }).Count | Should -Be 1
    }

    It 'slurmctld stopped: a failed query never marks a job Failed, the submission is retried, all ends Done once' {
        $null = Submit-FaultJob $SF s_ok xppslurm02 4
        $null = Wait-FaultJob $SF s_ok xppslurm02 4 -State Running -Seconds 180
        try {
            $null = Stop-SlurmDaemon slurmctld
            Add-FaultRun $SF xppslurm02 5
            $w = $null
            Invoke-ProcCycle -Process s_ok -ConfigPath $SF.Config -WarningVariable w -WarningAction SilentlyContinue -ErrorVariable ce -ErrorAction SilentlyContinue | Out-Null
            @($w).Count | Should -BeGreaterThan 0 -Because 'the failed query and submission are reported'
            $ce.FullyQualifiedErrorId | Should -Match 'CycleHadErrors' -Because 'a cycle whose submission failed makes the cron entry exit non-zero'
            $j = Get-ProcJob -Process s_ok -Experiment xppslurm02 -Run 4 -Latest -ConfigPath $SF.Config
            $j.IsActive | Should -BeTrue -Because "a failed query must not end the job (it is $($j.State))"
            @(Get-ProcJob -Process s_ok -ConfigPath $SF.Config | Where-Object { "$($_.State)" -in 'Failed', 'Lost' }).Count | Should -Be 0
        }
        finally { Start-SlurmAgain -Root $Root }
        "$((Wait-FaultJob $SF s_ok xppslurm02 4 -Final -Seconds 300).State)" | Should -Be 'Done'
        $deadline = [datetime]::UtcNow.AddMinutes(5)
        do {
            Invoke-ProcCycle -Process s_ok -ConfigPath $SF.Config -WarningAction SilentlyContinue | Out-Null
            $j5 = Get-ProcJob -Process s_ok -Experiment xppslurm02 -Run 5 -Latest -ConfigPath $SF.Config
            Start-Sleep -Milliseconds 500
        } while ((-not $j5 -or $j5.IsActive) -and [datetime]::UtcNow -lt $deadline)
        "$($j5.State)" | Should -Be 'Done'
        @(Get-Content $SF.ExecLog | Where-Object { $_ -eq 'xppslurm02 5' }).Count | Should -Be 1
    }
}

Describe 'Faults: damaged and unusual HDF5 runs in Invoke-PixelStatus' {
    BeforeAll {
        $script:PF = New-Facility
        $script:RunDir = Join-Path $PF.Data 'XPP/xppfault01/xtc'
        $made = & /usr/bin/python3 (Join-Path $Root 'tests/faults/make_bad_hdf5.py') $RunDir xppfault01
        if ($LASTEXITCODE -ne 0) { throw "make_bad_hdf5.py failed: $made" }
        Get-ChildItem $RunDir | ForEach-Object { $_.LastWriteTimeUtc = [datetime]::UtcNow.AddHours(-2) }
        $script:Calib = Join-Path $PF.Data 'XPP/xppfault01/calib'
        function script:Invoke-Case([int] $Run) {
            $out = Join-Path $PF.Root "out-$Run"
            $err = $null
            $res = @(Invoke-PixelStatus -Experiment xppfault01 -Run $Run -Deploy -OutputDirectory $out -ConfigPath $PF.Config -ErrorVariable err -ErrorAction SilentlyContinue)
            [pscustomobject]@{ Results = $res; Errors = @($err); Out = $out; Written = @(Get-ChildItem -Recurse -File $out -ErrorAction Ignore) }
        }
    }
    AfterAll { Remove-Item -Recurse -Force $PF.Root -ErrorAction Ignore }

    It 'a good run is analysed and deployed (the control case)' {
        $c = Invoke-Case 1
        $c.Errors.Count | Should -Be 0
        $c.Results.Count | Should -Be 1
        $c.Results[0].Events | Should -Be 20
        @(Get-ChildItem -Recurse -File $Calib -Filter '1-end.data').Count | Should -Be 1
    }

    It '<Case>: <Id> naming <Expect>; nothing written or deployed' -ForEach @(
        @{ Run = 2; Case = 'truncated contiguous data'; Id = 'PixelFileDamaged'; Expect = @('r0002-s00-c00.h5', 'truncated', 'ends at byte') }
        @{ Run = 3; Case = 'corrupted gzip chunk'; Id = 'PixelFrameUnreadable'; Expect = @('r0003-s00-c00.h5:/entry/data/epix: frame ', 'cannot be read') }
        @{ Run = 4; Case = 'empty file'; Id = 'PixelFileDamaged'; Expect = @('r0004-s00-c00.h5', 'too small') }
        @{ Run = 5; Case = 'random bytes'; Id = 'PixelFileDamaged'; Expect = @('r0005-s00-c00.h5', 'not a readable HDF5 file') }
        @{ Run = 6; Case = 'rank-2 dataset'; Id = 'NoDetector'; Expect = @('r0006-s00-c00.h5', '/entry/data/epix is uint16 of rank 2') }
        @{ Run = 7; Case = 'float64 frames'; Id = 'NoDetector'; Expect = @('r0007-s00-c00.h5', '/entry/data/epix is float64 of rank 3') }
        @{ Run = 8; Case = 'no frames'; Id = 'PixelFrameUnreadable'; Expect = @('r0008-s00-c00.h5:/entry/data/epix', 'no frames') }
        @{ Run = 9; Case = 'chunks never written'; Id = 'PixelFileDamaged'; Expect = @('r0009-s00-c00.h5:/entry/data/epix', 'never written') }
        @{ Run = 10; Case = 'damaged huge dimensions'; Id = 'PixelFileDamaged'; Expect = @('r0010-s00-c00.h5:/entry/data/epix', '(1000000000,1000,1000)') }
        @{ Run = 11; Case = 'second stream truncated'; Id = 'PixelFileDamaged'; Expect = @('r0011-s01-c00.h5', 'truncated') }
        @{ Run = 12; Case = 'truncated header'; Id = 'PixelFileDamaged'; Expect = @('r0012-s00-c00.h5') }
        @{ Run = 13; Case = 'int8 frames'; Id = 'NoDetector'; Expect = @('r0013-s00-c00.h5', 'int8 of rank 3') }
        @{ Run = 14; Case = 'strings, no frames'; Id = 'NoDetector'; Expect = @('r0014-s00-c00.h5', '/entry/data/names') }
    ) {
        $c = Invoke-Case $Run
        $c.Results.Count | Should -Be 0
        $c.Errors.Count | Should -Be 1
        $c.Errors[0].FullyQualifiedErrorId | Should -BeLike "$Id,*"
        foreach ($e in $Expect) { $c.Errors[0].Exception.Message | Should -BeLike "*$([WildcardPattern]::Escape($e))*" }
        $c.Written.Count | Should -Be 0 -Because 'no partial outputs'
        @(Get-ChildItem -Recurse -File $Calib -Filter "$Run-end.data" -ErrorAction Ignore).Count | Should -Be 0 -Because 'nothing deployed'
        $history = @(Get-ChildItem -Recurse -File $Calib -Filter HISTORY -ErrorAction Ignore | Get-Content)
        @($history | Where-Object { $_ -like "file: $Run-end.data*" }).Count | Should -Be 0
    }
}

Describe 'Faults: HDF5 corruption fuzz (short version of tests/faults/Pixels.Faults.ps1)' {
    It '150 randomly damaged run files: each a result or one error naming the file; no crash, hang or partial output' {
        Import-Module (Join-Path $Root 'tests/faults/FaultKit.psm1') -Force
        $w = Join-Path ([IO.Path]::GetTempPath()) ("runproc-faults-h5fuzz-" + [guid]::NewGuid().ToString('N'))
        New-Item -ItemType Directory -Force $w | Out-Null
        try {
            $r = Invoke-Hdf5CorruptionFuzz -Root $Root -Work $w -Count 150 -Seed 20261124
            $r.Failures | Should -BeNullOrEmpty
            $r.Stats.Cases | Should -Be 150
            $r.Stats.Detected | Should -BeGreaterThan 0
        }
        finally { Remove-Item -Recurse -Force $w -ErrorAction Ignore }
    }
}
