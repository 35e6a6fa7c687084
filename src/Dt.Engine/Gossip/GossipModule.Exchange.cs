using Dt.Protocol;
using Dt.Transport;

namespace Dt.Gossip;

/// <summary>
/// Scuttlebutt exchange. A round: the initiator sends its digest (40); the responder answers (41) with the deltas the
/// initiator lacks and requests for what the initiator has newer; the initiator answers the requests (42). Deltas of an
/// owner are its entries above the peer's version in version order with no gaps, cut to the message budget; a cut
/// answer says "more" and the receiver starts another exchange at once. Whatever advances a node's state is also
/// pushed (44) to its other links, so new writes travel hop by hop without waiting for rounds.
/// </summary>
internal sealed partial class GossipModule
{
    /// <summary>Deltas of one owner to send: entries above <see cref="From"/> (0 with the node id, for a newcomer).</summary>
    private readonly record struct Plan(string Name, OwnerState State, Guid NodeId, long AgeMs, long From, bool Reset);

    private void GossipRound(long now)
    {
        DeltaPacker.ToRandom(_node.Links, _o.Fanout, link => SendDigest(link, now));
    }

    private void SendDigest(PeerLink link, long now)
    {
        _lastDigestTo[link.Id] = now;
        using var w = new WireWriter(64 + 64 * (_members.Count + 1));
        w.U8((byte)GossipMessageTypes.Digest);
        w.U8(0);
        w.VarUInt((ulong)(_members.Count + 1));
        GossipCodec.WriteDigestEntry(w, new DigestEntry(Name, _self.Generation, _self.Version, _self.Heartbeat, 0));
        foreach (var m in _members.Values)
            GossipCodec.WriteDigestEntry(w, new DigestEntry(m.Name, m.State.Generation, m.State.Version, m.State.Heartbeat, now - m.LastArrivalMs));
        link.TrySend(w.WrittenSpan);
    }

    private void OnDigest(PeerLink link, List<DigestEntry> digest)
    {
        long now = NowMs();
        var requests = new List<DeltaRequest>();
        var plans = new List<Plan>();
        var seen = new HashSet<string>(digest.Count, StringComparer.Ordinal);
        foreach (var e in digest)
        {
            if (!seen.Add(e.Name)) continue;
            if (e.Name == Name)
            {
                CheckOwnName(e.Generation);
                if (e.Generation != _self.Generation) plans.Add(PlanSelf(0));
                else if (e.Version < _self.Version || e.Heartbeat < _self.Heartbeat) plans.Add(PlanSelf(e.Version));
                continue;
            }
            if (!_members.TryGetValue(e.Name, out var m))
            {
                if (!IsForgotten(e.Name, e.Generation, e.Heartbeat, now) && e.AgeMs < _o.ForgetDeadAfter.TotalMilliseconds)
                    requests.Add(new DeltaRequest(e.Name, e.Generation, 0));
                continue;
            }
            if (e.Generation > m.State.Generation) requests.Add(new DeltaRequest(e.Name, e.Generation, 0));
            else if (e.Generation < m.State.Generation) plans.Add(PlanMember(m, 0, now));
            else
            {
                ObserveHeartbeat(m, e.Heartbeat, e.AgeMs, now);
                if (e.Version > m.State.Version) requests.Add(new DeltaRequest(e.Name, e.Generation, m.State.Version));
                else if (e.Version < m.State.Version || e.Heartbeat < m.State.Heartbeat) plans.Add(PlanMember(m, e.Version, now));
            }
        }
        if (!seen.Contains(Name)) plans.Add(PlanSelf(0));
        foreach (var m in _members.Values)
            if (!seen.Contains(m.Name)) plans.Add(PlanMember(m, 0, now));

        Order(plans);
        using var batches = new WireWriter(1024);
        int requestBytes = requests.Sum(q => q.Name.Length * 3 + 12);
        var (count, more) = _packer.WriteBatches(batches, plans, _packer.Budget(link) - requestBytes - 16, now);
        using var w = new WireWriter(batches.Length + requestBytes + 32);
        GossipCodec.WriteAckStart(w, more, requests);
        GossipCodec.WriteBatchCount(w, count);
        w.Bytes(batches.WrittenSpan);
        link.TrySend(w.WrittenSpan);
    }

    private void OnAck(PeerLink link, bool more, List<DeltaRequest> requests, List<OwnerBatch> batches)
    {
        long now = NowMs();
        ApplyAndForward(link, batches);
        if (requests.Count > 0)
        {
            var plans = new List<Plan>(requests.Count);
            foreach (var q in requests)
            {
                if (q.Name == Name)
                {
                    plans.Add(PlanSelf(q.Generation == _self.Generation ? q.From : 0));
                    continue;
                }
                if (!_members.TryGetValue(q.Name, out var m)) continue;
                if (m.State.Generation == q.Generation) plans.Add(PlanMember(m, q.From, now));
                else if (m.State.Generation > q.Generation) plans.Add(PlanMember(m, 0, now));
            }
            Order(plans);
            using var body = new WireWriter(1024);
            var (count, cut) = _packer.WriteBatches(body, plans, _packer.Budget(link) - 16, now);
            using var w = new WireWriter(body.Length + 16);
            GossipCodec.WriteDeltasStart(w, GossipMessageTypes.Deltas, cut);
            GossipCodec.WriteBatchCount(w, count);
            w.Bytes(body.WrittenSpan);
            link.TrySend(w.WrittenSpan);
        }
        if (more) Continue(link, now);
    }

