using System.Buffers.Binary;
using Dt.Dns.Wire;
using Dt.Dns.Zones;

namespace Dt.Dns.Server;

/// <summary>What the transport does with a request after <see cref="QueryEngine.Handle"/>.</summary>
internal enum RequestKind
{
    /// <summary>The response is in the writer: send it.</summary>
    Respond,
    /// <summary>Send nothing (a response, or a packet too short to answer).</summary>
    Drop,
    /// <summary>AXFR or IXFR over TCP: the transport streams it (after its access check).</summary>
    Transfer,
    /// <summary>RFC 2136 UPDATE: the transport hands it to the update processor (asynchronous).</summary>
    Update,
}

/// <summary>
/// Authoritative answers from the zones in service (RFC 1034 §4.3.2, RFC 4592 wildcards, RFC 2308 negative answers,
/// RFC 6891 EDNS). Synchronous and lock-free over immutable snapshots: UDP receive loops call it inline.
/// </summary>
internal sealed class QueryEngine(ZoneStore store, DnsOptions options, Tsig? tsig = null)
{
    private const int MaxCnameChain = 8;

    private readonly record struct Entry(DnsName Owner, RRset Set);

    private sealed class Scratch
    {
        public readonly List<Entry> Answer = [];
        public readonly List<Entry> Authority = [];
        public readonly List<Entry> Additional = [];
        public readonly HashSet<string> AdditionalSeen = new(StringComparer.Ordinal);
        public readonly HashSet<string> NsecSeen = new(StringComparer.Ordinal);

        /// <summary>The client set DO and the zone is signed: answers carry RRSIGs, negative answers NSEC proofs.</summary>
        public bool Dnssec;

        public void Clear()
        {
            Answer.Clear();
            Authority.Clear();
            Additional.Clear();
            AdditionalSeen.Clear();
            NsecSeen.Clear();
            Dnssec = false;
        }
    }

    [ThreadStatic]
    private static Scratch? t_scratch;

    public ZoneStore Store => store;

    /// <summary>
    /// Handles one request. For <see cref="RequestKind.Respond"/> the response is in <paramref name="w"/>; for
    /// <see cref="RequestKind.Transfer"/> and <see cref="RequestKind.Update"/>, <paramref name="message"/> is the parsed request.
    /// </summary>
    public RequestKind Handle(ReadOnlySpan<byte> request, bool tcp, DnsWriter w, out DnsMessage? message) =>
        Handle(request, tcp, w, out message, null);

    /// <summary>
    /// <see cref="Handle(ReadOnlySpan{byte}, bool, DnsWriter, out DnsMessage?)"/> with a UDP receive thread's
    /// <see cref="AnswerCache"/>: a plain query answered before (for the zones as they are now) is copied from it.
    /// </summary>
    public RequestKind Handle(ReadOnlySpan<byte> request, bool tcp, DnsWriter w, out DnsMessage? message, AnswerCache? cache)
    {
        if (cache is null || tcp || !cache.TryKey(request, options.MaxUdpPayload)) return HandleFully(request, tcp, w, out message);
        message = null;
        var table = store.Table;
        if (cache.TryAnswer(table, request, w)) return RequestKind.Respond;
        var kind = HandleFully(request, tcp, w, out message);
        if (kind == RequestKind.Respond && (w.GetFlags() & DnsFlags.RcodeMask) != (ushort)DnsRcode.ServFail) cache.Add(table, w.Written);
        return kind;
    }

    private RequestKind HandleFully(ReadOnlySpan<byte> request, bool tcp, DnsWriter w, out DnsMessage? message)
    {
        message = null;
        if (request.Length < 12) return RequestKind.Drop;
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(request);
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(request[2..]);
        if ((flags & DnsFlags.QR) != 0) return RequestKind.Drop; // never answer a response (NOTIFY acks, reflections)
        var opcode = DnsFlags.Opcode(flags);
        DnsMessage m;
        try
        {
            m = DnsMessage.Parse(request);
        }
        catch (DnsFormatException)
        {
            WriteError(w, id, flags, TryReadQuestion(request), DnsRcode.FormErr, null, tcp);
            return RequestKind.Respond;
        }
        message = m;
        switch (opcode)
        {
            case DnsOpcode.Query:
                break;
            case DnsOpcode.Update:
                return RequestKind.Update;
            default:
                // NOTIFY is for secondaries (this server is a primary), the rest is obsolete or unassigned.
                WriteError(w, id, flags, m.Question, DnsRcode.NotImp, m.Edns, tcp);
                return RequestKind.Respond;
        }
        if (m.Tsig is not null && !(tcp && m.Question?.Type is RrType.AXFR or RrType.IXFR))
        {
            // A signed query (a secondary's SOA check, say) gets a signed answer, or NOTAUTH with the TSIG error.
            HandleSigned(m, request, tcp, w);
            return RequestKind.Respond;
        }
        return HandleQuery(m, tcp, w);
    }

