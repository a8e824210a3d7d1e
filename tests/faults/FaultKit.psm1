# Shared helpers of the long fault runs (tests/faults/*.Faults.ps1) and their short CI versions
# (Pester/Faults.Tests.ps1): the figures file, a pwsh argv, facility generation.

Set-StrictMode -Version Latest

function Get-FaultFigureFile {
    <# The figures file of this Faults run: every *.Faults.ps1 is called in the same build.ps1 process, so its PID keys the file. #>
    param([Parameter(Mandatory)] [string] $Root, [int] $RunId = $PID)
    $dir = Join-Path $Root 'out/faults'
    New-Item -ItemType Directory -Force $dir | Out-Null
    Join-Path $dir "figures-$RunId.jsonl"
}

function Add-FaultFigure {
    <# Records one figure (e.g. 'concurrency: duplicate submissions', 0) for the closing table. #>
    param(
        [Parameter(Mandatory)] [string] $Root,
        [Parameter(Mandatory)] [string] $Figure,
        [Parameter(Mandatory)] $Value,
        [string] $Note = '',
        [int] $RunId = $PID
    )
    $line = [ordered]@{ Figure = $Figure; Value = $Value; Note = $Note } | ConvertTo-Json -Compress
    Add-Content -Path (Get-FaultFigureFile -Root $Root -RunId $RunId) -Value $line
    Write-Host ("  {0,-55} {1,12}  {2}" -f $Figure, $Value, $Note)
}

function Get-PwshArgv {
    <# The argv that starts this same pwsh (a dotnet local tool runs as 'dotnet <path>/pwsh.dll'). #>
    $exe = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') {
        return @($exe, [Environment]::GetCommandLineArgs()[0])
    }
    @($exe)
}


# ------------------------------------------------------------------ batch: facility, concurrency, crash

function New-FaultFacility {
    <#
    A facility for the batch fault runs: <Path>/data, <Path>/db and a config whose process 'fz' runs
    a trivial command on the local scheduler that appends "<exp> <run>" to exec.log, so every
    execution of every run is counted. Runs are added with Add-FaultRun.
    #>
    param(
        [Parameter(Mandatory)] [string] $Path,
        [int] $MaxJobs = 1000,
        [int] $Attempts = 3,
        [string] $Scheduler = 'Local'
    )
    New-Item -ItemType Directory -Force "$Path/data", "$Path/db" | Out-Null
    $exec = Join-Path $Path 'exec.log'
    $cfg = Join-Path $Path 'runproc.psd1'
    Set-Content -Path $cfg -Value @"
@{
    DataRoot = '$Path/data'
    DbRoot = '$Path/db'
    SettleSeconds = 0
    Processes = @{
        fz = @{ Command = @('/bin/sh', '-c', 'echo "`$0 `$1" >> $exec', '{exp}', '{run}'); Scheduler = '$Scheduler'; MaxJobs = $MaxJobs; Attempts = $Attempts; PollSeconds = 1; TimeLimitMinutes = 30 }
    }
}
"@
    [pscustomobject]@{ Path = $Path; Data = "$Path/data"; Db = "$Path/db"; Config = $cfg; ExecLog = $exec; Process = 'fz'; Runs = [Collections.Generic.List[string]]::new() }
}

function Add-FaultRun {
    <# Adds settled runs (one .xtc file each) to an experiment of the facility. #>
    param([Parameter(Mandatory)] $Facility, [Parameter(Mandatory)] [string] $Experiment, [Parameter(Mandatory)] [int[]] $Run)
    $ins = $Experiment.Substring(0, 3).ToUpperInvariant()
    $dir = Join-Path $Facility.Data "$ins/$Experiment/xtc"
    New-Item -ItemType Directory -Force $dir | Out-Null
    $old = [datetime]::UtcNow.AddHours(-2)
    foreach ($r in $Run) {
        $f = Join-Path $dir ('{0}-r{1:D4}-s00-c00.xtc' -f $Experiment, $r)
        [IO.File]::WriteAllText($f, 'x')
        [IO.File]::SetLastWriteTimeUtc($f, $old)
        $Facility.Runs.Add("$Experiment $r")
    }
}

