using System.Collections.Concurrent;
using Dt.Events;
using Dt.Model;
using Dt.Modules;
using Dt.Protocol;
using Dt.Security;
using Dt.Transport;
using Microsoft.Extensions.Logging;

namespace Dt.Replication;

/// <summary>
/// Keeps a node's tables and makes them converge with its peers.
/// <list type="bullet">
/// <item>Masters stamp each change with a hybrid logical clock and their id; every node keeps, per object hash, the
/// newest change (last writer wins, removals kept as tombstones for <see cref="ReplicationOptions.TombstoneRetention"/>).</item>
/// <item>Live changes are flooded to every link; a node relays a change only if it was new to it, which ends loops.</item>
/// <item>Reconciliation (started by the dialing side of each link, on connect and every <see cref="ReplicationOptions.SyncInterval"/>)
/// compares counts and fingerprint sums over a 16-ary tree of hash prefixes, descending only into ranges that differ,
/// so its traffic grows with the difference, not the table.</item>
/// <item>Only changes written by a master are kept: a change whose author is not a known master is dropped.</item>
/// </list>
/// A node module: it claims the replication message types; each link's replication state is a <see cref="PeerSyncSession"/>.
/// </summary>
internal sealed partial class Replicator : INodeModule, ITableObserver
{
    /// <summary>Ranges per summary request: the reply (16 child summaries each) stays under about 600 KB, and a
    /// deep level costs few scans of the table.</summary>
    private const int SummaryRangesPerFrame = 4096;
    /// <summary>Ranges per entry or version request: fewer, larger replies repeat a batch's member list less often.</summary>
    private const int RangesPerFrame = 8192;
    private const int VersionsPerFrame = 16384;
    private const int LeafThreshold = 12;
    private const int MaxDepth = 16;

    private readonly ReplicationOptions _options;
    private readonly ModuleContext _context;
    private readonly EventHub _events;
    private readonly HybridLogicalClock _clock;
    private readonly ILogger _log;
    private readonly TableStore _store;
    private readonly ConcurrentDictionary<PeerLink, PeerSyncSession> _sessions = new(ReferenceEqualityComparer.Instance);
    private readonly TimeProvider _time;
    private readonly MasterSigningKey? _signer;
    private readonly TrustedMasters _trusted;
    private readonly IChangeJournal? _journal;
    private readonly DtMetrics _metrics;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private long _droppedUnknownAuthor;
    private long _takenInJsonBytes;
    private long _roundsInSync;

    public Replicator(ReplicationOptions options, ModuleContext context, TableStore store, MasterSigningKey? signer, TrustedMasters trusted, IChangeJournal? journal = null)
    {
        _context = context;
        Warnings = context.Warnings;
        _metrics = context.Metrics;
        _journal = journal;
        _signer = signer;
        _trusted = trusted;
        _time = context.Time;
        Untrusted = new UntrustedSigners(_time);
        _options = options;
        _store = store;
        _events = context.Events;
        _clock = context.Clock;
        _log = context.Loggers.CreateLogger("Dt.Replication");
    }

    private IReadOnlyList<PeerLink> Links => _context.Links;

    // ---- the module ------------------------------------------------------------------------------------------

    public IReadOnlyCollection<MessageType> MessageTypes { get; } =
    [
        MessageType.Changes, MessageType.SyncSince, MessageType.SyncSummary, MessageType.SyncNodesRequest, MessageType.SyncNodes,
        MessageType.RangeRequest, MessageType.RangeVersions, MessageType.EntryRequest,
    ];

    /// <summary>Starts the periodic reconciliation (each link's dialing side) and tombstone purge.</summary>
    public void Start() => _loop = Task.Run(PeriodicAsync);

