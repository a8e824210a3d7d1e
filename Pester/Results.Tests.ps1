# Results people can see, end to end on the demo facility with one run file made unreadable: run
# results and failures in Get-ProcRun / Get-ProcExperiment, job logs through Get-Content, the
# last error line, and the HTML report rendered in headless Chromium.
BeforeAll {
    $script:Root = Split-Path -Parent $PSScriptRoot
    Import-Module (Join-Path $Root 'RunProc.psd1') -Force
    $script:Demo = New-ProcDemoFacility -Path (Join-Path $TestDrive 'facility') -FramesPerFile 10
    $script:Config = $Demo.ConfigPath
    # Run 2 of xpptut15 is damaged: every attempt fails reading it.
    $broken = Get-ChildItem $Demo.DataRoot -Recurse -File -Filter 'xpptut15-r0002-s00-c00.h5'
    $t = $broken.LastWriteTime
    [IO.File]::WriteAllText($broken.FullName, 'this is not an HDF5 file')
    $broken.LastWriteTime = $t
    # Cycles until nothing is active and nothing is left to retry (the deadline is a hang guard).
    $deadline = (Get-Date).AddSeconds(240)
    while ($true) {
        $c = Invoke-ProcCycle -ConfigPath $Config -WarningAction SilentlyContinue
        if ($c.Active -eq 0 -and $c.Submitted -eq 0) { break }
        if ((Get-Date) -gt $deadline) { throw 'the demo jobs did not finish in 240 s' }
        Start-Sleep -Milliseconds 500
    }
}

AfterAll {
    Get-ProcJob -Active -ConfigPath $Config -ErrorAction SilentlyContinue | Stop-ProcJob -Confirm:$false -ConfigPath $Config -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
}

Describe 'Run results in the cmdlets' {
    It 'Get-ProcRun shows the failed run as failed, with attempts and its last error line' {
        $r = Get-ProcRun -Experiment xpptut15 -Run 2 -ConfigPath $Config
        $r.State | Should -Be 'Processed'          # the old record marks it taken at submission
        $r.JobState | Should -Be 'Failed'
        $r.Attempts | Should -Be 2
        $r.Failed | Should -BeTrue
        $r.LastError | Should -Match 'xpptut15-r0002-s00-c00\.h5'
        $r.Detectors | Should -BeNullOrEmpty
    }

    It 'Get-ProcRun gives per-detector results of a done run, per-bit counts as named properties' {
        $r = Get-ProcRun -Experiment xpptut15 -Run 1 -ConfigPath $Config
        $r.JobState | Should -Be 'Done'
        $r.Attempts | Should -Be 1
        $r.Failed | Should -BeFalse
        $r.LastError | Should -BeNullOrEmpty
        @($r.Detectors).Count | Should -Be 2
        foreach ($d in $r.Detectors) {
            $d.Events | Should -Be 10
            $d.BadPixels | Should -Be 16
            ($d.RmsHighPixels + $d.SaturatedFractionPixels + $d.ColdFractionPixels + $d.RmsLowPixels + $d.MeanHighPixels + $d.MeanLowPixels + $d.MaxHighPixels + $d.MinLowPixels) | Should -BeGreaterThan 16
            $d.Method | Should -Be 'Absolute'
            $d.Files | Should -Not -BeNullOrEmpty
            foreach ($f in $d.Files) { [IO.File]::Exists($f) | Should -BeTrue -Because $f }
        }
        $r.BadPixels | Should -Be 32
        ($r | ConvertTo-Json -Depth 4).Length | Should -BeLessThan 20000
    }

    It 'Get-ProcRun leaves JobState empty for a run the old tool recorded' {
        $db = Join-Path $Demo.DbRoot 'pixel_status/XPP/xpptut15-proc-runs.txt'
        Add-Content $db '0042 2017-10-05T15:19:21 dubrovin psanaphi106 cwd:/reg/neh/home/dubrovin cmd:proc_new_datasets'
        $r = Get-ProcRun -Experiment xpptut15 -Run 42 -ConfigPath $Config
        $r.JobState | Should -Be ''
        $r.Attempts | Should -Be 0
        $r.Failed | Should -BeFalse
    }

    It 'Get-ProcExperiment counts the failed run, and -Summary sums it' {
        (Get-ProcExperiment -Experiment xpptut15 -ConfigPath $Config).Failed | Should -Be 1
        (Get-ProcExperiment -Experiment mfx101332224 -ConfigPath $Config).Failed | Should -Be 0
        $total = Get-ProcExperiment -Summary -ConfigPath $Config | Where-Object IsTotal
        $total.Failed | Should -Be 1
    }

    It 'an Invoke-PixelStatus result is small as JSON, keeps its per-bit counts in CSV and names its method' {
        $run = Get-ChildItem $Demo.DataRoot -Recurse -File -Filter 'xpptut15-r0001-s00-c00.h5'
        $r = @(Invoke-PixelStatus -Path $run.FullName -Detector jungfrau -ConfigPath $Config)[0]
        $json = $r | ConvertTo-Json
        $json.Length | Should -BeLessThan 5000
        ($json | ConvertFrom-Json).Method | Should -Be 'Absolute'
        $r.GetSummary().Status.Count | Should -Be $r.Pixels
        $csv = $r | ConvertTo-Csv | ConvertFrom-Csv
        [long]$csv.RmsLowPixels | Should -Be $r.CountPerBit[3]
        [long]$csv.MinLowPixels | Should -Be $r.CountPerBit[7]
    }
}

