# RunProc's fixed entry for batch jobs and cron: imports the RunProc module by absolute path and runs
# one of its cmdlets. Jobs start it as {runproc}, which expands to
#   <pwsh> -NoProfile -NonInteractive -File <this script> <RunProc.psd1>
# followed by the cmdlet name and its arguments, e.g.
#   ... Invoke-PixelStatus -Experiment xpptut15 -Run 12 -Deploy -ConfigPath /etc/runproc.psd1
# Arguments are bound as data: '-Name value' and '-Name:value' become entries of a hashtable that is
# splatted into the cmdlet, '-Name' alone (followed by another '-Name' or nothing) is a switch.
# Nothing here is ever evaluated as code, and only cmdlets of the RunProc module can be run.
# Exit code: 0 on success, 1 if the cmdlet wrote an error, 2 for a usage error, 65 (EX_DATAERR, the
# default NoRetryExitCodes: the cycle does not retry) when every error says the run's input cannot be
# processed ([RunProc.Pixels.PixelStatusJob]::IsInputError, as the runproc-pixel entry decides).
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
# Logs are files: no ANSI colour sequences in them.
if (Get-Variable PSStyle -ErrorAction Ignore) { $PSStyle.OutputRendering = 'PlainText' }
$argv = @($args | ForEach-Object { [string]$_ })
if ($argv.Count -lt 2) {
    [Console]::Error.WriteLine('usage: Invoke-RunProcEntry.ps1 <RunProc.psd1> <RunProc-cmdlet> [-Parameter value | -Switch]...')
    exit 2
}
$manifest = $argv[0]
$name = $argv[1]
try {
    $module = Import-Module -Name $manifest -PassThru -Force -ErrorAction Stop
} catch {
    [Console]::Error.WriteLine("RunProc entry: cannot import the RunProc module '$manifest': $($_.Exception.Message)")
    exit 2
}
$command = $module.ExportedCmdlets[$name]
if ($null -eq $command) {
    [Console]::Error.WriteLine("RunProc entry: '$name' is not a cmdlet of the RunProc module ($manifest).")
    exit 2
}

$named = @{}
$positional = [System.Collections.Generic.List[string]]::new()
for ($i = 2; $i -lt $argv.Count; $i++) {
    $a = $argv[$i]
    if ($a -match '^-([A-Za-z][A-Za-z0-9]*)(?::(.*))?$') {
        $parameter = $Matches[1]
        if ($null -ne $Matches[2]) {
            $text = $Matches[2]
            $named[$parameter] = switch -Exact ($text) { 'true' { $true } '$true' { $true } 'false' { $false } '$false' { $false } default { $text } }
        } elseif ($i + 1 -lt $argv.Count -and $argv[$i + 1] -notmatch '^-[A-Za-z]') {
            $named[$parameter] = $argv[$i + 1]
            $i++
        } else {
            $named[$parameter] = $true
        }
    } else {
        $positional.Add($a)
    }
}

# Logs are read later, on any screen: tables and messages are laid out 250 columns wide (a
# redirected pwsh would wrap them at 80), errors and warnings are one line each, and the cron
# cycle's lines carry the local time with its UTC offset (cycle.log is one file for every cycle).
$stamp = $name -eq 'Invoke-ProcCycle'
function Write-EntryLine([string] $line) {
    if ($stamp) { $line = (Get-Date).ToString('yyyy-MM-ddTHH:mm:sszzz') + ' ' + $line }
    [Console]::Out.WriteLine($line)
}
# An error that says the run's input cannot be processed (exit 65: the cycle does not retry it).
function Test-InputError($record) {
    $record -is [System.Management.Automation.ErrorRecord] -and [RunProc.Pixels.PixelStatusJob]::IsInputError(($record.FullyQualifiedErrorId -split ',')[0])
}
$failed = $false
try {
    & $command @named @positional -ErrorVariable +entryErrors 2>&1 3>&1 | ForEach-Object {
        if ($_ -is [System.Management.Automation.ErrorRecord]) {
            $action = if ($_.ErrorDetails -and $_.ErrorDetails.RecommendedAction) { " ($($_.ErrorDetails.RecommendedAction))" } else { '' }
            "ERROR: ${name}: $($_.Exception.Message)$action"
        } elseif ($_ -is [System.Management.Automation.WarningRecord]) {
            "WARNING: $($_.Message)"
        } else { $_ }
    } | Out-String -Stream -Width 250 | ForEach-Object { Write-EntryLine $_ }
    if ($entryErrors) {
        $failed = $true
        $inputOnly = @($entryErrors | Where-Object { -not (Test-InputError $_) }).Count -eq 0
    }
} catch {
    Write-EntryLine "ERROR: RunProc entry: $name failed: $($_.Exception.Message)"
    # ErrorActionPreference Stop: the cmdlet's first error ends it here; its id says whether retrying can help.
    exit $(if (Test-InputError $_) { [RunProc.Config.ProcessDefinition]::DataErrorExitCode } else { 1 })
}
if ($failed) { exit $(if ($inputOnly) { [RunProc.Config.ProcessDefinition]::DataErrorExitCode } else { 1 }) }
exit 0