    private async Task PeriodicAsync()
    {
        using var timer = new PeriodicTimer(_options.SyncInterval, _time);
        var lastPurge = _time.GetUtcNow();
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                foreach (var link in Links)
                    if (link.IsDialer) StartSync(link);
                if (_time.GetUtcNow() - lastPurge > TimeSpan.FromMinutes(10))
                {
                    lastPurge = _time.GetUtcNow();
                    PurgeTombstones();
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    public void OnLinkUp(PeerLink link)
    {
        Session(link);
        if (link.IsDialer) StartSync(link, linkUp: true);
    }

    /// <summary>Ends the link's session once it has applied what it holds, and stops its bulk streams.</summary>
    public void OnLinkDown(PeerLink link)
    {
        if (_sessions.TryRemove(link, out var session)) session.Dispose();
    }

    /// <summary>The link's session, made on first use: a link's first message may come before its link-up call.</summary>
    private PeerSyncSession Session(PeerLink link)
    {
        var session = _sessions.GetOrAdd(link, l => new PeerSyncSession(l, this));
        // A link that closed before its link-up call: its link-down has come (or comes) and finds nothing to end.
        if (link.IsClosed && _sessions.TryRemove(link, out var late)) late.Dispose();
        return session;
    }

    public ValueTask OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body)
    {
        var r = new WireReader(body.Span);
        switch (type)
        {
            case MessageType.Changes:
            {
                var session = Session(link);
                // The frame's JSON goes into rented chunks, released once applied, relayed and journaled.
                var chunks = FrameChunks.Take();
                string table;
                List<(ChangeBatch, List<Change>)> groups;
                try { (table, groups) = BatchCodec.Decode(ref r, _options.MaxObjectBytes, session.Received, session.Lists, chunks: chunks); }
                catch
                {
                    chunks.Release();
                    throw;
                }
                return session.EnqueueChanges(table, groups, chunks);
            }
            // Reconciliation steps run on the session's apply task, after the changes received before them.
            case MessageType.SyncSince:
            {
                var m = SyncSinceMessage.Decode(ref r);
                return Session(link).EnqueueAfterChanges(() => OnSyncSince(link, m));
            }
            case MessageType.SyncSummary:
            {
                var m = SyncSummaryMessage.Decode(ref r);
                return Session(link).EnqueueAfterChanges(() => OnSyncSummary(link, m));
            }
            case MessageType.SyncNodesRequest:
            {
                var m = RangesMessage.Decode(ref r, type);
                return Session(link).EnqueueAfterChanges(() => OnSyncNodesRequest(link, m));
            }
            case MessageType.SyncNodes:
            {
                var m = SyncNodesMessage.Decode(ref r);
                return Session(link).EnqueueAfterChanges(() => OnSyncNodes(link, m));
            }
            case MessageType.RangeRequest:
            {
                var m = RangesMessage.Decode(ref r, type);
                return Session(link).EnqueueAfterChanges(() => OnRangeRequest(link, m));
            }
            case MessageType.RangeVersions:
            {
                var (table, depth, prefixes, entries) = RangeVersionsCodec.Decode(ref r);
                return Session(link).EnqueueAfterChanges(() => OnRangeVersions(link, table, depth, prefixes, entries));
            }
            case MessageType.EntryRequest:
            {
                var (table, hashes) = EntryRequestCodec.Decode(ref r);
                return Session(link).EnqueueAfterChanges(() => OnEntryRequest(link, table, hashes));
            }
        }
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        foreach (var link in _sessions.Keys) OnLinkDown(link);
        try { await _loop.WaitAsync(TimeSpan.FromSeconds(5)); } catch { /* stopping */ }
    }

    void ITableObserver.OnApplied(TableState table, ReadOnlySpan<AppliedChange> applied, string origin)
    {
        long taken = 0;
        foreach (ref readonly var a in applied)
            if (a.Outcome is ApplyOutcome.Added or ApplyOutcome.Replaced) taken += a.Json.Length;
        if (taken > 0) Interlocked.Add(ref _takenInJsonBytes, taken);
        using var run = _events.BeginRun();
        foreach (ref readonly var a in applied)
            switch (a.Outcome)
            {
                case ApplyOutcome.Added: run.Publish(DtEventTypes.ObjectAdded, table.Name, a.Hash, a.Json, origin); break;
                case ApplyOutcome.Removed: run.Publish(DtEventTypes.ObjectRemoved, table.Name, a.Hash, a.Json, origin); break;
            }
    }

    public bool IsMaster => _options.Master;

    /// <summary>Where warnings about a peer's messages go, rate-limited per remote address.</summary>
    public Diagnostics.PeerWarnings Warnings { get; }

    public IEnumerable<TableState> Tables => _store.Values;

    /// <summary>This master's author id, or null on a non-master.</summary>
    public Guid? AuthorId => _signer?.Id;

    /// <summary>Drops by signer, for logs and the node's warnings.</summary>
    public UntrustedSigners Untrusted { get; }

    /// <summary>
    /// The change lists received frames are decoded into, shared by every link: what a pool keeps (up to 64 lists of
    /// a full batch, 25 MB) is then kept once per node, not once per link.
    /// </summary>
    public ChangeListPool ChangeLists { get; } = new();

    /// <summary>Object JSON bytes stored by applied adds since the node started (local, synced and relayed alike).</summary>
    public long TakenInJsonBytes => Interlocked.Read(ref _takenInJsonBytes);

    /// <summary>Changes dropped because no trusted master signed them.</summary>
    public long DroppedUnknownAuthor => Interlocked.Read(ref _droppedUnknownAuthor);

    /// <summary>Reconciliation rounds this node started that found every table equal to the peer's.</summary>
    public long RoundsInSync => Interlocked.Read(ref _roundsInSync);

    /// <summary>Table names: see <see cref="TableNames"/>.</summary>
    public static bool IsValidTableName(string? name) => TableNames.IsValid(name);

    public TableState GetOrCreate(string name)
    {
        if (!IsValidTableName(name))
            throw new DtException(DtErrorCodes.InvalidArgument, $"table name '{TableNames.Shown(name)}' is invalid: {TableNames.Rule}");
        if (_store.TryGetValue(name, out var t)) return t;
        if (_store.Count >= WireLimits.MaxTables)
            throw new DtException(DtErrorCodes.LimitReached, $"this node already holds {WireLimits.MaxTables} tables");
        return _store.GetOrAdd(name, n => new TableState(n));
    }

    public TableState? Find(string name) => _store.GetValueOrDefault(name);

    /// <summary>
    /// Drops everything no trusted master signed (called at start, before the node links): entries of untrusted
    /// authors, and entries whose batch signature does not verify. This is how a node loses what only it had.
    /// </summary>
    public int ForgetUnsigned()
    {
        int n = 0;
        foreach (var t in _store.Values)
        {
            // Checked on every core first (a replayed log's batches are unchecked; each check hashes the batch's member
            // list), so the pass under the table's lock below only reads the results.
            Parallel.ForEach(t.SnapshotBatches(b => !b.SignatureGoodFor(_options.Network, t.Name)), b => Verify(t.Name, b));
            n += t.ForgetWhere(b => Verify(t.Name, b), "not signed by a trusted master", this);
        }
        return n;
    }

    /// <summary>Whether a trusted master signed <paramref name="b"/> for <paramref name="table"/>: checked once per batch (see <see cref="ChangeBatch.SignatureGoodFor"/>).</summary>
    private bool Verify(string table, ChangeBatch b) => IsSigned(_trusted, _options.Network, table, b);

    /// <summary>
    /// Whether a master in <paramref name="trusted"/> signed <paramref name="b"/> for <paramref name="table"/> of
    /// <paramref name="network"/>; a good signature is remembered by the batch, so each batch is checked once.
    /// </summary>
    public static bool IsSigned(TrustedMasters trusted, string network, string table, ChangeBatch b)
    {
        if (b.SignatureGoodFor(network, table)) return trusted.Contains(b.Author);
        if (!trusted.Verify(b.Author, ChangeBatch.Digest(network, table, b.Author, b.Hlc, b.Members), b.Signature)) return false;
        b.MarkSignatureGood(network, table);
        return true;
    }

    // ---- local changes (masters only) ------------------------------------------------------------------------

    public IReadOnlyList<ObjectHash> Add(string table, IReadOnlyList<byte[]> canonicalObjects)
    {
        RequireMaster("add objects");
        foreach (var json in canonicalObjects)
            if (json.Length > _options.MaxObjectBytes)
                throw new DtException(DtErrorCodes.TooLarge, $"object of {json.Length} bytes is over the limit of {_options.MaxObjectBytes} bytes (Dt:MaxObjectBytes)");
        var t = GetOrCreate(table);
        var hashes = new ObjectHash[canonicalObjects.Count];
        ObjectHash.OfMany(canonicalObjects, hashes);
        var changed = t.AddLocal(hashes, canonicalObjects, _options.MaxObjectsPerTable, members => Sign(table, members), this, Journal(table));
        Flood(table, changed, except: null);
        return hashes;
    }

    private Action<ChangeBatch, List<Change>>? Journal(string table) =>
        _journal is null ? null : (batch, applied) => _journal.Append(table, batch, applied);

    public bool Remove(string table, ObjectHash hash)
    {
        RequireMaster("remove objects");
        var t = Find(table);
        if (t?.RemoveLocal(hash, members => Sign(table, members), this, Journal(table)) is not { } c) return false;
        Flood(table, [c], except: null);
        return true;
    }

    private ChangeBatch Sign(string table, BatchMember[] members)
    {
        ulong hlc = _clock.Now();
        var signature = _signer!.SignDigest(ChangeBatch.Digest(_options.Network, table, _signer.Id, hlc, members));
        var batch = new ChangeBatch(_signer.Id, hlc, members, signature);
        batch.MarkSignatureGood(_options.Network, table);
        return batch;
    }

    /// <summary>Completes when every change this node has applied so far is on disk (at once in memory-only mode).</summary>
    public Task WhenDurable() => _journal is null ? Task.CompletedTask : _journal.WaitDurableAsync(_journal.LastAppended);

    private void RequireMaster(string what)
    {
        if (!_options.Master || _signer is null)
            throw new DtException(DtErrorCodes.NotMaster, $"this node is not a master and may not {what} (set Dt:Master=true on master nodes)");
    }

    // ---- changes from peers ----------------------------------------------------------------------------------

    /// <summary>
    /// Applies a peer's decoded frame and relays what was new to the other links. <paramref name="applied"/> is the
    /// caller's reusable buffer for the changes that won (emptied here), so a steady stream allocates none per change.
    /// The journal holds <paramref name="chunks"/> (the frame's JSON) until it has encoded what it was given.
    /// </summary>
    public void OnChanges(PeerLink from, string table, List<(ChangeBatch Batch, List<Change> Included)> groups, List<Change>? applied = null, FrameChunks? chunks = null)
    {
        if (!IsValidTableName(table)) throw new ProtocolException($"invalid table name '{Truncate(table)}'");
        ulong tombstoneFloor = HybridLogicalClock.FromTime(_time.GetUtcNow() - _options.TombstoneRetention);
        var t = GetOrCreate(table);
        int total = 0;
        foreach (var (_, list) in groups) total += list.Count;
        // Sized once: a bulk frame carries thousands of changes, and growing a list of them copies and collects.
        var changed = applied ?? new List<Change>(total);
        changed.Clear();
        changed.EnsureCapacity(total);
        var refused = new List<Change>();
        var rules = new TableState.PeerRules(tombstoneFloor, _options.MaxObjectsPerTable, b => Verify(table, b));
        ulong maxHlc = 0;
        string origin = from.RemoteNodeId.ToString();
        foreach (var (batch, included) in groups)
        {
            if (!Trusted(t, batch, origin)) continue;
            int before = changed.Count;
            t.ApplyFromPeer(included, rules, origin, this, changed, refused);
            if (changed.Count > before) _journal?.Append(table, batch, changed.GetRange(before, changed.Count - before), chunks);
            if (batch.Hlc > maxHlc) maxHlc = batch.Hlc;
        }
        foreach (var c in refused)
        {
            _metrics.ChangesDropped(DropReason.TableFull, 1);
            _events.Publish(DtEventTypes.Error, table, c.Hash, null, origin, $"table '{table}' is full ({_options.MaxObjectsPerTable} objects); change dropped");
        }
        _clock.Observe(maxHlc);
        if (changed.Count > 0) _metrics.ChangesApplied(changed.Count);
        Flood(table, changed, except: from);
        changed.Clear();
    }

    /// <summary>Checks a received batch's signature once (a batch already held with the same signature needs no check).</summary>
    private bool Trusted(TableState t, ChangeBatch batch, string origin)
    {
        if (t.TryGetBatch(batch.Author, batch.Hlc, out var held) && held.SameAs(batch)) return true;
        if (_trusted.Contains(batch.Author) && Verify(t.Name, batch)) return true;
        bool forged = _trusted.Contains(batch.Author);
        string fingerprint = UntrustedSigners.Fingerprint(batch.Author);
        string why = forged
            ? $"a change signed as trusted master {fingerprint} failed verification (forged or altered); dropped"
            : $"a change signed by master {fingerprint}, which is not a trusted master (Dt:TrustedMasterKeys), dropped";
        Interlocked.Increment(ref _droppedUnknownAuthor);
        long toLog = Untrusted.Record(batch.Author, forged, t.Name, origin, batch.Count);
        if (toLog > 0)
        {
            if (forged) DtLog.ForgedChanges(_log, t.Name, origin, fingerprint, toLog);
            else DtLog.UntrustedSigner(_log, t.Name, origin, fingerprint, toLog);
        }
        _metrics.ChangesDropped(forged ? DropReason.BadSignature : DropReason.UntrustedSigner, batch.Count);
        _events.Publish(DtEventTypes.Error, t.Name, batch.MemberAt(0).Hash, null, origin, why);
        return false;
    }

    /// <summary>Sends changes to every link but one, each frame encoded once. A link whose queue is full is cut.</summary>
    private void Flood(string table, List<Change> changes, PeerLink? except)
    {
        if (changes.Count == 0) return;
        var links = Links;
        if (links.Count == 0 || (links.Count == 1 && links[0] == except)) return;
        foreach (var frame in Frames(table, changes))
            foreach (var link in links)
                if (link != except) link.TrySend(frame.Span);
    }

    /// <summary>
    /// Packs changes into Changes frames of about <see cref="FrameTarget"/> bytes, grouped by batch; a batch whose
    /// included objects do not fit in one frame is split, its member list repeated in each part. With
    /// <paramref name="derive"/> (bulk streams to a peer that offers it) the hashes of carried objects are left off.
    /// The yielded memory is valid until the next item is taken.
    /// </summary>
    private IEnumerable<ReadOnlyMemory<byte>> Frames(string table, List<Change> changes, BatchMemory? sent = null, bool derive = false)
    {
        var (ordered, runs) = Runs(changes);
        int target = FrameTarget;
        var body = new WireWriter(Math.Min(target, 1 << 16));
        var frame = new WireWriter(Math.Min(target, 1 << 16));
        try
        {
            int groupsInBody = 0;
            foreach (var (batch, first, last) in runs)
            {
                var included = ordered;
                int start = first;
                while (start < last)
                {
                    // Take as many included changes as fit with this batch's member list (or reference).
                    var form = sent is null ? BatchCodec.GroupForm.Full
                        : sent.Contains(batch) ? BatchCodec.GroupForm.Reference : BatchCodec.GroupForm.FullRemember;
                    long bytes = form == BatchCodec.GroupForm.Reference ? 32 : BatchCodec.Estimate(batch, 0, 0);
                    int end = start;
                    while (end < last)
                    {
                        long next = 8 + included[end].Json.Length;
                        if (end > start && bytes + next > target) break;
                        bytes += next;
                        end++;
                    }
                    if (groupsInBody > 0 && body.Length + bytes > target)
                    {
                        yield return Emit(frame, body, table, groupsInBody);
                        groupsInBody = 0;
                    }
                    BatchCodec.EncodeGroup(body, batch, included, start, end - start, form, derive);
                    if (form == BatchCodec.GroupForm.FullRemember) sent!.Remember(batch);
                    groupsInBody++;
                    start = end;
                }
            }
            if (groupsInBody > 0) yield return Emit(frame, body, table, groupsInBody);
        }
        finally
        {
            body.Dispose();
            frame.Dispose();
        }

        static ReadOnlyMemory<byte> Emit(WireWriter frame, WireWriter body, string table, int groups)
        {
            frame.Reset();
            BatchCodec.EncodeHeader(frame, table, groups);
            frame.Bytes(body.WrittenSpan);
            body.Reset();
            return frame.WrittenMemory;
        }
    }

    /// <summary>
    /// Changes as runs of one batch each, in first-seen order. Changes come already grouped (a table's batches, an
    /// applied frame), so usually the runs index the list as it is; otherwise a regrouped copy is made.
    /// </summary>
    private static (List<Change> Ordered, List<(ChangeBatch Batch, int Start, int End)> Runs) Runs(List<Change> changes)
    {
        var runs = new List<(ChangeBatch, int, int)>();
        var seen = new HashSet<ChangeBatch>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < changes.Count; i++)
        {
            var batch = changes[i].Batch!;
            if (runs.Count > 0 && ReferenceEquals(runs[^1].Item1, batch)) continue;
            if (!seen.Add(batch)) return Regrouped(changes);
            if (runs.Count > 0) runs[^1] = (runs[^1].Item1, runs[^1].Item2, i);
            runs.Add((batch, i, changes.Count));
        }
        return (changes, runs);

        static (List<Change>, List<(ChangeBatch, int, int)>) Regrouped(List<Change> changes)
        {
            var groups = new Dictionary<ChangeBatch, List<Change>>(ReferenceEqualityComparer.Instance);
            var order = new List<ChangeBatch>();
            foreach (var c in changes)
            {
                if (!groups.TryGetValue(c.Batch!, out var list))
                {
                    groups[c.Batch!] = list = [];
                    order.Add(c.Batch!);
                }
                list.Add(c);
            }
            var ordered = new List<Change>(changes.Count);
            var runs = new List<(ChangeBatch, int, int)>(order.Count);
            foreach (var b in order)
            {
                runs.Add((b, ordered.Count, ordered.Count + groups[b].Count));
                ordered.AddRange(groups[b]);
            }
            return (ordered, runs);
        }
    }

