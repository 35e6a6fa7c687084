using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Dt.Dns.Wire;

namespace Dt.Dns.Server;

/// <summary>What the UDP transport does with an answer after <see cref="ResponseRateLimiter.Check"/>.</summary>
internal enum RateVerdict
{
    Send,
    /// <summary>Send an empty truncated answer instead (TC=1), so a real client retries over TCP.</summary>
    Slip,
    Drop,
}

/// <summary>
/// Response rate limiting for UDP (against reflection and amplification with spoofed sources): every client prefix
/// (<see cref="DnsOptions.RateLimitIPv4Prefix"/>, <see cref="DnsOptions.RateLimitIPv6Prefix"/>) has a token bucket of
/// <see cref="DnsOptions.RateLimitResponsesPerSecond"/> tokens, refilled at that rate (so a burst of one second's
/// worth passes). An answer beyond it is limited: every <see cref="DnsOptions.RateLimitSlip"/>th limited answer goes
/// out as an empty truncated one, the others are dropped. Addresses in <see cref="DnsOptions.RateLimitExempt"/> are
/// never limited; TCP is not limited (its source cannot be spoofed). Unlike BIND, which keeps a bucket per prefix and
/// answer (name, type, kind), the bucket here is per prefix only: simpler, and stricter for one prefix asking many names.
/// <para>
/// At most <see cref="DnsOptions.RateLimitTableSize"/> prefixes are tracked (16 shards, each with its lock). When a
/// shard is full, buckets that have refilled (no state worth keeping) are swept, at most once a second; if still full,
/// a new prefix is not tracked and its answers are sent (counted in <see cref="Untracked"/>).
/// </para>
/// </summary>
internal sealed class ResponseRateLimiter
{
    private const int Shards = 16;

    private sealed class Bucket
    {
        public double Tokens;
        public long LastTicks;
        public long Limited;
    }

    private sealed class Shard
    {
        public readonly Lock Lock = new();
        public readonly Dictionary<UInt128, Bucket> Buckets = [];
        public long LastSweepTicks = long.MinValue;
    }

    private readonly Shard[] _shards = Enumerable.Range(0, Shards).Select(_ => new Shard()).ToArray();
    private readonly double _rate;
    private readonly int _slip;
    private readonly int _v4Prefix, _v6Prefix;
    private readonly int _perShard;
    private readonly IReadOnlyList<AddressRange> _exempt;
    private readonly TimeProvider _time;
    private long _dropped, _slipped, _untracked;

    public ResponseRateLimiter(DnsOptions options, TimeProvider time)
    {
        _rate = options.RateLimitResponsesPerSecond;
        _slip = options.RateLimitSlip;
        _v4Prefix = options.RateLimitIPv4Prefix;
        _v6Prefix = options.RateLimitIPv6Prefix;
        _perShard = Math.Max(1, options.RateLimitTableSize / Shards);
        _exempt = AddressRange.ParseAll(options.RateLimitExempt);
        _time = time;
    }

    public long Dropped => Interlocked.Read(ref _dropped);
    public long Slipped => Interlocked.Read(ref _slipped);
    public long Untracked => Interlocked.Read(ref _untracked);

    /// <summary>Decides for one answer to <paramref name="client"/>.</summary>
    public RateVerdict Check(SocketAddress client)
    {
        if (!TryPrefix(client, _exempt.Count > 0, out var key, out var address)) return RateVerdict.Send;
        if (address is not null && _exempt.Any(r => r.Contains(address))) return RateVerdict.Send;
        long now = _time.GetUtcNow().UtcTicks;
        var shard = _shards[(int)((ulong)key.GetHashCode() % Shards)];
        long limited;
        lock (shard.Lock)
        {
            if (!shard.Buckets.TryGetValue(key, out var b))
            {
                if (shard.Buckets.Count >= _perShard && !Sweep(shard, now))
                {
                    Interlocked.Increment(ref _untracked);
                    return RateVerdict.Send;
                }
                b = new Bucket { Tokens = _rate, LastTicks = now };
                shard.Buckets[key] = b;
            }
            Refill(b, now);
            if (b.Tokens >= 1)
            {
                b.Tokens -= 1;
                return RateVerdict.Send;
            }
            limited = ++b.Limited;
        }
        if (_slip > 0 && limited % _slip == 0)
        {
            Interlocked.Increment(ref _slipped);
            return RateVerdict.Slip;
        }
        Interlocked.Increment(ref _dropped);
        return RateVerdict.Drop;
    }

