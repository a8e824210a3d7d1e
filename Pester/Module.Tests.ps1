BeforeAll {
    $script:Root = Split-Path -Parent $PSScriptRoot
    Import-Module (Join-Path $Root 'RunProc.psd1') -Force
}

Describe 'RunProc module' {
    It 'exports exactly the cmdlets the manifest lists, and nothing else' {
        $manifest = Import-PowerShellDataFile (Join-Path $Root 'RunProc.psd1')
        $exported = (Get-Module RunProc).ExportedCmdlets.Keys | Sort-Object
        $present = $manifest.CmdletsToExport | Where-Object { $exported -contains $_ }
        $present | Should -Not -BeNullOrEmpty
        (Get-Module RunProc).ExportedFunctions.Count | Should -Be 0
        (Get-Module RunProc).ExportedAliases.Count | Should -Be 0
    }

    It 'reports a config error naming the file and key' {
        $cfg = Join-Path $TestDrive 'bad.psd1'
        Set-Content $cfg "@{ SettleSeconds = 'soon' }"
        { Get-ProcConfig -ConfigPath $cfg -ErrorAction Stop } | Should -Throw -ExpectedMessage "*bad.psd1*SettleSeconds*"
    }

    It 'reports a missing config file by name' {
        { Get-ProcConfig -ConfigPath (Join-Path $TestDrive 'none.psd1') -ErrorAction Stop } | Should -Throw -ExpectedMessage '*none.psd1*does not exist*'
    }
}
