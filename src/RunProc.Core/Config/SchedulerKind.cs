namespace RunProc.Config;

/// <summary>Which batch system a process submits to.</summary>
public enum SchedulerKind
{
    Local,
    Slurm,
    Lsf,
}