    private int FrameTarget => Math.Min(_options.MaxFrameBytes / 2, 1 << 20);

    /// <summary>Streams changes to one link in the background, waiting for queue space; one stream per link at a time.</summary>
    private void SendBulk(PeerLink link, string table, List<Change> changes)
    {
        if (changes.Count == 0) return;
        Session(link).RunBulk(async (session, ct) =>
        {
            foreach (var frame in Frames(table, changes, session.Sent, link.RemoteDerivesHashes))
                if (link.IsClosed || !await link.SendAsync(frame, ct)) break;
        });
    }

    /// <summary>
    /// Streams a whole table to a peer that has none of it, batch by batch, without first copying the table:
    /// each batch's still-current entries are read under the lock, then sent outside it. Changes made meanwhile
    /// reach the peer as live floods.
    /// </summary>
    private void SendAll(PeerLink link, TableState t, Func<ChangeBatch, bool>? which = null)
    {
        Session(link).RunBulk(async (session, ct) =>
        {
            var batches = t.SnapshotBatches(which);
            var chunk = new List<Change>(16384);
            for (int b = 0; b < batches.Count && !link.IsClosed; b++)
            {
                t.CurrentOf(batches[b], chunk);
                if (chunk.Count < 8192 && b < batches.Count - 1) continue;
                foreach (var frame in Frames(t.Name, chunk, session.Sent, link.RemoteDerivesHashes))
                    if (link.IsClosed || !await link.SendAsync(frame, ct)) break;
                chunk.Clear();
            }
        });
    }