Describe 'Job logs' {
    It 'a job pipes into Get-Content, and a failed job carries its last error line as Reason too' {
        $j = Get-ProcJob -Experiment xpptut15 -Run 2 -Latest -ConfigPath $Config
        $j.State | Should -Be 'Failed'
        $j.LastError | Should -Match 'xpptut15-r0002'
        $j.Reason | Should -Not -BeNullOrEmpty
        $tail = $j | Get-Content -Tail 50
        $tail | Should -Contain $j.LastError
    }

    It 'the default table shows the end of the job name and the log file name last' {
        $j = Get-ProcJob -Experiment xpptut15 -Run 1 -Latest -ConfigPath $Config
        $text = $j | Format-Table | Out-String -Width 250
        $token = ($j.Name.Split('.') | Select-Object -Last 2) -join '.'
        $text | Should -Match ([regex]::Escape($token))
        ($text.Trim() -split "`n")[-1].TrimEnd() | Should -Match ([regex]::Escape([IO.Path]::GetFileName($j.LogFile)) + '$')
    }

    It 'job logs are laid out wide: no line of the failed job''s error is wrapped at 80 columns' {
        $j = Get-ProcJob -Experiment xpptut15 -Run 2 -Latest -ConfigPath $Config
        $j.LastError.Length | Should -BeGreaterThan 80
    }
}