    /// <summary>A parsed standard query: checks, then the answer (or Transfer for AXFR/IXFR over TCP).</summary>
    private RequestKind HandleQuery(DnsMessage m, bool tcp, DnsWriter w)
    {
        ushort id = m.Id, flags = m.Flags;
        // Exactly one question (RFC 9619); records in other sections of a query are ignored (IXFR reads its SOA).
        if (m.Questions.Count != 1)
        {
            WriteError(w, id, flags, m.Question, DnsRcode.FormErr, m.Edns, tcp);
            return RequestKind.Respond;
        }
        if (m.Edns is { Version: > 0 })
        {
            WriteError(w, id, flags, m.Question, DnsRcode.BadVers, m.Edns, tcp);
            return RequestKind.Respond;
        }
        var q = m.Question!;
        if (q.Class is not (RrClass.IN or RrClass.ANY))
        {
            WriteError(w, id, flags, q, DnsRcode.Refused, m.Edns, tcp);
            return RequestKind.Respond;
        }
        switch (q.Type)
        {
            case RrType.AXFR or RrType.IXFR when tcp:
                return RequestKind.Transfer;
            case RrType.AXFR:
                // RFC 5936 §4.2: no AXFR over UDP.
                WriteError(w, id, flags, q, DnsRcode.FormErr, m.Edns, tcp);
                return RequestKind.Respond;
            case RrType.IXFR:
                // Over UDP an IXFR is answered with the current SOA alone: the client then comes back over TCP (RFC 1995 §2).
                return AnswerSoaOnly(m, w) ? RequestKind.Respond : Refuse(m, w, tcp);
            case RrType.OPT or RrType.TSIG or RrType.MAILA or RrType.MAILB:
                WriteError(w, id, flags, q, DnsRcode.FormErr, m.Edns, tcp);
                return RequestKind.Respond;
        }
        Answer(m, tcp, w);
        return RequestKind.Respond;
    }

    private void HandleSigned(DnsMessage m, ReadOnlySpan<byte> request, bool tcp, DnsWriter w)
    {
        var check = tsig?.Verify(m, request) ?? new TsigCheck(false, null, DnsRcode.BadKey, [], 0);
        byte[] signed;
        if (!check.Valid)
        {
            WriteError(w, m.Id, m.Flags, m.Question, DnsRcode.NotAuth, m.Edns, tcp);
            signed = tsig?.Sign(w.ToArray(), check, m.Tsig!.Name) ?? w.ToArray();
        }
        else
        {
            HandleQuery(m, tcp, w);
            signed = tsig!.Sign(w.ToArray(), check, m.Tsig!.Name);
            if (!tcp && signed.Length > ResponseLimit(m, tcp))
            {
                // The signature does not fit beside the answer: an empty, truncated one sends the client to TCP.
                WriteError(w, m.Id, m.Flags, m.Question, DnsRcode.NoError, m.Edns, tcp);
                w.SetFlags((ushort)(w.GetFlags() | DnsFlags.TC | DnsFlags.AA));
                signed = tsig.Sign(w.ToArray(), check, m.Tsig.Name);
            }
        }
        w.Reset(65535);
        w.WriteBytes(signed);
    }

    private RequestKind Refuse(DnsMessage m, DnsWriter w, bool tcp)
    {
        WriteError(w, m.Id, m.Flags, m.Question, DnsRcode.Refused, m.Edns, tcp);
        return RequestKind.Respond;
    }

