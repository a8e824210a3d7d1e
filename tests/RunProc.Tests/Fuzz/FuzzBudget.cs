using System.Text.Json;

namespace RunProc.Tests.Fuzz;

/// <summary>
/// How much fuzzing a test does: a short CI budget by default, the long one when RUNPROC_LONG=1
/// (build.ps1 Faults). Figures go to RUNPROC_FAULTS_FIGURES (one JSON object a line) so the Faults
/// script can print them in its table.
/// </summary>
internal static class FuzzBudget
{
    public static bool Long => Environment.GetEnvironmentVariable("RUNPROC_LONG") == "1";

    /// <summary>The count for this run: RUNPROC_FUZZ_SCALE multiplies the long count (e.g. 0.1 for a shortened long run).</summary>
    public static int Count(int ci, int longRun)
    {
        if (!Long)
            return ci;
        var scale = double.TryParse(Environment.GetEnvironmentVariable("RUNPROC_FUZZ_SCALE"), System.Globalization.NumberStyles.Float,
            System.Globalization.CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 1.0;
        return Math.Max(ci, (int)(longRun * scale));
    }

    /// <summary>The seed: RUNPROC_FUZZ_SEED to replay a failure, else a fresh one (printed in every failure message).</summary>
    public static int Seed(string name)
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("RUNPROC_FUZZ_SEED"), out var s))
            return s;
        return Long ? Environment.TickCount ^ name.GetHashCode(StringComparison.Ordinal) : 20261124 ^ name.Length;
    }

    private static readonly object Gate = new();

    /// <summary>Appends one figure (what, count, unit, notes) for the Faults table.</summary>
    public static void Record(string figure, long value, string note = "")
    {
        var path = Environment.GetEnvironmentVariable("RUNPROC_FAULTS_FIGURES");
        if (string.IsNullOrEmpty(path))
            return;
        var line = JsonSerializer.Serialize(new { Figure = figure, Value = value, Note = note });
        lock (Gate)
            File.AppendAllText(path, line + "\n");
    }
}
