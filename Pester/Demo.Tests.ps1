# The README's first command (the main job on the embedded default) run as a new user would: in a
# fresh copy of the repository (the files git knows), from a shell, with no state of this session.
# This keeps the Quick start from rotting: if the command, the build, the demo or its check
# breaks, this fails.
BeforeDiscovery {
    $script:HaveGit = [bool](Get-Command git -ErrorAction Ignore) -and (Test-Path (Join-Path (Split-Path -Parent $PSScriptRoot) '.git'))
}

BeforeAll {
    $script:Root = Split-Path -Parent $PSScriptRoot

    function Get-QuickStartCommand {
        # The first line of the first ```sh block under '## Quick start' in README.md.
        $lines = Get-Content (Join-Path $Root 'README.md')
        $start = [array]::IndexOf($lines, '## Quick start')
        if ($start -lt 0) { throw "README.md has no '## Quick start' section" }
        $open = $null
        for ($i = $start + 1; $i -lt $lines.Count; $i++) {
            if ($null -eq $open -and $lines[$i] -eq '```sh') { $open = $i; continue }
            if ($null -ne $open) {
                if ($lines[$i] -eq '```') { break }
                if ($lines[$i].Trim()) { return @($lines[($open + 1)..($lines.Count - 1)] | Where-Object { $_.Trim() } | Select-Object -First 2) }
            }
        }
        throw "README.md: no sh block with commands under '## Quick start'"
    }
}

Describe 'New-ProcDemoFacility' {
    BeforeAll {
        Import-Module (Join-Path $Root 'RunProc.psd1') -Force
    }

    It 'writes a facility whose config the other cmdlets use, and returns where everything is' {
        $d = New-ProcDemoFacility -Path (Join-Path $TestDrive 'f1') -FramesPerFile 10
        $d.ConfigPath | Should -Exist
        $d.InjectedPixels.Count | Should -Be 32
        @($d.InjectedPixels.Class | Sort-Object -Unique) | Should -Be @('Dead', 'Hot', 'Noisy', 'Saturating')
        $cfg = Get-ProcConfig -ConfigPath $d.ConfigPath
        $cfg.DataRoot | Should -Be $d.DataRoot
        $cfg.Processes['pixel_status'].Scheduler | Should -Be 'Local'
        Get-Content (Join-Path $d.DbRoot 'pixel_status/experiments.txt') | Should -Contain 'xpptut15'
        @(Get-ChildItem $d.DataRoot -Recurse -File -Filter '*.inprogress').Count | Should -Be 1
    }

    It '-WhatIf writes nothing' {
        $p = Join-Path $TestDrive 'f2'
        New-ProcDemoFacility -Path $p -WhatIf | Should -BeNullOrEmpty
        $p | Should -Not -Exist
    }

    It 'refuses a folder that is not a demo facility, even with -Force, and leaves it alone' {
        $p = Join-Path $TestDrive 'f3'
        New-Item -ItemType Directory $p | Out-Null
        Set-Content (Join-Path $p 'notes.txt') 'keep me'
        New-ProcDemoFacility -Path $p -Force -FramesPerFile 10 -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'DemoPathInUse*'
        $err[0].TargetObject | Should -Be $p
        @(Get-ChildItem $p).Name | Should -Be 'notes.txt'
    }

    It 'replaces an earlier demo only with -Force' {
        $p = Join-Path $TestDrive 'f4'
        $null = New-ProcDemoFacility -Path $p -FramesPerFile 10
        { New-ProcDemoFacility -Path $p -FramesPerFile 10 -ErrorAction Stop } | Should -Throw '*-Force*'
        (New-ProcDemoFacility -Path $p -FramesPerFile 10 -Force).Path | Should -Be $p
    }
}