function Start-FaultPwsh {
    <#
    Starts a pwsh that imports the module and runs $Body (output to <LogPrefix>.out). With
    -Barrier it first writes <Barrier>.ready-<Index> and waits for <Barrier>.go, so several can start
    at the same instant. With -Marker it writes the marker file right before $Body (the moment a
    crash trial counts its random delay from).
    #>
    param(
        [Parameter(Mandatory)] [string] $Manifest,
        [Parameter(Mandatory)] [string] $Body,
        [Parameter(Mandatory)] [string] $LogPrefix,
        [string] $Barrier, [int] $Index = 0, [string] $Marker
    )
    $pre = "`$ErrorActionPreference = 'Continue'; Import-Module '$Manifest';"
    if ($Barrier) {
        $pre += " [IO.File]::WriteAllText('$Barrier.ready-$Index', ''); while (-not [IO.File]::Exists('$Barrier.go')) { [Threading.Thread]::Sleep(2) };"
    }
    if ($Marker) { $pre += " [IO.File]::WriteAllText('$Marker', ''); " }
    $script = "$pre & { $Body } *> '$LogPrefix.out'"
    $argv = Get-PwshArgv
    $psi = [Diagnostics.ProcessStartInfo]::new($argv[0])
    foreach ($a in @($argv | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $script)) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    [Diagnostics.Process]::Start($psi)
}

function Invoke-ConcurrentController {
    <#
    Starts $Count controllers at the same instant over one DB (a file barrier after module import)
    and waits for all. Mode Cycle: Invoke-ProcCycle -All. Mode Submit: Get-PendingRun -All |
    Submit-ProcJob (no cycle lock: the DB lock and the intent protocol alone must prevent duplicates).
    #>
    param([Parameter(Mandatory)] $Facility, [Parameter(Mandatory)] [string] $Manifest, [int] $Count = 8,
        [ValidateSet('Cycle', 'Submit')] [string] $Mode = 'Cycle', [int] $Trial = 0)
    $barrier = Join-Path $Facility.Path "barrier-$Trial-$Mode"
    $body = if ($Mode -eq 'Cycle') {
        "Invoke-ProcCycle -Process $($Facility.Process) -All -ConfigPath '$($Facility.Config)' -WarningAction Continue | Select-Object Ran, Submitted, Deferred, Errors | ConvertTo-Json -Compress"
    } else {
        "Get-PendingRun -Process $($Facility.Process) -All -ConfigPath '$($Facility.Config)' | Submit-ProcJob -ConfigPath '$($Facility.Config)' -MaxJobs 100000 | Measure-Object | ForEach-Object { '{""Submitted"":' + `$_.Count + '}' }"
    }
    $procs = foreach ($i in 1..$Count) {
        Start-FaultPwsh -Manifest $Manifest -Body $body -LogPrefix "$barrier-$i" -Barrier $barrier -Index $i
    }
    $deadline = [datetime]::UtcNow.AddMinutes(5)
    while (@(Get-ChildItem -Path "$barrier.ready-*" -ErrorAction Ignore).Count -lt $Count) {
        if ([datetime]::UtcNow -gt $deadline -or @($procs | Where-Object HasExited).Count -gt 0) { break }
        Start-Sleep -Milliseconds 20
    }
    [IO.File]::WriteAllText("$barrier.go", '')
    foreach ($p in $procs) { $p.WaitForExit() }
    foreach ($i in 1..$Count) {
        $out = Get-Content -Raw "$barrier-$i.out" -ErrorAction Ignore
        [pscustomobject]@{ Index = $i; ExitCode = $procs[$i - 1].ExitCode; Output = $out }
    }
}

