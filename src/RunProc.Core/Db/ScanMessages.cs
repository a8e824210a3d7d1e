namespace RunProc.Db;

/// <summary>
/// Verbose messages and warnings of one experiment's scan, kept in order while it runs on a scan
/// thread and replayed on the caller's thread (a PowerShell cmdlet may write only from its own).
/// </summary>
internal sealed class ScanMessages
{
    private readonly List<(string? Verbose, DbWarning? Warning)> _items = new();

    public void Verbose(string message) => _items.Add((message, null));

    public void Warn(DbWarning warning) => _items.Add((null, warning));

    public void Replay(Action<string>? verbose, Action<DbWarning>? warn)
    {
        foreach (var (v, w) in _items)
        {
            if (v is not null) verbose?.Invoke(v);
            else if (w is not null) warn?.Invoke(w);
        }
    }
}
