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

function Start-Pwsh {
    <# Starts a detached pwsh running -Command $Script; stdout/stderr to files; returns the Process. #>
    param([Parameter(Mandatory)] [string] $Script, [Parameter(Mandatory)] [string] $LogPrefix, [hashtable] $Environment = @{})
    $argv = Get-PwshArgv
    $psi = [Diagnostics.ProcessStartInfo]::new($argv[0])
    foreach ($a in @($argv | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $Script)) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $false
    $psi.RedirectStandardError = $false
    $psi.UseShellExecute = $false
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = [string]$Environment[$k] }
    # Output to files through the shell-free redirection of a wrapper: simplest is to let the script redirect itself.
    [Diagnostics.Process]::Start($psi)
}

Export-ModuleMember -Function Get-FaultFigureFile, Add-FaultFigure, Get-PwshArgv, Start-Pwsh
