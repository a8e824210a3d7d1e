BeforeAll {
    $script:Root = Split-Path -Parent $PSScriptRoot
    Import-Module (Join-Path $Root 'RunProc.psd1') -Force

    $script:DataRoot = Join-Path $TestDrive 'data'
    $script:Xtc = Join-Path $DataRoot 'XPP/xpptut15/xtc'
    New-Item -ItemType Directory -Force $Xtc | Out-Null
    $script:Config = Join-Path $TestDrive 'runproc.psd1'
    Set-Content $Config "@{ DataRoot = '$DataRoot'; DbRoot = '$(Join-Path $TestDrive 'db')'; SettleSeconds = 0 }"

    # A two-stream HDF5 run and a .npy stack, written by h5py/numpy (independent of RunProc).
    $py = @'
import sys, numpy as np, h5py
d = sys.argv[1]
rng = np.random.default_rng(3)
x = rng.integers(900, 1100, size=(12, 2, 16, 16), dtype=np.uint16)
x[:, 0, 0, 0] = 20000          # saturated in every event
x[:, 1, 3, 3] = 1000           # dead (rms 0)
for i, s in enumerate([slice(0, 7), slice(7, 12)]):
    with h5py.File(f"{d}/xpptut15-r0005-s{i:02d}-c00.h5", "w") as f:
        f.create_dataset("XppGon.0:Epix100a.0", data=x[s], chunks=(1, 2, 16, 16), compression="gzip")
np.save(f"{d}/../frames.npy", x)
'@
    $pyFile = Join-Path $TestDrive 'make.py'
    Set-Content $pyFile $py
    & /usr/bin/python3 $pyFile $Xtc
    if ($LASTEXITCODE -ne 0) { throw 'python3 with h5py/numpy is needed for these tests' }
    $script:Npy = Join-Path $DataRoot 'XPP/xpptut15/frames.npy'
}

Describe 'Invoke-PixelStatus' {
    It 'analyses a run found by experiment and run, bound by property name, and deploys it' {
        $out = Join-Path $TestDrive 'work'
        $r = [pscustomobject]@{ Experiment = 'xpptut15'; Run = 5 } |
            Invoke-PixelStatus -ConfigPath $Config -OutputDirectory $out -Deploy -ImagePath (Join-Path $TestDrive 'img')
        $r | Should -HaveCount 1
        $r.Detector | Should -Be 'XppGon.0:Epix100a.0'
        $r.Events | Should -Be 12
        $r.Shape | Should -Be @(2, 16, 16)
        $r.CountPerBit[1] | Should -Be 1      # saturated (no good event: also rms 0 and mean 0)
        $r.CountPerBit[3] | Should -Be 2      # dead: the constant pixel and the saturated one
        $r.CountPerBit[6] | Should -Be 1
        $r.BadPixels | Should -Be 2
        $deployed = Join-Path $DataRoot 'XPP/xpptut15/calib/Epix100a::CalibV1/XppGon.0:Epix100a.0/pixel_datastat/5-end.data'
        [IO.File]::Exists($deployed) | Should -BeTrue -Because $deployed
        [IO.File]::Exists([IO.Path]::Combine([IO.Path]::GetDirectoryName($deployed), 'HISTORY')) | Should -BeTrue
        [IO.File]::Exists((Join-Path $out 'nda-xpptut15-r0005-XppGon.0:Epix100a.0-e000012-sta.txt')) | Should -BeTrue
        (Get-ChildItem (Join-Path $TestDrive 'img') -Filter *.png).Count | Should -Be 4
        $r.Files | ForEach-Object { [IO.File]::Exists($_) | Should -BeTrue -Because $_ }
        ($r | Format-Table | Out-String) | Should -Match 'BadPixels'
    }

    It 'takes runs from Get-PendingRun by property name' {
        $pending = @(Get-PendingRun -Experiment xpptut15 -ConfigPath $Config)
        $pending.Count | Should -Be 1
        $r = $pending | Invoke-PixelStatus -ConfigPath $Config
        $r.Experiment | Should -Be 'xpptut15'
        $r.Run | Should -Be 5
        $r.Events | Should -Be 12
    }

    It '-WhatIf writes nothing' {
        $out = Join-Path $TestDrive 'whatif'
        $hist = Join-Path $DataRoot 'XPP/xpptut15/calib/Epix100a::CalibV1/XppGon.0:Epix100a.0/pixel_datastat/HISTORY'
        $before = @(Get-Content $hist -ErrorAction Ignore).Count
        $r = @(Invoke-PixelStatus -Experiment xpptut15 -Run 5 -ConfigPath $Config -OutputDirectory $out -Deploy -ImagePath $out -WhatIf)
        # One plan per detector: what would be read, written and deployed.
        $r.Count | Should -BeGreaterThan 0
        $r[0] | Should -BeOfType ([RunProc.Pixels.PixelStatusPlan])
        $r[0].Reads | Should -Not -BeNullOrEmpty
        @($r[0].Writes | Where-Object { $_ -like '*-sta.txt' }).Count | Should -Be 1
        @($r[0].Writes | Where-Object { $_ -like '*.png' }).Count | Should -Be 4
        $r[0].DeployFile | Should -BeLike '*/pixel_datastat/5-end.data'
        $r[0].History | Should -BeLike '*pixel_datastat*HISTORY'
        $out | Should -Not -Exist
        @(Get-Content $hist -ErrorAction Ignore).Count | Should -Be $before
    }

    It 'reads a .npy stack by -Path with -SkipEvents, -Events and -Method Robust' {
        $r = Invoke-PixelStatus -Path $Npy -SkipEvents 2 -Events 5 -Method Robust -ConfigPath $Config
        $r.Events | Should -Be 5
        $r.Detector | Should -Be 'frames'
        $r.Files | Should -BeNullOrEmpty
    }

    It 'gives a non-terminating error with a stable id for a damaged file and goes on' {
        $junk = Join-Path $TestDrive 'junk.h5'
        [IO.File]::WriteAllBytes($junk, [byte[]](1..4000 | ForEach-Object { $_ % 251 }))
        $r = Invoke-PixelStatus -Path $junk -ConfigPath $Config -ErrorVariable errs -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'PixelFileDamaged,*'
        $errs[0].Exception.Message | Should -Match 'junk.h5'
    }

    It 'reports a run without files as RunNotFound' {
        Invoke-PixelStatus -Experiment xpptut15 -Run 99 -ConfigPath $Config -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'RunNotFound,*'
    }

    It 'selects detectors by name substring' {
        Invoke-PixelStatus -Experiment xpptut15 -Run 5 -Detector jungfrau -ConfigPath $Config -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'NoDetector,*'
        # The error lists the frame stacks the run does hold (to pick a -Detector from), before any other dataset.
        $errs[0].Exception.Message | Should -Match ": [^;]*\(\d+ uint16 frames of \(\d+(,\d+)+\)\) does not match -Detector"
        $errs[0].ErrorDetails.RecommendedAction | Should -BeLike '*frame stacks the error lists*'
    }
}

