#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Long fuzzing and DB fault runs: the xunit Fuzz and Faults tests with RUNPROC_LONG=1 (over 10^6
    inputs for each parser, thousands of fuzzed DB files rewritten byte-exactly, hostile names,
    a read-only DB, a full disk). Figures go to the Faults table.
.PARAMETER Scale
    Multiplies the long input counts (e.g. 0.1 for a shortened long run).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Root,
    [double] $Scale = 1.0,
    [int] $RunId = $PID
)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'FaultKit.psm1') -Force
$figures = Get-FaultFigureFile -Root $Root -RunId $RunId
$env:RUNPROC_LONG = '1'
$env:RUNPROC_FUZZ_SCALE = [string]$Scale
$env:RUNPROC_FAULTS_FIGURES = $figures
try {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    & dotnet test (Join-Path $Root 'tests/RunProc.Tests/RunProc.Tests.csproj') -c Release --nologo `
        --filter 'FullyQualifiedName~RunProc.Tests.Fuzz|FullyQualifiedName~RunProc.Tests.Faults' | Out-Host
    $code = $LASTEXITCODE
    Add-FaultFigure -Root $Root -RunId $RunId -Figure 'fuzz + DB faults: xunit exit code' -Value $code -Note ("{0:0} s" -f $sw.Elapsed.TotalSeconds)
    if ($code -ne 0) { throw "fuzz/DB fault tests failed (exit $code)" }
}
finally {
    Remove-Item Env:RUNPROC_LONG, Env:RUNPROC_FUZZ_SCALE, Env:RUNPROC_FAULTS_FIGURES -ErrorAction Ignore
}