Describe 'Export-ProcReport, rendered in headless Chromium' {
    BeforeAll {
        $script:Report = Join-Path $TestDrive 'report'
        $script:First = Export-ProcReport -Path $Report -ConfigPath $Config
        $script:Chromium = (Get-Command chromium -CommandType Application -ErrorAction Stop | Select-Object -First 1).Source
        function script:Invoke-Chromium {
            # A fresh profile per call; the flags keep a headless run from reaching for the network or a display.
            param([string[]] $Arguments, [scriptblock] $Done)
            # A headless load on a loaded machine may still fail now and then: up to 3 tries.
            foreach ($try in 1..3) {
                $userData = Join-Path $TestDrive ("chromium-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
                $flags = @('--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                    '--disable-sync', '--no-first-run', "--user-data-dir=$userData")
                # stderr is read, not closed (2>$null): Chromium aborts the page when its log pipe is gone.
                $out = & $Chromium @flags @Arguments 2>&1 | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] }
                if (& $Done $out) { return $out }
            }
            $out
        }
        function script:FileUrl([string] $Path) { [Uri]::new([IO.Path]::GetFullPath($Path)).AbsoluteUri }
        function script:Get-Dom([string] $Page) {
            # The DOM after report.js ran: rows of every table.
            $html = (Invoke-Chromium @('--dump-dom', (FileUrl (Join-Path $Report $Page))) { param($o) ($o -join "`n") -match '</html>' }) -join "`n"
            $html | Should -Match '</html>'
            $html
        }
        function script:Get-Rows([string] $Html) {
            [regex]::Matches($Html, '<tr class="(?<kind>[a-z]+)" data-state="[a-z]+">(?<cells>.*?)</tr>', 'Singleline') | ForEach-Object {
                $cells = [regex]::Matches($_.Groups['cells'].Value, '<td[^>]*>(.*?)</td>', 'Singleline') | ForEach-Object { ($_.Groups[1].Value -replace '<[^>]+>', ' ' -replace '\s+', ' ').Trim() }
                [pscustomobject]@{ Kind = $_.Groups['kind'].Value; Cells = @($cells) }
            }
        }
    }

    It 'writes an index and one page per experiment' {
        $First.Experiments | Should -Be 3
        $First.Failed | Should -Be 1
        foreach ($p in 'index.html', 'xpptut15.html', 'mfx101332224.html', 'report.js', 'report.css') { Join-Path $Report $p | Should -Exist }
    }

    It 'the index shows each experiment with done, failed, pending and not ready counts' {
        $rows = Get-Rows (Get-Dom 'index.html')
        $x = $rows | Where-Object { $_.Cells[0] -eq 'xpptut15' }
        $x.Kind | Should -Be 'failed'
        $x.Cells[2..6] | Should -Be @('5', '2', '1', '0', '1')   # runs (with run 42 of the old tool), done, failed, pending, not ready
        ($rows | Where-Object { $_.Cells[0] -eq 'mfx101332224' }).Cells[4] | Should -Be '0'
    }

    It 'the experiment page gives each run its state in words, the failure its last error line' {
        $rows = Get-Rows (Get-Dom 'xpptut15.html')
        $rows.Count | Should -Be 5
        $byRun = @{}; foreach ($r in $rows) { $byRun[$r.Cells[0]] = $r }
        $byRun['1'].Kind | Should -Be 'done'
        $byRun['1'].Cells[1] | Should -Be 'done'
        $byRun['1'].Cells[3] | Should -Be '10'
        $byRun['1'].Cells[4] | Should -Match 'epix10ka 16 jungfrau 16'
        $byRun['2'].Kind | Should -Be 'failed'
        $byRun['2'].Cells[1] | Should -Match '^failed .*xpptut15-r0002-s00-c00\.h5'
        $byRun['2'].Cells[2] | Should -Be '2'
        $byRun['4'].Kind | Should -Be 'notready'
        $byRun['4'].Cells[1] | Should -Match '^not ready .*inprogress'
        $byRun['42'].Kind | Should -Be 'old'
        $byRun['42'].Cells[1] | Should -Be 'processed (old tool)'
    }

    It 'has no broken local link or image' {
        $checked = 0
        foreach ($page in Get-ChildItem $Report -Filter '*.html') {
            $html = Get-Content -Raw $page.FullName
            foreach ($m in [regex]::Matches($html, '(?:href|src)="([^"#]+)"')) {
                $url = [Uri]::UnescapeDataString($m.Groups[1].Value)
                $url | Should -Not -Match '^(https?:)?//'      # nothing from the network
                $target = [IO.Path]::GetFullPath((Join-Path $page.DirectoryName $url))
                [IO.File]::Exists($target) | Should -BeTrue -Because "$($page.Name) links $url"
                $checked++
            }
        }
        $checked | Should -BeGreaterThan 50
    }

    It 'renders; the screenshot is kept under out/' {
        $out = Join-Path $Root 'out'
        New-Item -ItemType Directory -Force $out | Out-Null
        $shot = Join-Path $out 'report-xpptut15.png'
        Remove-Item $shot -ErrorAction Ignore
        Invoke-Chromium @('--window-size=1400,1000', "--screenshot=$shot", (FileUrl (Join-Path $Report 'xpptut15.html'))) { Test-Path $shot } | Out-Null
        $shot | Should -Exist
        (Get-Item $shot).Length | Should -BeGreaterThan 20000
    }

    It 'rewrites nothing when nothing changed, and only the changed experiment when one did' {
        $again = Export-ProcReport -Path $Report -ConfigPath $Config
        $again.PagesWritten | Should -Be 0
        $again.FilesCopied | Should -Be 0
        $before = (Get-Item (Join-Path $Report 'mfx101332224.html')).LastWriteTimeUtc
        Add-Content (Join-Path $Demo.DbRoot 'pixel_status/XPP/xpptut15-proc-runs.txt') '0043 2017-10-05T15:19:21 dubrovin psanaphi106 cwd:/tmp cmd:proc_new_datasets'
        $third = Export-ProcReport -Path $Report -ConfigPath $Config
        $third.PagesWritten | Should -Be 2      # xpptut15.html and index.html
        (Get-Item (Join-Path $Report 'mfx101332224.html')).LastWriteTimeUtc | Should -Be $before
    }

    It 'Invoke-ProcCycle -ReportPath refreshes the report after the cycle' {
        $other = Join-Path $TestDrive 'cycle-report'
        $null = Invoke-ProcCycle -ReportPath $other -ConfigPath $Config -WarningAction SilentlyContinue
        Join-Path $other 'index.html' | Should -Exist
    }
}

