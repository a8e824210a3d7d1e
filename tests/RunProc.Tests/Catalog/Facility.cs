using System.Collections;
using RunProc.Config;

namespace RunProc.Tests.Catalog;

/// <summary>A throw-away facility tree (data + DB) in a temp directory, for catalog and DB tests.</summary>
internal sealed class Facility : IDisposable
{
    public Facility(int settleSeconds = 120, Hashtable? extra = null)
    {
        Root = Path.Join(Path.GetTempPath(), "runproc-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        var data = new Hashtable
        {
            ["DataRoot"] = Path.Join(Root, "data"),
            ["DbRoot"] = Path.Join(Root, "db"),
            ["SettleSeconds"] = settleSeconds,
        };
        if (extra is not null)
            foreach (DictionaryEntry e in extra) data[e.Key] = e.Value;
        Config = RunProcConfig.FromDictionary(data, Path.Join(Root, "runproc.psd1"));
        Directory.CreateDirectory(Config.DbRoot);
    }

    public string Root { get; }
    public RunProcConfig Config { get; }

    /// <summary>An old time, so runs are settled.</summary>
    public static readonly DateTime Old = DateTime.UtcNow.AddHours(-3);

    public string RunDir(string ins, string exp)
    {
        var d = Path.Join(Config.DataRoot, ins, exp, Config.RunDirectory);
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>Writes files with the given names into exp's run dir, with write time <paramref name="mtimeUtc"/> (default old).</summary>
    public List<string> Files(string ins, string exp, DateTime? mtimeUtc, params string[] names)
    {
        var dir = RunDir(ins, exp);
        var list = new List<string>();
        foreach (var n in names)
        {
            var p = Path.Join(dir, n);
            File.WriteAllText(p, "data-" + n);
            File.SetLastWriteTimeUtc(p, mtimeUtc ?? Old);
            list.Add(p);
        }
        return list;
    }

    /// <summary>A LCLS-I run with <paramref name="streams"/> streams, chunk 0, settled.</summary>
    public List<string> Run(string ins, string exp, int run, int streams = 3, DateTime? mtimeUtc = null) =>
        Files(ins, exp, mtimeUtc, Enumerable.Range(0, streams).Select(s => $"{exp}-r{run:D4}-s{s:D2}-c00.xtc").ToArray());

    public string DbFile(params string[] parts) => Path.Join(new[] { Config.DbRoot }.Concat(parts).ToArray());

    public void WriteDb(string text, params string[] parts)
    {
        var p = DbFile(parts);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, text);
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
