using Dt.Dns.Wire;

namespace Dt.Dns.Zones;

/// <summary>A serial marker object as held: its object hash, serial and content digest.</summary>
public sealed record MarkerItem(string Hash, uint Serial, string Digest);

/// <summary>A record object as held: its object hash and the normalized record.</summary>
public sealed record RecordItem(string Hash, DnsRecord Record, string Line);

/// <summary>
/// What a node holds of one zone right now (possibly mid-change): its record and marker objects, the digest of the
/// records' distinct lines, and the serial it serves (null if none yet).
/// </summary>
public sealed record ZoneState(
    DnsName Origin,
    IReadOnlyList<RecordItem> Records,
    IReadOnlyList<MarkerItem> Markers,
    string Digest,
    uint? ServedSerial,
    string? ServedDigest)
{
    public bool HasSoa => Records.Any(r => r.Record.Type == RrType.SOA && r.Record.Name.Equals(Origin));

    /// <summary>The greatest serial anyone has used for this zone (markers and the served serial).</summary>
    public uint? HighestSerial
    {
        get
        {
            var all = Markers.Select(m => m.Serial).ToList();
            if (ServedSerial is { } s) all.Add(s);
            return all.Count == 0 ? null : SerialNumber.Max(all);
        }
    }
}

/// <summary>
/// The mutable, per-zone tally of objects that a <see cref="ZoneStore"/> (or a one-off listing) keeps: records by
/// object hash, a count per distinct line with the incremental digest over distinct lines, and markers.
/// </summary>
internal sealed class RawZone(DnsName origin)
{
    public DnsName Origin { get; } = origin;
    public Dictionary<string, RecordItem> Records { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, MarkerItem> Markers { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, int> LineCounts { get; } = new(StringComparer.Ordinal);
    public ZoneDigest Digest { get; } = new();
    public int SoaCount { get; private set; }
    public bool Dirty { get; set; } = true;
    public DateTimeOffset? PendingSince { get; set; }

    public bool IsEmpty => Records.Count == 0 && Markers.Count == 0;

    public void Add(string hash, DnsObject o)
    {
        switch (o)
        {
            case RecordObject r:
                if (!Records.TryAdd(hash, new RecordItem(hash, r.Record, r.Line))) return;
                int n = LineCounts.GetValueOrDefault(r.Line);
                LineCounts[r.Line] = n + 1;
                if (n == 0) Digest.Add(r.Line);
                if (r.Record.Type == RrType.SOA && r.Record.Name.Equals(Origin)) SoaCount++;
                break;
            case SerialObject s:
                Markers[hash] = new MarkerItem(hash, s.Serial, s.Digest);
                break;
        }
        Dirty = true;
    }

    public bool Remove(string hash)
    {
        if (Records.Remove(hash, out var r))
        {
            int n = LineCounts[r.Line] - 1;
            if (n == 0)
            {
                LineCounts.Remove(r.Line);
                Digest.Remove(r.Line);
            }
            else LineCounts[r.Line] = n;
            if (r.Record.Type == RrType.SOA && r.Record.Name.Equals(Origin)) SoaCount--;
            Dirty = true;
            return true;
        }
        if (Markers.Remove(hash))
        {
            Dirty = true;
            return true;
        }
        return false;
    }

    public ZoneState ToState(ZoneSnapshot? served) =>
        new(Origin, [.. Records.Values], [.. Markers.Values], Digest.Value, served?.Serial, served?.Digest);

    /// <summary>The best marker for the current content: the greatest serial among markers whose digest matches.</summary>
    public MarkerItem? MatchingMarker()
    {
        string digest = Digest.Value;
        MarkerItem? best = null;
        foreach (var m in Markers.Values)
            if (m.Digest == digest && (best is null || SerialNumber.Greater(m.Serial, best.Serial))) best = m;
        return best;
    }

    /// <summary>True if two markers share a serial but not a digest (two masters committed at once).</summary>
    public bool HasConflictingMarkers() =>
        Markers.Values.GroupBy(m => m.Serial).Any(g => g.Select(m => m.Digest).Distinct().Count() > 1);

    public IEnumerable<DnsRecord> DistinctRecords()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in Records.Values)
            if (seen.Add(r.Line)) yield return r.Record;
    }
}