Describe 'Invoke-PixelStatus -Part and Merge-PixelStatus' {
    It 'splits the two-stream run in <_> parts and merges it into the unsplit status, deployed' -ForEach 2, 3 {
        $n = $_
        $whole = Invoke-PixelStatus -ConfigPath $Config -Experiment xpptut15 -Run 5 -OutputDirectory (Join-Path $TestDrive "whole$n")
        $parts = Join-Path $TestDrive "parts$n"
        $headers = foreach ($k in 0..($n - 1)) { Invoke-PixelStatus -ConfigPath $Config -Experiment xpptut15 -Run 5 -Part $k -PartCount $n -PartDirectory $parts }
        $headers | Should -HaveCount $n
        $headers[0].Coverage.By | Should -Be $(if ($n -eq 2) { 'Files' } else { 'Events' })
        ($headers | Format-Table | Out-String) | Should -Match 'PartCount'
        $merged = Merge-PixelStatus -ConfigPath $Config $parts -PartCount $n -Experiment xpptut15 -Run 5 -OutputDirectory (Join-Path $TestDrive "merged$n") -Deploy
        $merged.Events | Should -Be 12
        $merged.CountPerBit | Should -Be $whole.CountPerBit
        $merged.Summary.Status | Should -Be $whole.Summary.Status
        $merged.Summary.Rms | Should -Be $whole.Summary.Rms
        $merged.Files | Where-Object { $_ -like '*5-end.data' } | Should -HaveCount 1
    }

    It 'refuses a part run with -Deploy and a merge with a part missing, writing nothing' {
        $parts = Join-Path $TestDrive 'partsbad'
        Invoke-PixelStatus -ConfigPath $Config -Experiment xpptut15 -Run 5 -Part 0 -PartCount 2 -PartDirectory $parts -Deploy -ErrorVariable e -ErrorAction SilentlyContinue
        $e[0].FullyQualifiedErrorId | Should -BeLike 'PartArguments*'
        Invoke-PixelStatus -ConfigPath $Config -Experiment xpptut15 -Run 5 -Part 0 -PartCount 2 -PartDirectory $parts | Out-Null
        $out = Join-Path $TestDrive 'mergedbad'
        Merge-PixelStatus -ConfigPath $Config $parts -PartCount 2 -OutputDirectory $out -ErrorVariable e2 -ErrorAction SilentlyContinue
        $e2[0].FullyQualifiedErrorId | Should -BeLike 'PartsNotMergeable*'
        $e2[0].Exception.Message | Should -Match 'part\(s\) 1 did not finish'
        Test-Path $out | Should -BeFalse
    }
}

