using Dt.Protocol;
using Dt.Transport;

namespace Dt.Gossip;

/// <summary>
/// Membership and failure detection. Every heartbeat interval a node bumps its heartbeat and sends it to each linked
/// peer (43). Digests and batch headers carry every member's heartbeat with its age (how long ago the sender heard it),
/// so a node far away dates a heartbeat as its direct neighbours do, not by when gossip brought it: the detector sees
/// the peer's own rhythm, not the gossip's. A peer is alive while phi (normal distribution over the last intervals,
/// mean raised by the acceptable pause, standard deviation floored) stays under the threshold. A late tick of this
/// node's own timer (GC, CPU starvation) is excused: the pause is added to every peer's last arrival and no verdict is
/// given in that tick. Dead peers come back with a newer heartbeat or generation, and are forgotten after
/// <see cref="GossipOptions.ForgetDeadAfter"/> of silence; a forgotten (name, generation, heartbeat) is not relearned
/// from stale gossip for as long again.
/// </summary>
internal sealed partial class GossipModule
{
    private PhiAccrualDetector NewDetector()
    {
        double hb = _o.HeartbeatInterval.TotalMilliseconds;
        double pause = _o.AcceptableHeartbeatPause.TotalMilliseconds;
        return new PhiAccrualDetector(_o.MaxSampleSize, hb, _o.MinStdDeviation.TotalMilliseconds, pause, hb + pause);
    }

    private void SendHeartbeat(PeerLink link)
    {
        using var w = new WireWriter(96 + Name.Length * 3);
        GossipCodec.WriteHeartbeat(w, Name, _node.NodeId, _self.Generation, _self.Version, _self.Heartbeat);
        link.TrySend(w.WrittenSpan);
    }

    private void OnHeartbeat(PeerLink link, string name, Guid nodeId, long generation, long version, long heartbeat)
    {
        long now = NowMs();
        if (name == Name)
        {
            CheckOwnName(generation);
            return;
        }
        bool pull;
        if (!_members.TryGetValue(name, out var m))
        {
            if (IsForgotten(name, generation, heartbeat, now)) return;
            if (_members.Count >= _o.MaxMembers)
            {
                GossipLog.MemberLimit(_log, _o.MaxMembers, name);
                return;
            }
            m = Join(name, nodeId, generation, heartbeat, 0, now);
            pull = version > 0;
        }
        else if (generation < m.State.Generation) return;
        else if (generation > m.State.Generation)
        {
            Restart(m, generation, nodeId, heartbeat, 0, now);
            pull = version > 0;
        }
        else
        {
            ObserveHeartbeat(m, heartbeat, 0, now);
            pull = version > m.State.Version;
        }
        // The peer has state this node lacks: pull it now rather than at the next round (at most twice a round).
        if (pull && now - _lastDigestTo.GetValueOrDefault(link.Id, long.MinValue / 2) >= _o.GossipInterval.TotalMilliseconds / 2)
            SendDigest(link, now);
    }

    /// <summary>A member heard of for the first time: alive unless its last heartbeat is already too old.</summary>
    private Member Join(string name, Guid nodeId, long generation, long heartbeat, long ageMs, long now)
    {
        ageMs += _queuedMs;
        var m = new Member(name, nodeId, generation, NewDetector()) { LastArrivalMs = now - ageMs };
        m.State.Heartbeat = heartbeat;
        m.Alive = m.Detector.Phi(ageMs) < _o.PhiThreshold;
        _members[name] = m;
        _forgotten.Remove(name);
        GossipLog.PeerNew(_log, name, nodeId, generation);
        PublishPeer(GossipEventTypes.PeerNew, m);
        if (m.Alive)
        {
            GossipLog.PeerUp(_log, name, "");
            PublishPeer(GossipEventTypes.PeerUp, m);
        }
        return m;
    }

    /// <summary>A member's new generation: its previous life's keys go, the new life starts from version 0.</summary>
    private void Restart(Member m, long generation, Guid nodeId, long heartbeat, long ageMs, long now)
    {
        long old = m.State.Generation;
        var dropped = m.State.Clear();
        GossipLog.PeerRestarted(_log, m.Name, old, generation, dropped.Count);
        foreach (var e in dropped)
            if (e.IsLive) PublishRemoved(GossipEventTypes.StateDeleted, m.Name, e.Key, e.Version, "restarted");
        m.State.Generation = generation;
        m.State.Heartbeat = heartbeat;
        m.NodeId = nodeId;
        m.LastArrivalMs = Math.Max(m.LastArrivalMs, now - ageMs - _queuedMs);
        m.Alive = m.Detector.Phi(now - m.LastArrivalMs) < _o.PhiThreshold;
        if (m.Alive)
        {
            GossipLog.PeerUp(_log, m.Name, " (restarted)");
            PublishPeer(GossipEventTypes.PeerUp, m, restarted: true);
        }
    }

