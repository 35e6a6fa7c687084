using System.Text.Json;
using System.Text.Json.Serialization;

namespace Dt.Files;

/// <summary>A file the mirror wrote: from which manifest, and what it looked like on disk right after.</summary>
public sealed record MirroredFile(string Manifest, long Size, long ModifiedMicros, int Mode, string Sha256);

/// <summary>
/// What a mirror wrote, kept in <c>.dt-files/state.json</c> (written through a temporary file and a rename). It
/// decides what a deletion may remove (only what the mirror wrote) and lets unchanged files be skipped without
/// reading them. Lost or damaged, it is rebuilt: files already in place are checked by hash and kept.
/// </summary>
public sealed class MirrorState
{
    public string Set { get; set; } = "";

    public Dictionary<string, MirroredFile> Files { get; set; } = new(StringComparer.Ordinal);

    public static MirrorState Load(string root, string set)
    {
        string path = MirrorLayout.StateFile(root);
        try
        {
            if (File.Exists(path) && JsonSerializer.Deserialize(File.ReadAllBytes(path), MirrorJsonContext.Default.MirrorState) is { } s)
            {
                if (s.Set != set) throw new FileSyncException($"{root} is the mirror of file set '{s.Set}', not '{set}' (remove {path} to reuse the directory)");
                s.Files = new Dictionary<string, MirroredFile>(s.Files, StringComparer.Ordinal);
                return s;
            }
        }
        catch (JsonException)
        {
            // Rebuilt below: files in place are re-checked by hash.
        }
        return new MirrorState { Set = set };
    }

    public void Save(string root)
    {
        string path = MirrorLayout.StateFile(root), temp = path + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(this, MirrorJsonContext.Default.MirrorState));
        File.Move(temp, path, overwrite: true);
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(MirrorState))]
internal sealed partial class MirrorJsonContext : JsonSerializerContext;
