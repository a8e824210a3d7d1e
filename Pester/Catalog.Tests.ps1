# Pester tests of the catalog and DB cmdlets against the built module, on generated facility trees.
BeforeAll {
    $script:Root = Split-Path -Parent $PSScriptRoot
    Import-Module (Join-Path $Root 'RunProc.psd1') -Force

    # A facility: XPP/xpptut15 runs 1-3 (+4 in progress), CXI/cxil2316 runs 1-2, MFX/mfx101332224 runs 7-8 (LCLS-II),
    # xpptut15 under control; every file two hours old (settled).
    function New-TestFacility {
        $base = Join-Path $TestDrive ([guid]::NewGuid().ToString('N').Substring(0, 8))
        $old = (Get-Date).AddHours(-2)
        $spec = @(
            @{ Ins = 'XPP'; Exp = 'xpptut15'; Names = 1..3 | ForEach-Object { $r = $_; 0..2 | ForEach-Object { 'xpptut15-r{0:D4}-s{1:D2}-c00.xtc' -f $r, $_ } } }
            @{ Ins = 'CXI'; Exp = 'cxil2316'; Names = 1..2 | ForEach-Object { 'cxil2316-r{0:D4}-s00-c00.xtc' -f $_ } }
            @{ Ins = 'MFX'; Exp = 'mfx101332224'; Names = 'mfx101332224-r0007-s000-c000.xtc2', 'mfx101332224-r0007-s001-c000.xtc2', 'mfx101332224-r0008-s000-c000.xtc2' }
        )
        foreach ($s in $spec) {
            $dir = New-Item -ItemType Directory -Force (Join-Path $base "data/$($s.Ins)/$($s.Exp)/xtc")
            foreach ($n in $s.Names) {
                $f = Join-Path $dir $n
                Set-Content -Path $f -Value "data $n"
                (Get-Item $f).LastWriteTime = $old
            }
        }
        Set-Content (Join-Path $base 'data/XPP/xpptut15/xtc/xpptut15-r0004-s00-c00.xtc.inprogress') 'partial'
        Set-Content (Join-Path $base 'data/XPP/xpptut15/xtc/README') 'not a run file'
        New-Item -ItemType Directory -Force (Join-Path $base 'db/pixel_status') | Out-Null
        Set-Content (Join-Path $base 'db/pixel_status/experiments.txt') "# under control`nxpptut15"
        $cfg = Join-Path $base 'runproc.psd1'
        Set-Content $cfg "@{ DataRoot = 'data'; DbRoot = 'db'; SettleSeconds = 60 }"
        [pscustomobject]@{ Base = $base; Config = $cfg; Db = Join-Path $base 'db/pixel_status' }
    }
}

