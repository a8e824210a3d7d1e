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
