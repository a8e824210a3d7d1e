# LCLS-II xtc2 runs end to end through the built module: Invoke-PixelStatus -Path on a run's chunk
# files, the errors a user meets (truncated chunk, LCLS-I .xtc), and a cycle on an xtc2
# experiment that deploys the status. The runs are the demo facility's mfx101332224 (two streams,
# two chunks in run 8, smalldata index, epix10ka words with gain bit 14 set).
BeforeAll {
    $script:Root = Split-Path -Parent $PSScriptRoot
    Import-Module (Join-Path $Root 'RunProc.psd1') -Force
    $script:Demo = New-ProcDemoFacility -Path (Join-Path $TestDrive 'demo') -FramesPerFile 10
    $script:Config = $Demo.ConfigPath
    $script:XtcDir = Join-Path $Demo.DataRoot 'MFX/mfx101332224/xtc'
}

AfterAll {
    # Leave nothing running: cancel whatever is still active.
    Get-ProcJob -Active -ConfigPath $Config -ErrorAction SilentlyContinue | Stop-ProcJob -Confirm:$false -ConfigPath $Config -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
}

Describe 'Invoke-PixelStatus on xtc2' {
    It 'reads every stream and chunk of a run by -Path, masks the gain bits by detector type, and finds the injected pixels' {
        $files = Get-ChildItem (Join-Path $XtcDir 'mfx101332224-r0008-s*.xtc2')
        $files.Count | Should -Be 4
        $out = Join-Path $TestDrive 'out8'
        $r = @($files | Invoke-PixelStatus -ConfigPath $Config -OutputDirectory $out -ArrayType sta -WarningVariable whole)
        $whole | Should -BeNullOrEmpty -Because 'every file of the run was given'
        $r.Count | Should -Be 2
        $epix = $r | Where-Object Detector -eq 'epix10ka'
        $epix.DetectorType | Should -Be 'epix10ka'
        $epix.Shape | Should -Be @(4, 176, 192)
        $epix.Events | Should -Be 20
        $epix.SkippedIncomplete | Should -Be 0
        $epix.SkippedDamaged | Should -Be 0
        $epix.DataMask | Should -Be 0x3FFF
        $epix.BadPixels | Should -Be 16
        $jf = $r | Where-Object Detector -eq 'jungfrau'
        $jf.Shape | Should -Be @(1, 352, 384)
        $jf.BadPixels | Should -Be 16
        [IO.File]::Exists((Join-Path $out 'nda-mfx101332224-r0008-epix10ka-e000020-sta.txt')) | Should -BeTrue
    }

    It 'keeps every bit with an explicit -DataMask 0xFFFFFFFFu (the gain bit then flags every epix10ka pixel)' {
        $r = Invoke-PixelStatus -Path (Join-Path $XtcDir 'mfx101332224-r0007-s000-c000.xtc2') -DataMask 0xFFFFFFFFu -ConfigPath $Config -WarningVariable partial -WarningAction SilentlyContinue
        # One stream of a two-stream run: the warning names the file not given.
        "$partial" | Should -Match '1 more file of this run is beside the ones given and not read \(mfx101332224-r0007-s001-c000\.xtc2\)'
        $r.DataMask | Should -Be ([uint32]::MaxValue)
        $r.BadPixels | Should -Be (4 * 176 * 192)
    }

    It 'selects by detType, counts -SkipEvents/-Events on the run''s L1Accepts' {
        $r = Invoke-PixelStatus -Path (Get-ChildItem (Join-Path $XtcDir 'mfx101332224-r0008-*.xtc2')) -Detector jungfrau -SkipEvents 5 -Events 10 -ConfigPath $Config
        $r.Detector | Should -Be 'jungfrau'
        $r.Events | Should -Be 10
    }

    It 'a truncated chunk is an error naming the file, dgram and byte offset, and nothing is written' {
        $dir = Join-Path $TestDrive 'cut'
        New-Item -ItemType Directory $dir | Out-Null
        $src = Join-Path $XtcDir 'mfx101332224-r0009-s001-c000.xtc2'
        $cut = Join-Path $dir 'mfx101332224-r0009-s001-c000.xtc2'
        Copy-Item $src $cut
        $fs = [IO.File]::Open($cut, 'Open')
        try { $fs.SetLength($fs.Length - 1000) } finally { $fs.Dispose() }
        $out = Join-Path $TestDrive 'cut-out'
        Invoke-PixelStatus -Path $cut -OutputDirectory $out -ConfigPath $Config -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'PixelFileDamaged,*'
        $errs[0].Exception.Message | Should -Match ([regex]::Escape($cut))
        $errs[0].Exception.Message | Should -Match 'dgram \d+ at byte \d+: .*truncated'
        $errs[0].ErrorDetails.RecommendedAction | Should -Match '-AllowTruncated'
        $out | Should -Not -Exist
        # Opted in: the whole events before the cut are analysed, with a warning naming where it ends.
        $whole = Invoke-PixelStatus -Path $src -ConfigPath $Config -ArrayType sta -OutputDirectory (Join-Path $TestDrive 'uncut-out')
        $r = Invoke-PixelStatus -Path $cut -AllowTruncated -OutputDirectory $out -ArrayType sta -ConfigPath $Config -WarningVariable cutWarnings -WarningAction SilentlyContinue
        $r.Events | Should -BeGreaterThan 0
        $r.Events | Should -BeLessThan $whole.Events
        "$cutWarnings" | Should -Match ([regex]::Escape($cut))
        "$cutWarnings" | Should -Match 'dgram \d+ at byte \d+: .*truncated.*-AllowTruncated'
        $out | Should -Exist
    }

    It 'says LCLS-I .xtc is not read yet' {
        $x = Join-Path $TestDrive 'xpptut15-r0001-s00-c00.xtc'
        [IO.File]::WriteAllBytes($x, [byte[]](1..64))
        Invoke-PixelStatus -Path $x -ConfigPath $Config -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'PixelFileNotSupported,*'
        $errs[0].Exception.Message | Should -Match 'LCLS-I xtc is not read yet'
        # As a job (the pwsh entry): exit 65, input it cannot process (the cycle does not retry it).
        $exe = [Environment]::ProcessPath
        $pwsh = if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @($exe, [Environment]::GetCommandLineArgs()[0]) } else { @($exe) }
        $log = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -File (Join-Path $Root 'bin/scripts/Invoke-RunProcEntry.ps1') (Join-Path $Root 'RunProc.psd1') Invoke-PixelStatus -Path $x -ConfigPath $Config 2>&1
        $LASTEXITCODE | Should -Be 65 -Because ($log -join "`n")
        ($log -join "`n") | Should -Match 'ERROR: .*Invoke-PixelStatus.*LCLS-I xtc is not read yet'
    }
}