    /// <summary>A bulk stream of a link failed (not cancelled): logged, the next round repairs what it missed.</summary>
    internal void BulkSendFailed(PeerLink link, Exception e) => DtLog.BulkSendFailed(_log, link.ToString(), e.Message);

    // ---- reconciliation --------------------------------------------------------------------------------------

    /// <summary>
    /// Starts a round toward a peer (the dialing side does this). On a new link (<paramref name="linkUp"/>) the round
    /// opens with each side pushing the changes newer than the other's newest of their master (<see cref="SyncSinceMessage"/>): after
    /// an outage that is what was missed, sent without a descent, and the summaries compared next are then (nearly)
    /// equal. Periodic rounds skip it: on a busy table it would resend what the live floods already carried.
    /// </summary>
    public void StartSync(PeerLink link, bool linkUp = false)
    {
        using var w = new WireWriter();
        if (linkUp)
        {
            new SyncSinceMessage(false, NewestPerTable()).Encode(w);
            link.TrySend(w.WrittenSpan);
            w.Reset();
        }
        new SyncSummaryMessage(false, Summaries()).Encode(w);
        link.TrySend(w.WrittenSpan);
    }

    private List<(string, IReadOnlyDictionary<Guid, ulong>)> NewestPerTable()
    {
        var list = new List<(string, IReadOnlyDictionary<Guid, ulong>)>();
        foreach (var t in _store.Values)
            if (t.NewestByAuthor() is { Count: > 0 and <= SyncSinceMessage.MaxAuthors } newest) list.Add((t.Name, newest));
        return list;
    }