function Wait-FaultQuiet {
    <#
    Runs cycles in this process until every run of the facility has a final job and nothing is active
    or pending (a cap of $Minutes only so a bug fails instead of hanging). Returns the cycles run.
    #>
    param([Parameter(Mandatory)] $Facility, [int] $Minutes = 20)
    $deadline = [datetime]::UtcNow.AddMinutes($Minutes)
    $cycles = 0
    while ($true) {
        $s = Invoke-ProcCycle -Process $Facility.Process -All -ConfigPath $Facility.Config -WarningAction SilentlyContinue
        $cycles++
        $active = @(Get-ProcJob -Process $Facility.Process -Active -ConfigPath $Facility.Config -WarningAction SilentlyContinue).Count
        $pending = @(Get-PendingRun -Process $Facility.Process -All -ConfigPath $Facility.Config -WarningAction SilentlyContinue).Count
        if ($s.Ran -and $active -eq 0 -and $pending -eq 0 -and $s.Submitted -eq 0) { return $cycles }
        if ([datetime]::UtcNow -gt $deadline) { throw "jobs still active ($active) or runs pending ($pending) after $Minutes min" }
        Start-Sleep -Milliseconds 300
    }
}

function Measure-FaultOutcome {
    <#
    Counts what happened to every run of the facility: executions (exec.log), jobs (journal),
    records (-proc-runs.txt) and DB problems (warnings of Get-ProcRun / Get-ProcJob, journal lines
    that do not parse). Duplicates = executions or submissions beyond one; lost = runs never executed
    or without a Done job.
    #>
    param([Parameter(Mandatory)] $Facility)
    $exec = @{}
    if (Test-Path $Facility.ExecLog) {
        foreach ($l in [IO.File]::ReadAllLines($Facility.ExecLog)) { if ($l) { $exec[$l] = 1 + [int]$exec[$l] } }
    }
    $warn = $null
    $jobs = @(Get-ProcJob -Process $Facility.Process -ConfigPath $Facility.Config -WarningVariable warn -WarningAction SilentlyContinue)
    $jobWarnings = @($warn).Count
    $records = @(Get-ProcRun -Process $Facility.Process -ConfigPath $Facility.Config -WarningVariable warn -WarningAction SilentlyContinue)
    $recordWarnings = @($warn).Count
    $byRun = $jobs | Group-Object { "$($_.Experiment) $($_.Run)" } -AsHashTable -AsString
    if (-not $byRun) { $byRun = @{} }
    $recByRun = $records | Group-Object { "$($_.Experiment) $($_.Run)" } -AsHashTable -AsString
    if (-not $recByRun) { $recByRun = @{} }
    $dupExec = 0; $dupSubmit = 0; $lost = 0; $notDone = 0; $dupRecords = 0; $unknown = 0
    $dupRuns = [Collections.Generic.List[string]]::new()
    foreach ($r in $Facility.Runs) {
        $n = [int]$exec[$r]
        if ($n -gt 1) { $dupExec += $n - 1 }
        if ($n -eq 0) { $lost++ }
        $js = @($byRun[$r] | Where-Object { $_ })
        $real = @($js | Where-Object { "$($_.State)" -ne 'NotSubmitted' })
        if ($real.Count -gt 1) { $dupSubmit += $real.Count - 1 }
        if (@($js | Where-Object { "$($_.State)" -eq 'Done' }).Count -ne 1) { $notDone++ }
        $rc = @($recByRun[$r] | Where-Object { $_ }).Count
        if ($rc -gt 1) { $dupRecords += $rc - 1 }
        if ($n -gt 1 -or $real.Count -gt 1 -or $rc -gt 1) {
            $dupRuns.Add("$r (executions $n, jobs " + (($js | ForEach-Object { "$($_.Name)=$($_.State)" }) -join ' ') + ", records $rc)")
        }
    }
    foreach ($k in $exec.Keys) { if (-not $Facility.Runs.Contains($k)) { $unknown++ } }
    # Journal lines that do not parse as JSON (a torn write would show here).
    $badJournal = 0
    foreach ($j in Get-ChildItem -Recurse -File -Path $Facility.Db -Filter '*-jobs.txt' -ErrorAction Ignore) {
        foreach ($l in [IO.File]::ReadAllLines($j.FullName)) {
            if (-not $l.Trim()) { continue }
            try { $null = $l | ConvertFrom-Json -ErrorAction Stop } catch { $badJournal++ }
        }
    }
    [pscustomobject]@{
        Runs = $Facility.Runs.Count; Executions = ($exec.Values | Measure-Object -Sum).Sum; Jobs = $jobs.Count
        DuplicateExecutions = $dupExec; DuplicateSubmissions = $dupSubmit; DuplicateRecords = $dupRecords
        Lost = $lost; NotDone = $notDone; UnknownExecutions = $unknown
        DbWarnings = $jobWarnings + $recordWarnings; BadJournalLines = $badJournal
        # Which runs were duplicated and how (for a failure message).
        DuplicatedRuns = ($dupRuns -join '; ')
    }
}

