using RunProc.IO;
using Xunit;

namespace RunProc.Tests.Db;

/// <summary>
/// Replacing a file (write-temp-then-swap): the new content is under the name, the old mode is
/// kept, nothing else is left in the directory (the swapped-out old file is removed), and a reader
/// that opened the old file keeps reading the old content — for outputs (no fsync: the
/// RENAME_EXCHANGE path) and for durable rewrites (fsync, rename) alike.
/// </summary>
public sealed class SafeFileReplaceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("runproc-replace-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_replaced_file_has_the_new_content_the_old_mode_and_no_leftovers(bool durable)
    {
        var path = Path.Join(_dir, "ave.txt");
        var old = new byte[3 << 20];
        Array.Fill(old, (byte)'o');
        File.WriteAllBytes(path, old);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        using var reader = new FileStream(path, FileMode.Open, FileAccess.Read);

        for (var round = 0; round < 3; round++)
        {
            var content = new byte[(2 << 20) + round];
            Array.Fill(content, (byte)('a' + round));
            if (durable)
                SafeFile.WriteAllBytesAtomic(path, content, 0x1B4 /* 0664 */);
            else
                SafeFile.WriteOutputAtomic(path, content, 0x1B4);
            Assert.Equal(content, File.ReadAllBytes(path));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(path));
            Assert.Equal(new[] { "ave.txt" }, Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName));
        }

        var kept = new byte[old.Length];
        reader.ReadExactly(kept);
        Assert.Equal(old, kept);
    }

    [Fact]
    public void A_new_file_is_created_with_the_given_mode()
    {
        var path = Path.Join(_dir, "new.txt");
        SafeFile.WriteOutputAtomic(path, "x\n"u8.ToArray(), 0x1A0 /* 0640 */);
        Assert.Equal("x\n", File.ReadAllText(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(path));
        Assert.Single(Directory.GetFileSystemEntries(_dir));
    }
}
