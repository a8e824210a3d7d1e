#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds RunProc's MAML help and about topics from the markdown sources in en-US/.
.DESCRIPTION
    Sources (src/RunProc.Module/help/en-US):
      <Cmdlet>.md            one file per cmdlet, sections '# <Cmdlet>', '## SYNOPSIS', '## DESCRIPTION',
                             '## PARAMETERS' ('### -Name' each, an optional last line 'Default value: x'),
                             '## EXAMPLES' ('### Example N: title', a ```powershell block, then remarks),
                             '## INPUTS', '## OUTPUTS' ('### TypeName' each), '## NOTES', '## RELATED LINKS' ('- name').
      about_*.help.txt       about topics, copied as they are.
    The syntax, parameter types, positions, pipeline input, aliases and accepted values come from the
    built cmdlets themselves (imported in a separate runspace), so they can never disagree with the
    code; the prose comes from the markdown. A cmdlet or parameter without prose gets a warning here
    and fails Pester/Help.Tests.ps1.

    PowerShell looks for a binary module's help in <ModuleBase>/<culture>/, where ModuleBase is the
    folder of the manifest (the repository root for ./RunProc.psd1), so that is where the files go;
    a copy also goes to <OutputPath>/en-US for an import of bin/RunProc.Module.dll itself.
.PARAMETER OutputPath
    The built module folder (./bin) holding RunProc.Module.dll.
.PARAMETER ModuleBase
    The folder of the manifest RunProc.psd1; default: the repository root.
.EXAMPLE
    ./src/RunProc.Module/help/Build-Help.ps1 -OutputPath ./bin
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)]
    [string] $OutputPath,

    [string] $ModuleBase = (Resolve-Path (Join-Path $PSScriptRoot '../../..')).Path
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$SourceDir = Join-Path $PSScriptRoot 'en-US'
$OutputPath = (Resolve-Path $OutputPath).Path
$dll = Join-Path $OutputPath 'RunProc.Module.dll'
if (-not (Test-Path $dll)) { throw "Build-Help: '$dll' does not exist; build the module first (dotnet pwsh ./build.ps1 Build)." }

function ConvertFrom-HelpMarkdown {
    # Splits a cmdlet markdown file into sections: @{ SYNOPSIS = text; PARAMETERS = @{ Name = text }; EXAMPLES = @(...) ... }
    param([string] $Path)
    $doc = @{ Name = $null; Sections = [ordered]@{}; Path = $Path }
    $section = $null; $sub = $null
    $inCode = $false
    foreach ($line in [IO.File]::ReadAllLines($Path)) {
        if ($line -match '^```') { $inCode = -not $inCode }
        if (-not $inCode -and $line -match '^# (\S+)\s*$') { $doc.Name = $Matches[1]; continue }
        if (-not $inCode -and $line -match '^## (.+?)\s*$') {
            $section = $Matches[1].ToUpperInvariant(); $sub = $null
            $doc.Sections[$section] = [ordered]@{ '' = [Collections.Generic.List[string]]::new() }
            continue
        }
        if (-not $inCode -and $line -match '^### (.+?)\s*$' -and $section) {
            $sub = $Matches[1]
            $doc.Sections[$section][$sub] = [Collections.Generic.List[string]]::new()
            continue
        }
        if ($section) { $doc.Sections[$section][$(if ($sub) { $sub } else { '' })].Add($line) }
    }
    $doc
}

function Get-Paragraph {
    # Markdown lines -> paragraphs: blank lines separate; a list item (with its continuation lines)
    # is one paragraph; indented lines outside a list are kept as they are (preformatted).
    param([string[]] $Lines)
    $paras = [Collections.Generic.List[string]]::new()
    $cur = [Collections.Generic.List[string]]::new()
    $flush = { if ($cur.Count) { $paras.Add(($cur -join ' ')); $cur.Clear() } }
    $inList = $false
    foreach ($l in $Lines) {
        if ($l -match '^\s*$') { & $flush; $inList = $false; continue }
        if ($l -match '^\s*([-*]|\d+\.)\s') { & $flush; $cur.Add($l.Trim()); $inList = $true; continue }
        if (-not $inList -and $l -match '^\s{2,}\S') { & $flush; $paras.Add($l.TrimEnd()); continue }
        $cur.Add($l.Trim())
    }
    & $flush
    # Inline markdown the console cannot show.
    $paras | ForEach-Object { $_ -replace '`([^`]+)`', '$1' -replace '\*\*([^*]+)\*\*', '$1' }
}

function Get-Text([object] $Section, [string] $Sub = '') {
    if ($null -eq $Section -or -not $Section.Contains($Sub)) { return @() }
    @(Get-Paragraph $Section[$Sub])
}

function Esc([string] $s) { [Security.SecurityElement]::Escape($s) }