function Invoke-CrashTrial {
    <#
    Starts a controller (Mode Cycle: Invoke-ProcCycle; Mode SubmitWatch: Get-PendingRun |
    Submit-ProcJob | Watch-ProcJob) and kills it with SIGKILL $DelayMs after it starts its work.
    Returns whether the kill landed while it was still running, and how long its work ran.
    #>
    param([Parameter(Mandatory)] $Facility, [Parameter(Mandatory)] [string] $Manifest, [Parameter(Mandatory)] [int] $Trial,
        [ValidateSet('Cycle', 'SubmitWatch')] [string] $Mode = 'Cycle', [int] $DelayMs = -1)
    $marker = Join-Path $Facility.Path "crash-$Trial.started"
    $body = if ($Mode -eq 'Cycle') {
        "Invoke-ProcCycle -Process $($Facility.Process) -All -ConfigPath '$($Facility.Config)' | Out-Null"
    } else {
        "Get-PendingRun -Process $($Facility.Process) -All -ConfigPath '$($Facility.Config)' | Submit-ProcJob -ConfigPath '$($Facility.Config)' -MaxJobs 100000 | Watch-ProcJob -ConfigPath '$($Facility.Config)' -PollSeconds 1 | Out-Null"
    }
    $p = Start-FaultPwsh -Manifest $Manifest -Body $body -LogPrefix (Join-Path $Facility.Path "crash-$Trial") -Marker $marker
    while (-not (Test-Path $marker) -and -not $p.HasExited) { Start-Sleep -Milliseconds 2 }
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $killed = $false
    if ($DelayMs -ge 0) {
        if (-not $p.WaitForExit($DelayMs)) {
            & kill -9 $p.Id 2>$null
            $killed = $LASTEXITCODE -eq 0
        }
    }
    $p.WaitForExit()
    [pscustomobject]@{ Trial = $Trial; Mode = $Mode; Killed = $killed; DelayMs = $DelayMs; WorkMs = $sw.ElapsedMilliseconds; ExitCode = $p.ExitCode }
}



# ------------------------------------------------------------------ Slurm job faults

function New-SlurmFaultFacility {
    <#
    A facility whose processes run on the real Slurm: s_exit3 (exits 3), s_sleep (sleeps, to be
    cancelled), s_tl (over a 1-minute time limit), s_ok (sleeps $OkSeconds, then appends to exec.log).
    #>
    param([Parameter(Mandatory)] [string] $Path, [int] $OkSeconds = 8)
    New-Item -ItemType Directory -Force "$Path/data", "$Path/db" | Out-Null
    $exec = Join-Path $Path 'exec.log'
    $cfg = Join-Path $Path 'runproc.psd1'
    Set-Content -Path $cfg -Value @"
@{
    DataRoot = '$Path/data'
    DbRoot = '$Path/db'
    SettleSeconds = 0
    Processes = @{
        s_exit3 = @{ Command = @('/bin/sh', '-c', 'exit 3'); Scheduler = 'Slurm'; Attempts = 1; PollSeconds = 1 }
        s_sleep = @{ Command = @('/bin/sleep', '600'); Scheduler = 'Slurm'; Attempts = 1; PollSeconds = 1 }
        s_tl    = @{ Command = @('/bin/sleep', '600'); Scheduler = 'Slurm'; Attempts = 1; PollSeconds = 1; TimeLimitMinutes = 1 }
        s_ok    = @{ Command = @('/bin/sh', '-c', 'sleep $OkSeconds; echo "`$0 `$1" >> $exec', '{exp}', '{run}'); Scheduler = 'Slurm'; Attempts = 3; PollSeconds = 1; MaxJobs = 100 }
    }
}
"@
    [pscustomobject]@{ Path = $Path; Data = "$Path/data"; Db = "$Path/db"; Config = $cfg; ExecLog = $exec; Process = 's_ok'; Runs = [Collections.Generic.List[string]]::new() }
}