Describe 'A cycle on an xtc2 experiment' {
    It 'keeps an .inprogress run not ready, runs the default command as jobs and deploys DetType::CalibV1/detName' {
        # Only the xtc2 experiment is under control; run 10's jungfrau chunk is "still being written".
        Set-Content (Join-Path $Demo.DbRoot 'pixel_status/experiments.txt') 'mfx101332224'
        $open = Join-Path $XtcDir 'mfx101332224-r0010-s001-c000.xtc2'
        Move-Item $open "$open.inprogress"
        $notReady = @(Get-PendingRun -Experiment mfx101332224 -IncludeNotReady -ConfigPath $Config | Where-Object { -not $_.Ready })
        $notReady.Run | Should -Be 10
        $notReady.NotReadyReason | Should -Match 'inprogress'

        $deadline = [DateTime]::UtcNow.AddSeconds(240)
        do {
            Invoke-ProcCycle -Process pixel_status -ConfigPath $Config -WarningAction SilentlyContinue | Out-Null
            $jobs = @(Get-ProcJob -Process pixel_status -ConfigPath $Config -Latest)
            $done = @($jobs | Where-Object State -eq 'Done').Count
            if ($done -ge 3 -or @($jobs | Where-Object { $_.State -in 'Failed', 'Lost' -and $_.Attempt -ge 2 }).Count) { break }
            Start-Sleep -Seconds 1
        } while ([DateTime]::UtcNow -lt $deadline)
        ($jobs | Sort-Object Run | ForEach-Object { "$($_.Run):$($_.State)" }) -join ' ' | Should -Be '7:Done 8:Done 9:Done'
        $calib = Join-Path $Demo.DataRoot 'MFX/mfx101332224/calib'
        # [IO.File]::Exists: the provider would read 'Epix10ka::' as a provider name.
        foreach ($run in 7, 8, 9) {
            [IO.File]::Exists("$calib/Epix10ka::CalibV1/epix10ka/pixel_datastat/$run-end.data") | Should -BeTrue -Because "run $run epix10ka"
            [IO.File]::Exists("$calib/Jungfrau::CalibV1/jungfrau/pixel_datastat/$run-end.data") | Should -BeTrue -Because "run $run jungfrau"
        }
        [IO.File]::Exists("$calib/Epix10ka::CalibV1/epix10ka/pixel_datastat/HISTORY") | Should -BeTrue
        [IO.File]::Exists("$calib/Epix10ka::CalibV1/epix10ka/pixel_datastat/10-end.data") | Should -BeFalse
        $checks = @([RunProc.Demo.DemoCheck]::CheckRun($Demo, ($Demo.Runs | Where-Object { $_.Experiment -eq 'mfx101332224' -and $_.Run -eq 8 }), $calib))
        $checks.Count | Should -Be 2
        $checks | ForEach-Object { $_.Passed | Should -BeTrue -Because "$($_.Detector): $($_.Problem)" }
    }

    It 'an LCLS-I .xtc run fails once with exit 65 (input it cannot process) and is not submitted again' {
        $dir = Join-Path $Demo.DataRoot 'XPP/xpptut99/xtc'
        New-Item -ItemType Directory -Force $dir | Out-Null
        $x = Join-Path $dir 'xpptut99-r0003-s00-c00.xtc'
        [IO.File]::WriteAllBytes($x, [byte[]](1..64))
        (Get-Item $x).LastWriteTime = (Get-Date).AddMinutes(-5)
        Set-Content (Join-Path $Demo.DbRoot 'pixel_status/experiments.txt') 'xpptut99'
        $deadline = [DateTime]::UtcNow.AddSeconds(120)
        do {
            Invoke-ProcCycle -Process pixel_status -ConfigPath $Config -WarningAction SilentlyContinue | Out-Null
            $jobs = @(Get-ProcJob -Process pixel_status -ConfigPath $Config -Experiment xpptut99)
            if (@($jobs | Where-Object { -not $_.IsActive }).Count -ge 1) { break }
            Start-Sleep -Milliseconds 500
        } while ([DateTime]::UtcNow -lt $deadline)
        $jobs.Count | Should -Be 1
        $jobs[0].State | Should -Be 'Failed'
        $jobs[0].ExitCode | Should -Be 65
        Get-Content $jobs[0].LogFile -Raw | Should -Match 'LCLS-I xtc is not read yet'
        # The next cycles leave it Failed: no second attempt (Attempts is 3; NoRetryExitCodes 65).
        $next = Invoke-ProcCycle -Process pixel_status -ConfigPath $Config -WarningAction SilentlyContinue
        $next.Submitted | Should -Be 0
        $next.Retried | Should -Be 0
        @(Get-ProcJob -Process pixel_status -ConfigPath $Config -Experiment xpptut99).Count | Should -Be 1
        Submit-ProcJob -Experiment xpptut99 -Run 3 -Process pixel_status -ConfigPath $Config -ErrorVariable refused -ErrorAction SilentlyContinue -WarningVariable refusedW -WarningAction SilentlyContinue | Out-Null
        (@($refused) + @($refusedW) | ForEach-Object { "$_" }) -join "`n" | Should -Match 'NoRetryExitCodes'
    }
}

