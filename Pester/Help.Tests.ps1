# Every exported cmdlet has real help: synopsis, description, every parameter documented, at least
# two examples with code; about_RunProc explains the concepts. Help is read with Get-Help from the
# built module exactly as a user sees it.
BeforeDiscovery {
    $root = Split-Path -Parent $PSScriptRoot
    Import-Module (Join-Path $root 'RunProc.psd1') -Force
    $script:Cmdlets = @(Get-Command -Module RunProc -CommandType Cmdlet | ForEach-Object { @{ Name = $_.Name } })
}

BeforeAll {
    $script:Root = Split-Path -Parent $PSScriptRoot
    Import-Module (Join-Path $Root 'RunProc.psd1') -Force
    $script:Common = [Management.Automation.PSCmdlet]::CommonParameters + [Management.Automation.PSCmdlet]::OptionalCommonParameters

    function Test-RunProcUsage {
        # Parses PowerShell code and returns a problem for every RunProc cmdlet call that uses a
        # parameter the cmdlet does not have (names, unambiguous prefixes and aliases count), so
        # examples cannot drift from the code.
        param([string] $Code, [string] $Where)
        $tokens = $errors = $null
        $ast = [Management.Automation.Language.Parser]::ParseInput($Code, [ref]$tokens, [ref]$errors)
        if ($errors) { return "${Where}: does not parse: $($errors[0].Message)" }
        $module = Get-Module RunProc
        foreach ($call in $ast.FindAll({ param($a) $a -is [Management.Automation.Language.CommandAst] }, $true)) {
            $name = $call.GetCommandName()
            if (-not $name -or -not $module.ExportedCmdlets.ContainsKey($name)) { continue }
            $cmd = Get-Command $name
            $names = @($cmd.Parameters.Values | ForEach-Object { $_.Name; $_.Aliases })
            foreach ($p in $call.CommandElements | Where-Object { $_ -is [Management.Automation.Language.CommandParameterAst] }) {
                $hits = @($names | Where-Object { $_ -eq $p.ParameterName })
                if (-not $hits) { $hits = @($cmd.Parameters.Keys | Where-Object { $_ -like "$($p.ParameterName)*" }) }
                if ($hits.Count -ne 1) { "${Where}: $name has no parameter -$($p.ParameterName)" }
            }
        }
    }
}

Describe 'Help of <Name>' -ForEach $Cmdlets {
    BeforeAll {
        $script:Help = Get-Help $Name -Full
        $script:Cmd = Get-Command $Name
    }

    It 'has a synopsis (not just the generated syntax)' {
        $Help.Synopsis | Should -Not -BeNullOrEmpty
        $Help.Synopsis.Trim() | Should -Not -BeLike "$Name *"
        $Help.Synopsis.Trim() | Should -Not -Be $Name
    }

    It 'has a description' {
        ($Help.description.Text -join ' ').Trim().Length | Should -BeGreaterThan 40
    }

    It 'documents every parameter' {
        $documented = @{}
        foreach ($p in @($Help.parameters.parameter)) { if ($p) { $documented[$p.name] = ($p.description.Text -join ' ').Trim() } }
        $missing = foreach ($p in $Cmd.Parameters.Keys) {
            if ($Common -contains $p -and $p -notin 'WhatIf', 'Confirm') { continue }
            # DontShow parameters are pipeline plumbing, hidden from help as from tab completion.
            if ($Cmd.Parameters[$p].Attributes | Where-Object { $_ -is [Management.Automation.ParameterAttribute] -and $_.DontShow }) { continue }
            if (-not $documented[$p]) { $p }
        }
        $missing | Should -BeNullOrEmpty -Because "every parameter of $Name needs a description in src/RunProc.Module/help/en-US/$Name.md"
    }

    It 'documents no parameter that does not exist' {
        $extra = @($Help.parameters.parameter) | Where-Object { $_ -and -not $Cmd.Parameters.ContainsKey($_.name) } | ForEach-Object name
        $extra | Should -BeNullOrEmpty
    }

    It 'has at least two examples with code and an explanation' {
        $examples = @($Help.examples.example)
        $examples.Count | Should -BeGreaterOrEqual 2
        foreach ($e in $examples) {
            $e.code | Should -Match $Name -Because 'an example shows the cmdlet itself'
            ($e.remarks.Text -join ' ').Trim() | Should -Not -BeNullOrEmpty
        }
    }

    It 'numbers its examples 1, 2, 3 ... with distinct titles' {
        $titles = @($Help.examples.example | ForEach-Object { ($_.title -replace '^-+\s*|\s*-+$', '').Trim() })
        $numbers = @($titles | ForEach-Object { if ($_ -match '^Example (\d+)') { [int]$Matches[1] } else { 0 } })
        $numbers | Should -Be @(1..$titles.Count) -Because "the examples of $Name are titled: $($titles -join ' | ')"
        @($titles | Select-Object -Unique).Count | Should -Be $titles.Count
    }

    It 'uses only real parameters in its examples' {
        $problems = foreach ($e in @($Help.examples.example)) { Test-RunProcUsage -Code $e.code -Where "$Name $($e.title.Trim('- '))" }
        $problems | Should -BeNullOrEmpty
    }

    It 'names its output type' {
        if ($Cmd.OutputType.Count -gt 0) {
            ($Help.returnValues.returnValue.type.name -join ' ') | Should -Not -BeNullOrEmpty
        }
    }
}