    /// <summary>A heartbeat of a member, sent <paramref name="ageMs"/> ago as far as the sender knows (plus the time the
    /// message waited in this node's inbox).</summary>
    private void ObserveHeartbeat(Member m, long heartbeat, long ageMs, long now)
    {
        if (heartbeat <= m.State.Heartbeat) return;
        m.State.Heartbeat = heartbeat;
        long arrival = now - Math.Max(0, ageMs) - _queuedMs;
        if (arrival <= m.LastArrivalMs) return;
        m.Detector.AddInterval(arrival - m.LastArrivalMs);
        m.LastArrivalMs = arrival;
        if (!m.Alive && m.Detector.Phi(now - arrival) < _o.PhiThreshold)
        {
            m.Alive = true;
            GossipLog.PeerUp(_log, m.Name, "");
            PublishPeer(GossipEventTypes.PeerUp, m);
        }
    }

    /// <summary>
    /// Verdicts: live members whose phi reached the threshold are dead; long-dead members are forgotten. If most live
    /// members (at least two) are overdue at once (phi of 1 or more), this node is likely the one in trouble: a verdict
    /// then needs <see cref="GossipOptions.LocalHealthMultiplier"/> times the silence that reaches the threshold.
    /// </summary>
    private void Judge(long now)
    {
        List<Member>? forget = null;
        int live = 0, suspicious = 0;
        foreach (var m in _members.Values)
            if (m.Alive)
            {
                live++;
                // Overdue beyond the acceptable pause (a 10% event for a healthy peer): counted as suspicious.
                if (m.Detector.Phi(now - m.LastArrivalMs) >= 1) suspicious++;
            }
        bool unhealthy = suspicious >= 2 && suspicious * 2 > live;
        if (unhealthy && !_unhealthy) GossipLog.LocalHealth(_log, suspicious, live);
        _unhealthy = unhealthy;
        foreach (var m in _members.Values)
        {
            long silent = now - m.LastArrivalMs;
            if (m.Alive)
            {
                double phi = m.Detector.Phi(silent);
                if (phi < _o.PhiThreshold) continue;
                if (unhealthy && silent < _o.LocalHealthMultiplier * m.Detector.TimeToReach(_o.PhiThreshold)) continue;
                m.Alive = false;
                DeadVerdicts++;
                GossipLog.PeerDown(_log, m.Name, phi, silent, m.Detector.Mean, m.Detector.StdDev);
                PublishPeer(GossipEventTypes.PeerDown, m, phi: phi);
            }
            else if (silent >= _o.ForgetDeadAfter.TotalMilliseconds) (forget ??= []).Add(m);
        }
        if (forget is not null)
            foreach (var m in forget)
            {
                _members.Remove(m.Name);
                _forgotten[m.Name] = new Forgotten(m.State.Generation, m.State.Heartbeat, now + (long)_o.ForgetDeadAfter.TotalMilliseconds);
                GossipLog.PeerForgotten(_log, m.Name, m.State.LiveCount);
                PublishPeer(GossipEventTypes.PeerForgotten, m);
            }
        if (_forgotten.Count > 0)
            foreach (var (name, f) in _forgotten.ToList())
                if (f.UntilMs <= now) _forgotten.Remove(name);
    }

    /// <summary>This node stalled for <paramref name="pauseMs"/>: nobody is blamed for the silence it caused.</summary>
    private void ExcusePause(long pauseMs, long now)
    {
        LocalPauses++;
        if (now - _lastPauseLog >= 10_000 || _lastPauseLog == 0)
        {
            _lastPauseLog = now;
            GossipLog.LocalPause(_log, pauseMs, LocalPauses);
        }
        foreach (var m in _members.Values)
            if (m.Alive) m.LastArrivalMs = Math.Min(now, m.LastArrivalMs + pauseMs);
    }

    private bool IsForgotten(string name, long generation, long heartbeat, long now) =>
        _forgotten.TryGetValue(name, out var f) && f.UntilMs > now &&
        (generation < f.Generation || (generation == f.Generation && heartbeat <= f.Heartbeat));

    /// <summary>
    /// Gossip about this node's own name in a generation at or above its own: a previous life whose clock was ahead
    /// (move above it, so the new writes still win), or another live node with the same name (a configuration error).
    /// </summary>
    private void CheckOwnName(long generation)
    {
        if (generation <= _self.Generation) return;
        if (_generationBumps >= 3)
        {
            if (_generationBumps++ == 3) GossipLog.NameConflict(_log, Name, generation);
            return;
        }
        _generationBumps++;
        _self.Generation = generation + 1;
        GossipLog.GenerationBumped(_log, Name, generation, _self.Generation);
    }
}
