# RunProc module manifest (hand-written). The binary module is built into ./bin by build.ps1.
@{
    RootModule           = 'bin/RunProc.Module.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f1b7a52-3c1e-4d0f-9a55-0e2f4c7d1b19'
    Author               = 'RunProc developers'
    CompanyName          = 'RunProc'
    Copyright            = '(c) RunProc developers. All rights reserved.'
    Description          = 'Automatic processing of every new data run of an X-ray facility: run catalog, flat-file processing DB, batch jobs (local, Slurm, LSF) and the pixel_status bad-pixel process. Linux x64 only (linux-x64: ReadyToRun code and the native SkiaSharp library).'
    # .NET 10 assemblies, compiled against PowerShell 7.6's System.Management.Automation: 7.6 or later
    # (7.4 and 7.5 run on .NET 8 and 9 and could not load them; this makes Import-Module say so).
    PowerShellVersion    = '7.6'
    CompatiblePSEditions = @('Core')
    # The build is linux-x64 (ReadyToRun, native SkiaSharp): Import-Module refuses another architecture,
    # and the module refuses another OS on import with a message that says so.
    ProcessorArchitecture = 'Amd64'
    FormatsToProcess     = @(
        'bin/Catalog.Format.ps1xml'
        'bin/Batch.Format.ps1xml'
        'bin/Pixels.Format.ps1xml'
    )
    CmdletsToExport      = @(
        'Get-ProcConfig'
        'Get-PendingRun'
        'Register-ProcRun'
        'Get-ProcRun'
        'Move-ArchivedRun'
        'Get-ProcExperiment'
        'Export-ProcReport'
        'Add-ProcExperiment'
        'Remove-ProcExperiment'
        'Submit-ProcJob'
        'Watch-ProcJob'
        'Get-ProcJob'
        'Stop-ProcJob'
        'Invoke-ProcCycle'
        'Register-ProcSchedule'
        'Unregister-ProcSchedule'
        'Invoke-PixelStatus'
        'Merge-PixelStatus'
        'New-ProcDemoFacility'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags = @('LCLS', 'XFEL', 'Slurm', 'LSF', 'Detector', 'Calibration', 'Linux', 'linux-x64', 'PSEdition_Core')
        }
    }
}