Describe 'Get-PendingRun' {
    BeforeEach { $f = New-TestFacility }

    It 'lists ready runs of experiments under control by default (LIST mode), typed and in order' {
        $runs = @(Get-PendingRun -ConfigPath $f.Config)
        $runs.Run | Should -Be @(1, 2, 3)
        $runs[0] | Should -BeOfType ([RunProc.Catalog.RunInfo])
        $runs[0].Experiment | Should -Be 'xpptut15'
        $runs[0].Instrument | Should -Be 'XPP'
        $runs[0].Process | Should -Be 'pixel_status'
        $runs[0].DataSetName | Should -Be 'exp=xpptut15:run=1'
        $runs[0].Files.Count | Should -Be 3
        $runs[0].Files[0] | Should -BeLike '*xpptut15-r0001-s00-c00.xtc'
        $runs[0].Ready | Should -BeTrue
    }

    It '-All covers every experiment of every configured instrument' {
        $runs = Get-PendingRun -ConfigPath $f.Config -All
        ($runs | ForEach-Object { "$($_.Experiment)/$($_.Run)" }) | Should -Be @('xpptut15/1', 'xpptut15/2', 'xpptut15/3', 'cxil2316/1', 'cxil2316/2', 'mfx101332224/7', 'mfx101332224/8')
    }

    It '-Instrument and -Experiment (with wildcards) filter' {
        (Get-PendingRun -ConfigPath $f.Config -All -Instrument cxi).Experiment | Sort-Object -Unique | Should -Be 'cxil2316'
        (Get-PendingRun -ConfigPath $f.Config -Experiment 'mfx*').Run | Should -Be @(7, 8)
        (Get-PendingRun -ConfigPath $f.Config -Experiment cxil2316).Run | Should -Be @(1, 2)
    }

    It '-IncludeNotReady returns in-progress runs with the reason' {
        $r = Get-PendingRun -ConfigPath $f.Config -IncludeNotReady | Where-Object Run -EQ 4
        $r.Ready | Should -BeFalse
        $r.NotReadyReason | Should -BeLike '*xpptut15-r0004-s00-c00.xtc.inprogress*'
    }

    It 'treats a run written within SettleSeconds as not ready' {
        $new = Join-Path $f.Base 'data/CXI/cxil2316/xtc/cxil2316-r0003-s00-c00.xtc'
        Set-Content $new 'fresh'
        (Get-PendingRun -ConfigPath $f.Config -Experiment cxil2316).Run | Should -Not -Contain 3
        (Get-PendingRun -ConfigPath $f.Config -Experiment cxil2316 -IncludeNotReady | Where-Object Run -EQ 3).NotReadyReason | Should -BeLike '*settle*'
    }

    It 'reports an invalid experiment name as a non-terminating error with a stable id and does not widen the query' {
        $out = Get-PendingRun -ConfigPath $f.Config -Experiment '../etc' -ErrorVariable err -ErrorAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidExperimentName,*'
        $err[0].TargetObject | Should -Be '../etc'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
    }

    It 'warns about a named experiment or instrument that is not there (a typo), and still answers' {
        Get-PendingRun -ConfigPath $f.Config -Experiment cxil2317 -WarningVariable w -WarningAction SilentlyContinue | Should -BeNullOrEmpty
        "$w" | Should -Match 'experiment cxil2317 has no directory under .* and no records; check the name \(did you mean cxil2316\?\) \(Get-ProcExperiment lists'
        # The command it names exists as written.
        "$w" | Should -Not -Match 'Get-ProcExperiment -All'
        Get-PendingRun -ConfigPath $f.Config -All -Instrument CXY -WarningVariable w -WarningAction SilentlyContinue | Should -BeNullOrEmpty
        "$w" | Should -Match 'instrument CXY has no directory under .*configured instruments: .*check the name'
        # Present ones: no warning.
        (Get-PendingRun -ConfigPath $f.Config -Experiment cxil2316 -Instrument CXI -WarningVariable w).Run | Should -Be @(1, 2)
        $w | Should -BeNullOrEmpty
        Get-ProcExperiment -ConfigPath $f.Config -Experiment cxil2317 -WarningVariable w -WarningAction SilentlyContinue | Out-Null
        "$w" | Should -Match 'cxil2317 has no directory'
    }

    It 'reports an unknown process' {
        Get-PendingRun -ConfigPath $f.Config -Process nosuch -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ProcessNotFound,*'
    }

    It 'warns with file and line about a malformed record' {
        New-Item -ItemType Directory -Force (Join-Path $f.Db 'XPP') | Out-Null
        Set-Content (Join-Path $f.Db 'XPP/xpptut15-proc-runs.txt') "0001 2017-10-05T15:19:21 a b cwd:/ cmd:x`nnot a record"
        $runs = Get-PendingRun -ConfigPath $f.Config -WarningVariable w -WarningAction SilentlyContinue
        $runs.Run | Should -Be @(2, 3)
        "$w" | Should -BeLike '*xpptut15-proc-runs.txt:2:*'
    }

    It 'sees new runs and new records on a rescan (incremental cache)' {
        (Get-PendingRun -ConfigPath $f.Config -All).Count | Should -Be 7
        Test-Path (Join-Path $f.Base 'db/.catalog-cache') | Should -BeTrue
        Get-PendingRun -ConfigPath $f.Config -Experiment cxil2316 | Register-ProcRun -ConfigPath $f.Config
        $new = Join-Path $f.Base 'data/MFX/mfx101332224/xtc/mfx101332224-r0009-s000-c000.xtc2'
        Set-Content $new 'x'; (Get-Item $new).LastWriteTime = (Get-Date).AddHours(-1)
        ($runs = Get-PendingRun -ConfigPath $f.Config -All) | Out-Null
        ($runs | ForEach-Object { "$($_.Experiment)/$($_.Run)" }) | Should -Be @('xpptut15/1', 'xpptut15/2', 'xpptut15/3', 'mfx101332224/7', 'mfx101332224/8', 'mfx101332224/9')
    }

    It 'writes progress while scanning' {
        $ps = [powershell]::Create()
        $null = $ps.AddCommand('Import-Module').AddArgument((Join-Path $Root 'RunProc.psd1')).AddStatement()
        $null = $ps.AddCommand('Get-PendingRun').AddParameter('ConfigPath', $f.Config).AddParameter('All')
        $out = $ps.Invoke()
        $out.Count | Should -Be 7
        $ps.Streams.Progress.Count | Should -BeGreaterThan 0
        $ps.Streams.Progress[-1].RecordType | Should -Be 'Completed'
        $ps.Dispose()
    }
}

