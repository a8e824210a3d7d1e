using System.Globalization;

namespace RunProc.Batch;

/// <summary>
/// The one time base of job logs and status files: local time with its UTC offset
/// (2026-12-01T13:05:09-08:00), as the job wrapper writes it too (date +%Y-%m-%dT%H:%M:%S%:z).
/// </summary>
public static class LogTime
{
    public static string Format(DateTimeOffset t) => t.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);

    public static string Now() => Format(DateTimeOffset.Now);
}