    private List<TableDigest> Summaries()
    {
        var list = new List<TableDigest>();
        foreach (var t in _store.Values)
        {
            var (count, sum) = t.Root;
            list.Add(new TableDigest(t.Name, count, sum));
        }
        return list;
    }

    /// <summary>
    /// The peer's newest change of each master per table: push every held change newer than that (every change of a
    /// master the peer has nothing from). A table the peer lacks entirely is left to the summary, which sends it
    /// whole. The first such message of a round is answered with this side's own.
    /// </summary>
    public void OnSyncSince(PeerLink link, SyncSinceMessage m)
    {
        foreach (var (table, _) in m.Tables)
            if (!IsValidTableName(table)) throw new ProtocolException($"invalid table name '{Truncate(table)}'");
        if (!m.IsReply)
        {
            using var w = new WireWriter();
            new SyncSinceMessage(true, NewestPerTable()).Encode(w);
            link.TrySend(w.WrittenSpan);
        }
        foreach (var (table, theirs) in m.Tables)
            if (Find(table) is { } t)
                SendAll(link, t, b => !theirs.TryGetValue(b.Author, out var hlc) || b.Hlc > hlc);
    }

    public void OnSyncSummary(PeerLink link, SyncSummaryMessage m)
    {
        foreach (var d in m.Tables)
            if (!IsValidTableName(d.Table)) throw new ProtocolException($"invalid table name '{Truncate(d.Table)}'");
        // Both the reply and the initiator's next steps wait for this side's bulk streams under way (a push of newer
        // changes, above all), so that what they compare or ask for is what the peer holds once those arrive.
        Session(link).RunBulk((_, _) =>
        {
            if (!m.IsReply) ReplySummary(link, m);
            else ContinueRound(link, m);
            return Task.CompletedTask;
        });
    }