Describe 'Register-ProcRun' {
    BeforeEach { $f = New-TestFacility }

    It 'records pending runs in the original format: Get-PendingRun -All | Register-ProcRun' {
        Get-PendingRun -ConfigPath $f.Config -All | Register-ProcRun -ConfigPath $f.Config
        $lines = Get-Content (Join-Path $f.Db 'XPP/xpptut15-proc-runs.txt')
        $lines.Count | Should -Be 3
        $lines[0] | Should -Match ('^0001 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d \S+ \S+ cwd:.+ cmd:Register-ProcRun$')
        (Get-Content (Join-Path $f.Db 'MFX/mfx101332224-proc-runs.txt')).Count | Should -Be 2
        Get-PendingRun -ConfigPath $f.Config -All | Should -BeNullOrEmpty
    }

    It '-WhatIf writes nothing and says what would be appended where' {
        Get-PendingRun -ConfigPath $f.Config | Register-ProcRun -ConfigPath $f.Config -WhatIf
        Test-Path (Join-Path $f.Db 'XPP/xpptut15-proc-runs.txt') | Should -BeFalse
        (Get-PendingRun -ConfigPath $f.Config).Count | Should -Be 3
    }

    It 'warns and does not duplicate a run that is already recorded; -PassThru returns the new records' {
        $r = Register-ProcRun -ConfigPath $f.Config -Experiment cxil2316 -Run 1 -PassThru
        $r | Should -BeOfType ([RunProc.Db.RecordedRun])
        $r.Run | Should -Be 1
        $r.DataExists | Should -BeTrue
        Register-ProcRun -ConfigPath $f.Config -Experiment cxil2316 -Run 1, 2 -WarningVariable w -WarningAction SilentlyContinue
        "$w" | Should -BeLike '*already recorded*'
        (Get-Content (Join-Path $f.Db 'CXI/cxil2316-proc-runs.txt')).Count | Should -Be 2
    }

    It 'rejects an invalid experiment and an out-of-range run' {
        Register-ProcRun -ConfigPath $f.Config -Experiment 'a;rm -rf' -Run 1 -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidExperimentName,*'
        { Register-ProcRun -ConfigPath $f.Config -Experiment cxil2316 -Run 100000 -ErrorAction Stop } | Should -Throw
    }
}