Describe 'runproc-pixel, the pixel jobs'' entry without pwsh' {
    BeforeAll {
        $script:Dotnet = [IO.Path]::GetFullPath((Join-Path ([Runtime.InteropServices.RuntimeEnvironment]::GetRuntimeDirectory()) '../../../dotnet'))
        $script:Entry = Join-Path $Root 'bin/runproc-pixel.dll'
    }

    It 'writes the same outputs as the cmdlet, with the result table in its output, and exits 0' {
        $viaCmdlet = Join-Path $TestDrive 'entry-cmdlet'
        $viaEntry = Join-Path $TestDrive 'entry-native'
        $r = Invoke-PixelStatus -Experiment xpptut15 -Run 5 -ConfigPath $Config -OutputDirectory $viaCmdlet -ImagePath $viaCmdlet
        $out = & $Dotnet $Entry Invoke-PixelStatus -Experiment xpptut15 -Run 5 -ConfigPath $Config -OutputDirectory $viaEntry -ImagePath $viaEntry 2>&1
        $LASTEXITCODE | Should -Be 0
        ($out -join "`n") | Should -Match "(?m)^xpptut15\s+5 XppGon\.0:Epix100a\.0\s+\(2,16,16\)\s+12\s+$($r.BadPixels) $([regex]::Escape($r.CountPerBit -join ','))\s+\d+$"
        $a = @(Get-ChildItem $viaCmdlet -File | Sort-Object Name)
        $b = @(Get-ChildItem $viaEntry -File | Sort-Object Name)
        $b.Name | Should -Be $a.Name
        # The same arrays and header, but for the file's own name and the time it was written.
        $own = '^# (FILE_NAME|DATE_TIME) '
        foreach ($f in $a | Where-Object Name -like 'nda-*.txt') {
            $mine = @(Get-Content (Join-Path $viaEntry $f.Name) | Where-Object { $_ -notmatch $own })
            $mine.Count | Should -BeGreaterThan 10
            ($mine -join "`n") | Should -BeExactly (@(Get-Content $f.FullName | Where-Object { $_ -notmatch $own }) -join "`n")
        }
    }

    It 'names a missing file and a bad argument as the pwsh entry does, with its exit codes' {
        $missing = Join-Path $TestDrive 'nothing-r0001-s00-c00.h5'
        $out = & $Dotnet $Entry Invoke-PixelStatus -Path $missing 2>&1
        $LASTEXITCODE | Should -Be 1
        ($out -join "`n") | Should -Match ([regex]::Escape("ERROR: Invoke-PixelStatus: Cannot find path '$missing' because it does not exist. (Check the path of the run file.)"))
        $out = & $Dotnet $Entry Invoke-PixelStatus -Experiment xpptut15 -Run 5 -Methd Robust -ConfigPath $Config 2>&1
        $LASTEXITCODE | Should -Be 1
        ($out -join "`n") | Should -Match "ERROR: RunProc entry: Invoke-PixelStatus failed: A parameter cannot be found that matches parameter name 'Methd'"
        $null = & $Dotnet $Entry Get-ProcJob 2>&1
        $LASTEXITCODE | Should -Be 2
    }

    It 'is what a pixel_status job runs for {runproc} Invoke-PixelStatus' {
        $cfg = Join-Path $TestDrive 'entry-jobs.psd1'
        Set-Content $cfg "@{ DataRoot = '$DataRoot'; DbRoot = '$(Join-Path $TestDrive 'entry-db')'; SettleSeconds = 0 }"
        # What-if messages go to the host: run it in a child pwsh and read what it prints.
        $exe = [Environment]::ProcessPath
        $pwsh = if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @($exe, [Environment]::GetCommandLineArgs()[0]) } else { @($exe) }
        $cmd = "Import-Module '$(Join-Path $Root 'RunProc.psd1')'; Submit-ProcJob -Experiment xpptut15 -Run 5 -Force -ConfigPath '$cfg' -WhatIf"
        $rest = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $cmd)
        $plan = (& $pwsh[0] @rest 2>&1 | Out-String) -replace '\s+', ' '
        $plan | Should -Match ([regex]::Escape("$Dotnet "))
        $plan | Should -Match 'runproc-pixel\.dll Invoke-PixelStatus -Experiment xpptut15 -Run 5 '
        $plan | Should -Not -Match 'Invoke-RunProcEntry\.ps1' 
    }
}