    private void ReplySummary(PeerLink link, SyncSummaryMessage m)
    {
        var mine = Summaries().ToDictionary(d => d.Table);
        var theirs = m.Tables.ToDictionary(d => d.Table);
        var differing = new List<TableDigest>();
        foreach (var name in mine.Keys.Union(theirs.Keys))
        {
            var a = mine.GetValueOrDefault(name) ?? new TableDigest(name, 0, 0);
            var b = theirs.GetValueOrDefault(name) ?? new TableDigest(name, 0, 0);
            if (a.Count != b.Count || a.Sum != b.Sum) differing.Add(a);
        }
        using var w = new WireWriter();
        new SyncSummaryMessage(true, differing).Encode(w);
        link.TrySend(w.WrittenSpan);
    }

    private void ContinueRound(PeerLink link, SyncSummaryMessage m)
    {
        var mine = Summaries().ToDictionary(d => d.Table);
        // The reply lists what differed from this side's summary when sent; a push since may have made it equal.
        bool equal = true;
        foreach (var theirs in m.Tables)
        {
            var my = mine.GetValueOrDefault(theirs.Table) ?? new TableDigest(theirs.Table, 0, 0);
            if (my.Count == theirs.Count && my.Sum == theirs.Sum) continue;
            equal = false;
            if (theirs.Count == 0)
            {
                var t = Find(theirs.Table);
                if (t is not null) SendAll(link, t);
            }
            else if (my.Count == 0)
            {
                if (IsValidTableName(theirs.Table) && theirs.Count <= _options.MaxObjectsPerTable)
                {
                    GetOrCreate(theirs.Table).Reserve((int)theirs.Count);
                }
                SendRanges(link, MessageType.RangeRequest, theirs.Table, 0, RangeMode.Entries, [0UL]);
            }
            else
                SendRanges(link, MessageType.SyncNodesRequest, theirs.Table, 0, RangeMode.Versions, [0UL]);
        }
        if (equal) Interlocked.Increment(ref _roundsInSync);
    }