Describe 'cycle.log' {
    It 'timestamps each line of a cycle run through the entry script (local time with UTC offset)' {
        $exe = [Environment]::ProcessPath
        $pwsh = if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @($exe, [Environment]::GetCommandLineArgs()[0]) } else { @($exe) }
        $entry = Join-Path $Root 'bin/scripts/Invoke-RunProcEntry.ps1'
        $rest = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $entry, (Join-Path $Root 'RunProc.psd1'), 'Invoke-ProcCycle', '-ConfigPath', $Config)
        $lines = @(& $pwsh[0] @rest 2>&1 | ForEach-Object { "$_" } | Where-Object { $_.Trim() })
        $lines.Count | Should -BeGreaterThan 2
        foreach ($l in $lines) { $l | Should -Match '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ' }
    }
}

Describe 'Reprocessing with provenance' {
    It 'Submit-ProcJob -Parameter refuses a name the process does not take, or a value of the wrong type' {
        { Submit-ProcJob -Experiment xpptut15 -Run 1 -Force -Parameter @{ Methd = 'Robust' } -ConfigPath $Config -WhatIf } | Should -Throw '*not a parameter*Method*'
        { Submit-ProcJob -Experiment xpptut15 -Run 1 -Force -Parameter @{ SnrMax = 'six' } -ConfigPath $Config -WhatIf } | Should -Throw '*SnrMax*'
        { Submit-ProcJob -Experiment xpptut15 -Run 1 -Force -Parameter @{ OutputDirectory = '/tmp' } -ConfigPath $Config -WhatIf } | Should -Throw '*not a parameter*'
    }

    It 'records the parameters with the job; the redeployed file carries them and the replaced one is kept' {
        $job = Submit-ProcJob -Experiment xpptut15 -Run 1 -Force -Parameter @{ Method = 'Robust'; SnrMax = 6 } -ConfigPath $Config
        $job.Parameters['Method'] | Should -Be 'Robust'
        $job.Parameters['SnrMax'] | Should -Be '6'
        ($job.Command -join ' ') | Should -Match '-Method Robust -SnrMax 6$'
        $deadline = (Get-Date).AddSeconds(180)
        do { Start-Sleep -Milliseconds 500; $now = $job | Watch-ProcJob -Once -ConfigPath $Config -WarningAction SilentlyContinue }
        until ($now.State -notin 'Submitting', 'Pending', 'Running' -or (Get-Date) -gt $deadline)
        $now.State | Should -Be 'Done' -Because ((Get-Content -LiteralPath $now.LogFile -Tail 15) -join "`n")
        (Get-ProcJob -Experiment xpptut15 -Run 1 -Latest -ConfigPath $Config).Parameters['SnrMax'] | Should -Be '6'

        # '::' in the calib group reads as a provider name to PowerShell's path cmdlets: plain .NET here.
        $dir = [IO.Path]::Combine($Demo.DataRoot, 'XPP/xpptut15/calib/Epix10ka::CalibV1/entry.data.epix10ka/pixel_datastat')
        $deployed = @([IO.File]::ReadAllLines([IO.Path]::Combine($dir, '1-end.data')) | Select-Object -First 12)
        $deployed | Should -Contain '# METHOD Robust SnrMax 6'
        ($deployed | Where-Object { $_ -like '# RUNPROC *' }) | Should -Match ([regex]::Escape("job $($job.Name)"))
        $history = @([IO.File]::ReadAllLines([IO.Path]::Combine($dir, 'HISTORY')))[-1]
        $history | Should -Match 'method: Robust SnrMax 6'
        $history | Should -Match 'limits: mean '
        $history | Should -Match 'events: 10'
        $history | Should -Match 'by: RunProc \S+ Invoke-PixelStatus'
        $history | Should -Match ([regex]::Escape("job: $($job.Name)"))
        $history | Should -Match 'replaced: 16 bad, kept as 1-end\.data\.replaced-'
        @([IO.Directory]::GetFiles($dir, '1-end.data.replaced-*')).Count | Should -Be 1
        Get-Content -Raw (Get-ProcJob -Experiment xpptut15 -Run 1 -Latest -ConfigPath $Config).LogFile | Should -Match 'had 16 bad pixels, the new one has \d+'
    }
}

