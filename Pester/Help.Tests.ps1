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

    It 'names its output type' {
        if ($Cmd.OutputType.Count -gt 0) {
            ($Help.returnValues.returnValue.type.name -join ' ') | Should -Not -BeNullOrEmpty
        }
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