    private void SendRanges(PeerLink link, MessageType type, string table, int depth, RangeMode mode, List<ulong> prefixes)
    {
        using var w = new WireWriter();
        // A summary reply takes at most about 240 bytes per range; keep it within a frame.
        int perFrame = type == MessageType.SyncNodesRequest ? Math.Min(SummaryRangesPerFrame, (_options.MaxFrameBytes - 1024) / 240) : RangesPerFrame;
        for (int i = 0; i < prefixes.Count; i += perFrame)
        {
            w.Reset();
            new RangesMessage(type, table, depth, mode, prefixes.GetRange(i, Math.Min(perFrame, prefixes.Count - i))).Encode(w);
            link.TrySend(w.WrittenSpan);
        }
    }

    public void OnSyncNodesRequest(PeerLink link, RangesMessage m)
    {
        var t = Find(m.Table);
        RangeSummary[] children;
        if (t is null) children = m.Prefixes.Select(p => new RangeSummary(p)).ToArray();
        else children = t.Children(m.Depth, m.Prefixes);
        using var w = new WireWriter(64 + children.Length * 160);
        new SyncNodesMessage(m.Table, m.Depth, children).Encode(w);
        link.TrySend(w.WrittenSpan);
    }

    public void OnSyncNodes(PeerLink link, SyncNodesMessage m)
    {
        var t = Find(m.Table);
        var parents = m.Ranges.Select(r => r.Prefix).ToList();
        RangeSummary[] mine;
        if (t is null) mine = parents.Select(p => new RangeSummary(p)).ToArray();
        else mine = t.Children(m.Depth, parents);

        List<ulong> push = [], pull = [], versions = [], descend = [];
        int childDepth = m.Depth + 1;
        for (int i = 0; i < m.Ranges.Count; i++)
        {
            var theirs = m.Ranges[i];
            for (int c = 0; c < 16; c++)
            {
                long tc = theirs.Counts[c], mc = mine[i].Counts[c];
                if (tc == mc && theirs.Sums[c] == mine[i].Sums[c]) continue;
                ulong child = (theirs.Prefix << 4) | (uint)c;
                if (tc == 0) push.Add(child);
                else if (mc == 0) pull.Add(child);
                else if (tc + mc <= LeafThreshold || childDepth >= MaxDepth) versions.Add(child);
                else descend.Add(child);
            }
        }
        if (push.Count > 0 && t is not null)
        {
            SendBulk(link, m.Table, t.InRanges(childDepth, push, withJson: true));
        }
        if (pull.Count > 0) SendRanges(link, MessageType.RangeRequest, m.Table, childDepth, RangeMode.Entries, pull);
        if (versions.Count > 0) SendRanges(link, MessageType.RangeRequest, m.Table, childDepth, RangeMode.Versions, versions);
        if (descend.Count > 0) SendRanges(link, MessageType.SyncNodesRequest, m.Table, childDepth, RangeMode.Versions, descend);
    }