    /// <summary>The UDP size limit for a response to <paramref name="m"/>: 512 without EDNS, else the client's size (at
    /// least 512) capped by <see cref="DnsOptions.MaxUdpPayload"/>.</summary>
    public int ResponseLimit(DnsMessage? m, bool tcp) =>
        tcp ? 65535 : m?.Edns is { } e ? Math.Clamp(e.UdpPayloadSize, 512, options.MaxUdpPayload) : 512;

    private static DnsQuestion? TryReadQuestion(ReadOnlySpan<byte> request)
    {
        try
        {
            if (BinaryPrimitives.ReadUInt16BigEndian(request[4..]) == 0) return null;
            var r = new DnsReader(request, 12);
            return r.ReadQuestion();
        }
        catch (DnsFormatException)
        {
            return null;
        }
    }

    private static ushort ResponseFlags(ushort requestFlags, bool aa, DnsRcode rcode)
    {
        ushort f = (ushort)(DnsFlags.QR | (requestFlags & (DnsFlags.OpcodeMask | DnsFlags.RD | DnsFlags.CD)));
        if (aa) f |= DnsFlags.AA;
        return DnsFlags.WithRcode(f, rcode);
    }

    private EdnsInfo? ResponseEdns(EdnsInfo? request, DnsRcode rcode) =>
        request is null ? null : new EdnsInfo((ushort)options.MaxUdpPayload, (byte)((ushort)rcode >> 4), 0, request.DnssecOk, []);

    /// <summary>A response with no records: the question (if any) and the OPT record when the request had one.</summary>
    public void WriteError(DnsWriter w, ushort id, ushort requestFlags, DnsQuestion? q, DnsRcode rcode, EdnsInfo? edns, bool tcp)
    {
        w.Reset(tcp ? 65535 : 512 + (edns is null ? 0 : 11));
        w.WriteHeader(id, ResponseFlags(requestFlags, false, rcode), 0, 0, 0, 0);
        if (q is not null && w.TryWriteQuestion(q)) w.SetCount(0, 1);
        var opt = ResponseEdns(edns, rcode);
        if (opt is not null)
        {
            DnsMessage.WriteOpt(w, opt);
            w.SetCount(3, 1);
        }
    }

    /// <summary>The zone's SOA as the only answer (IXFR over UDP, the start of transfers). False if not our zone.</summary>
    private bool AnswerSoaOnly(DnsMessage m, DnsWriter w)
    {
        var q = m.Question!;
        var entry = store.Table.Get(q.Name);
        if (entry?.Snapshot is not { } z) return false;
        w.Reset(ResponseLimit(m, false));
        w.WriteHeader(m.Id, ResponseFlags(m.Flags, true, DnsRcode.NoError), 0, 0, 0, 0);
        w.TryWriteQuestion(q);
        w.SetCount(0, 1);
        if (w.TryWriteRecord(z.Soa)) w.SetCount(1, 1);
        var opt = ResponseEdns(m.Edns, DnsRcode.NoError);
        if (opt is not null)
        {
            DnsMessage.WriteOpt(w, opt);
            w.SetCount(3, 1);
        }
        return true;
    }

    /// <summary>Answers a standard query into <paramref name="w"/>.</summary>
    public void Answer(DnsMessage m, bool tcp, DnsWriter w)
    {
        var q = m.Question!;
        var entry = store.Table.FindZone(q.Name);
        if (entry is null)
        {
            WriteError(w, m.Id, m.Flags, q, DnsRcode.Refused, m.Edns, tcp);
            return;
        }
        if (entry.Snapshot is not { } zone)
        {
            // The zone exists but no consistent version has arrived on this node yet.
            WriteError(w, m.Id, m.Flags, q, DnsRcode.ServFail, m.Edns, tcp);
            return;
        }
        var s = t_scratch ??= new Scratch();
        s.Clear();
        s.Dnssec = m.Edns?.DnssecOk == true && zone.IsSigned;
        var (rcode, aa) = Resolve(zone, q.Name, q.Type, s, 0);
        Write(m, q, rcode, aa, s, tcp, w);
    }