function Write-Para([Text.StringBuilder] $sb, [string[]] $paras, [string] $indent = '') {
    foreach ($p in $paras) { [void]$sb.AppendLine("$indent<maml:para>$(Esc $p)</maml:para>") }
}

$commonParameters = [Management.Automation.PSCmdlet]::CommonParameters + [Management.Automation.PSCmdlet]::OptionalCommonParameters
$standardParameterText = @{
    WhatIf  = 'Shows what would happen if the cmdlet runs: every change it would make, exactly. Nothing is changed.'
    Confirm = 'Prompts you for confirmation before each change.'
    # Every RunProc cmdlet inherits -ConfigPath from its base class.
    ConfigPath = 'The site configuration file (.psd1). When omitted: $env:RUNPROC_CONFIG, then ~/.config/runproc/runproc.psd1.'
}

# Load the built cmdlets in a runspace of their own, so this build session stays clean.
$ps = [powershell]::Create()
try {
    $null = $ps.AddScript({
            param($Dll)
            $m = Import-Module $Dll -PassThru -Force
            Get-Command -Module $m.Name -CommandType Cmdlet
        }).AddArgument($dll)
    $commands = @($ps.Invoke())
    if ($ps.HadErrors) { throw "Build-Help: importing $dll failed: $($ps.Streams.Error | Select-Object -First 1)" }
}
finally { $ps.Dispose() }

$sources = @{}
foreach ($f in Get-ChildItem $SourceDir -Filter '*.md') {
    $d = ConvertFrom-HelpMarkdown $f.FullName
    if (-not $d.Name) { Write-Warning "Build-Help: $($f.Name) has no '# <Cmdlet>' title; skipped."; continue }
    $sources[$d.Name] = $d
}

