using System.Buffers.Binary;

namespace Dt.Dns.Wire;

/// <summary>One EDNS(0) option (RFC 6891): code and raw data.</summary>
public sealed record EdnsOption(ushort Code, byte[] Data);

/// <summary>The OPT pseudo-record of a message (RFC 6891).</summary>
public sealed record EdnsInfo(ushort UdpPayloadSize, byte ExtendedRcode, byte Version, bool DnssecOk, IReadOnlyList<EdnsOption> Options)
{
    public static EdnsInfo Default(ushort size = 1232) => new(size, 0, 0, false, []);
}

/// <summary>
/// A DNS message (RFC 1035 §4.1): header, question, answer, authority and additional sections. The OPT record is
/// taken out of the additional section into <see cref="Edns"/>, and a TSIG record (which must be last) into
/// <see cref="Tsig"/>, with <see cref="TsigOffset"/> marking where it started in the raw message. For UPDATE
/// (RFC 2136) the sections are zone, prerequisite, update and additional.
/// </summary>
public sealed class DnsMessage
{
    public ushort Id { get; set; }

    /// <summary>The whole flags word, opcode and 4-bit rcode included.</summary>
    public ushort Flags { get; set; }

    public List<DnsQuestion> Questions { get; } = [];
    public List<DnsRecord> Answers { get; } = [];
    public List<DnsRecord> Authority { get; } = [];
    public List<DnsRecord> Additional { get; } = [];

    public EdnsInfo? Edns { get; set; }

    public DnsRecord? Tsig { get; set; }

    /// <summary>Offset of the TSIG record in the parsed message (-1 if none).</summary>
    public int TsigOffset { get; private set; } = -1;

    public bool IsResponse
    {
        get => (Flags & DnsFlags.QR) != 0;
        set => Flags = value ? (ushort)(Flags | DnsFlags.QR) : (ushort)(Flags & ~DnsFlags.QR);
    }

    public DnsOpcode Opcode
    {
        get => DnsFlags.Opcode(Flags);
        set => Flags = DnsFlags.WithOpcode(Flags, value);
    }

    /// <summary>The response code: 4 header bits, extended by the OPT record's 8 bits when there is one.</summary>
    public DnsRcode Rcode
    {
        get => (DnsRcode)((Flags & DnsFlags.RcodeMask) | ((Edns?.ExtendedRcode ?? 0) << 4));
        set
        {
            Flags = DnsFlags.WithRcode(Flags, (DnsRcode)((ushort)value & 0xF));
            int ext = (ushort)value >> 4;
            if (ext != 0 || Edns is not null) Edns = (Edns ?? EdnsInfo.Default()) with { ExtendedRcode = (byte)ext };
        }
    }

    public bool Flag(ushort bit) => (Flags & bit) != 0;

    public void SetFlag(ushort bit, bool on) => Flags = on ? (ushort)(Flags | bit) : (ushort)(Flags & ~bit);

    public DnsQuestion? Question => Questions.Count > 0 ? Questions[0] : null;

    /// <summary>Parses a whole message; throws <see cref="DnsFormatException"/> on anything malformed.</summary>
    public static DnsMessage Parse(ReadOnlySpan<byte> data)
    {
        if (data.Length < 12) throw new DnsFormatException($"a message of {data.Length} bytes is shorter than the 12-byte header");
        var m = new DnsMessage
        {
            Id = BinaryPrimitives.ReadUInt16BigEndian(data),
            Flags = BinaryPrimitives.ReadUInt16BigEndian(data[2..]),
        };
        int qd = BinaryPrimitives.ReadUInt16BigEndian(data[4..]);
        int an = BinaryPrimitives.ReadUInt16BigEndian(data[6..]);
        int ns = BinaryPrimitives.ReadUInt16BigEndian(data[8..]);
        int ar = BinaryPrimitives.ReadUInt16BigEndian(data[10..]);
        // Each question takes at least 5 bytes and each record 11: counts the data cannot hold are refused at once.
        if (12 + (long)qd * 5 + ((long)an + ns + ar) * 11 > data.Length)
            throw new DnsFormatException("the header counts more entries than the message can hold");
        var r = new DnsReader(data, 12);
        for (int i = 0; i < qd; i++) m.Questions.Add(r.ReadQuestion());
        for (int i = 0; i < an; i++) m.Answers.Add(ReadRecord(ref r, out _));
        for (int i = 0; i < ns; i++) m.Authority.Add(ReadRecord(ref r, out _));
        for (int i = 0; i < ar; i++)
        {
            int start = r.Position;
            var rr = ReadRecord(ref r, out var opt);
            if (opt is not null)
            {
                if (m.Edns is not null) throw new DnsFormatException("the message has more than one OPT record");
                m.Edns = opt;
                continue;
            }
            if (rr.Type == RrType.TSIG)
            {
                if (i != ar - 1) throw new DnsFormatException("a TSIG record is not the last record of the message");
                if (rr.Class != RrClass.ANY) throw new DnsFormatException("a TSIG record's class is not ANY");
                m.Tsig = rr;
                m.TsigOffset = start;
                continue;
            }
            m.Additional.Add(rr);
        }
        if (r.Remaining != 0) throw new DnsFormatException($"{r.Remaining} bytes follow the last record");
        foreach (var rr in m.Answers.Concat(m.Authority))
            if (rr.Type is RrType.OPT or RrType.TSIG) throw new DnsFormatException($"an {rr.Type} record outside the additional section");
        return m;
    }

