namespace Dt.Replication;

/// <summary>
/// Changes this node drops because their signer is not a trusted master (or their signature does not verify), per
/// signer: when to log again (at once for a signer not seen before, then at most once per <see cref="LogInterval"/>
/// with the count since), and the warnings a node reports while drops are recent. Bounded: the signers seen last.
/// </summary>
internal sealed class UntrustedSigners(TimeProvider time)
{
    /// <summary>Longest a signer's drops wait to be logged again. 1 minute.</summary>
    public static readonly TimeSpan LogInterval = TimeSpan.FromMinutes(1);

    /// <summary>How long a signer's last drop keeps the node degraded. 10 minutes.</summary>
    public static readonly TimeSpan Recent = TimeSpan.FromMinutes(10);

    private const int MaxSigners = 64;

    private sealed class Signer(Guid author, bool forged)
    {
        public Guid Author { get; } = author;
        public bool Forged { get; } = forged;
        public long Dropped;
        public long SinceLog;
        public string Table = "";
        public string Origin = "";
        public DateTimeOffset LastSeen;
        public DateTimeOffset? LastLogged;
    }

    private readonly Dictionary<(Guid, bool), Signer> _signers = [];

    /// <summary>The fingerprint a master prints at start and a dropping node names: its author id, 32 hex digits.</summary>
    public static string Fingerprint(Guid author) => author.ToString("N");

    /// <summary>Counts a dropped batch; returns the count to log now (dropped changes since the last line), or 0.</summary>
    public long Record(Guid author, bool forged, string table, string origin, int changes)
    {
        var now = time.GetUtcNow();
        lock (_signers)
        {
            if (!_signers.TryGetValue((author, forged), out var s))
            {
                if (_signers.Count >= MaxSigners)
                    _signers.Remove(_signers.MinBy(x => x.Value.LastSeen).Key);
                _signers[(author, forged)] = s = new Signer(author, forged);
            }
            s.Dropped += changes;
            s.SinceLog += changes;
            s.Table = table;
            s.Origin = origin;
            s.LastSeen = now;
            if (s.LastLogged is { } last && now - last < LogInterval) return 0;
            s.LastLogged = now;
            long n = s.SinceLog;
            s.SinceLog = 0;
            return n;
        }
    }

    /// <summary>One sentence per signer whose changes were dropped within <see cref="Recent"/>, newest first.</summary>
    public IReadOnlyList<string> Warnings()
    {
        var now = time.GetUtcNow();
        lock (_signers)
            return _signers.Values.Where(s => now - s.LastSeen < Recent).OrderByDescending(s => s.LastSeen)
                .Select(s => s.Forged
                    ? $"degraded: dropping changes signed as trusted master {Fingerprint(s.Author)} that fail verification (forged or altered; {s.Dropped} changes, last to table '{s.Table}' from {s.Origin} {Ago(now - s.LastSeen)} ago)"
                    : $"degraded: dropping changes from untrusted master {Fingerprint(s.Author)} ({s.Dropped} changes, last to table '{s.Table}' from {s.Origin} {Ago(now - s.LastSeen)} ago): if it is yours, add its public key (printed at its start with this fingerprint) to Dt:TrustedMasterKeys")
                .ToList();
    }

    private static string Ago(TimeSpan t) => t.TotalSeconds < 90 ? $"{Math.Max(0, (int)t.TotalSeconds)} s" : $"{(int)t.TotalMinutes} min";
}