function Submit-FaultJob {
    <# Submits one run of a process (its data file is created) and returns the job. #>
    param([Parameter(Mandatory)] $Facility, [Parameter(Mandatory)] [string] $Process, [Parameter(Mandatory)] [string] $Experiment, [Parameter(Mandatory)] [int] $Run)
    Add-FaultRun $Facility $Experiment $Run
    $j = Submit-ProcJob -Process $Process -Experiment $Experiment -Run $Run -ConfigPath $Facility.Config -ErrorAction Stop
    if (-not $j -or -not $j.JobId) { throw "no job for $Process $Experiment $Run" }
    $j
}

function Get-FaultJob {
    <# The latest job of a run after one reconciliation pass (Watch-ProcJob -Once); warnings are returned in .Warnings. #>
    param([Parameter(Mandatory)] $Facility, [Parameter(Mandatory)] [string] $Process, [Parameter(Mandatory)] [string] $Experiment, [Parameter(Mandatory)] [int] $Run)
    $w = $null
    Watch-ProcJob -Process $Process -Once -ConfigPath $Facility.Config -WarningVariable w -WarningAction SilentlyContinue | Out-Null
    $j = Get-ProcJob -Process $Process -Experiment $Experiment -Run $Run -Latest -ConfigPath $Facility.Config
    $j | Add-Member -NotePropertyName Warnings -NotePropertyValue @($w) -Force -PassThru
}

function Wait-FaultJob {
    <# Polls until the run's latest job is in one of $State (or final, with -Final); returns it. Caps at $Seconds so a bug fails instead of hanging. #>
    param([Parameter(Mandatory)] $Facility, [Parameter(Mandatory)] [string] $Process, [Parameter(Mandatory)] [string] $Experiment, [Parameter(Mandatory)] [int] $Run,
        [string[]] $State, [switch] $Final, [int] $Seconds = 300, [scriptblock] $Each)
    $deadline = [datetime]::UtcNow.AddSeconds($Seconds)
    while ($true) {
        $j = Get-FaultJob $Facility $Process $Experiment $Run
        if ($Each) { & $Each $j }
        if (($Final -and -not $j.IsActive) -or ($State -and "$($j.State)" -in $State)) { return $j }
        if ([datetime]::UtcNow -gt $deadline) { throw "$Process $Experiment run ${Run}: still $($j.State) after $Seconds s (wanted $(if ($Final) { 'a final state' } else { $State -join '/' }))" }
        Start-Sleep -Milliseconds 500
    }
}

function Stop-SlurmDaemon {
    <# Stops slurmctld (SIGTERM) or kills slurmd (SIGKILL) by the PID in its pid file, never by name. #>
    param([Parameter(Mandatory)] [ValidateSet('slurmctld', 'slurmd')] [string] $Daemon, [switch] $Kill)
    $pidFile = "/run/$Daemon.pid"
    $daemonPid = [int](Get-Content $pidFile -ErrorAction Stop | Select-Object -First 1)
    & kill $(if ($Kill) { '-KILL' } else { '-TERM' }) $daemonPid
    # Wait until it is gone (a zombie counts as gone).
    foreach ($i in 1..100) {
        $stat = Get-Content "/proc/$daemonPid/stat" -ErrorAction Ignore
        if (-not $stat -or ($stat -split ' ')[2] -eq 'Z') { return $daemonPid }
        Start-Sleep -Milliseconds 100
    }
    throw "$Daemon ($daemonPid) did not stop"
}

