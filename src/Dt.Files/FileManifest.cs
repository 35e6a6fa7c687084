using System.Text;
using System.Text.Json;

namespace Dt.Files;

/// <summary>One chunk of a file: the Dt object holding it (<see cref="ObjectHash"/>, in the set's chunk table), the
/// SHA-256 of its raw bytes (checked after decoding) and its raw length.</summary>
public sealed record ChunkRef(string ObjectHash, string Sha256, int Size);

/// <summary>
/// One version of one file of a set: what a mirror needs to rebuild it byte for byte and to check it. A file changed,
/// renamed or deleted gets a new manifest or none; the manifest with the greatest <see cref="Version"/> for a path
/// wins (then the greater object hash, so every node picks the same one). A large file names its chunks through
/// <see cref="Lists"/> (see <see cref="ChunkLists"/>); until they are resolved, <see cref="Chunks"/> is empty.
/// </summary>
public sealed record FileManifest(
    string Path,
    long Size,
    int Mode,
    long ModifiedMicros,
    string Sha256,
    long Version,
    IReadOnlyList<ChunkRef> Chunks,
    IReadOnlyList<ChunkListRef>? Lists = null)
{
    public const string Type = "dt.file";

    /// <summary>Largest path accepted (UTF-8 bytes), and largest path component.</summary>
    public const int MaxPathBytes = 4096, MaxNameBytes = 255;

    /// <summary>Chunks of one manifest at most: 140 bytes each keep a manifest well under Dt's default 1 MiB object cap.
    /// A file with more names them through chunk lists.</summary>
    public const int MaxChunks = 6000;

    /// <summary>Chunk lists of one manifest at most (4,000 × 4,000 chunks: about 4 TB at the default chunk size).</summary>
    public const int MaxLists = 4000;

    /// <summary>Largest raw chunk a manifest may name (the publisher's chunks are far smaller; this caps a mirror's buffers).</summary>
    public const int MaxChunkBytes = 8 << 20;

    public DateTimeOffset Modified => DateTimeOffset.UnixEpoch.AddTicks(ModifiedMicros * 10);

    public JsonElement ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type", Type);
            w.WriteString("path", Path);
            w.WriteNumber("size", Size);
            w.WriteNumber("mode", Mode);
            w.WriteNumber("mtimeUs", ModifiedMicros);
            w.WriteString("sha256", Sha256);
            w.WriteNumber("version", Version);
            if (Lists is not null)
            {
                w.WriteStartArray("lists");
                foreach (var l in Lists)
                {
                    w.WriteStartArray();
                    w.WriteStringValue(l.ObjectHash);
                    w.WriteNumberValue(l.Count);
                    w.WriteNumberValue(l.Size);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
            }
            else
            {
                w.WriteStartArray("chunks");
                foreach (var c in Chunks)
                {
                    w.WriteStartArray();
                    w.WriteStringValue(c.ObjectHash);
                    w.WriteStringValue(c.Sha256);
                    w.WriteNumberValue(c.Size);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        using var doc = JsonDocument.Parse(buffer.ToArray());
        return doc.RootElement.Clone();
    }

    /// <summary>
    /// Reads and checks a manifest object: every field present and in range, the path well formed (relative, '/'
    /// separated, no '.', '..' or empty parts, no backslash or control characters), the chunk sizes adding up to
    /// the size. Anyone holding a master key can add any object, so nothing here is trusted unchecked.
    /// </summary>
    public static bool TryParse(JsonElement e, out FileManifest? manifest, out string? error)
    {
        manifest = null;
        error = null;
        try
        {
            if (e.ValueKind != JsonValueKind.Object) return Fail("not a JSON object", out error);
            if (!e.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != Type)
                return Fail($"not a file manifest (type is not \"{Type}\")", out error);
            string path = String(e, "path");
            if (PathError(path) is { } pathError) return Fail($"path '{TableNames.Shown(path)}' refused: {pathError}", out error);
            long size = Number(e, "size", 0, long.MaxValue / 2);
            int mode = (int)Number(e, "mode", 0, 0x1FF);
            long mtime = Number(e, "mtimeUs", -62135596800L * 1_000_000, 253402300799L * 1_000_000);
            string sha = Hash(e, "sha256");
            long version = Number(e, "version", 0, 1L << 53);
            if (e.TryGetProperty("lists", out var lists))
            {
                if (lists.ValueKind != JsonValueKind.Array || lists.GetArrayLength() is 0 or > MaxLists) return Fail($"'lists' is not an array of 1 to {MaxLists} chunk lists", out error);
                var refs = new List<ChunkListRef>();
                long listed = 0;
                foreach (var l in lists.EnumerateArray())
                {
                    if (l.ValueKind != JsonValueKind.Array || l.GetArrayLength() != 3) return Fail("a chunk list is not [objectHash, count, size]", out error);
                    string obj = HashValue(l[0], "chunk list object hash");
                    if (l[1].ValueKind != JsonValueKind.Number || !l[1].TryGetInt32(out int count) || count is < 1 or > ChunkLists.PerList * 2) return Fail("a chunk list's count is out of range", out error);
                    if (l[2].ValueKind != JsonValueKind.Number || !l[2].TryGetInt64(out long bytes) || bytes < count || bytes > (long)count * MaxChunkBytes) return Fail("a chunk list's size is out of range", out error);
                    listed += bytes;
                    refs.Add(new ChunkListRef(obj, count, bytes));
                }
                if (listed != size) return Fail($"the chunk lists hold {listed} bytes, the size is {size}", out error);
                manifest = new FileManifest(path, size, mode, mtime, sha, version, [], refs);
                return true;
            }
            if (!e.TryGetProperty("chunks", out var list) || list.ValueKind != JsonValueKind.Array) return Fail("'chunks' is not an array", out error);
            int n = list.GetArrayLength();
            if (n > MaxChunks) return Fail($"{n} chunks, more than {MaxChunks}", out error);
            var chunks = new List<ChunkRef>(n);
            long total = 0;
            foreach (var c in list.EnumerateArray())
            {
                if (!TryParseChunk(c, out var chunk, out error)) return false;
                total += chunk!.Size;
                chunks.Add(chunk);
            }
            if (total != size) return Fail($"the chunks hold {total} bytes, the size is {size}", out error);
            manifest = new FileManifest(path, size, mode, mtime, sha, version, chunks);
            return true;
        }
        catch (Exception x) when (x is FormatException or InvalidOperationException)
        {
            return Fail(x.Message, out error);
        }
    }

    /// <summary>Reads one [objectHash, sha256, size] entry.</summary>
    public static bool TryParseChunk(JsonElement c, out ChunkRef? chunk, out string? error)
    {
        chunk = null;
        error = null;
        if (c.ValueKind != JsonValueKind.Array || c.GetArrayLength() != 3) return Fail("a chunk is not [objectHash, sha256, size]", out error);
        try
        {
            string obj = HashValue(c[0], "chunk object hash"), raw = HashValue(c[1], "chunk sha256");
            if (c[2].ValueKind != JsonValueKind.Number || !c[2].TryGetInt32(out int n) || n < 1 || n > MaxChunkBytes)
                return Fail($"a chunk size is not between 1 and {MaxChunkBytes}", out error);
            chunk = new ChunkRef(obj, raw, n);
            return true;
        }
        catch (FormatException x)
        {
            return Fail(x.Message, out error);
        }
    }

    /// <summary>Why a manifest path is refused, or null if it is a plain relative path.</summary>
    public static string? PathError(string path)
    {
        if (path.Length == 0) return "empty";
        if (Encoding.UTF8.GetByteCount(path) > MaxPathBytes) return $"longer than {MaxPathBytes} bytes";
        if (path[0] == '/' || (path.Length >= 2 && path[1] == ':')) return "absolute";
        if (path.Any(c => c == '\\' || char.IsControl(c))) return "holds a backslash or a control character";
        foreach (var part in path.Split('/'))
        {
            if (part is "") return "holds an empty part ('//' or a trailing '/')";
            if (part is "." or "..") return "holds '.' or '..'";
            if (Encoding.UTF8.GetByteCount(part) > MaxNameBytes) return $"a name is longer than {MaxNameBytes} bytes";
        }
        if (path.Split('/')[0] == MirrorLayout.StateDirectoryName) return $"'{MirrorLayout.StateDirectoryName}' is the mirror's own directory";
        return null;
    }

    private static bool Fail(string message, out string? error)
    {
        error = message;
        return false;
    }

    private static string String(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new FormatException($"'{name}' is not a string");

    private static long Number(JsonElement e, string name, long min, long max) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) && n >= min && n <= max
            ? n : throw new FormatException($"'{name}' is not an integer between {min} and {max}");

    private static string Hash(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? HashValue(v, name) : throw new FormatException($"'{name}' is missing");

    private static string HashValue(JsonElement v, string what) =>
        v.ValueKind == JsonValueKind.String && v.GetString() is { Length: 64 } s && s.All(char.IsAsciiHexDigitLower)
            ? v.GetString()! : throw new FormatException($"'{what}' is not 64 lower-case hex digits");
}