    private void OnDeltas(PeerLink link, bool more, List<OwnerBatch> batches)
    {
        ApplyAndForward(link, batches);
        if (more) Continue(link, NowMs());
    }

    /// <summary>A cut answer: exchange again at once, unless the link is backlogged (then the next round does).</summary>
    private void Continue(PeerLink link, long now)
    {
        if (!_packer.IsBacklogged(link)) SendDigest(link, now);
    }

    private Plan PlanSelf(long from)
    {
        if (from > 0 && from < _self.Floor) return new Plan(Name, _self, _node.NodeId, 0, 0, Reset: true);
        return new Plan(Name, _self, _node.NodeId, 0, Math.Min(from, _self.Version), false);
    }

    private static Plan PlanMember(Member m, long from, long now)
    {
        long age = Math.Max(0, now - m.LastArrivalMs);
        if (from > 0 && from < m.State.Floor) return new Plan(m.Name, m.State, m.NodeId, age, 0, Reset: true);
        return new Plan(m.Name, m.State, m.NodeId, age, Math.Min(from, m.State.Version), false);
    }

    /// <summary>Heartbeat-only plans first (small, and what failure detection needs), then the smallest deltas.</summary>
    private static void Order(List<Plan> plans) =>
        plans.Sort((a, b) => (a.State.Version - a.From).CompareTo(b.State.Version - b.From));

    /// <summary>Writes one batch of <paramref name="p"/>; returns true if its entries were cut to fit.</summary>
    private bool WriteBatch(WireWriter w, Plan p, int budget, bool force, long now, out long to)
    {
        var entries = new List<WireEntry>();
        bool cut = DeltaPacker.Fill(entries, p.State.After(p.From).Select(e => ToWire(e, now)), GossipCodec.EntrySize, 96 + p.Name.Length * 3, budget, force);
        to = cut ? (entries.Count > 0 ? entries[^1].Version : p.From) : p.State.Version;
        GossipCodec.WriteBatch(w, p.Name, p.From == 0 ? p.NodeId : null, p.State.Generation, p.State.Heartbeat, p.AgeMs, p.Reset, p.From, to, entries, p.State.Floor);
        return cut;
    }

    private WireEntry ToWire(KeyEntry e, long now)
    {
        if (e.IsLive)
        {
            if (e.DeadlineMs == 0) return new WireEntry(e.Key, e.Version, EntryKind.Set, 0, e.Value);
            if (e.DeadlineMs > now) return new WireEntry(e.Key, e.Version, EntryKind.Set, e.DeadlineMs - now, e.Value);
            // Expired here but not yet swept: it travels as what it is now.
            return new WireEntry(e.Key, e.Version, EntryKind.Expired, (long)_o.StateTombstoneRetention.TotalMilliseconds, null);
        }
        return new WireEntry(e.Key, e.Version, e.Kind, Math.Max(1, e.DeadlineMs - now), null);
    }

    // ---- applying ------------------------------------------------------------------------------------------------

    /// <summary>Applies batches; whatever advanced is pushed to every other link with the next flush.</summary>
    private void ApplyAndForward(PeerLink from, List<OwnerBatch> batches)
    {
        long now = NowMs();
        foreach (var b in batches)
        {
            long before = Apply(b, now, out var m);
            if (m is null || m.State.Version <= before) continue;
            // Coalesced: relays of one owner made before the flush travel as one range.
            _pushes.Queue(m.Name, before, from.Id);
        }
    }

    /// <summary>
    /// Pushes this node's writes made since the last push, and the ranges of other owners that advanced here since
    /// the last flush, to every link (but not back to the link a relayed range came from). Writes and relays in a
    /// burst share messages, so a busy node sends fewer, larger pushes instead of falling behind.
    /// </summary>
    private void FlushPush()
    {
        lock (_lock)
        {
            long now = NowMs();
            long from = Math.Min(_pushedVersion, _self.Version);
            Plan? own = _self.Version > from ? new Plan(Name, _self, _node.NodeId, 0, from, false) : null;
            _pushedVersion = _self.Version;
            _pushes.Flush(_node.Links, now, (name, start) =>
                _members.TryGetValue(name, out var m) && m.State.Version > start
                    ? new Plan(m.Name, m.State, m.NodeId, Math.Max(0, now - m.LastArrivalMs), start, false)
                    : null, own);
        }
    }

