#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Prints the table of every figure the other *.Faults.ps1 scripts of this Faults run recorded
    (build.ps1 Faults runs the scripts by name; this one sorts last). Also saved as
    out/faults/figures.md for the closing note.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Root,
    [int] $RunId = $PID
)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'FaultKit.psm1') -Force
$file = Get-FaultFigureFile -Root $Root -RunId $RunId
if (-not (Test-Path $file)) { Write-Warning "No figures were recorded ($file)."; return }
$rows = Get-Content $file | Where-Object { $_ } | ForEach-Object { $_ | ConvertFrom-Json }
Write-Host ''
Write-Host 'RunProc fault, load and fuzzing figures' -ForegroundColor Cyan
$rows | Format-Table -AutoSize @{ n = 'Figure'; e = { $_.Figure } }, @{ n = 'Value'; e = { $_.Value }; a = 'Right' }, @{ n = 'Note'; e = { $_.Note } } |
    Out-String -Width 250 | Write-Host
$md = @('| Figure | Value | Note |', '|---|---:|---|') + ($rows | ForEach-Object { "| $($_.Figure) | $($_.Value) | $($_.Note) |" })
Set-Content -Path (Join-Path (Split-Path $file) 'figures.md') -Value $md