    private void Refill(Bucket b, long now)
    {
        if (now > b.LastTicks)
        {
            b.Tokens = Math.Min(_rate, b.Tokens + (now - b.LastTicks) / (double)TimeSpan.TicksPerSecond * _rate);
            b.LastTicks = now;
        }
    }

    /// <summary>Removes buckets that are full again (at most once a second per shard); true if room was made.</summary>
    private bool Sweep(Shard shard, long now)
    {
        if (now - shard.LastSweepTicks < TimeSpan.TicksPerSecond) return false;
        shard.LastSweepTicks = now;
        foreach (var (k, b) in shard.Buckets)
        {
            Refill(b, now);
            if (b.Tokens >= _rate) shard.Buckets.Remove(k);
        }
        return shard.Buckets.Count < _perShard;
    }

    /// <summary>The client's prefix as a 128-bit key (IPv4 and IPv4-mapped IPv6 as IPv4, tagged apart from IPv6), and
    /// its address when <paramref name="wantAddress"/> (for the exempt list; nothing is allocated otherwise).</summary>
    private bool TryPrefix(SocketAddress client, bool wantAddress, out UInt128 key, out System.Net.IPAddress? address)
    {
        key = 0;
        address = null;
        Span<byte> bytes = stackalloc byte[16];
        int bits;
        var buffer = client.Buffer.Span;
        if (client.Family == AddressFamily.InterNetwork && client.Size >= 8)
        {
            buffer.Slice(4, 4).CopyTo(bytes);
            bits = _v4Prefix;
            if (wantAddress) address = new System.Net.IPAddress(bytes[..4]);
            Mask(bytes[..4], bits);
            key = ((UInt128)4 << 120) | BinaryPrimitives.ReadUInt32BigEndian(bytes);
            return true;
        }
        if (client.Family == AddressFamily.InterNetworkV6 && client.Size >= 24)
        {
            var a = buffer.Slice(8, 16);
            bool mapped = a[..10].IndexOfAnyExcept((byte)0) < 0 && a[10] == 0xFF && a[11] == 0xFF;
            if (mapped)
            {
                a.Slice(12, 4).CopyTo(bytes);
                if (wantAddress) address = new System.Net.IPAddress(bytes[..4]);
                Mask(bytes[..4], _v4Prefix);
                key = ((UInt128)4 << 120) | BinaryPrimitives.ReadUInt32BigEndian(bytes);
                return true;
            }
            a.CopyTo(bytes);
            if (wantAddress) address = new System.Net.IPAddress(bytes);
            Mask(bytes, _v6Prefix);
            key = BinaryPrimitives.ReadUInt128BigEndian(bytes);
            if (_v6Prefix < 128) key |= 1; // the host bits are zero: tag IPv6 apart from IPv4 keys
            return true;
        }
        return false;
    }

    private static void Mask(Span<byte> bytes, int prefix)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            int keep = Math.Clamp(prefix - i * 8, 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }
    }

    /// <summary>
    /// Rewrites the answer in <paramref name="w"/> as its slip form: the header and question only, TC set, no records
    /// (an OPT record is dropped too).
    /// </summary>
    public static void Truncate(DnsWriter w)
    {
        var r = w.Written;
        if (r.Length < 12) return;
        int end = 12;
        if (BinaryPrimitives.ReadUInt16BigEndian(r[4..]) == 1)
        {
            while (end < r.Length && r[end] != 0 && r[end] <= 63) end += 1 + r[end];
            end += 1 + 4;
            if (end > r.Length || r[Math.Min(end - 5, r.Length - 1)] != 0) end = 12;
        }
        Span<byte> copy = stackalloc byte[end];
        r[..end].CopyTo(copy);
        ushort flags = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(copy[2..]) | DnsFlags.TC);
        BinaryPrimitives.WriteUInt16BigEndian(copy[2..], DnsFlags.WithRcode(flags, DnsRcode.NoError));
        BinaryPrimitives.WriteUInt16BigEndian(copy[4..], (ushort)(end > 12 ? 1 : 0));
        copy[6..12].Clear();
        w.Reset(512);
        w.WriteBytes(copy);
    }
}