function Start-SlurmAgain {
    <# Restarts whatever is down with the project's idempotent tests/setup/start-slurm.sh. #>
    param([Parameter(Mandatory)] [string] $Root)
    & bash (Join-Path $Root 'tests/setup/start-slurm.sh') 2>&1 | Out-String | Write-Verbose
    if ($LASTEXITCODE -ne 0) { throw "tests/setup/start-slurm.sh failed ($LASTEXITCODE)" }
}

# ------------------------------------------------------------------ HDF5 corruption fuzz

function Invoke-Hdf5CorruptionFuzz {
    <#
    Damages undamaged HDF5 run files at random (truncation, overwritten bytes, zeroed or duplicated
    blocks) and runs Invoke-PixelStatus -Path on each, in a runspace watched for hangs. Every case
    must end either in a result (the damage missed what is read, or hit raw uncompressed pixels,
    which no format check can see: counted as 'undetectable') or in ONE non-terminating error of a
    known id whose message names the file, with nothing written. Returns the counts and the failures.
    #>
    param([Parameter(Mandatory)] [string] $Root, [Parameter(Mandatory)] [string] $Work, [int] $Count = 200, [int] $Seed = 1, [int] $TimeoutSeconds = 120)
    $base = Join-Path $Work 'base'
    $made = & /usr/bin/python3 (Join-Path $PSScriptRoot 'make_base_hdf5.py') $base
    if ($LASTEXITCODE -ne 0) { throw "make_base_hdf5.py failed: $made" }
    $cfg = Join-Path $Work 'runproc.psd1'
    Set-Content $cfg "@{ DataRoot = '$Work/data'; DbRoot = '$Work/db' }"
    $iss = [Management.Automation.Runspaces.InitialSessionState]::CreateDefault2()
    $iss.ImportPSModule((Join-Path $Root 'RunProc.psd1'))
    $newRunspace = { $r = [runspacefactory]::CreateRunspace($iss); $r.Open(); $r }
    $rs = & $newRunspace
    $script = {
        param($Path, $Out, $Config)
        $err = $null
        $res = @(Invoke-PixelStatus -Path $Path -OutputDirectory $Out -ConfigPath $Config -ErrorVariable err -ErrorAction SilentlyContinue)
        [pscustomobject]@{
            Key = ($res | ForEach-Object { "$($_.Dataset) $($_.Events) $($_.BadPixels) $($_.CountPerBit -join ',')" }) -join ' | '
            Errors = @($err | ForEach-Object { [pscustomobject]@{ Id = $_.FullyQualifiedErrorId; Message = $_.Exception.Message; Type = $_.Exception.GetType().FullName } })
        }
    }
    $run = {
        param($Path, $Out)
        $ps = [powershell]::Create()
        $ps.Runspace = $rs
        $null = $ps.AddScript($script).AddArgument($Path).AddArgument($Out).AddArgument($cfg)
        $h = $ps.BeginInvoke()
        if (-not $h.AsyncWaitHandle.WaitOne([TimeSpan]::FromSeconds($TimeoutSeconds))) {
            $ps.Stop(); $ps.Dispose(); $rs.Dispose(); $script:rs = & $newRunspace
            return 'HANG'
        }
        try { $o = $ps.EndInvoke($h) } catch { $o = [pscustomobject]@{ Key = ''; Errors = @([pscustomobject]@{ Id = 'TERMINATING'; Message = "$_"; Type = $_.Exception.GetType().FullName }) } }
        $ps.Dispose()
        $o | Select-Object -Last 1
    }
    $baseline = @{}
    foreach ($f in Get-ChildItem $base -Filter *.h5) {
        $o = & $run $f.FullName (Join-Path $Work 'out-base')
        if (-not $o.Key -or $o.Errors.Count) { throw "base file $($f.Name) does not analyse: $($o.Errors.Message)" }
        $baseline[$f.Name] = $o.Key
    }
    $Known = 'PixelFileDamaged', 'PixelFrameUnreadable', 'NoDetector', 'PixelFileUnreadable', 'NoEventsSelected'
    $rng = [Random]::new($Seed)
    $stats = [ordered]@{ Cases = 0; Unaffected = 0; Undetectable = 0; Detected = 0; Hangs = 0; BadErrors = 0; PartialOutputs = 0 }
    $failures = [Collections.Generic.List[string]]::new()
    $undetected = @{}
    $silentCompressed = [Collections.Generic.List[string]]::new()
    $files = @(Get-ChildItem $base -Filter *.h5)
    $case = Join-Path $Work 'case'
    New-Item -ItemType Directory -Force $case | Out-Null
    for ($i = 0; $i -lt $Count; $i++) {
        $src = $files[$rng.Next($files.Count)]
        $bytes = [IO.File]::ReadAllBytes($src.FullName)
        $kind = $rng.Next(4)
        switch ($kind) {
            0 { $bytes = $bytes[0..($rng.Next(1, $bytes.Length) - 1)] }                                  # truncate
            1 { $n = $rng.Next(1, 65); $at = $rng.Next(0, $bytes.Length - $n); for ($k = 0; $k -lt $n; $k++) { $bytes[$at + $k] = [byte]$rng.Next(256) } } # overwrite
            2 { $n = [Math]::Min(4096, $bytes.Length); $at = $rng.Next(0, $bytes.Length - $n + 1); [Array]::Clear($bytes, $at, $n) }   # zero a block
            3 { $n = $rng.Next(16, 512); $from = $rng.Next(0, $bytes.Length - $n); $to = $rng.Next(0, $bytes.Length - $n); [Array]::Copy($bytes, $from, $bytes, $to, $n) } # misplaced block
        }
        $path = Join-Path $case ('c{0:D6}-{1}' -f $i, $src.Name)
        [IO.File]::WriteAllBytes($path, $bytes)
        $out = Join-Path $Work "out-$i"
        $o = & $run $path $out
        $stats.Cases++
        $what = "case $i ($(('truncated', 'overwritten', 'zeroed', 'misplaced')[$kind]) $($src.Name), seed $Seed)"
        if ($o -eq 'HANG') { $stats.Hangs++; $failures.Add("${what}: no answer within $TimeoutSeconds s"); Copy-Item $path $Work; continue }
        $written = @(Get-ChildItem -Recurse -File $out -ErrorAction Ignore).Count
        if ($o.Errors.Count -eq 0) {
            if ($o.Key -eq $baseline[$src.Name]) { $stats.Unaffected++ }
            else {
                $stats.Undetectable++
                $undetected[$src.Name] = 1 + [int]$undetected[$src.Name]
                if ($src.Name -like '*gzip*') { $silentCompressed.Add($what) }
            }
        }
        else {
            $stats.Detected++
            $e = $o.Errors[0]
            $ok = $o.Errors.Count -eq 1 -and ($Known | Where-Object { $e.Id -like "$_,*" }) -and $e.Message.Contains($path)
            if (-not $ok) { $stats.BadErrors++; $failures.Add("${what}: $($o.Errors.Count) error(s), first $($e.Id) $($e.Type): $($e.Message)"); Copy-Item $path $Work }
            if ($written -gt 0) { $stats.PartialOutputs++; $failures.Add("${what}: $written file(s) written despite the error") }
        }
        Remove-Item -Recurse -Force $out, $path -ErrorAction Ignore
    }
    $rs.Dispose()
    [pscustomobject]@{ Stats = [pscustomobject]$stats; Failures = $failures; UndetectedByFile = $undetected; SilentCompressed = $silentCompressed }
}
Export-ModuleMember -Function Get-FaultFigureFile, Add-FaultFigure, Get-PwshArgv, New-FaultFacility, Add-FaultRun, Start-FaultPwsh, Invoke-ConcurrentController, Wait-FaultQuiet, Measure-FaultOutcome, Invoke-CrashTrial, New-SlurmFaultFacility, Submit-FaultJob, Get-FaultJob, Wait-FaultJob, Stop-SlurmDaemon, Start-SlurmAgain, Invoke-Hdf5CorruptionFuzz
