# Installing like a real module: the folder and .nupkg of `build.ps1 Package` (made from the build
# under test), installed by PSResourceGet and imported by name in fresh pwsh processes whose HOME is
# a temporary folder — PSResourceGet's repository list and CurrentUser scope and pwsh's user module
# path all live there, so nothing of this machine's user changes. Then: jobs and cron load the
# installed version's folder, an upgrade installs beside it, and a checkout's jobs load a staged copy.

BeforeAll {
    $script:Root = Split-Path -Parent $PSScriptRoot
    $script:Manifest = Join-Path $Root 'RunProc.psd1'
    $script:Version = (Import-PowerShellDataFile $Manifest).ModuleVersion
    $exe = [Environment]::ProcessPath
    $script:Pwsh = if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @($exe, [Environment]::GetCommandLineArgs()[0]) } else { @($exe) }

    $script:Base = Join-Path ([IO.Path]::GetTempPath()) ("runproc-install-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
    $script:HomeDir = New-Item -ItemType Directory -Force (Join-Path $Base 'home')
    $script:Out = Join-Path $Base 'out'
    $script:Elsewhere = New-Item -ItemType Directory -Force (Join-Path $Base 'elsewhere')
    $script:UserRepositories = Join-Path $HOME '.local/share/PSResourceGet/PSResourceRepository.xml'
    $script:UserRepositoriesBefore = if (Test-Path $UserRepositories) { Get-Content -Raw $UserRepositories } else { $null }

    # A facility with one settled run and a process whose job runs a RunProc cmdlet through {runproc}.
    $data = New-Item -ItemType Directory -Force (Join-Path $Base 'data/XPP/xpptut15/xtc')
    (New-Item -ItemType File -Force (Join-Path $data 'xpptut15-r0001-s00-c00.xtc')).LastWriteTime = (Get-Date).AddHours(-1)
    $script:Config = Join-Path $Base 'runproc.psd1'
    Set-Content -Path $Config -Value @"
@{
    DataRoot = './data'; DbRoot = './db'; SettleSeconds = 0
    Processes = @{ pin = @{ Command = @('{runproc}', 'Get-ProcConfig', '-ConfigPath', '{config}'); PollSeconds = 1; Attempts = 1 } }
}
"@

    function script:Invoke-Fresh {
        # Runs $Script in a new pwsh with the temporary HOME (no inherited PSModulePath) in $WorkDir;
        # the script's result is what it writes to $args[0] as JSON.
        param([string] $Script, [string] $WorkDir = $Elsewhere)
        $result = Join-Path $Base ("result-" + [guid]::NewGuid().ToString('N') + '.json')
        $psi = [Diagnostics.ProcessStartInfo]::new($Pwsh[0])
        foreach ($a in @($Pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', "`$ErrorActionPreference = 'Stop'; `$ResultFile = '$result'; $Script")) { $psi.ArgumentList.Add($a) }
        $psi.WorkingDirectory = $WorkDir
        $psi.Environment['HOME'] = "$HomeDir"
        foreach ($v in 'PSModulePath', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'RUNPROC_CONFIG') { $null = $psi.Environment.Remove($v) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $p = [Diagnostics.Process]::Start($psi)
        $stdout = $p.StandardOutput.ReadToEndAsync()
        $stderr = $p.StandardError.ReadToEnd()
        $p.WaitForExit()
        if ($p.ExitCode -ne 0 -or -not (Test-Path $result)) { throw "fresh pwsh failed (exit $($p.ExitCode)): $stderr $($stdout.Result)" }
        $r = Get-Content -Raw $result | ConvertFrom-Json
        $r | Add-Member -NotePropertyName Stdout -NotePropertyValue $stdout.Result -PassThru
    }

    # Package the build under test, then install it exactly as the README says.
    $script:Packaged = Invoke-Fresh @"
`$p = & '$Root/src/scripts/New-ModulePackage.ps1' -Root '$Root' -OutputPath '$Out'
`$p | ConvertTo-Json | Set-Content `$ResultFile
"@
    $script:Installed = Invoke-Fresh @"
Register-PSResourceRepository -Name local -Uri '$Out' -Trusted
Install-PSResource RunProc -Repository local -Quiet
@(Get-InstalledPSResource RunProc | ForEach-Object { @{ Version = "`$(`$_.Version)"; InstalledLocation = `$_.InstalledLocation } }) | ConvertTo-Json -AsArray | Set-Content `$ResultFile
"@ -WorkDir $Base
    $script:InstalledFolder = Join-Path $HomeDir ".local/share/powershell/Modules/RunProc/$Version"
}

AfterAll {
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'build.ps1 Package' {
    It 'writes the versioned module folder and the .nupkg, with one version for manifest and assembly' {
        $Packaged.Version | Should -Be $Version
        $folder = Join-Path $Out "RunProc/$Version"
        $Packaged.ModuleFolder | Should -Be $folder
        foreach ($f in 'RunProc.psd1', 'bin/RunProc.Module.dll', 'bin/RunProc.Core.dll', 'bin/PureHDF.dll', 'bin/Batch.Format.ps1xml',
            'bin/scripts/runproc-job.sh', 'bin/scripts/Invoke-RunProcEntry.ps1', 'en-US/RunProc.Module.dll-Help.xml', 'en-US/about_RunProc.help.txt') {
            Join-Path $folder $f | Should -Exist
        }
        Join-Path $Out "RunProc.$Version.nupkg" | Should -Exist
        [Reflection.AssemblyName]::GetAssemblyName((Join-Path $folder 'bin/RunProc.Module.dll')).Version.ToString(3) | Should -Be $Version
    }
}

Describe 'Install-PSResource RunProc' {
    It 'installs into the CurrentUser scope of the temporary HOME and leaves the real user''s repositories alone' {
        @($Installed).Count | Should -Be 1
        $Installed[0].Version | Should -Be $Version
        Join-Path $InstalledFolder 'RunProc.psd1' | Should -Exist
        Join-Path $InstalledFolder 'PSGetModuleInfo.xml' | Should -Exist
        $now = if (Test-Path $UserRepositories) { Get-Content -Raw $UserRepositories } else { $null }
        $now | Should -Be $UserRepositoriesBefore
    }

    It 'is imported by name from any folder, with its help, and its cmdlets run' {
        $r = Invoke-Fresh @"
`$m = Import-Module RunProc -PassThru
`$help = Get-Help Submit-ProcJob -Full
@{
    ModuleBase = `$m.ModuleBase; Version = "`$(`$m.Version)"
    Synopsis = `$help.Synopsis
    MaxJobsHelp = (Get-Help Submit-ProcJob -Parameter MaxJobs).Description.Text -join ' '
    About = (Get-Help about_RunProc | Out-String).Contains('SHORT DESCRIPTION')
    DbRoot = (Get-ProcConfig -ConfigPath '$Config').DbRoot
} | ConvertTo-Json | Set-Content `$ResultFile
"@
        $r.ModuleBase | Should -Be "$InstalledFolder"
        $r.Version | Should -Be $Version
        $r.Synopsis | Should -Match 'Submits'
        $r.MaxJobsHelp | Should -Not -BeNullOrEmpty
        $r.About | Should -BeTrue
        $r.DbRoot | Should -Be (Join-Path $Base 'db')
    }
}