Describe 'OnFailure' {
    BeforeAll {
        # Three processes on the demo's roots: one that fails (exit 3) with one attempt, one that
        # exits 65 (input it cannot process) with three, and one that exits 65 with NoRetryExitCodes off.
        $script:Notes = New-Item -ItemType Directory -Force (Join-Path $TestDrive 'notes')
        $script:FailConfig = Join-Path $TestDrive 'onfailure.psd1'
        Set-Content $FailConfig @"
@{
    DataRoot = '$($Demo.DataRoot)'; DbRoot = '$($Demo.DbRoot)'; SettleSeconds = 1
    Processes = @{
        fail_once = @{
            Command = @('/bin/sh', '-c', 'echo "error: calibration constants not found for `$0" >&2; exit 3', '{exp}')
            Attempts = 1; PollSeconds = 1
            OnFailure = @('/usr/bin/touch', '$Notes/{exp}-r{run}-{state}')
        }
        data_error = @{
            Command = @('/bin/sh', '-c', 'exit 65'); Attempts = 3; PollSeconds = 1
            OnFailure = @('/usr/bin/touch', '$Notes/65-{exp}-r{run}-{state}')
        }
        data_error_retried = @{
            Command = @('/bin/sh', '-c', 'exit 65'); Attempts = 3; PollSeconds = 1; NoRetryExitCodes = @()
            OnFailure = @('/usr/bin/touch', '$Notes/retried-{exp}-r{run}-{state}')
        }
    }
}
"@
    }

    It 'runs the argv template (no shell) when a run fails with no attempts left, and the job keeps the error line' {
        $job = Submit-ProcJob -Process fail_once -Experiment xpptut15 -Run 3 -ConfigPath $FailConfig
        $end = $job | Watch-ProcJob -PollSeconds 1 -ConfigPath $FailConfig -WarningAction SilentlyContinue
        $end.State | Should -Be 'Failed'
        $end.LastError | Should -Be 'error: calibration constants not found for xpptut15'
        $end.Reason | Should -Be $end.LastError
        Join-Path $Notes 'xpptut15-r3-Failed' | Should -Exist
    }

    It 'runs at the first failure when the job exits with a NoRetryExitCodes code (65 by default), and not before the last attempt otherwise' {
        $end = Submit-ProcJob -Process data_error -Experiment xpptut15 -Run 3 -ConfigPath $FailConfig | Watch-ProcJob -PollSeconds 1 -ConfigPath $FailConfig -WarningAction SilentlyContinue
        $end.State | Should -Be 'Failed'
        $end.ExitCode | Should -Be 65
        Join-Path $Notes '65-xpptut15-r3-Failed' | Should -Exist
        Submit-ProcJob -Process data_error -Experiment xpptut15 -Run 3 -ConfigPath $FailConfig -WarningVariable refused -WarningAction SilentlyContinue | Should -BeNullOrEmpty
        "$refused" | Should -Match 'exit code 65, which the process''s NoRetryExitCodes mark as not worth retrying'

        $end = Submit-ProcJob -Process data_error_retried -Experiment xpptut15 -Run 3 -ConfigPath $FailConfig | Watch-ProcJob -PollSeconds 1 -ConfigPath $FailConfig -WarningAction SilentlyContinue
        $end.ExitCode | Should -Be 65
        Join-Path $Notes 'retried-xpptut15-r3-Failed' | Should -Not -Exist
    }

    It 'refuses an unknown placeholder in the config, naming the key' {
        $cfg = Join-Path $TestDrive 'bad-onfailure.psd1'
        Set-Content $cfg "@{ Processes = @{ p = @{ Command = @('/bin/true'); OnFailure = @('/usr/bin/mail', '{who}') } } }"
        { Get-ProcConfig -ConfigPath $cfg } | Should -Throw '*Processes.p.OnFailure*{who}*'
    }
}