    private (DnsRcode Rcode, bool Authoritative) Resolve(ZoneSnapshot zone, DnsName qname, RrType qtype, Scratch s, int depth)
    {
        int below = qname.LabelCount - zone.Origin.LabelCount;
        ZoneNode closest = zone.Find(zone.Origin.Key)!;
        ZoneNode? exact = below == 0 ? closest : null;
        for (int i = below - 1; i >= 0; i--)
        {
            var node = zone.Find(qname.SuffixKey(i));
            if (node is null) break;
            if (node.IsCut && !(i == 0 && qtype == RrType.DS))
            {
                Referral(zone, node, s);
                return (DnsRcode.NoError, depth > 0);
            }
            closest = node;
            if (i == 0) exact = node;
        }

        DnsName owner = qname;
        if (exact is null)
        {
            // RFC 4592: the source of synthesis is "*" directly below the closest encloser.
            var wildcard = zone.Find("*." + (closest.Name.IsRoot ? "" : closest.Name.Key));
            if (wildcard is null)
            {
                AddSoa(zone, s);
                if (s.Dnssec)
                {
                    // RFC 4035 §3.1.3.2: the name does not exist, and neither does the wildcard that could have made it.
                    Deny(zone, qname, s);
                    Deny(zone, closest.Name.Prepend("*"u8), s);
                }
                return (DnsRcode.NXDomain, true);
            }
            exact = wildcard;
            // RFC 4035 §3.1.3.3: a wildcard answer also proves that the name itself does not exist.
            if (s.Dnssec) Deny(zone, qname, s);
        }

        if (qtype == RrType.ANY)
        {
            if (exact.Sets.Length == 0)
            {
                NoData(zone, exact, s);
                return (DnsRcode.NoError, true);
            }
            foreach (var set in exact.Sets) AddSigned(s.Answer, exact, owner, set, s);
            AddAdditional(zone, exact.Sets, s);
            return (DnsRcode.NoError, true);
        }

        if (qtype == RrType.RRSIG)
        {
            // Asked for explicitly, signatures are answered with or without DO.
            if (exact.Signatures.Length == 0)
            {
                NoData(zone, exact, s);
                return (DnsRcode.NoError, true);
            }
            foreach (var set in exact.Signatures) s.Answer.Add(new Entry(owner, set));
            return (DnsRcode.NoError, true);
        }

        var match = exact.Get(qtype);
        if (match is not null)
        {
            AddSigned(s.Answer, exact, owner, match, s);
            AddAdditional(zone, [match], s);
            return (DnsRcode.NoError, true);
        }

        var cname = exact.Get(RrType.CNAME);
        if (cname is not null)
        {
            AddSigned(s.Answer, exact, owner, cname, s);
            var target = ((NameData)cname.Records[0].Data).Name;
            if (depth + 1 < MaxCnameChain && target.IsSubdomainOf(zone.Origin) && !s.Answer.Any(e => e.Owner.Equals(target)))
            {
                var (rcode, _) = Resolve(zone, target, qtype, s, depth + 1);
                return (rcode, true);
            }
            return (DnsRcode.NoError, true);
        }

        NoData(zone, exact, s);
        return (DnsRcode.NoError, true);
    }

    private static void AddSoa(ZoneSnapshot zone, Scratch s)
    {
        // Negative answers carry the SOA with the negative TTL (RFC 2308 §3) and the served serial.
        s.Authority.Add(new Entry(zone.Origin, new RRset(zone.Origin, RrType.SOA, zone.NegativeTtl, [zone.Soa])));
        if (s.Dnssec && zone.Find(zone.Origin.Key)!.SignaturesOf(RrType.SOA) is { } sigs)
            s.Authority.Add(new Entry(zone.Origin, new RRset(zone.Origin, RrType.RRSIG, zone.NegativeTtl, sigs.Records)));
    }

    /// <summary>NODATA: the SOA and, signed, the NSEC of the name (its type bitmap lacks the type asked), or for an
    /// empty non-terminal, which has no NSEC, the one that covers it (RFC 4035 §3.1.3.1).</summary>
    private static void NoData(ZoneSnapshot zone, ZoneNode node, Scratch s)
    {
        AddSoa(zone, s);
        if (s.Dnssec) Deny(zone, node.Name, s);
    }

    /// <summary>Adds the NSEC matching or covering <paramref name="name"/> with its signatures to the authority section, once.</summary>
    private static void Deny(ZoneSnapshot zone, DnsName name, Scratch s)
    {
        var node = zone.CoveringNsec(name);
        if (node is null || !s.NsecSeen.Add(node.Name.Key)) return;
        AddSigned(s.Authority, node, node.Name, node.Get(RrType.NSEC)!, s);
    }

