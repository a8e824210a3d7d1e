# Submit-ProcJob -Confirm and -WhatIf: the plan a user confirms is the job that runs (same job name,
# log and argv), and MaxJobs is counted once: a plan declined at the prompt takes no slot. The
# prompts are answered through the standard input of a separate pwsh, as a user would type them.

BeforeAll {
    $script:Root = Split-Path -Parent $PSScriptRoot
    $script:Manifest = Join-Path $Root 'RunProc.psd1'
    Import-Module $Manifest -Force
    $exe = [Environment]::ProcessPath
    $script:Pwsh = if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @($exe, [Environment]::GetCommandLineArgs()[0]) } else { @($exe) }

    $script:Base = Join-Path ([IO.Path]::GetTempPath()) ("runproc-confirm-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    $dir = New-Item -ItemType Directory -Force (Join-Path $Base 'data/XPP/xpptut15/xtc')
    foreach ($r in 1..3) { (New-Item -ItemType File -Force (Join-Path $dir ("xpptut15-r{0:D4}-s00-c00.xtc" -f $r))).LastWriteTime = (Get-Date).AddHours(-1) }
    $script:Config = Join-Path $Base 'runproc.psd1'
    # The job name and log are arguments of the command, so the argv shown names them.
    Set-Content -Path $Config -Value @"
@{
    DataRoot = './data'; DbRoot = './db'; SettleSeconds = 0
    Processes = @{ ask = @{ Command = @('/bin/sh', '-c', 'exit 0', '{jobname}', '{logfile}'); MaxJobs = 1; PollSeconds = 1 } }
}
"@
}