Describe 'Get-ProcRun and Move-ArchivedRun' {
    BeforeEach {
        $f = New-TestFacility
        Get-PendingRun -ConfigPath $f.Config -All | Register-ProcRun -ConfigPath $f.Config
        Remove-Item (Join-Path $f.Base 'data/XPP/xpptut15/xtc/xpptut15-r0002-*')
    }

    It 'Get-ProcRun shows records and whether data exists; -DataMissing lists what would be archived (code 4)' {
        $all = Get-ProcRun -ConfigPath $f.Config
        $all.Count | Should -Be 7
        ($all | Where-Object { -not $_.DataExists }).Run | Should -Be 2
        $missing = Get-ProcRun -ConfigPath $f.Config -DataMissing
        $missing.Experiment | Should -Be 'xpptut15'
        $missing.Run | Should -Be 2
        $missing.State | Should -Be 'Processed'
        (Get-ProcRun -ConfigPath $f.Config -Experiment 'mfx*').Run | Should -Be @(7, 8)
    }

    It 'Move-ArchivedRun -WhatIf changes nothing' {
        $before = Get-Content -Raw (Join-Path $f.Db 'XPP/xpptut15-proc-runs.txt')
        Move-ArchivedRun -ConfigPath $f.Config -WhatIf
        Get-Content -Raw (Join-Path $f.Db 'XPP/xpptut15-proc-runs.txt') | Should -Be $before
        Test-Path (Join-Path $f.Db 'XPP/xpptut15-arch-runs.txt') | Should -BeFalse
    }

    It 'Move-ArchivedRun moves records of removed data to the archive file (code 40), keeping other lines' {
        Add-Content (Join-Path $f.Db 'XPP/xpptut15-proc-runs.txt') '# a hand-written note'
        $moved = Move-ArchivedRun -ConfigPath $f.Config -PassThru -WarningAction SilentlyContinue
        $moved.Run | Should -Be 2
        $moved.State | Should -Be 'Archived'
        $proc = Get-Content (Join-Path $f.Db 'XPP/xpptut15-proc-runs.txt')
        $proc | Should -Contain '# a hand-written note'
        ($proc | Where-Object { $_ -match '^0002 ' }) | Should -BeNullOrEmpty
        (Get-Content (Join-Path $f.Db 'XPP/xpptut15-arch-runs.txt')) | Should -Match '^0002 '
        (Get-ProcRun -ConfigPath $f.Config -State Archived -WarningAction SilentlyContinue).Run | Should -Be 2
        # the run stays done: not pending again
        Get-PendingRun -ConfigPath $f.Config -All -WarningAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'pipes Get-ProcRun -DataMissing into Move-ArchivedRun, and refuses runs whose data still exists' {
        Get-ProcRun -ConfigPath $f.Config -DataMissing | Move-ArchivedRun -ConfigPath $f.Config
        (Get-ProcRun -ConfigPath $f.Config -State Archived).Run | Should -Be 2
        Move-ArchivedRun -ConfigPath $f.Config -Experiment xpptut15 -Run 1 -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'RunDataPresent,*'
        (Get-Content (Join-Path $f.Db 'XPP/xpptut15-proc-runs.txt')) -join "`n" | Should -Match '(?m)^0001 '
    }

    It 'refuses to archive anything when the instrument data directory is missing (unmounted)' {
        Rename-Item (Join-Path $f.Base 'data/XPP') 'XPP.off'
        Move-ArchivedRun -ConfigPath $f.Config -Experiment xpptut15 -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'DataDirectoryMissing,*'
        Test-Path (Join-Path $f.Db 'XPP/xpptut15-arch-runs.txt') | Should -BeFalse
    }
}

Describe 'Get-ProcExperiment, Add-ProcExperiment, Remove-ProcExperiment' {
    BeforeEach { $f = New-TestFacility }

    It 'lists every experiment with counts (codes 0/3)' {
        Register-ProcRun -ConfigPath $f.Config -Experiment xpptut15 -Run 1
        $e = Get-ProcExperiment -ConfigPath $f.Config
        $e.Experiment | Should -Be @('xpptut15', 'cxil2316', 'mfx101332224')
        $x = $e | Where-Object Experiment -EQ xpptut15
        $x | Should -BeOfType ([RunProc.Db.ExperimentStatus])
        $x.UnderControl | Should -BeTrue
        $x.Runs | Should -Be 4
        $x.Processed | Should -Be 1
        $x.Pending | Should -Be 2
        $x.NotReady | Should -Be 1
        (Get-ProcExperiment -ConfigPath $f.Config -UnderControl).Experiment | Should -Be 'xpptut15'
    }

    It '-Summary gives per-instrument statistics and a total (code 5)' {
        $s = Get-ProcExperiment -ConfigPath $f.Config -Summary
        $s | Should -BeOfType ([RunProc.Db.InstrumentSummary])
        $s.Instrument | Should -Be @('XPP', 'CXI', 'MFX', 'Total')
        $total = $s | Where-Object IsTotal
        $total.Experiments | Should -Be 3
        $total.Runs | Should -Be 8
        $total.UnderControl | Should -Be 1
    }

    It 'Add-ProcExperiment appends, keeps comments, supports -WhatIf; Remove-ProcExperiment removes' {
        $list = Join-Path $f.Db 'experiments.txt'
        Add-ProcExperiment -ConfigPath $f.Config -Experiment cxil2316 -WhatIf
        Get-Content $list | Should -Not -Contain 'cxil2316'
        'cxil2316', 'mfx101332224' | Add-ProcExperiment -ConfigPath $f.Config
        Get-Content $list | Should -Be @('# under control', 'xpptut15', 'cxil2316', 'mfx101332224')
        (Get-PendingRun -ConfigPath $f.Config).Experiment | Sort-Object -Unique | Should -Be @('cxil2316', 'mfx101332224', 'xpptut15')
        Remove-ProcExperiment -ConfigPath $f.Config -Experiment xpptut15 -WhatIf
        Get-Content $list | Should -Contain 'xpptut15'
        Remove-ProcExperiment -ConfigPath $f.Config -Experiment 'xpp*' -Confirm:$false
        Get-Content $list | Should -Be @('# under control', 'cxil2316', 'mfx101332224')
        Remove-ProcExperiment -ConfigPath $f.Config -Experiment amo12345 -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ExperimentNotUnderControl,*'
    }

    It 'Get-ProcExperiment output pipes into Get-PendingRun by property name' {
        (Get-ProcExperiment -ConfigPath $f.Config -Instrument MFX | Get-PendingRun -ConfigPath $f.Config).Run | Should -Be @(7, 8)
    }
}

Describe 'Views and completion' {
    BeforeAll { $f = New-TestFacility }

    It 'has default table views for the output types' {
        foreach ($t in 'RunProc.Catalog.RunInfo', 'RunProc.Db.RecordedRun', 'RunProc.Db.ExperimentStatus', 'RunProc.Db.InstrumentSummary') {
            Get-FormatData -TypeName $t | Should -Not -BeNullOrEmpty -Because $t
        }
        (Get-PendingRun -ConfigPath $f.Config | Format-Table | Out-String) | Should -BeLike '*Experiment*Run*Files*Ready*'
    }

    It 'completes experiment, process and instrument names' {
        $line = "Get-PendingRun -ConfigPath '$($f.Config)' -Experiment mf"
        (TabExpansion2 $line $line.Length).CompletionMatches.CompletionText | Should -Be 'mfx101332224'
        $line = "Get-PendingRun -ConfigPath '$($f.Config)' -Process pix"
        (TabExpansion2 $line $line.Length).CompletionMatches.CompletionText | Should -Be 'pixel_status'
        $line = "Get-PendingRun -ConfigPath '$($f.Config)' -Instrument MF"
        (TabExpansion2 $line $line.Length).CompletionMatches.CompletionText | Should -Be 'MFX'
    }
}
