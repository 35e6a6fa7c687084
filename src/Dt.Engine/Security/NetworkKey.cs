using System.Security.Cryptography;
using System.Text;

namespace Dt.Security;

/// <summary>
/// The pre-shared network key (32 bytes). Its <see cref="Id"/> is a public 8-byte tag derived from it, sent in the
/// handshake so a peer with another key is refused with a clear reason before any proof is attempted.
/// </summary>
internal sealed class NetworkKey
{
    public const int Size = 32;

    private readonly byte[] _secret;

    public NetworkKey(ReadOnlySpan<byte> secret)
    {
        if (secret.Length != Size) throw new ArgumentException($"a network key is {Size} bytes, got {secret.Length}");
        _secret = secret.ToArray();
        Id = HMACSHA256.HashData(_secret, "dt key id v1"u8)[..8];
    }

    public byte[] Id { get; }

    public string IdHex => Convert.ToHexStringLower(Id);

    internal ReadOnlySpan<byte> Secret => _secret;

    public static NetworkKey Generate() => new(RandomNumberGenerator.GetBytes(Size));

    /// <summary>Parses a key written as base64 (44 chars) or hex (64 chars).</summary>
    public static bool TryParse(string? text, out NetworkKey? key)
    {
        key = null;
        if (string.IsNullOrWhiteSpace(text)) return false;
        text = text.Trim();
        byte[]? bytes = null;
        try
        {
            if (text.Length == 64) bytes = Convert.FromHexString(text);
            else bytes = Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            return false;
        }
        if (bytes.Length != Size) return false;
        key = new NetworkKey(bytes);
        return true;
    }

    public string ToBase64() => Convert.ToBase64String(_secret);

    /// <summary>A public 8-byte tag of a network name; names are compared in the handshake and bound into its keys.</summary>
    public static byte[] NetworkTag(string network) =>
        SHA256.HashData(Encoding.UTF8.GetBytes("dt network v1\0" + network))[..8];
}

/// <summary>
/// The keys a node accepts. The primary key is offered when dialing; any key in the ring is accepted from a peer,
/// so a network switches keys without downtime: install the new key everywhere, make it primary everywhere, then
/// remove the old one (links still running on it are closed and re-dialed with the new one).
/// </summary>
internal sealed class KeyRing
{
    private readonly Lock _lock = new();
    private volatile NetworkKey[] _keys;

    public KeyRing(NetworkKey primary, IEnumerable<NetworkKey>? others = null)
    {
        var list = new List<NetworkKey> { primary };
        if (others != null)
            foreach (var k in others)
                if (!list.Any(x => x.Id.AsSpan().SequenceEqual(k.Id))) list.Add(k);
        _keys = [.. list];
    }

    public NetworkKey Primary => _keys[0];

    public IReadOnlyList<NetworkKey> Keys => _keys;

    public NetworkKey? Find(ReadOnlySpan<byte> id)
    {
        foreach (var k in _keys)
            if (k.Id.AsSpan().SequenceEqual(id)) return k;
        return null;
    }

    /// <summary>Accepts a further key from peers (step 1 of a rotation).</summary>
    public void Install(NetworkKey key)
    {
        lock (_lock)
            if (Find(key.Id) is null) _keys = [.. _keys, key];
    }

    /// <summary>Makes an installed key the one offered when dialing (step 2).</summary>
    public void Use(ReadOnlySpan<byte> id)
    {
        lock (_lock)
        {
            var key = Find(id) ?? throw new DtException(DtErrorCodes.InvalidArgument, $"network key {Convert.ToHexStringLower(id)} is not installed");
            _keys = [key, .. _keys.Where(k => k != key)];
        }
    }

    /// <summary>Stops accepting a key (step 3). The primary key cannot be removed.</summary>
    public void Remove(ReadOnlySpan<byte> id)
    {
        lock (_lock)
        {
            if (Primary.Id.AsSpan().SequenceEqual(id))
                throw new DtException(DtErrorCodes.InvalidArgument, "the primary network key cannot be removed; switch to another key first");
            var keep = new List<NetworkKey>();
            foreach (var k in _keys)
                if (!k.Id.AsSpan().SequenceEqual(id)) keep.Add(k);
            _keys = [.. keep];
        }
    }
}