AfterAll {
    Get-ProcJob -Active -Process ask -ConfigPath $Config -ErrorAction SilentlyContinue | Stop-ProcJob -Confirm:$false -ConfigPath $Config -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'Invoke-ProcCycle -WhatIf' {
    It 'names each run the cycle would submit (attempt, argv) within MaxJobs and the runs it would leave, and submits nothing' {
        # MaxJobs 1 in the config: run 1 is shown, runs 2 and 3 would wait. Before any test here has submitted.
        $script = Join-Path $Base 'cycle-whatif.ps1'
        Set-Content -Path $script -Value "Import-Module '$Manifest'; Invoke-ProcCycle -Process ask -All -WhatIf -ConfigPath '$Config'"
        $out = & $Pwsh[0] @($Pwsh | Select-Object -Skip 1) -NoProfile -File $script 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        $text = ($out -join "`n") -replace '\r?\n', ''
        $text | Should -Match 'What if: Performing the operation "Reconcile 0 active job\(s\) of ask'
        $text | Should -Match 'What if: Performing the operation "Submit ask attempt 1 to Local: .* -- /bin/sh -c .exit 0. rp\.ask\.xpptut15\.r0001\.a1\.\w+ \S+log-xpptut15-r0001-\S+\.txt" on target "xpptut15 run 1"'
        $text | Should -Not -Match 'on target "xpptut15 run 2"'
        $text | Should -Match 'Leave 2 ready run\(s\) pending for a later cycle \(MaxJobs 1, 0 active\)'
        @(Get-ProcJob -Process ask -ConfigPath $Config) | Should -BeNullOrEmpty
    }
}

Describe 'Submit-ProcJob -Confirm' {
    BeforeAll {
        function script:Invoke-Confirm {
            # Pipes runs into Submit-ProcJob -Confirm in a new pwsh and types $Answers at its prompts;
            # returns the submitted jobs and each prompt's text (the host wraps it at spaces: joined again).
            param([int[]] $Runs, [string[]] $Answers, [string] $Extra = '')
            $result = Join-Path $Base ("jobs-" + [guid]::NewGuid().ToString('N') + '.json')
            $script = Join-Path $Base 'confirm.ps1'
            Set-Content -Path $script -Value @"
Import-Module '$Manifest'
`$jobs = $($Runs -join ',') | ForEach-Object { [pscustomobject]@{ Experiment = 'xpptut15'; Run = `$_ } } | Submit-ProcJob -Process ask -Confirm -ConfigPath '$Config' $Extra
Set-Content '$result' -Value (ConvertTo-Json -AsArray -InputObject @(`$jobs | ForEach-Object { @{ Run = `$_.Run; Name = `$_.Name; LogFile = `$_.LogFile } }))
"@
            $psi = [Diagnostics.ProcessStartInfo]::new($Pwsh[0])
            foreach ($a in @($Pwsh | Select-Object -Skip 1) + @('-NoProfile', '-File', $script)) { $psi.ArgumentList.Add($a) }
            $psi.RedirectStandardInput = $true
            $psi.RedirectStandardOutput = $true
            $psi.RedirectStandardError = $true
            $p = [Diagnostics.Process]::Start($psi)
            $p.StandardInput.Write(($Answers -join "`n") + "`n")
            $p.StandardInput.Close()
            $stdout = $p.StandardOutput.ReadToEndAsync()
            $stderr = $p.StandardError.ReadToEnd()
            $p.WaitForExit()
            $p.ExitCode | Should -Be 0 -Because $stderr
            $text = $stdout.Result -replace '\r?\n', ''
            [pscustomobject]@{
                Jobs    = @(Get-Content -Raw $result | ConvertFrom-Json | ForEach-Object { $_ })
                Prompts = @([regex]::Matches($text, 'Performing the operation "Submit ask .*?" on target "xpptut15 run \d+"') | ForEach-Object Value)
                Stdout  = $stdout.Result
            }
        }
    }

    It 'a run answered No takes no MaxJobs slot' {
        # MaxJobs 1. Before the fix, run 1's declined plan counted against it and run 2 stayed pending.
        $r = Invoke-Confirm -Runs 1, 2 -Answers 'N', 'Y'
        $r.Prompts.Count | Should -Be 2 -Because $r.Stdout
        $r.Jobs.Count | Should -Be 1
        $r.Jobs[0].Run | Should -Be 2
        (Get-ProcJob -Process ask -ConfigPath $Config | Where-Object Run -EQ 1) | Should -BeNullOrEmpty
    }

    It 'submits the job whose argv was confirmed: its job name and log' {
        # Before the fix, the plan and the submission each drew a random job name.
        $r = Invoke-Confirm -Runs 3 -Answers 'Y' -Extra '-MaxJobs 5'
        $r.Jobs.Count | Should -Be 1
        $r.Prompts.Count | Should -Be 1 -Because $r.Stdout
        $r.Prompts[0] | Should -Match ([regex]::Escape($r.Jobs[0].Name))
        $r.Prompts[0] | Should -Match ([regex]::Escape($r.Jobs[0].LogFile))
    }

    It '-WhatIf counts the runs it shows against MaxJobs, as a real pipeline would' {
        # Runs 2 and 3 are active (the tests above): -MaxJobs 3 leaves one slot. Run 1 is shown and takes
        # it; run 4 (new on disk) would not fit.
        (New-Item -ItemType File -Force (Join-Path $Base 'data/XPP/xpptut15/xtc/xpptut15-r0004-s00-c00.xtc')).LastWriteTime = (Get-Date).AddHours(-1)
        1, 4 | ForEach-Object { [pscustomobject]@{ Experiment = 'xpptut15'; Run = $_ } } |
            Submit-ProcJob -Process ask -MaxJobs 3 -WhatIf -ConfigPath $Config -WarningVariable w -WarningAction SilentlyContinue
        ($w | Where-Object { "$_" -match '1 run\(s\) of ask stay pending' }) | Should -Not -BeNullOrEmpty
        @(Get-ProcJob -Process ask -ConfigPath $Config).Count | Should -Be 2 # -WhatIf submitted nothing
    }
}
