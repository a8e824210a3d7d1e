<#
.SYNOPSIS
    Lays out the built module as a versioned module folder and packs it for PSResourceGet.
.DESCRIPTION
    Called by `build.ps1 Package` after the build (and by Pester/Install.Tests.ps1 on the build that
    is tested). Copies ./RunProc.psd1, ./bin and ./en-US into <OutputPath>/RunProc/<version>/, the
    layout PowerShell finds on PSModulePath, and packs that folder into
    <OutputPath>/RunProc.<version>.nupkg with Compress-PSResource, so that
        Register-PSResourceRepository -Name local -Uri <OutputPath> -Trusted
        Install-PSResource RunProc -Repository local
    installs it. The version is the manifest's ModuleVersion (the assemblies take theirs from it,
    see Directory.Build.props). Returns the folder, the package and the version.
#>
[CmdletBinding()]
param(
    # The repository root (holds RunProc.psd1 and the build in ./bin).
    [Parameter(Mandatory)] [string] $Root,
    # Where the folder and the .nupkg go.
    [Parameter(Mandatory)] [string] $OutputPath
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$manifest = Join-Path $Root 'RunProc.psd1'
$version = [version] (Import-PowerShellDataFile $manifest).ModuleVersion
$dll = Join-Path $Root 'bin/RunProc.Module.dll'
if (-not (Test-Path $dll)) { throw "no build in $(Join-Path $Root "bin"): run 'build.ps1 Build' first." }
# A bin built before the manifest's version changed would be shipped under the wrong version.
$built = [Reflection.AssemblyName]::GetAssemblyName($dll).Version
if ($built.Major -ne $version.Major -or $built.Minor -ne $version.Minor -or $built.Build -ne [Math]::Max(0, $version.Build)) {
    throw "bin/RunProc.Module.dll is version $built but RunProc.psd1 says ${version}: run 'build.ps1 Build' again."
}

$OutputPath = [IO.Path]::GetFullPath($OutputPath)
$folder = Join-Path $OutputPath "RunProc/$version"
$package = Join-Path $OutputPath "RunProc.$version.nupkg"
Remove-Item -Recurse -Force $folder, $package -ErrorAction Ignore
New-Item -ItemType Directory -Force $folder | Out-Null
Copy-Item $manifest $folder
Copy-Item -Recurse (Join-Path $Root 'bin') (Join-Path $folder 'bin')
# Get-Help looks for a binary module's help in <ModuleBase>/<culture>/.
Copy-Item -Recurse (Join-Path $Root 'en-US') (Join-Path $folder 'en-US')

Compress-PSResource -Path $folder -DestinationPath $OutputPath
if (-not (Test-Path $package)) { throw "Compress-PSResource wrote no $package." }
[pscustomobject]@{ Version = $version.ToString(); ModuleFolder = $folder; Package = $package }
