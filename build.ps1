#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Build, test, demo and benchmark RunProc.
.DESCRIPTION
    Tasks:
      Build   publish the binary module into ./bin (then: Import-Module ./RunProc.psd1) and fetch Pester from NuGet.
      Package Build, then the versioned module folder out/RunProc/<version>/ and out/RunProc.<version>.nupkg
              (Install-PSResource RunProc from a repository on ./out; see README, "Install at a facility").
      Setup   install the machine prerequisites (Debian packages, a one-node Slurm, started); needs root or sudo.
      Test    Build, Setup, run xunit and Pester; the last line is 'N passed, N failed' over all suites.
      Demo    the main job on the embedded default: generate a demo facility and process it.
      Bench   benchmarks: every tests/bench/*.Bench.ps1 (BenchmarkDotNet kernels, catalog scan, batch costs).
      Faults  the long fault, crash, concurrency and fuzzing runs: every tests/faults/*.Faults.ps1.
.EXAMPLE
    dotnet tool restore && dotnet pwsh ./build.ps1 Test
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Package', 'Setup', 'Test', 'Demo', 'Bench', 'Faults', 'Clean')]
    [string] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Demo: where the demo facility is generated.
    [string] $DemoPath = './demo',

    # Test: skip the xunit or the Pester suite.
    [switch] $SkipXunit,
    [switch] $SkipPester,

    # Test: an xunit filter expression (dotnet test --filter) and Pester paths.
    [string] $Filter,
    [string[]] $PesterPath
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$PesterVersion = '5.7.1'

function Get-PwshArgv {
    # The argv that starts this same pwsh (a dotnet local tool runs as 'dotnet <path>/pwsh.dll').
    $exe = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') {
        return @($exe, [Environment]::GetCommandLineArgs()[0])
    }
    return @($exe)
}

function Invoke-Native {
    param([string] $Exe, [string[]] $Arguments)
    Write-Host ">> $Exe $($Arguments -join ' ')" -ForegroundColor DarkGray
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "'$Exe $($Arguments -join ' ')' failed with exit code $LASTEXITCODE" }
}

function Get-PesterModulePath {
    $pkgRoot = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path $HOME '.nuget/packages' }
    Join-Path $pkgRoot "pester/$PesterVersion/tools/Pester.psd1"
}

function Invoke-Build {
    Invoke-Native dotnet @('publish', "$Root/src/RunProc.Module/RunProc.Module.csproj", '-c', $Configuration, '-o', "$Root/bin", '--nologo', '-v', 'q', '-p:GenerateDocumentationFile=false')
    # The pixel jobs' entry without PowerShell (bin/runproc-pixel.dll), beside the module it shares RunProc.Core with.
    Invoke-Native dotnet @('publish', "$Root/src/RunProc.Job/RunProc.Job.csproj", '-c', $Configuration, '-o', "$Root/bin", '--nologo', '-v', 'q', '-p:GenerateDocumentationFile=false')
    $helpScript = Join-Path $Root 'src/RunProc.Module/help/Build-Help.ps1'
    if (Test-Path $helpScript) { & $helpScript -OutputPath (Join-Path $Root 'bin') }
    if (-not (Test-Path (Get-PesterModulePath))) {
        Invoke-Native dotnet @('restore', "$Root/tests/tools/tools.csproj", '--nologo', '-v', 'q')
    }
    Write-Host "Built: Import-Module $Root/RunProc.psd1" -ForegroundColor Green
}

function Invoke-Package {
    Invoke-Build
    $p = & (Join-Path $Root 'src/scripts/New-ModulePackage.ps1') -Root $Root -OutputPath $Out
    Write-Host "Packaged RunProc $($p.Version): $($p.ModuleFolder) and $($p.Package)" -ForegroundColor Green
    Write-Host "Install: Register-PSResourceRepository -Name local -Uri $Out -Trusted; Install-PSResource RunProc -Repository local" -ForegroundColor Green
}

function Invoke-Setup {
    # The machine prerequisites of the tests and of a one-node try-out: apt packages, Slurm (started).
    $script = Join-Path $Root 'tests/setup/install-prerequisites.sh'
    if (Test-Path $script) { Invoke-Native bash @($script) }
    $slurm = Join-Path $Root 'tests/setup/start-slurm.sh'
    if (Test-Path $slurm) {
        & bash $slurm
        if ($LASTEXITCODE -ne 0) { Write-Warning "Slurm could not be started (exit $LASTEXITCODE); Slurm tests will fail." }
    }
}

function Invoke-XunitSuite {
    $results = Join-Path $Out 'xunit'
    Remove-Item -Recurse -Force $results -ErrorAction Ignore
    $arguments = @('test', "$Root/tests/RunProc.Tests/RunProc.Tests.csproj", '-c', $Configuration, '--nologo',
        '--logger', 'trx;LogFileName=xunit.trx', '--logger', 'console;verbosity=normal', '--results-directory', $results)
    if ($Filter) { $arguments += @('--filter', $Filter) }
    Write-Host ">> dotnet $($arguments -join ' ')" -ForegroundColor DarkGray
    & dotnet @arguments | Where-Object { $_ -notmatch '^\s+Passed ' } | Out-Host
    $trx = Get-ChildItem -Recurse -Path $results -Filter *.trx -ErrorAction Ignore | Select-Object -First 1
    if (-not $trx) { Write-Warning 'xunit produced no results (build failure?)'; return [pscustomobject]@{ Suite = 'xunit'; Passed = 0; Failed = 1 } }
    [xml] $x = Get-Content -Raw $trx.FullName
    $c = $x.TestRun.ResultSummary.Counters
    $failed = [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted
    [pscustomobject]@{ Suite = 'xunit'; Passed = [int]$c.passed; Failed = $failed }
}

function Invoke-PesterSuite {
    $pester = Get-PesterModulePath
    $resultFile = Join-Path $Out 'pester.json'
    Remove-Item -Force $resultFile -ErrorAction Ignore
    $paths = if ($PesterPath) { $PesterPath } else { @(Join-Path $Root 'Pester') }
    $script = @'
param($PesterModule, $ResultFile, [string] $Paths)
$ErrorActionPreference = 'Stop'
Import-Module $PesterModule
$cfg = New-PesterConfiguration
# -File passes one string: the paths arrive joined by ','.
$cfg.Run.Path = @($Paths -split ',' | Where-Object { $_ })
$cfg.Run.PassThru = $true
$cfg.Output.Verbosity = 'Detailed'
$r = Invoke-Pester -Configuration $cfg
@{ Passed = $r.PassedCount; Failed = $r.FailedCount + $r.FailedBlocksCount + $r.FailedContainersCount } | ConvertTo-Json | Set-Content $ResultFile
'@
    $scriptFile = Join-Path $Out 'run-pester.ps1'
    Set-Content -Path $scriptFile -Value $script
    $argv = Get-PwshArgv
    $rest = @($argv | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $scriptFile, '-PesterModule', $pester, '-ResultFile', $resultFile, '-Paths', ($paths -join ','))
    & $argv[0] @rest | Out-Host
    if (-not (Test-Path $resultFile)) { Write-Warning 'Pester produced no results'; return [pscustomobject]@{ Suite = 'Pester'; Passed = 0; Failed = 1 } }
    $r = Get-Content -Raw $resultFile | ConvertFrom-Json
    [pscustomobject]@{ Suite = 'Pester'; Passed = [int]$r.Passed; Failed = [int]$r.Failed }
}

function Invoke-Test {
    New-Item -ItemType Directory -Force $Out | Out-Null
    Invoke-Build
    Invoke-Setup
    $suites = @()
    if (-not $SkipXunit) { $suites += Invoke-XunitSuite }
    if (-not $SkipPester) { $suites += Invoke-PesterSuite }
    $suites | Format-Table -AutoSize | Out-Host
    $passed = ($suites | Measure-Object -Property Passed -Sum).Sum
    $failed = ($suites | Measure-Object -Property Failed -Sum).Sum
    $line = "$passed passed, $failed failed"
    Set-Content -Path (Join-Path $Out 'test-totals.txt') -Value $line
    Write-Host $line
    if ($failed -gt 0 -or $passed -eq 0) { exit 1 }
}

function Invoke-Demo {
    Invoke-Build
    $script = Join-Path $Root 'src/scripts/Invoke-Demo.ps1'
    & $script -Path $DemoPath -Root $Root
    exit $LASTEXITCODE
}

function Invoke-ScriptSet {
    # Runs every script matching $Pattern under $Dir (each concern owns one); fails if any fails.
    param([string] $Dir, [string] $Pattern)
    $failed = @()
    foreach ($s in Get-ChildItem -Path (Join-Path $Root $Dir) -Filter $Pattern -ErrorAction Ignore | Sort-Object Name) {
        Write-Host "== $($s.Name)" -ForegroundColor Cyan
        $global:LASTEXITCODE = 0
        try { & $s.FullName -Root $Root } catch { Write-Warning "$($s.Name): $_"; $failed += $s.Name; continue }
        if ($LASTEXITCODE -ne 0) { $failed += $s.Name }
    }
    if ($failed) { Write-Warning "failed: $($failed -join ', ')"; exit 1 }
    exit 0
}

function Invoke-Bench {
    Invoke-Build
    Invoke-Setup
    Invoke-ScriptSet 'tests/bench' '*.Bench.ps1'
}

function Invoke-Faults {
    Invoke-Build
    Invoke-Setup
    Invoke-ScriptSet 'tests/faults' '*.Faults.ps1'
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Package' { Invoke-Package }
    'Setup' { Invoke-Setup }
    'Test' { Invoke-Test }
    'Demo' { Invoke-Demo }
    'Bench' { Invoke-Bench }
    'Faults' { Invoke-Faults }
    'Clean' { Remove-Item -Recurse -Force "$Root/bin", "$Root/out" -ErrorAction Ignore; Get-ChildItem $Root -Recurse -Directory -Include bin, obj | Remove-Item -Recurse -Force }
}
