using System.Security.Cryptography;
using System.Text.Json;

namespace Dt.Files;

/// <summary>A list object of a large file's chunks, in the set's chunk table: its object hash, entries and bytes.</summary>
public sealed record ChunkListRef(string ObjectHash, int Count, long Size);

/// <summary>
/// Files with more chunks than a manifest holds inline keep them in list objects
/// (<c>{"chunks":[[objectHash, sha256, size], ...],"type":"dt.chunks"}</c>, canonical JSON, in the chunk table) that
/// the manifest names in order: one level of indirection, so a file's size is bounded by
/// <see cref="FileManifest.MaxLists"/> × <see cref="PerList"/> chunks, not by one object's size.
/// </summary>
public static class ChunkLists
{
    public const string Type = "dt.chunks";

    /// <summary>Entries per list object: about 560 KB of JSON, under Dt's default 1 MiB object cap.</summary>
    public const int PerList = 4000;

    /// <summary>The list objects for <paramref name="chunks"/>, ready to add, and their references in order.</summary>
    public static (List<ChunkListRef> Refs, List<EncodedChunk> Objects) Build(IReadOnlyList<ChunkRef> chunks, int perList = PerList)
    {
        var refs = new List<ChunkListRef>();
        var objects = new List<EncodedChunk>();
        for (int at = 0; at < chunks.Count; at += perList)
        {
            var part = chunks.Skip(at).Take(perList).ToList();
            using var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer))
            {
                // Members in RFC 8785 order ("chunks" < "type"), compact, integers: already canonical.
                w.WriteStartObject();
                w.WriteStartArray("chunks");
                foreach (var c in part)
                {
                    w.WriteStartArray();
                    w.WriteStringValue(c.ObjectHash);
                    w.WriteStringValue(c.Sha256);
                    w.WriteNumberValue(c.Size);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                w.WriteString("type", Type);
                w.WriteEndObject();
            }
            byte[] json = buffer.ToArray();
            string hash = Convert.ToHexStringLower(SHA256.HashData(json));
            long size = part.Sum(c => (long)c.Size);
            refs.Add(new ChunkListRef(hash, part.Count, size));
            objects.Add(new EncodedChunk(new ChunkRef(hash, hash, json.Length), json, Compressed: false));
        }
        return (refs, objects);
    }

    /// <summary>The manifest with its chunks read from its list objects (as it is when it holds them inline);
    /// <see cref="FileSyncException"/> if a list is missing or does not match the manifest.</summary>
    public static async Task<FileManifest> ResolveAsync(IDtGrainFactory dt, string set, FileManifest m, CancellationToken ct)
    {
        if (m.Lists is null || m.Chunks.Count > 0) return m;
        var table = dt.GetTable(FileSetNames.ChunkTable(set));
        var chunks = new List<ChunkRef>();
        foreach (var list in m.Lists)
        {
            ct.ThrowIfCancellationRequested();
            var record = await table.GetObject(list.ObjectHash)
                         ?? throw new FileSyncException($"chunk list {list.ObjectHash} of {m.Path} is not on this node (yet)");
            var e = record.Value;
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String || t.GetString() != Type
                || !e.TryGetProperty("chunks", out var entries) || entries.ValueKind != JsonValueKind.Array || entries.GetArrayLength() != list.Count)
                throw new FileSyncException($"chunk list {list.ObjectHash} of {m.Path} is not a list of {list.Count} chunks");
            long size = 0;
            foreach (var entry in entries.EnumerateArray())
            {
                if (!FileManifest.TryParseChunk(entry, out var c, out var error)) throw new FileSyncException($"chunk list {list.ObjectHash} of {m.Path}: {error}");
                size += c!.Size;
                chunks.Add(c);
            }
            if (size != list.Size) throw new FileSyncException($"chunk list {list.ObjectHash} of {m.Path} holds {size} bytes, the manifest says {list.Size}");
        }
        return m with { Chunks = chunks };
    }
}