$sb = [Text.StringBuilder]::new()
[void]$sb.AppendLine('<?xml version="1.0" encoding="utf-8"?>')
[void]$sb.AppendLine('<helpItems schema="maml" xmlns="http://msh">')
foreach ($cmd in $commands | Sort-Object Name) {
    $src = $sources[$cmd.Name]
    if (-not $src) { Write-Warning "Build-Help: no help source for $($cmd.Name) (add $SourceDir/$($cmd.Name).md)." ; continue }
    $s = $src.Sections
    $synopsis = @(Get-Text $s['SYNOPSIS'])
    $description = @(Get-Text $s['DESCRIPTION'])
    if (-not $synopsis) { Write-Warning "Build-Help: $($cmd.Name) has no SYNOPSIS." }
    if (-not $description) { Write-Warning "Build-Help: $($cmd.Name) has no DESCRIPTION." }

    $params = @($cmd.Parameters.Values | Where-Object { $commonParameters -notcontains $_.Name -or $_.Name -in 'WhatIf', 'Confirm' })
    $paramDocs = @{}
    $defaults = @{}
    foreach ($p in $params) {
        $lines = $null
        if ($s.Contains('PARAMETERS') -and $s['PARAMETERS'].Contains("-$($p.Name)")) { $lines = @($s['PARAMETERS']["-$($p.Name)"]) }
        if ($lines) {
            $last = ($lines | Where-Object { $_ -match '\S' } | Select-Object -Last 1)
            if ($last -match '^\s*Default value:\s*(.+?)\s*$') { $defaults[$p.Name] = $Matches[1]; $lines = @($lines | Where-Object { $_ -ne $last }) }
            $paramDocs[$p.Name] = @(Get-Paragraph $lines)
        }
        elseif ($standardParameterText.ContainsKey($p.Name)) { $paramDocs[$p.Name] = @($standardParameterText[$p.Name]) }
        else { Write-Warning "Build-Help: $($cmd.Name) -$($p.Name) is not documented in $($src.Path)." }
    }
    if ($s.Contains('PARAMETERS')) {
        foreach ($k in $s['PARAMETERS'].Keys) {
            if ($k -and $params.Name -notcontains $k.TrimStart('-')) { Write-Warning "Build-Help: $($cmd.Name) has no parameter $k (documented in $($src.Path))." }
        }
    }

    $verb, $noun = $cmd.Name -split '-', 2
    [void]$sb.AppendLine('<command:command xmlns:maml="http://schemas.microsoft.com/maml/2004/10" xmlns:command="http://schemas.microsoft.com/maml/dev/command/2004/10" xmlns:dev="http://schemas.microsoft.com/maml/dev/2004/10">')
    [void]$sb.AppendLine("<command:details><command:name>$(Esc $cmd.Name)</command:name><command:verb>$verb</command:verb><command:noun>$noun</command:noun>")
    [void]$sb.AppendLine('<maml:description>'); Write-Para $sb $synopsis; [void]$sb.AppendLine('</maml:description></command:details>')
    [void]$sb.AppendLine('<maml:description>'); Write-Para $sb $description; [void]$sb.AppendLine('</maml:description>')

    # Syntax: one item per parameter set, from the cmdlet's metadata.
    [void]$sb.AppendLine('<command:syntax>')
    foreach ($set in $cmd.ParameterSets) {
        [void]$sb.AppendLine("<command:syntaxItem><maml:name>$(Esc $cmd.Name)</maml:name>")
        # Positional parameters by position, then mandatory ones, then the rest in declaration order;
        # -ConfigPath, -WhatIf and -Confirm last (Sort-Object is not stable, hence the index).
        $i = 0
        $ordered = foreach ($sp in $set.Parameters | Where-Object { $commonParameters -notcontains $_.Name -or $_.Name -in 'WhatIf', 'Confirm' }) {
            $late = [array]::IndexOf(@('ConfigPath', 'WhatIf', 'Confirm'), $sp.Name)
            [pscustomobject]@{ P = $sp; Key = '{0:D4}{1}{2:D4}{3:D4}' -f $(if ($sp.Position -ge 0) { $sp.Position } else { 9999 }), $(if ($sp.IsMandatory) { 0 } else { 1 }), $(if ($late -ge 0) { 1000 + $late } else { 0 }), $i++ }
        }
        foreach ($sp in ($ordered | Sort-Object Key).P) {
            $pos = if ($sp.Position -ge 0) { $sp.Position + 1 } else { 'named' }
            $isSwitch = $sp.ParameterType -eq [Management.Automation.SwitchParameter]
            [void]$sb.AppendLine("<command:parameter required=`"$($sp.IsMandatory.ToString().ToLower())`" position=`"$pos`" pipelineInput=`"false`" globbing=`"false`"><maml:name>$($sp.Name)</maml:name>")
            if (-not $isSwitch) {
                [void]$sb.AppendLine("<command:parameterValue required=`"true`">$(Esc $sp.ParameterType.Name)</command:parameterValue>")
            }
            [void]$sb.AppendLine('</command:parameter>')
        }
        [void]$sb.AppendLine('</command:syntaxItem>')
    }
    [void]$sb.AppendLine('</command:syntax>')

    [void]$sb.AppendLine('<command:parameters>')
    foreach ($p in $params | Sort-Object Name) {
        $attrs = @($p.Attributes | Where-Object { $_ -is [Management.Automation.ParameterAttribute] })
        $required = [bool]($attrs | Where-Object Mandatory)
        $positions = @($attrs | Where-Object { $_.Position -ge 0 } | ForEach-Object { $_.Position + 1 })
        $pos = if ($positions) { $positions[0] } else { 'named' }
        $how = @()
        if ($attrs | Where-Object ValueFromPipeline) { $how += 'ByValue' }
        if ($attrs | Where-Object ValueFromPipelineByPropertyName) { $how += 'ByPropertyName' }
        $pipe = if ($how) { "True ($($how -join ', '))" } else { 'False' }
        $isSwitch = $p.ParameterType -eq [Management.Automation.SwitchParameter]
        $globbing = [bool]($p.Attributes | Where-Object { $_ -is [Management.Automation.SupportsWildcardsAttribute] })
        [void]$sb.AppendLine("<command:parameter required=`"$($required.ToString().ToLower())`" variableLength=`"true`" globbing=`"$($globbing.ToString().ToLower())`" pipelineInput=`"$pipe`" position=`"$pos`" aliases=`"$(Esc (($p.Aliases | Sort-Object) -join ', '))`"><maml:name>$($p.Name)</maml:name>")
        [void]$sb.AppendLine('<maml:description>'); Write-Para $sb @($paramDocs[$p.Name]); [void]$sb.AppendLine('</maml:description>')
        $set = $p.Attributes | Where-Object { $_ -is [Management.Automation.ValidateSetAttribute] } | Select-Object -First 1
        $values = if ($set) { $set.ValidValues } else {
            $t = if ($p.ParameterType.IsArray) { $p.ParameterType.GetElementType() } else { $p.ParameterType }
            if ($t.IsEnum) { [Enum]::GetNames($t) }
        }
        if ($values) {
            [void]$sb.AppendLine('<command:parameterValueGroup>')
            foreach ($v in $values) { [void]$sb.AppendLine("<command:parameterValue required=`"false`" variableLength=`"false`">$(Esc $v)</command:parameterValue>") }
            [void]$sb.AppendLine('</command:parameterValueGroup>')
        }
        if (-not $isSwitch) { [void]$sb.AppendLine("<command:parameterValue required=`"true`" variableLength=`"false`">$(Esc $p.ParameterType.Name)</command:parameterValue>") }
        [void]$sb.AppendLine("<dev:type><maml:name>$(Esc $p.ParameterType.FullName)</maml:name><maml:uri /></dev:type>")
        $dv = if ($defaults.ContainsKey($p.Name)) { $defaults[$p.Name] } elseif ($isSwitch) { 'False' } else { 'None' }
        [void]$sb.AppendLine("<dev:defaultValue>$(Esc $dv)</dev:defaultValue>")
        [void]$sb.AppendLine('</command:parameter>')
    }
    [void]$sb.AppendLine('</command:parameters>')

    foreach ($kind in 'INPUTS', 'OUTPUTS') {
        $tag = if ($kind -eq 'INPUTS') { 'inputType' } else { 'returnValue' }
        $outer = if ($kind -eq 'INPUTS') { 'inputTypes' } else { 'returnValues' }
        $entries = [ordered]@{}
        if ($s.Contains($kind)) { foreach ($k in $s[$kind].Keys) { if ($k) { $entries[$k] = @(Get-Text $s[$kind] $k) } } }
        if ($kind -eq 'OUTPUTS' -and -not $entries.Count) { foreach ($t in $cmd.OutputType) { $entries[$t.Name] = @() } }
        if (-not $entries.Count) { continue }
        [void]$sb.AppendLine("<command:$outer>")
        foreach ($k in $entries.Keys) {
            [void]$sb.AppendLine("<command:$tag><dev:type><maml:name>$(Esc $k)</maml:name></dev:type><maml:description>")
            Write-Para $sb $entries[$k]
            [void]$sb.AppendLine("</maml:description></command:$tag>")
        }
        [void]$sb.AppendLine("</command:$outer>")
    }

    $notes = @(Get-Text $s['NOTES'])
    if ($notes) {
        [void]$sb.AppendLine('<maml:alertSet><maml:alert>'); Write-Para $sb $notes; [void]$sb.AppendLine('</maml:alert></maml:alertSet>')
    }

    $examples = if ($s.Contains('EXAMPLES')) { @($s['EXAMPLES'].Keys | Where-Object { $_ }) } else { @() }
    if ($examples.Count -lt 2) { Write-Warning "Build-Help: $($cmd.Name) has $($examples.Count) example(s); at least 2 are expected." }
    [void]$sb.AppendLine('<command:examples>')
    foreach ($title in $examples) {
        $lines = @($s['EXAMPLES'][$title])
        $code = [Collections.Generic.List[string]]::new(); $rest = [Collections.Generic.List[string]]::new()
        $inCode = $false; $seenCode = $false
        foreach ($l in $lines) {
            if ($l -match '^```') { $inCode = -not $inCode; $seenCode = $true; continue }
            if ($inCode) { $code.Add($l) } elseif ($seenCode) { $rest.Add($l) }
        }
        [void]$sb.AppendLine("<command:example><maml:title>-------- $(Esc $title) --------</maml:title>")
        [void]$sb.AppendLine("<dev:code>$(Esc (($code -join "`n").Trim()))</dev:code>")
        [void]$sb.AppendLine('<dev:remarks>'); Write-Para $sb @(Get-Paragraph $rest); [void]$sb.AppendLine('</dev:remarks></command:example>')
    }
    [void]$sb.AppendLine('</command:examples>')

    if ($s.Contains('RELATED LINKS')) {
        [void]$sb.AppendLine('<command:relatedLinks>')
        foreach ($l in $s['RELATED LINKS']['']) {
            if ($l -match '^\s*-\s*(.+?)\s*$') { [void]$sb.AppendLine("<maml:navigationLink><maml:linkText>$(Esc $Matches[1])</maml:linkText><maml:uri /></maml:navigationLink>") }
        }
        [void]$sb.AppendLine('</command:relatedLinks>')
    }
    [void]$sb.AppendLine('</command:command>')
}
[void]$sb.AppendLine('</helpItems>')

# Validate before writing: a broken file would make Get-Help silently fall back to bare syntax.
$xml = [xml]$sb.ToString()
$count = $xml.helpItems.ChildNodes.Count
foreach ($dir in @((Join-Path $ModuleBase 'en-US'), (Join-Path $OutputPath 'en-US'))) {
    New-Item -ItemType Directory -Force $dir | Out-Null
    $target = Join-Path $dir 'RunProc.Module.dll-Help.xml'
    $tmp = "$target.tmp"
    [IO.File]::WriteAllText($tmp, $sb.ToString(), [Text.UTF8Encoding]::new($false))
    Move-Item -Force $tmp $target
    foreach ($about in Get-ChildItem $SourceDir -Filter 'about_*.help.txt') { Copy-Item -Force $about.FullName $dir }
}
Write-Host "Help: $count cmdlet topic(s) and $(@(Get-ChildItem $SourceDir -Filter 'about_*.help.txt').Count) about topic(s) in $(Join-Path $ModuleBase 'en-US')" -ForegroundColor DarkGray