Describe 'Jobs and cron of an installed module' {
    It 'load the installed version''s folder; an upgrade installs beside it and leaves queued jobs on theirs' {
        $submit = @"
Import-Module RunProc
`$job = Submit-ProcJob -Process pin -Experiment xpptut15 -Run 1 -Force -ConfigPath '$Config' | Watch-ProcJob -PollSeconds 1 -ConfigPath '$Config'
Register-ProcSchedule -Process pin -ConfigPath '$Config' -WhatIf
@{ State = "`$(`$job.State)"; Command = @(`$job.Command); Log = Get-Content -Raw `$job.LogFile } | ConvertTo-Json | Set-Content `$ResultFile
"@
        $first = Invoke-Fresh $submit
        $first.State | Should -Be 'Done'
        $first.Command | Should -Contain (Join-Path $InstalledFolder 'RunProc.psd1')
        $first.Command | Should -Contain (Join-Path $InstalledFolder 'bin/scripts/Invoke-RunProcEntry.ps1')
        $first.Log | Should -Match ([regex]::Escape("# module: RunProc $Version ($InstalledFolder)"))
        $first.Stdout | Should -Match ([regex]::Escape("running RunProc $Version ($InstalledFolder)"))
        Test-Path (Join-Path $Base 'db/.modules') | Should -BeFalse # an installed module is not copied

        # Upgrade: the same module as a later version, packed into the same repository and installed.
        $v = [version] $Version
        $next = "$($v.Major).$($v.Minor).$($v.Build + 1)"
        $null = Invoke-Fresh @"
`$dir = New-Item -ItemType Directory -Force '$Base/next/RunProc/$next'
Copy-Item -Recurse '$Out/RunProc/$Version/*' `$dir
`$psd1 = Join-Path `$dir 'RunProc.psd1'
(Get-Content -Raw `$psd1) -replace "ModuleVersion\s*=\s*'[^']+'", "ModuleVersion = '$next'" | Set-Content `$psd1
Compress-PSResource -Path `$dir -DestinationPath '$Out'
Install-PSResource RunProc -Repository local -Quiet
'{}' | Set-Content `$ResultFile
"@
        $modules = Join-Path $HomeDir '.local/share/powershell/Modules/RunProc'
        (Get-ChildItem $modules -Directory).Name | Sort-Object | Should -Be @($Version, $next)
        $second = Invoke-Fresh $submit
        $nextFolder = Join-Path $modules $next
        $second.State | Should -Be 'Done'
        $second.Command | Should -Contain (Join-Path $nextFolder 'RunProc.psd1')
        $second.Stdout | Should -Match ([regex]::Escape("running RunProc $next ($nextFolder)"))
        # What the first job (and a cron entry made then) loads is still there, unchanged.
        Join-Path $InstalledFolder 'RunProc.psd1' | Should -Exist
        (Import-PowerShellDataFile (Join-Path $InstalledFolder 'RunProc.psd1')).ModuleVersion | Should -Be $Version
    }
}

Describe 'Jobs of a checkout''s build' {
    It 'load a staged copy that a rebuild or Clean of the checkout cannot change' {
        Import-Module $Manifest -Force
        Submit-ProcJob -Process pin -Experiment xpptut15 -Run 1 -Force -ConfigPath $Config -WhatIf 6>$null
        Join-Path $Base 'db/.modules' | Should -Not -Exist # -WhatIf names the copy, writes nothing
        $job = Submit-ProcJob -Process pin -Experiment xpptut15 -Run 1 -Force -ConfigPath $Config | Watch-ProcJob -PollSeconds 1 -ConfigPath $Config
        $job.State | Should -Be 'Done'
        $staged = @(Get-ChildItem (Join-Path $Base 'db/.modules/RunProc') -Directory)
        $staged.Count | Should -Be 1
        $staged[0].Name | Should -Match "^$([regex]::Escape($Version))-dev\.[0-9a-f]{12}$"
        $job.Command | Should -Contain (Join-Path $staged[0].FullName 'RunProc.psd1')
        ($job.Command | Where-Object { $_.StartsWith("$Root/") }) | Should -BeNullOrEmpty
        Get-Content -Raw $job.LogFile | Should -Match ([regex]::Escape("RunProc $($staged[0].Name) ($($staged[0].FullName))"))
        # The staged copy holds the build as it was: the same bytes as the checkout's bin now.
        (Get-FileHash (Join-Path $staged[0].FullName 'bin/RunProc.Module.dll')).Hash | Should -Be (Get-FileHash (Join-Path $Root 'bin/RunProc.Module.dll')).Hash
    }
}