Describe 'README Quick start' {
    It 'shows the main job first and the tests second, in one sh block' {
        $cmds = Get-QuickStartCommand
        $cmds.Count | Should -Be 2
        $cmds[0] | Should -Match 'build\.ps1 Demo'
        $cmds[1] | Should -Match 'build\.ps1 Test'
    }

    It 'the first command works in a fresh copy of the repository' -Skip:(-not $HaveGit) {
        $command = (Get-QuickStartCommand)[0]
        $copy = Join-Path ([IO.Path]::GetTempPath()) ("runproc-quickstart-" + [Guid]::NewGuid().ToString('N'))
        New-Item -ItemType Directory $copy | Out-Null
        try {
            # What a clone holds: the files git knows (as they are in this working tree).
            $files = git -C $Root ls-files -z --cached
            $LASTEXITCODE | Should -Be 0
            foreach ($f in ($files -split "`0" | Where-Object { $_ })) {
                $src = Join-Path $Root $f
                if (-not (Test-Path -LiteralPath $src -PathType Leaf)) { continue }   # deleted, not yet committed
                $dst = Join-Path $copy $f
                New-Item -ItemType Directory -Force (Split-Path -Parent $dst) | Out-Null
                Copy-Item -LiteralPath $src -Destination $dst
            }
            Test-Path (Join-Path $copy 'bin') | Should -BeFalse -Because 'the command must build the module itself'

            # Run it from a shell, as the README says, without this session's environment leaking in.
            $log = Join-Path $copy 'quickstart.log'
            $psi = [Diagnostics.ProcessStartInfo]::new('/bin/sh')
            $psi.ArgumentList.Add('-c')
            $psi.ArgumentList.Add("$command > '$log' 2>&1")
            $psi.WorkingDirectory = $copy
            $psi.UseShellExecute = $false
            foreach ($v in 'RUNPROC_CONFIG', 'PSModulePath') { $null = $psi.Environment.Remove($v) }
            $p = [Diagnostics.Process]::Start($psi)
            if (-not $p.WaitForExit(15 * 60 * 1000)) { $p.Kill($true); throw "'$command' did not finish within 15 minutes (the demo's own timeout should have ended it)" }
            $output = Get-Content -Raw $log
            Write-Host ($output -split "`n" | Select-Object -Last 40 | Out-String)

            $p.ExitCode | Should -Be 0 -Because "'$command' must succeed on a fresh copy; its output ends:`n$(($output -split "`n" | Select-Object -Last 15) -join "`n")"
            $output | Should -Match 'DEMO PASSED'

            # Check the outcome independently of what the demo printed.
            $demo = Join-Path $copy 'demo'
            $facility = Get-Content -Raw (Join-Path $demo 'demo-facility.json') | ConvertFrom-Json
            $expected = @($facility.Runs | Where-Object { $_.UnderControl -and -not $_.InProgress })
            $expected.Count | Should -BeGreaterOrEqual 5
            foreach ($r in $facility.Runs) {
                $records = Join-Path $demo "db/pixel_status/$($r.Instrument)/$($r.Experiment)-proc-runs.txt"
                $recorded = (Test-Path $records) -and (@(Get-Content $records) -match ('^0*{0} ' -f $r.Run)).Count -gt 0
                $status = @(Get-ChildItem (Join-Path $demo "data/$($r.Instrument)/$($r.Experiment)/calib") -Recurse -File -Filter "$($r.Run)-end.data" -ErrorAction Ignore)
                if ($r.UnderControl -and -not $r.InProgress) {
                    $recorded | Should -BeTrue -Because "$($r.Experiment) run $($r.Run) is ready and under control"
                    $status.Count | Should -Be $facility.Detectors.Count -Because "a status file per detector is deployed for $($r.Experiment) run $($r.Run)"
                }
                else {
                    $recorded | Should -BeFalse -Because "$($r.Experiment) run $($r.Run) is in progress or not under control"
                    $status.Count | Should -Be 0
                }
            }
        }
        finally {
            Remove-Item -Recurse -Force $copy -ErrorAction Ignore
        }
    }
}
