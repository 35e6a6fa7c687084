using System.Buffers.Binary;
using System.Security.Cryptography;
using Dt.Dns.Wire;

namespace Dt.Dns.Server;

/// <summary>A TSIG key ready for use: its name and HMAC-SHA256 secret.</summary>
internal sealed record TsigKey(DnsName Name, byte[] Secret);

/// <summary>The outcome of checking a request's TSIG (RFC 8945 §5.2).</summary>
internal sealed record TsigCheck(bool Valid, TsigKey? Key, DnsRcode Error, byte[] RequestMac, ulong TimeSigned)
{
    public static readonly TsigCheck Unsigned = new(false, null, DnsRcode.NoError, [], 0);
}

/// <summary>
/// TSIG (RFC 8945) with HMAC-SHA256: verifies signed requests and signs their responses. A response to a request
/// with an unknown key or a bad MAC is unsigned (BADKEY/BADSIG); one to a request outside the time window is
/// signed and says BADTIME with the server's time.
/// </summary>
internal sealed class Tsig
{
    public static readonly DnsName HmacSha256 = DnsName.Parse("hmac-sha256.");

    private readonly Dictionary<string, TsigKey> _keys;
    private readonly TimeSpan _fudge;
    private readonly TimeProvider _time;

    public Tsig(IEnumerable<DnsTsigKey> keys, TimeSpan fudge, TimeProvider time)
    {
        _keys = new Dictionary<string, TsigKey>(StringComparer.Ordinal);
        foreach (var k in keys)
        {
            var name = DnsName.Parse(k.Name.TrimEnd('.') + ".").ToLowerCase();
            _keys[name.Key] = new TsigKey(name, Convert.FromBase64String(k.Secret.Trim()));
        }
        _fudge = fudge;
        _time = time;
    }

    public bool HasKeys => _keys.Count > 0;

    /// <summary>The configured key of this name, or null.</summary>
    public TsigKey? Find(DnsName name) => _keys.GetValueOrDefault(name.ToLowerCase().Key);

    /// <summary>Checks the TSIG of <paramref name="m"/> (parsed from <paramref name="raw"/>).</summary>
    public TsigCheck Verify(DnsMessage m, ReadOnlySpan<byte> raw)
    {
        if (m.Tsig is not { Data: TsigData t } rr) return TsigCheck.Unsigned;
        if (!_keys.TryGetValue(rr.Name.Key, out var key) || !t.Algorithm.Equals(HmacSha256))
            return new TsigCheck(false, null, DnsRcode.BadKey, [], t.TimeSigned);
        byte[] expected = Mac(key, [], raw[..m.TsigOffset], t.OriginalId, decrementArCount: true, t.TimeSigned, t.Fudge, t.Error, t.OtherData);
        // RFC 8945 §5.2.2.1: a truncated MAC is accepted down to half the hash length (and at least 10 bytes).
        bool macOk = t.Mac.Length >= 16 && t.Mac.Length <= expected.Length
            && CryptographicOperations.FixedTimeEquals(t.Mac, expected.AsSpan(0, t.Mac.Length));
        if (!macOk) return new TsigCheck(false, key, DnsRcode.BadSig, [], t.TimeSigned);
        ulong now = (ulong)_time.GetUtcNow().ToUnixTimeSeconds();
        ulong skew = now > t.TimeSigned ? now - t.TimeSigned : t.TimeSigned - now;
        if (skew > (ulong)Math.Min(t.Fudge, _fudge.TotalSeconds))
            return new TsigCheck(false, key, DnsRcode.BadTime, t.Mac, t.TimeSigned);
        return new TsigCheck(true, key, DnsRcode.NoError, t.Mac, t.TimeSigned);
    }

    /// <summary>
    /// Appends a TSIG record to <paramref name="response"/> (a whole message without one). Signed with the request's
    /// key when the check found the key and the MAC good (also for BADTIME); otherwise unsigned with the error code.
    /// </summary>
    public byte[] Sign(byte[] response, TsigCheck check, DnsName keyNameFromRequest) => Sign(response, check, keyNameFromRequest, out _);

    /// <summary><see cref="Sign(byte[], TsigCheck, DnsName)"/>, giving the MAC (empty if unsigned) for the next message of a stream.</summary>
    public byte[] Sign(byte[] response, TsigCheck check, DnsName keyNameFromRequest, out byte[] mac)
    {
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(response);
        ulong now = (ulong)_time.GetUtcNow().ToUnixTimeSeconds();
        ushort fudge = (ushort)Math.Min(ushort.MaxValue, _fudge.TotalSeconds);
        byte[] other = [];
        if (check.Error == DnsRcode.BadTime)
        {
            other = new byte[6];
            BinaryPrimitives.WriteUInt16BigEndian(other, (ushort)(now >> 32));
            BinaryPrimitives.WriteUInt32BigEndian(other.AsSpan(2), (uint)now);
        }
        mac = [];
        bool sign = check.Key is not null && check.Error is DnsRcode.NoError or DnsRcode.BadTime;
        ulong time = check.Error == DnsRcode.BadTime ? check.TimeSigned : now;
        if (sign) mac = Mac(check.Key!, check.RequestMac, response, id, decrementArCount: false, time, fudge, (ushort)check.Error, other);
        return Append(response, check.Key?.Name ?? keyNameFromRequest, new TsigData(HmacSha256, time, fudge, mac, id, (ushort)check.Error, other));
    }

