using Dt.Protocol;
using Dt.Transport;
using Microsoft.Extensions.Logging;

namespace Dt.Overlay;

internal sealed partial class PeerOverlay
{
    private DateTimeOffset _startedAt;

    private async Task MaintenanceLoopAsync()
    {
        _startedAt = _time.GetUtcNow();
        // A short tick: dialing a primary or a re-dial waits at most this long (the timers inside keep their own pace).
        double tickMs = Math.Clamp(Math.Min(_options.PingInterval.TotalMilliseconds, _options.AnnounceInterval.TotalMilliseconds) / 2, 20, 250);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(tickMs), _time);
        try
        {
            Tick(); // dial at once rather than one period after start
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                try { Tick(); }
                catch (Exception e) when (e is not OperationCanceledException) { DtLog.MaintenanceFailed(_log, e); }
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>A node not heard from for this long is taken as dead or in another fragment.</summary>
    private TimeSpan PresenceHorizon => 4 * _options.AnnounceInterval;

    private void Tick()
    {
        var now = _time.GetUtcNow();
        PingAndExpire(now);
        if (now - _lastAnnounce >= _options.AnnounceInterval)
        {
            _lastAnnounce = now;
            Announce();
        }
        if (now - _lastPeerList >= 4 * _options.AnnounceInterval)
        {
            _lastPeerList = now;
            foreach (var l in _fullLinks) SendPeerList(l);
        }
        EnsurePrimary(now);
        BridgeFragments(now);
        if (now - _lastTest >= _options.NodeTestInterval)
        {
            _lastTest = now;
            StartNodeTest(now);
        }
        Purge(now);
        _warnings.Flush();
    }

    private void PingAndExpire(DateTimeOffset now)
    {
        List<KeyValuePair<PeerLink, LinkState>> links;
        lock (_lock) links = _links.ToList();
        using var w = new WireWriter(16);
        foreach (var (l, st) in links)
        {
            if (now - l.LastReceived > _options.LinkIdleTimeout)
            {
                l.Close($"nothing received for {_options.LinkIdleTimeout.TotalSeconds:0.#} s");
                continue;
            }
            if (now - st.LastPing < _options.PingInterval) continue;
            st.LastPing = now;
            w.Reset();
            new PingMessage(_time.GetTimestamp(), false).Encode(w);
            l.TrySend(w.WrittenSpan);
        }
    }

    private void Announce()
    {
        using var w = new WireWriter(40);
        new AnnounceMessage(_ctx.NodeId, ++_announceSeq, _ctx.IsMaster).Encode(w);
        foreach (var l in _fullLinks) l.TrySend(w.WrittenSpan);
    }

    private bool IsLinked(Guid? node) => node is not null && _links.Keys.Any(l => l.RemoteNodeId == node && _links[l].Role != LinkRole.Test);

    private int OutboundCount() => _links.Keys.Count(l => _links[l].Role is LinkRole.Primary or LinkRole.Bridge) + _candidates.Values.Count(c => c.Dialing);

    private void EnsurePrimary(DateTimeOffset now)
    {
        Candidate? pick;
        lock (_lock)
        {
            // A node configured with no peers is a root of the overlay: others link to it; it dials only to join fragments.
            if (_options.Peers.Count == 0) return;
            if (IsLinked(_primaryNode)) return;
            if (_candidates.Values.Any(c => c.Dialing)) return;
            // A candidate already linked (e.g. it dialed us) serves as the primary without a second link.
            var linked = _candidates.Values.FirstOrDefault(c => !c.IsSelf && IsLinked(c.NodeId));
            if (linked is not null)
            {
                _primaryNode = linked.NodeId;
                return;
            }
            pick = _candidates.Values
                .Where(c => !c.IsSelf && c.NextAttempt <= now)
                .OrderBy(c => c.Failures)
                .ThenBy(c => c.Rtt.Average ?? double.MaxValue)
                .ThenBy(c => c.Configured ? 0 : 1)
                .FirstOrDefault();
            if (pick is null) return;
            pick.Dialing = true;
        }
        _ = Task.Run(() => DialAsync(pick, LinkRole.Primary));
    }

    /// <summary>
    /// A known node not heard from lately is dead or in another fragment of the overlay (e.g. after a partition
    /// healed while every link stayed inside its side). Dialing it joins the fragments; if it is dead, backoff applies.
    /// </summary>
    private void BridgeFragments(DateTimeOffset now)
    {
        if (now - _startedAt < PresenceHorizon) return;
        Candidate? pick;
        lock (_lock)
        {
            if (OutboundCount() >= _options.MaxOutboundLinks) return;
            var horizon = now - PresenceHorizon;
            pick = _candidates.Values
                .Where(c => !c.IsSelf && !c.Dialing && c.NextAttempt <= now && !IsLinked(c.NodeId))
                .Where(c => c.NodeId is null || !_members.TryGetValue(c.NodeId.Value, out var m) || m.LastSeen < horizon)
                .OrderBy(c => c.ConsecutiveFailures)
                .FirstOrDefault();
            if (pick is null) return;
            pick.Dialing = true;
        }
        _ = Task.Run(() => DialAsync(pick, LinkRole.Bridge));
    }

    /// <summary>Measures a candidate's round-trip time over a short-lived link, then switches primary if it is clearly better.</summary>
    private void StartNodeTest(DateTimeOffset now)
    {
        if (_options.Peers.Count == 0) return; // a root keeps no primary, so it has nothing to compare
        Candidate? pick;
        lock (_lock)
        {
            pick = _candidates.Values
                .Where(c => !c.IsSelf && !c.Dialing && c.NodeId is not null && c.NextAttempt <= now && !IsLinked(c.NodeId))
                .OrderBy(c => c.LastTested)
                .FirstOrDefault();
            if (pick is null) return;
            pick.Dialing = true;
            pick.LastTested = now;
        }
        _ = Task.Run(() => RunNodeTestAsync(pick));
    }

    private async Task RunNodeTestAsync(Candidate candidate)
    {
        await DialAsync(candidate, LinkRole.Test);
        PeerLink? link;
        LinkState? st;
        lock (_lock) (link, st) = _links.FirstOrDefault(kv => kv.Value.Role == LinkRole.Test && kv.Value.Candidate == candidate);
        if (link is null || st is null) return;
        try { await st.TestDone!.Task.WaitAsync(_options.PingInterval * (_options.RttSamples + 2) + _options.HandshakeTimeout, _stop.Token); }
        catch (TimeoutException) { }
        catch (OperationCanceledException) { }
        link.Close("node test done");
        DtLog.NodeTested(_log, candidate.Address.ToString(), candidate.Rtt.Average ?? -1, candidate.Rtt.Count);
        ConsiderSwitch(candidate);
    }

    private void ConsiderSwitch(Candidate better)
    {
        lock (_lock)
        {
            if (_stop.IsCancellationRequested || better.Dialing || IsLinked(better.NodeId)) return;
            var current = _candidates.Values.FirstOrDefault(c => c.NodeId == _primaryNode);
            if (current is null) return;
            double? b = better.Rtt.Average, p = current.Rtt.Average;
            bool fewerFailures = better.Failures < current.Failures;
            bool faster = better.Failures == current.Failures && b is not null && p is not null
                && better.Rtt.Count >= Math.Min(5, _options.RttSamples) && b < 0.7 * p;
            if (!fewerFailures && !faster) return;
            DtLog.PrimarySwitch(_log, current.Address.ToString(), better.Address.ToString());
            // The old primary stays as a bridge until the outbound cap trims it, so the switch never cuts the node off.
            foreach (var l in _links.Keys)
                if (l.RemoteNodeId == _primaryNode && _links[l].Role == LinkRole.Primary) _links[l].Role = LinkRole.Bridge;
            _primaryNode = null;
            better.Dialing = true;
        }
        _ = Task.Run(() => DialAsync(better, LinkRole.Primary));
    }

    private void Purge(DateTimeOffset now)
    {
        lock (_lock)
        {
            var horizon = now - _options.PurgeAfter;
            foreach (var (key, c) in _candidates.ToList())
                if (!c.Configured && !c.Dialing && c.LastSeen < horizon && c.ConsecutiveFailures >= 3 && !IsLinked(c.NodeId))
                {
                    _candidates.Remove(key);
                    DtLog.Purged(_log, key);
                }
            foreach (var (id, m) in _members.ToList())
                if (m.LastSeen < horizon) _members.Remove(id);
            // Trim bridges beyond the outbound cap (oldest first).
            var outbound = _links.Keys.Where(l => _links[l].Role == LinkRole.Bridge).OrderBy(l => l.ConnectedAt).ToList();
            int excess = OutboundCount() - _options.MaxOutboundLinks;
            for (int i = 0; i < excess && i < outbound.Count; i++) outbound[i].Close(OverCap);
        }
    }
}