    private static readonly RData OptPlaceholder = new UnknownData(RrType.OPT, []);

    private static DnsRecord ReadRecord(ref DnsReader r, out EdnsInfo? opt)
    {
        opt = null;
        var name = r.ReadName();
        var type = (RrType)r.ReadU16("a record header");
        ushort cls = r.ReadU16("a record header");
        uint ttl = r.ReadU32("a record header");
        int len = r.ReadU16("a record header");
        if (len > r.Remaining) throw new DnsFormatException("a record's data runs past the end of the message");
        if (type == RrType.OPT)
        {
            if (!name.IsRoot) throw new DnsFormatException("an OPT record's owner is not the root");
            var options = new List<EdnsOption>();
            int end = r.Position + len;
            while (r.Position < end)
            {
                ushort code = r.ReadU16("an EDNS option");
                int olen = r.ReadU16("an EDNS option");
                if (r.Position + olen > end) throw new DnsFormatException("an EDNS option runs past its OPT record");
                options.Add(new EdnsOption(code, r.ReadBytes(olen).ToArray()));
            }
            opt = new EdnsInfo(cls, (byte)(ttl >> 24), (byte)(ttl >> 16), (ttl & 0x8000) != 0, options);
            return new DnsRecord(name, type, (RrClass)cls, ttl, OptPlaceholder);
        }
        // UPDATE uses empty RDATA (class ANY) to mean "any data": empty RDATA is kept as empty opaque data, whatever the
        // type, and whoever needs real data of a known type checks for it.
        RData data = len == 0 ? new UnknownData(type, []) : RData.Read(type, ref r, len);
        return new DnsRecord(name, type, (RrClass)cls, ttl, data);
    }

    /// <summary>
    /// Writes the message. If it does not fit in <paramref name="limit"/> bytes, the sections are cut at the last whole
    /// record that fits and TC is set (the OPT record is kept); with <paramref name="allowTruncation"/> false it throws.
    /// </summary>
    public byte[] ToWire(int limit = 65535, bool allowTruncation = false, DnsWriter? writer = null)
    {
        var w = writer ?? new DnsWriter(limit);
        w.Reset(limit);
        Write(w, allowTruncation);
        return w.ToArray();
    }

    public void Write(DnsWriter w, bool allowTruncation)
    {
        int optSize = Edns is null ? 0 : 11 + Edns.Options.Sum(o => 4 + o.Data.Length);
        int limit = w.Limit;
        w.WriteHeader(Id, Flags, 0, 0, 0, 0);
        w.SetLimit(limit - optSize);
        bool truncated = false;
        int[] counts = new int[4];
        List<DnsRecord>[] sections = [Answers, Authority, Additional];
        foreach (var q in Questions)
        {
            if (!w.TryWriteQuestion(q)) { truncated = true; break; }
            counts[0]++;
        }
        for (int s = 0; s < 3 && !truncated; s++)
            foreach (var rr in sections[s])
            {
                if (!w.TryWriteRecord(rr)) { truncated = true; break; }
                counts[s + 1]++;
            }
        if (truncated && !allowTruncation) throw new InvalidOperationException($"the message does not fit in {limit} bytes");
        w.SetLimit(limit);
        if (Edns is not null)
        {
            WriteOpt(w, Edns);
            counts[3]++;
        }
        if (Tsig is not null)
        {
            if (!w.TryWriteRecord(Tsig)) throw new InvalidOperationException("the TSIG record does not fit");
            counts[3]++;
        }
        for (int i = 0; i < 4; i++) w.SetCount(i, counts[i]);
        if (truncated) w.SetFlags((ushort)(w.GetFlags() | DnsFlags.TC));
    }

    /// <summary>Writes an OPT record (11 bytes plus options).</summary>
    public static void WriteOpt(DnsWriter w, EdnsInfo e)
    {
        w.WriteU8(0);
        w.WriteU16((ushort)RrType.OPT);
        w.WriteU16(e.UdpPayloadSize);
        w.WriteU32(((uint)e.ExtendedRcode << 24) | ((uint)e.Version << 16) | (e.DnssecOk ? 0x8000u : 0));
        int len = e.Options.Sum(o => 4 + o.Data.Length);
        w.WriteU16((ushort)len);
        foreach (var o in e.Options)
        {
            w.WriteU16(o.Code);
            w.WriteU16((ushort)o.Data.Length);
            w.WriteBytes(o.Data);
        }
    }

    public override string ToString()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(System.Globalization.CultureInfo.InvariantCulture,
            $";; opcode: {Opcode}, status: {DnsMnemonics.RcodeName(Rcode)}, id: {Id}, flags: {Flags:X4}\n");
        foreach (var q in Questions) sb.Append(";").Append(q).Append('\n');
        foreach (var rr in Answers) sb.Append(rr).Append('\n');
        foreach (var rr in Authority) sb.Append(rr).Append('\n');
        foreach (var rr in Additional) sb.Append(rr).Append('\n');
        return sb.ToString();
    }
}