    /// <summary>
    /// Signs a later message of a multi-message response (a zone transfer, RFC 8945 §5.3.1): the MAC covers the prior
    /// MAC, this message and the timers only. Every message of a transfer is signed.
    /// </summary>
    public byte[] SignNext(byte[] response, TsigKey key, byte[] priorMac, out byte[] mac)
    {
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(response);
        ulong now = (ulong)_time.GetUtcNow().ToUnixTimeSeconds();
        ushort fudge = (ushort)Math.Min(ushort.MaxValue, _fudge.TotalSeconds);
        using (var h = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key.Secret))
        {
            Span<byte> u16 = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(u16, (ushort)priorMac.Length);
            h.AppendData(u16);
            h.AppendData(priorMac);
            h.AppendData(response);
            Span<byte> timers = stackalloc byte[8];
            BinaryPrimitives.WriteUInt16BigEndian(timers, (ushort)(now >> 32));
            BinaryPrimitives.WriteUInt32BigEndian(timers[2..], (uint)now);
            BinaryPrimitives.WriteUInt16BigEndian(timers[6..], fudge);
            h.AppendData(timers);
            mac = h.GetHashAndReset();
        }
        return Append(response, key.Name, new TsigData(HmacSha256, now, fudge, mac, id, 0, []));
    }

    /// <summary>Bytes a TSIG record with this key adds to a message (HMAC-SHA256, no other data), for size limits.</summary>
    public static int RecordSize(DnsName keyName) => keyName.ToString().Length + 1 + 10 + HmacSha256.ToString().Length + 1 + 10 + 32 + 6 + 6;

    private static byte[] Append(byte[] response, DnsName keyName, TsigData data)
    {
        var w = new DnsWriter(response.Length + 512);
        w.Reset(response.Length + 512);
        w.WriteBytes(response);
        w.WriteName(keyName, compress: false);
        w.WriteU16((ushort)RrType.TSIG);
        w.WriteU16((ushort)RrClass.ANY);
        w.WriteU32(0);
        int lenAt = w.Length;
        w.WriteU16(0);
        int start = w.Length;
        data.Write(w, compress: false);
        w.PatchU16(lenAt, (ushort)(w.Length - start));
        ushort ar = BinaryPrimitives.ReadUInt16BigEndian(response.AsSpan(10));
        w.PatchU16(10, (ushort)(ar + 1));
        return w.ToArray();
    }

    /// <summary>
    /// The HMAC over: the request MAC (length-prefixed, responses only), the message without its TSIG (original id,
    /// and the TSIG no longer counted in ARCOUNT), then the TSIG variables (RFC 8945 §4.3.3).
    /// </summary>
    private static byte[] Mac(TsigKey key, byte[] requestMac, ReadOnlySpan<byte> message, ushort originalId, bool decrementArCount,
        ulong timeSigned, ushort fudge, ushort error, byte[] other)
    {
        using var h = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key.Secret);
        Span<byte> u16 = stackalloc byte[2];
        if (requestMac.Length > 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(u16, (ushort)requestMac.Length);
            h.AppendData(u16);
            h.AppendData(requestMac);
        }
        Span<byte> header = stackalloc byte[12];
        message[..12].CopyTo(header);
        BinaryPrimitives.WriteUInt16BigEndian(header, originalId);
        if (decrementArCount) BinaryPrimitives.WriteUInt16BigEndian(header[10..], (ushort)(BinaryPrimitives.ReadUInt16BigEndian(header[10..]) - 1));
        h.AppendData(header);
        h.AppendData(message[12..]);

        Span<byte> name = stackalloc byte[256];
        int n = key.Name.WriteTo(name, lowerCase: true);
        h.AppendData(name[..n]);
        Span<byte> fixedPart = stackalloc byte[6];
        BinaryPrimitives.WriteUInt16BigEndian(fixedPart, (ushort)RrClass.ANY);
        BinaryPrimitives.WriteUInt32BigEndian(fixedPart[2..], 0);
        h.AppendData(fixedPart);
        n = HmacSha256.WriteTo(name, lowerCase: true);
        h.AppendData(name[..n]);
        Span<byte> vars = stackalloc byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(vars, (ushort)(timeSigned >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(vars[2..], (uint)timeSigned);
        BinaryPrimitives.WriteUInt16BigEndian(vars[6..], fudge);
        BinaryPrimitives.WriteUInt16BigEndian(vars[8..], error);
        BinaryPrimitives.WriteUInt16BigEndian(vars[10..], (ushort)other.Length);
        h.AppendData(vars);
        h.AppendData(other);
        return h.GetHashAndReset();
    }

    /// <summary>Signs a request (for tests and tools): appends a TSIG with this key to a whole message.</summary>
    public static byte[] SignRequest(byte[] request, DnsName keyName, byte[] secret, DateTimeOffset now, ushort fudge = 300)
    {
        var key = new TsigKey(keyName.ToLowerCase(), secret);
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(request);
        ulong time = (ulong)now.ToUnixTimeSeconds();
        var mac = Mac(key, [], request, id, decrementArCount: false, time, fudge, 0, []);
        var data = new TsigData(HmacSha256, time, fudge, mac, id, 0, []);
        var w = new DnsWriter(request.Length + 512);
        w.Reset(request.Length + 512);
        w.WriteBytes(request);
        w.WriteName(key.Name, compress: false);
        w.WriteU16((ushort)RrType.TSIG);
        w.WriteU16((ushort)RrClass.ANY);
        w.WriteU32(0);
        int lenAt = w.Length;
        w.WriteU16(0);
        int start = w.Length;
        data.Write(w, compress: false);
        w.PatchU16(lenAt, (ushort)(w.Length - start));
        w.PatchU16(10, (ushort)(BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(10)) + 1));
        return w.ToArray();
    }
}
