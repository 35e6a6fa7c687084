using System.Buffers.Text;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Dt.Files;

/// <summary>A chunk ready to add: its Dt object (canonical JSON, so its object hash is known before it is sent).</summary>
public sealed record EncodedChunk(ChunkRef Ref, byte[] Json, bool Compressed);

/// <summary>
/// Turns raw bytes into a chunk object and back: <c>{"data":"BASE64URL"}</c>, or <c>{"data":"BASE64URL","z":"deflate"}</c>
/// when deflate saves at least an eighth. Base64url (RFC 4648 §5, no padding) because JSON writers escape the '+' of
/// plain base64 (<c>\u002B</c>), which grows every body and sends the node's canonicalizer down its slow path. The JSON
/// is already RFC 8785 canonical (sorted keys, nothing to escape), so its SHA-256 is the object hash Dt gives it. Decoding checks the raw SHA-256 and length, and never
/// inflates past the declared size.
/// </summary>
public static class ChunkCodec
{
    /// <summary>Compression is tried on a sample first: incompressible data (media, archives) costs only this much.</summary>
    private const int SampleBytes = 16 * 1024;

    public static EncodedChunk Encode(ReadOnlySpan<byte> raw, bool tryCompress = true)
    {
        string sha = Convert.ToHexStringLower(SHA256.HashData(raw));
        byte[]? packed = tryCompress && WorthCompressing(raw) ? Deflate(raw) : null;
        bool compressed = packed is not null && packed.Length <= raw.Length - raw.Length / 8;
        ReadOnlySpan<byte> body = compressed ? packed : raw;
        byte[] json = Wrap(body, compressed);
        return new EncodedChunk(new ChunkRef(Convert.ToHexStringLower(SHA256.HashData(json)), sha, raw.Length), json, compressed);
    }

    /// <summary>Bytes of the chunk object for <paramref name="rawBytes"/> incompressible bytes: what must fit under Dt:MaxObjectBytes.</summary>
    public static long MaxObjectBytes(int rawBytes) => (4L * rawBytes + 2) / 3 + 32;

    /// <summary>Decodes a chunk object fetched by <paramref name="expected"/>'s object hash into <paramref name="destination"/>
    /// (exactly <see cref="ChunkRef.Size"/> bytes); returns the length of its base64; throws <see cref="InvalidDataException"/> if anything does not match.</summary>
    public static int Decode(JsonElement value, ChunkRef expected, Span<byte> destination)
    {
        if (destination.Length != expected.Size) throw new ArgumentException("destination must be the chunk's size", nameof(destination));
        if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"chunk {expected.ObjectHash} is not a chunk object");
        bool compressed = value.TryGetProperty("z", out var z) && (z.ValueKind == JsonValueKind.String && z.GetString() == "deflate"
            ? true : throw new InvalidDataException($"chunk {expected.ObjectHash} has an unknown encoding"));
        // Base64 of a chunk is bounded by the manifest's size cap before anything is allocated for it.
        // The raw token (between its quotes): base64url has nothing to escape, so an escape means a forged object.
        var encoded = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(data)[1..^1];
        if (encoded.Length > MaxObjectBytes(FileManifest.MaxChunkBytes)) throw new InvalidDataException($"chunk {expected.ObjectHash} is too large");
        byte[] bytes = new byte[Base64Url.GetMaxDecodedLength(encoded.Length)];
        if (Base64Url.DecodeFromUtf8(encoded, bytes, out _, out int decoded) != System.Buffers.OperationStatus.Done)
            throw new InvalidDataException($"chunk {expected.ObjectHash} is not base64url");
        if (compressed) Inflate(bytes, decoded, destination, expected);
        else if (decoded != expected.Size) throw new InvalidDataException($"chunk {expected.ObjectHash} holds {decoded} bytes, the manifest says {expected.Size}");
        else bytes.AsSpan(0, decoded).CopyTo(destination);
        if (Convert.ToHexStringLower(SHA256.HashData(destination)) != expected.Sha256)
            throw new InvalidDataException($"chunk {expected.ObjectHash} does not match its SHA-256 {expected.Sha256}");
        return encoded.Length;
    }

    private static bool WorthCompressing(ReadOnlySpan<byte> raw)
    {
        if (raw.Length < 512) return false;
        var sample = raw[..Math.Min(raw.Length, SampleBytes)];
        return Deflate(sample).Length < sample.Length * 0.85;
    }

    private static byte[] Deflate(ReadOnlySpan<byte> raw)
    {
        using var output = new MemoryStream(raw.Length / 2 + 64);
        using (var deflate = new DeflateStream(output, CompressionLevel.Fastest, leaveOpen: true)) deflate.Write(raw);
        return output.ToArray();
    }

    private static void Inflate(byte[] packed, int length, Span<byte> destination, ChunkRef expected)
    {
        using var inflate = new DeflateStream(new MemoryStream(packed, 0, length), CompressionMode.Decompress);
        int filled = 0;
        while (filled < destination.Length)
        {
            int n = inflate.Read(destination[filled..]);
            if (n == 0) throw new InvalidDataException($"chunk {expected.ObjectHash} inflates to {filled} bytes, the manifest says {expected.Size}");
            filled += n;
        }
        Span<byte> probe = stackalloc byte[1];
        if (inflate.Read(probe) != 0) throw new InvalidDataException($"chunk {expected.ObjectHash} inflates past the {expected.Size} bytes the manifest says");
    }

    private static byte[] Wrap(ReadOnlySpan<byte> body, bool compressed)
    {
        string tail = compressed ? "\",\"z\":\"deflate\"}" : "\"}";
        int b64 = Base64Url.GetEncodedLength(body.Length);
        var json = new byte[9 + b64 + tail.Length];
        Encoding.ASCII.GetBytes("{\"data\":\"", json);
        Base64Url.EncodeToUtf8(body, json.AsSpan(9), out _, out int written);
        Encoding.ASCII.GetBytes(tail, json.AsSpan(9 + written));
        return json;
    }
}