    /// <summary>An RRset and, when DNSSEC records are wanted, the RRSIGs that cover it (under the same owner: for a
    /// wildcard answer the RRSIG's label count tells the validator so).</summary>
    private static void AddSigned(List<Entry> section, ZoneNode node, DnsName owner, RRset set, Scratch s)
    {
        section.Add(new Entry(owner, set));
        if (s.Dnssec && node.SignaturesOf(set.Type) is { } sigs) section.Add(new Entry(owner, sigs));
    }

    private static void Referral(ZoneSnapshot zone, ZoneNode cut, Scratch s)
    {
        var ns = cut.Get(RrType.NS)!;
        s.Authority.Add(new Entry(cut.Name, ns));
        if (s.Dnssec)
        {
            // A signed referral: the DS (signed), or the cut's NSEC proving there is none (an insecure delegation).
            if (cut.Get(RrType.DS) is { } ds) AddSigned(s.Authority, cut, cut.Name, ds, s);
            else Deny(zone, cut.Name, s);
        }
        AddAdditional(zone, [ns], s);
    }

    /// <summary>Addresses of NS, MX and SRV targets held in the zone (glue included), once each.</summary>
    private static void AddAdditional(ZoneSnapshot zone, IEnumerable<RRset> sets, Scratch s)
    {
        foreach (var set in sets)
        {
            if (set.Type is not (RrType.NS or RrType.MX or RrType.SRV)) continue;
            foreach (var rr in set.Records)
            {
                var target = rr.Data.Target;
                if (target is null || !target.IsSubdomainOf(zone.Origin) || !s.AdditionalSeen.Add(target.Key)) continue;
                var node = zone.Find(target.Key);
                if (node is null) continue;
                if (node.Get(RrType.A) is { } a) s.Additional.Add(new Entry(target, a));
                if (node.Get(RrType.AAAA) is { } aaaa) s.Additional.Add(new Entry(target, aaaa));
            }
        }
    }

    private void Write(DnsMessage m, DnsQuestion q, DnsRcode rcode, bool aa, Scratch s, bool tcp, DnsWriter w)
    {
        int limit = ResponseLimit(m, tcp);
        var opt = ResponseEdns(m.Edns, rcode);
        int optSize = opt is null ? 0 : 11;
        w.Reset(limit);
        w.SetLimit(limit - optSize);
        w.WriteHeader(m.Id, ResponseFlags(m.Flags, aa, rcode), 0, 0, 0, 0);
        if (!w.TryWriteQuestion(q))
        {
            WriteError(w, m.Id, m.Flags, null, DnsRcode.FormErr, m.Edns, tcp);
            return;
        }
        w.SetCount(0, 1);
        var afterQuestion = w.Save();
        bool truncated = false;
        int an = 0, ns = 0, ar = 0;
        foreach (var e in s.Answer)
        {
            if (!WriteSet(w, e, ref an)) { truncated = true; break; }
        }
        if (!truncated)
            foreach (var e in s.Authority)
                if (!WriteSet(w, e, ref ns)) { truncated = true; break; }
        if (truncated)
        {
            // Required data does not fit: an empty, truncated answer sends the client to TCP (RFC 2181 §9).
            w.Restore(afterQuestion);
            an = ns = 0;
            w.SetFlags((ushort)(w.GetFlags() | DnsFlags.TC));
        }
        else
        {
            // Additional data is best effort: whole RRsets while they fit, no TC when they do not.
            foreach (var e in s.Additional)
            {
                var mark = w.Save();
                int before = ar;
                if (!WriteSet(w, e, ref ar))
                {
                    w.Restore(mark);
                    ar = before;
                    break;
                }
            }
        }
        w.SetLimit(limit);
        if (opt is not null)
        {
            DnsMessage.WriteOpt(w, opt);
            ar++;
        }
        w.SetCount(1, an);
        w.SetCount(2, ns);
        w.SetCount(3, ar);
    }

    private static bool WriteSet(DnsWriter w, Entry e, ref int count)
    {
        foreach (var rr in e.Set.Records)
        {
            if (!w.TryWriteRecord(e.Owner, rr.Type, rr.Class, e.Set.Ttl, rr.Data)) return false;
            count++;
        }
        return true;
    }
}