    /// <summary>Applies one owner's batch; returns the version held before, and the member it concerned (null: none).</summary>
    private long Apply(OwnerBatch b, long now, out Member? member)
    {
        member = null;
        if (b.Name == Name)
        {
            CheckOwnName(b.Generation);
            return 0;
        }
        if (!_members.TryGetValue(b.Name, out var m))
        {
            if (b.From != 0 || b.NodeId is not { } nodeId) return 0;
            if (IsForgotten(b.Name, b.Generation, b.Heartbeat, now) || b.AgeMs >= _o.ForgetDeadAfter.TotalMilliseconds) return 0;
            if (_members.Count >= _o.MaxMembers)
            {
                GossipLog.MemberLimit(_log, _o.MaxMembers, b.Name);
                return 0;
            }
            m = Join(b.Name, nodeId, b.Generation, b.Heartbeat, b.AgeMs, now);
        }
        else if (b.Generation < m.State.Generation) return m.State.Version;
        else if (b.Generation > m.State.Generation)
        {
            if (b.From != 0) return m.State.Version;
            Restart(m, b.Generation, b.NodeId ?? m.NodeId, b.Heartbeat, b.AgeMs, now);
        }
        member = m;
        var state = m.State;
        if (b.Reset && state.Version > 0)
        {
            foreach (var e in state.Clear())
                if (e.IsLive) PublishRemoved(GossipEventTypes.StateDeleted, m.Name, e.Key, e.Version, "reset");
        }
        long before = state.Version;
        ObserveHeartbeat(m, b.Heartbeat, b.AgeMs, now);
        // A gap, or deletion markers this node never saw were forgotten (harmless if it holds nothing of the owner yet):
        // the next exchange fills it, with a reset.
        if (b.From > before || (b.Floor > before && before > 0 && !b.Reset)) return before;
        foreach (var e in b.Entries)
            if (e.Version > before) ApplyEntry(m, e, now);
        if (b.To > state.Version) state.Version = b.To;
        state.Floor = Math.Max(state.Floor, Math.Min(b.Floor, state.Version));
        return before;
    }

    private void ApplyEntry(Member m, WireEntry e, long now)
    {
        var state = m.State;
        var old = state.Get(e.Key);
        if (old is not null && old.Version >= e.Version) return;
        if (old is null && state.Count >= _o.MaxKeysPerNode)
        {
            var marker = state.OldestMarker();
            if (marker is null)
            {
                GossipLog.KeyLimit(_log, m.Name, _o.MaxKeysPerNode);
                return;
            }
            state.Remove(marker.Key);
            state.Floor = Math.Max(state.Floor, marker.Version);
        }
        // The time left counts from when the message arrived, not from when the inbox got to it.
        long deadline = e.RemainingMs > 0 ? Math.Max(now + 1, now + e.RemainingMs - _queuedMs) : 0;
        var entry = new KeyEntry(e.Key, e.Version, e.Kind, e.Value, deadline);
        state.Put(entry);
        if (deadline > 0) _expiries.Enqueue(new Expiry(m.Name, state, e.Key, e.Version), deadline);
        switch (e.Kind)
        {
            case EntryKind.Set:
                PublishSet(m.Name, entry, now);
                break;
            case EntryKind.Deleted when old is { IsLive: true }:
                PublishRemoved(GossipEventTypes.StateDeleted, m.Name, e.Key, e.Version, "deleted");
                break;
            case EntryKind.Expired when old is { IsLive: true }:
                PublishRemoved(GossipEventTypes.KeyExpired, m.Name, e.Key, e.Version, null);
                break;
        }
    }

    /// <summary>Sweeps expired values (they become markers, with a <c>key_expired</c> event) and forgotten markers.</summary>
    private void Expire(long now)
    {
        while (_expiries.TryPeek(out var x, out long deadline) && deadline <= now)
        {
            _expiries.Dequeue();
            if (!IsCurrent(x.Owner, x.State)) continue;
            var e = x.State.Get(x.Key);
            if (e is null || e.Version != x.Version || e.DeadlineMs != deadline) continue;
            if (e.IsLive)
            {
                x.State.MarkDead(e, EntryKind.Expired, now + (long)_o.StateTombstoneRetention.TotalMilliseconds);
                _expiries.Enqueue(x, e.DeadlineMs);
                PublishRemoved(GossipEventTypes.KeyExpired, x.Owner, e.Key, e.Version, null);
            }
            else
            {
                x.State.Remove(e.Key);
                x.State.Floor = Math.Max(x.State.Floor, e.Version);
            }
        }
        // Entries overwritten before their deadline leave stale items; rebuild when they dominate.
        int held = _self.Count + _members.Values.Sum(m => m.State.Count);
        if (_expiries.Count > 4 * held + 1024) RebuildExpiries();
    }

    private void RebuildExpiries()
    {
        _expiries.Clear();
        foreach (var (owner, state) in _members.Values.Select(m => (m.Name, m.State)).Append((Name, _self)))
            foreach (var e in state.Entries)
                if (e.DeadlineMs > 0) _expiries.Enqueue(new Expiry(owner, state, e.Key, e.Version), e.DeadlineMs);
    }

    private bool IsCurrent(string owner, OwnerState state) =>
        owner == Name ? state == _self : _members.TryGetValue(owner, out var m) && m.State == state;
}
