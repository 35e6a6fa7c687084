using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using Dt.Dns.Wire;
using Dt.Dns.Zones;

namespace Dt.Dns.Server;

/// <summary>
/// Whole UDP responses kept per question, for the zones as they are now: a repeated question is answered by copying
/// the bytes built the first time and patching the id and the RD/CD bits, without parsing the request into objects or
/// walking the zone. One cache per UDP receive thread (no locks). Valid for one <see cref="ZoneTable"/> (an immutable
/// value replaced on every change): the first lookup after a change starts empty.
/// <para>
/// Only plain queries take this path: QR=0, opcode QUERY, one question with uncompressed labels, no answer or
/// authority records, and either nothing after the question or exactly one OPT record of version 0 with no options
/// (anything else, a cookie or a TSIG say, goes the full way). The key is the question's bytes as sent (case included)
/// plus what of EDNS shapes the answer (present or not, the DO bit, the size limit), so a hit is a request the full path
/// answered before with this exact answer. At most <see cref="DnsOptions.AnswerCacheSize"/> entries; when full, new
/// answers are not kept until the zones change.
/// </para>
/// </summary>
internal sealed class AnswerCache(int capacity)
{
    private const int KeySuffix = 4;

    private readonly Dictionary<byte[], byte[]> _entries = new(KeyComparer.Instance);
    private readonly byte[] _key = new byte[255 + 4 + KeySuffix];
    private ZoneTable? _table;
    private int _keyLength;

    public int Count => _entries.Count;

    /// <summary>
    /// Reads the request's question into the lookup key. False if the request is not a plain query (then neither
    /// <see cref="TryAnswer"/> nor <see cref="Add"/> may be used for it).
    /// </summary>
    public bool TryKey(ReadOnlySpan<byte> request, int maxUdpPayload)
    {
        _keyLength = 0;
        if (capacity == 0 || request.Length < 17) return false;
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(request[2..]);
        if ((flags & (DnsFlags.QR | DnsFlags.OpcodeMask)) != 0) return false;
        if (BinaryPrimitives.ReadUInt16BigEndian(request[4..]) != 1 || BinaryPrimitives.ReadUInt32BigEndian(request[6..]) != 0) return false;
        int arcount = BinaryPrimitives.ReadUInt16BigEndian(request[10..]);
        if (arcount > 1) return false;
        int p = 12;
        while (true)
        {
            if (p >= request.Length) return false;
            int len = request[p];
            if (len == 0) break;
            if (len > 63) return false; // a compression pointer or an unknown label type: the full path decides
            p += 1 + len;
            if (p - 12 > 254) return false;
        }
        int questionEnd = p + 1 + 4;
        if (questionEnd > request.Length) return false;
        byte edns = 0, dnssecOk = 0;
        int limit = 512;
        if (arcount == 1)
        {
            // An OPT record with no options: 0x00, type 41, class = payload size, TTL = ext rcode, version, flags; rdlen 0.
            var opt = request[questionEnd..];
            if (opt.Length != 11 || opt[0] != 0 || BinaryPrimitives.ReadUInt16BigEndian(opt[1..]) != (ushort)RrType.OPT) return false;
            if (opt[6] != 0 || BinaryPrimitives.ReadUInt16BigEndian(opt[9..]) != 0) return false;
            edns = 1;
            dnssecOk = (byte)((opt[7] & 0x80) != 0 ? 1 : 0);
            limit = Math.Clamp(BinaryPrimitives.ReadUInt16BigEndian(opt[3..]), 512, maxUdpPayload);
        }
        else if (questionEnd != request.Length)
        {
            return false;
        }
        int q = questionEnd - 12;
        request.Slice(12, q).CopyTo(_key);
        _key[q] = edns;
        _key[q + 1] = dnssecOk;
        BinaryPrimitives.WriteUInt16BigEndian(_key.AsSpan(q + 2), (ushort)limit);
        _keyLength = q + KeySuffix;
        return true;
    }

    /// <summary>Writes the kept answer for the keyed request (id and RD/CD from <paramref name="request"/>). False if none.</summary>
    public bool TryAnswer(ZoneTable table, ReadOnlySpan<byte> request, DnsWriter w)
    {
        if (!ReferenceEquals(table, _table))
        {
            _entries.Clear();
            _table = table;
            return false;
        }
        if (!_entries.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(_key.AsSpan(0, _keyLength), out var response)) return false;
        ushort requestFlags = BinaryPrimitives.ReadUInt16BigEndian(request[2..]);
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(response.AsSpan(2));
        const ushort copied = DnsFlags.RD | DnsFlags.CD;
        flags = (ushort)((flags & ~copied) | (requestFlags & copied));
        w.Reset(response.Length);
        w.WriteBytes(response);
        w.PatchU16(0, BinaryPrimitives.ReadUInt16BigEndian(request));
        w.SetFlags(flags);
        return true;
    }

    /// <summary>Keeps the answer the full path wrote for the keyed request, if there is room.</summary>
    public void Add(ZoneTable table, ReadOnlySpan<byte> response)
    {
        if (!ReferenceEquals(table, _table))
        {
            _entries.Clear();
            _table = table;
        }
        if (_keyLength == 0 || _entries.Count >= capacity || response.Length < 12) return;
        _entries.TryAdd(_key.AsSpan(0, _keyLength).ToArray(), response.ToArray());
    }

    private sealed class KeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly KeyComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.AsSpan().SequenceEqual(y));

        public int GetHashCode([DisallowNull] byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var h = new HashCode();
            h.AddBytes(alternate);
            return h.ToHashCode();
        }

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}