Describe 'README' {
    It 'uses only real parameters of RunProc cmdlets in its PowerShell blocks' {
        $text = Get-Content -Raw (Join-Path $Root 'README.md')
        $blocks = [regex]::Matches($text, '(?ms)^```powershell\r?\n(.*?)^```')
        $blocks.Count | Should -BeGreaterThan 5
        $problems = foreach ($b in $blocks) {
            # The config block is a data file, not commands.
            if ($b.Groups[1].Value.TrimStart().StartsWith('@{')) { continue }
            Test-RunProcUsage -Code $b.Groups[1].Value -Where "README.md, block at line $(($text.Substring(0, $b.Index) -split "`n").Count)"
        }
        $problems | Should -BeNullOrEmpty
    }
}

Describe 'about_RunProc' {
    It 'is found by Get-Help and explains <_>' -ForEach @('process', 'run', 'ready', 'experiments.txt', 'proc-runs.txt', 'Pending', 'Running', 'Done', 'Failed', 'Lost', 'Local', 'Slurm', 'Lsf', 'SettleSeconds', 'Invoke-ProcCycle') {
        $text = Get-Help about_RunProc | Out-String
        $text | Should -Match ([regex]::Escape($_))
    }

    It 'names every exported cmdlet' {
        $text = Get-Help about_RunProc | Out-String
        foreach ($c in (Get-Module RunProc).ExportedCmdlets.Keys) { $text | Should -Match ([regex]::Escape($c)) }
    }
}

Describe 'Help in a fresh pwsh' {
    It 'Get-Help finds the MAML help and about_RunProc after Import-Module ./RunProc.psd1' {
        # The help files must be where PowerShell looks for a binary module whose manifest is at the
        # repository root: a fresh process, no state of this session.
        $pwsh = [Environment]::ProcessPath
        $pre = @(if ([IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { [Environment]::GetCommandLineArgs()[0] })
        $script = "Import-Module '$Root/RunProc.psd1'; (Get-Help Get-ProcConfig).Synopsis; (Get-Help about_RunProc | Out-String).Contains('SHORT DESCRIPTION')"
        $out = & $pwsh @pre -NoProfile -NonInteractive -Command $script
        $LASTEXITCODE | Should -Be 0
        $out[0] | Should -Match 'effective site configuration'
        $out[-1] | Should -Be 'True'
    }
}