Describe 'Invoke-PixelStatus -Path input hardening' {
    It 'works with the built-in defaults when there is no site config at all' {
        $exe = [Environment]::ProcessPath
        $pwsh = if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @($exe, [Environment]::GetCommandLineArgs()[0]) } else { @($exe) }
        $home2 = Join-Path $TestDrive 'empty-home'
        New-Item -ItemType Directory $home2 | Out-Null
        $file = Join-Path $XtcDir 'mfx101332224-r0007-s001-c000.xtc2'
        $script = "Import-Module '$(Join-Path $Root 'RunProc.psd1')'; (Invoke-PixelStatus -Path '$file' -ErrorAction Stop).Events"
        $saved = $env:RUNPROC_CONFIG, $env:HOME
        try {
            Remove-Item Env:RUNPROC_CONFIG -ErrorAction Ignore
            $env:HOME = $home2
            $out = & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -Command $script 2>&1
        }
        finally { $env:RUNPROC_CONFIG, $env:HOME = $saved }
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        ($out | Select-Object -Last 1) | Should -Be '10'
    }

    It 'files of two runs are an error naming both runs, and nothing is read or written' {
        $out = Join-Path $TestDrive 'two-runs'
        $files = (Join-Path $XtcDir 'mfx101332224-r0007-s000-c000.xtc2'), (Join-Path $XtcDir 'mfx101332224-r0008-s000-c000.xtc2')
        Invoke-PixelStatus -Path $files -Deploy -ConfigPath $Config -OutputDirectory $out -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'PixelFilesOfSeveralRuns,*'
        $errs[0].Exception.Message | Should -Match 'of 2 runs, not one: mfx101332224 run 7 \(mfx101332224-r0007-s000-c000\.xtc2\); mfx101332224 run 8'
        $errs[0].ErrorDetails.RecommendedAction | Should -Match 'one run''s files at a time'
        $out | Should -Not -Exist
        # HDF5 files of two experiments alike.
        $h5 = Join-Path $Demo.DataRoot 'XPP/xpptut15/xtc/xpptut15-r0002-s00-c00.h5'
        Invoke-PixelStatus -Path $h5, $files[0] -ConfigPath $Config -OutputDirectory $out -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].Exception.Message | Should -Match 'xpptut15 run 2 .*mfx101332224 run 7'
    }

    It 'an HDF5 file of a run still being written is analysed with a warning naming the file in progress' {
        $dir = Join-Path $Demo.DataRoot 'XPP/xpptut15/xtc'
        (Join-Path $dir 'xpptut15-r0004-s00-c01.h5.inprogress') | Should -Exist -Because 'the demo leaves run 4 being written'
        $r = Invoke-PixelStatus -Path (Join-Path $dir 'xpptut15-r0004-s00-c00.h5') -ArrayType sta -ConfigPath $Config -OutputDirectory (Join-Path $TestDrive 'busy') -WarningVariable busy -WarningAction SilentlyContinue
        $r | Should -Not -BeNullOrEmpty
        "$busy" | Should -Match 'Run 4 of xpptut15 is still being written: xpptut15-r0004-s00-c01\.h5\.inprogress beside the files given'
        # A finished run: no such warning.
        $null = Invoke-PixelStatus -Path (Join-Path $dir 'xpptut15-r0002-s00-c00.h5') -ArrayType sta -ConfigPath $Config -OutputDirectory (Join-Path $TestDrive 'done2') -WarningVariable calm -WarningAction SilentlyContinue
        "$calm" | Should -Not -Match 'still being written'
    }

    It 'a file that is no xtc2 at all is said to be that, not a truncated one' {
        $x = Join-Path $TestDrive 'rand-r0001-s000-c000.xtc2'
        $rng = [Random]::new(5); $bytes = [byte[]]::new(100000); $rng.NextBytes($bytes)
        [IO.File]::WriteAllBytes($x, $bytes)
        Invoke-PixelStatus -Path $x -ConfigPath $Config -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].Exception.Message | Should -Match ([regex]::Escape($x))
        $errs[0].Exception.Message | Should -Match 'does not start with an xtc2 dgram .*not an LCLS-II xtc2 file'
        $errs[0].Exception.Message | Should -Not -Match 'truncated'
        $errs[0].ErrorDetails.RecommendedAction | Should -Not -Match 'AllowTruncated'
    }

    It 'with -AllowTruncated given, a cut in the first dgram does not recommend -AllowTruncated again' {
        $cut = Join-Path $TestDrive 'head-r0007-s000-c000.xtc2'
        $src = [IO.File]::ReadAllBytes((Join-Path $XtcDir 'mfx101332224-r0007-s000-c000.xtc2'))
        [IO.File]::WriteAllBytes($cut, $src[0..4999])
        Invoke-PixelStatus -Path $cut -AllowTruncated -ConfigPath $Config -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].Exception.Message | Should -Match 'dgram 0 at byte 0: .*truncated'
        $errs[0].ErrorDetails.RecommendedAction | Should -Not -Match 'analyses the events before the cut'
        $errs[0].ErrorDetails.RecommendedAction | Should -Match 'no events before it|there are none to keep'
    }

    It 'a -Detector that matches nothing lists each detector with the stream file that holds it' {
        $files = Get-ChildItem (Join-Path $XtcDir 'mfx101332224-r0007-s00*-c000.xtc2')
        Invoke-PixelStatus -Path $files -Detector nosuchdet -ConfigPath $Config -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'NoDetector,*'
        $errs[0].Exception.Message | Should -Match 'r0007-s000-c000\.xtc2: epix10ka \(epix10ka\) does not match'
        $errs[0].Exception.Message | Should -Match 'r0007-s001-c000\.xtc2: jungfrau \(jungfrau\) does not match'
    }

    It 'an event selection that leaves nothing is a usage error, not a damaged file' {
        $files = Get-ChildItem (Join-Path $XtcDir 'mfx101332224-r0007-s000-c000.xtc2')
        Invoke-PixelStatus -Path $files -SkipEvents 1000 -ConfigPath $Config -WarningAction SilentlyContinue -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'NoEventsSelected,*'
        $errs[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $errs[0].Exception.Message | Should -Match 'no events to analyse: 0 of the run''s 10 L1Accept events selected'
        $errs[0].ErrorDetails.RecommendedAction | Should -Match '-SkipEvents'
        $errs[0].ErrorDetails.RecommendedAction | Should -Not -Match 'Re-copy'
    }

    It 'a -Path pattern that matches nothing is an error; the same file given twice is analysed once' {
        Invoke-PixelStatus -Path (Join-Path $TestDrive 'nothing-*.xtc2') -ConfigPath $Config -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'PixelFileNotFound,*'
        $errs[0].Exception.Message | Should -Match 'nothing-\*\.xtc2'
        $file = Join-Path $XtcDir 'mfx101332224-r0007-s001-c000.xtc2'
        $r = Invoke-PixelStatus -Path $file, $file -ConfigPath $Config
        $r.Events | Should -Be 10
    }
}
