namespace RunProc.Config;

/// <summary>A configuration that cannot be used: names the file, the key and what is wrong.</summary>
public sealed class ConfigException : Exception
{
    public ConfigException(string file, string? key, string problem, Exception? inner = null)
        : base(Format(file, key, problem), inner)
    {
        File = file;
        Key = key;
        Problem = problem;
    }

    public string File { get; }
    public string? Key { get; }
    public string Problem { get; }

    private static string Format(string file, string? key, string problem) =>
        key is null
            ? $"RunProc config '{file}': {problem}"
            : $"RunProc config '{file}', key '{key}': {problem}";
}