    public void OnRangeRequest(PeerLink link, RangesMessage m)
    {
        var t = Find(m.Table);
        if (t is not null && m.Mode == RangeMode.Entries && m.Depth == 0)
        {
            SendAll(link, t);
            return;
        }
        List<Change> entries;
        if (t is null) entries = [];
        else entries = t.InRanges(m.Depth, m.Prefixes, withJson: m.Mode == RangeMode.Entries);
        if (m.Mode == RangeMode.Entries)
        {
            SendBulk(link, m.Table, entries);
            return;
        }
        // Versions: frames cover whole ranges, so the receiver can tell "absent here" from "in another frame".
        int bits = 4 * m.Depth;
        var byPrefix = entries.GroupBy(e => e.Hash.Prefix(bits)).ToDictionary(g => g.Key, g => g.ToList());
        using var w = new WireWriter();
        var framePrefixes = new List<ulong>();
        var frameEntries = new List<Change>();
        foreach (var p in m.Prefixes)
        {
            framePrefixes.Add(p);
            if (byPrefix.TryGetValue(p, out var list)) frameEntries.AddRange(list);
            if (frameEntries.Count >= VersionsPerFrame || framePrefixes.Count >= RangesPerFrame)
            {
                Flush();
            }
        }
        if (framePrefixes.Count > 0) Flush();

        void Flush()
        {
            w.Reset();
            RangeVersionsCodec.Encode(w, m.Table, m.Depth, framePrefixes, frameEntries);
            link.TrySend(w.WrittenSpan);
            framePrefixes.Clear();
            frameEntries.Clear();
        }
    }

    public void OnRangeVersions(PeerLink link, string table, int depth, List<ulong> prefixes, List<(ObjectHash Hash, EntryVersion Version)> theirs)
    {
        var t = Find(table);
        List<Change> mine;
        if (t is null) mine = [];
        else mine = t.InRanges(depth, prefixes, withJson: true);
        var theirMap = new Dictionary<ObjectHash, EntryVersion>(theirs.Count);
        foreach (var (h, v) in theirs) theirMap[h] = v;
        var myMap = new Dictionary<ObjectHash, EntryVersion>(mine.Count);
        var push = new List<Change>();
        foreach (var c in mine)
        {
            myMap[c.Hash] = c.Version;
            if (!theirMap.TryGetValue(c.Hash, out var tv) || c.Version > tv) push.Add(c);
        }
        var want = new List<ObjectHash>();
        foreach (var (h, v) in theirs)
            if (!myMap.TryGetValue(h, out var mv) || v > mv) want.Add(h);
        SendBulk(link, table, push);
        if (want.Count > 0)
        {
            using var w = new WireWriter();
            for (int i = 0; i < want.Count; i += 4096)
            {
                w.Reset();
                EntryRequestCodec.Encode(w, table, want.GetRange(i, Math.Min(4096, want.Count - i)));
                link.TrySend(w.WrittenSpan);
            }
        }
    }

    public void OnEntryRequest(PeerLink link, string table, List<ObjectHash> hashes)
    {
        var t = Find(table);
        if (t is null) return;
        SendBulk(link, table, t.Lookup(hashes));
    }

    /// <summary>Forgets removals older than the retention; nodes ignore such old removals from peers too.</summary>
    public int PurgeTombstones()
    {
        ulong floor = HybridLogicalClock.FromTime(_time.GetUtcNow() - _options.TombstoneRetention);
        int n = 0;
        foreach (var t in _store.Values) n += t.PurgeTombstones(floor);
        return n;
    }

    private static string Truncate(string? s) => s is null ? "" : s.Length <= 40 ? s : s[..40] + "…";
}
