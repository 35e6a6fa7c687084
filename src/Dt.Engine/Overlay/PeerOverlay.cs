using System.Net;
using Dt.Diagnostics;
using Dt.Protocol;
using Dt.Security;
using Dt.Transport;
using Microsoft.Extensions.Logging;

namespace Dt.Overlay;

/// <summary>Callbacks from the overlay to the node.</summary>
internal interface IOverlayHost
{
    /// <summary>A full link (not a node test) is up.</summary>
    void OnLinkUp(PeerLink link);

    void OnLinkDown(PeerLink link, string reason);

    /// <summary>A message that is not the overlay's own.</summary>
    ValueTask OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body);

    void OnHandshakeRefused(IPAddress remote, string reason, bool blocked);
}

/// <summary>
/// The TCP overlay of one node: a listener accepting any number of peers, one primary outbound link (fewest failures,
/// then lowest average round-trip time over the last samples, switched when a tested node is clearly better), bridge
/// links that join fragments, node tests, distant-node discovery through peer lists, presence announcements that show
/// which nodes share this node's fragment, re-dials with exponential backoff, and purging of unreachable nodes.
/// </summary>
internal sealed partial class PeerOverlay : IAsyncDisposable
{
    private readonly OverlayOptions _options;
    private readonly LinkContext _ctx;
    private readonly IOverlayHost _host;
    private readonly IpAccessControl _access;
    private readonly HandshakeRateLimiter _handshakes;
    private readonly PeerWarnings _warnings;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<PeerLink, LinkState> _links = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, Candidate> _candidates = new();
    private readonly Dictionary<Guid, Member> _members = new();
    private readonly Dictionary<IPAddress, int> _inboundPerIp = new();
    private readonly CancellationTokenSource _stop = new();
    private volatile PeerLink[] _fullLinks = [];
    private readonly IPeerTransport _transport;
    private IPeerListener? _listener;
    private Task _acceptLoop = Task.CompletedTask, _maintenanceLoop = Task.CompletedTask;
    private Guid? _primaryNode;
    private HashSet<Guid> _partitionedFrom = [];
    private ulong _announceSeq;
    private DateTimeOffset _lastAnnounce, _lastPeerList, _lastTest;

    private const string DuplicateLink = "duplicate link", OverCap = "outbound link cap";

    private sealed class Member
    {
        public ulong Sequence;
        public DateTimeOffset LastSeen;
        public bool IsMaster;
        /// <summary>The link its latest news came through (first arrival of an announce, or the direct link).</summary>
        public PeerLink? Via;
    }

    /// <param name="warnings">Where per-connection warnings go, rate-limited per remote address (by default to
    /// <paramref name="log"/>).</param>
    public PeerOverlay(OverlayOptions options, LinkContext ctx, IOverlayHost host, IpAccessControl access, TimeProvider time, ILogger log, PeerWarnings? warnings = null, IPeerTransport? transport = null)
    {
        _transport = transport ?? TcpPeerTransport.Instance;
        _warnings = warnings ?? new PeerWarnings(log, log, options.PeerWarningInterval, time);
        _options = options;
        _ctx = ctx;
        _host = host;
        _access = access;
        _time = time;
        _handshakes = new HandshakeRateLimiter(options.MaxHandshakesPerSecondPerIp, time);
        _log = log;
        foreach (var p in options.Peers)
            if (PeerAddress.TryParse(p, out var a))
                _candidates[a.ToString()] = new Candidate(a, configured: true, options.RttSamples);
    }

    public Guid NodeId => _ctx.NodeId;

    /// <summary>The endpoint the listener is bound to, or null without a listener.</summary>
    public IPEndPoint? ListenEndPoint { get; private set; }

    /// <summary>Links that carry replication and messages (node tests excluded).</summary>
    public IReadOnlyList<PeerLink> Links => _fullLinks;

    public IReadOnlyList<(PeerLink Link, LinkState State)> LinkStates()
    {
        lock (_lock) return _links.Select(kv => (kv.Key, kv.Value)).ToList();
    }

    public IReadOnlyList<Candidate> Candidates()
    {
        lock (_lock) return _candidates.Values.ToList();
    }

    /// <summary>Nodes heard from (directly or through announcements) within the presence horizon.</summary>
    public IReadOnlyList<Guid> FragmentMembers()
    {
        var horizon = _time.GetUtcNow() - PresenceHorizon;
        lock (_lock) return _members.Where(m => m.Value.LastSeen >= horizon).Select(m => m.Key).ToList();
    }

    public Guid? PrimaryNode { get { lock (_lock) return _primaryNode; } }

    public void Start(IPeerListener? boundListener)
    {
        if (boundListener is not null)
        {
            _listener = boundListener;
            ListenEndPoint = boundListener.LocalEndPoint;
            _acceptLoop = Task.Run(AcceptLoopAsync);
        }
        _maintenanceLoop = Task.Run(MaintenanceLoopAsync);
    }

    /// <summary>Binds the peer listener (dual-mode on "::" over TCP).</summary>
    public static IPeerListener Bind(OverlayOptions options, IPeerTransport transport) =>
        transport.Listen(new IPEndPoint(IPAddress.Parse(options.ListenAddress), options.Port));

    // ---- inbound ---------------------------------------------------------------------------------------------

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            IPeerConnection socket;
            try { socket = await _listener!.AcceptAsync(_stop.Token); }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException) { DtLog.AcceptFailed(_log, e.Message); continue; }

            var remote = socket.RemoteEndPoint.Address;
            if (remote.IsIPv4MappedToIPv6) remote = remote.MapToIPv4();
            if (_access.IsBlocked(remote))
            {
                Refused(RefusalReason.Blocked);
                _warnings.Blocked(remote);
                socket.Dispose();
                continue;
            }
            if (!_handshakes.TryAcquire(remote))
            {
                Refused(RefusalReason.RateLimited);
                _warnings.RateLimited(remote);
                socket.Dispose();
                continue;
            }
            bool admitted;
            lock (_lock)
            {
                int total = _inboundPerIp.Values.Sum();
                int fromIp = _inboundPerIp.GetValueOrDefault(remote);
                admitted = total < _options.MaxInboundLinks && fromIp < _options.MaxInboundLinksPerIp;
                if (admitted) _inboundPerIp[remote] = fromIp + 1;
            }
            if (!admitted)
            {
                Refused(RefusalReason.InboundLimit);
                _warnings.InboundLimit(remote);
                socket.Dispose();
                continue;
            }
            _ = Task.Run(() => AcceptOneAsync(socket, remote));
        }
    }

    private async Task AcceptOneAsync(IPeerConnection socket, IPAddress remote)
    {
        PeerLink? link = null;
        try
        {
            link = await PeerLink.EstablishAsync(socket, isDialer: false, _ctx, _log, _stop.Token);
        }
        catch (HandshakeException e)
        {
            bool blocked = e.CountsAgainstPeer && _access.RecordFailure(remote);
            if (e.Failure != HandshakeFailure.IsSelf)
            {
                Refused(e.Failure.ToRefusal());
                _warnings.HandshakeRefused(remote, e.Message);
                if (e.CountsAgainstPeer) _host.OnHandshakeRefused(remote, e.Message, blocked);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { }
        catch (Exception e)
        {
            Refused(RefusalReason.Closed);
            _warnings.HandshakeRefused(remote, e.Message);
        }
        if (link is null)
        {
            ReleaseInbound(remote);
            socket.Dispose();
            return;
        }
        // A peer's node test stays a test here too: it carries nothing but pings and does not count as a link.
        Register(link, new LinkState(this, link.RemoteIsTest ? LinkRole.Test : LinkRole.Inbound, null, _options.RttSamples));
    }

    private void Refused(RefusalReason reason) => _ctx.Metrics?.HandshakeRefused(reason);

    private void ReleaseInbound(IPAddress remote)
    {
        lock (_lock)
        {
            if (!_inboundPerIp.TryGetValue(remote, out int n)) return;
            if (n <= 1) _inboundPerIp.Remove(remote); else _inboundPerIp[remote] = n - 1;
        }
    }

    // ---- outbound --------------------------------------------------------------------------------------------

    private async Task DialAsync(Candidate candidate, LinkRole role)
    {
        PeerLink? link = null;
        string? failure = null;
        try
        {
            var socket = await _transport.DialAsync(candidate.Address.Host, candidate.Address.Port, _stop.Token);
            link = await PeerLink.EstablishAsync(socket, isDialer: true, _ctx, _log, _stop.Token, isTest: role == LinkRole.Test);
        }
        catch (HandshakeException e) when (e.Failure == HandshakeFailure.IsSelf)
        {
            lock (_lock)
            {
                candidate.IsSelf = true;
                candidate.Dialing = false;
                if (role == LinkRole.Primary) _primaryNode = null;
            }
            DtLog.IsSelf(_log, candidate.Address.ToString());
            return;
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested) { return; }
        catch (Exception e)
        {
            failure = e.Message;
            if (e is HandshakeException he && he.CountsAgainstPeer)
                DtLog.HandshakeRefused(_log, candidate.Address.ToString(), e.Message);
        }

        var now = _time.GetUtcNow();
        lock (_lock)
        {
            candidate.Dialing = false;
            if (link is null)
            {
                candidate.Failures++;
                candidate.ConsecutiveFailures++;
                double backoff = Math.Min(_options.ReconnectMaxDelay.TotalMilliseconds,
                    _options.ReconnectBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(candidate.ConsecutiveFailures - 1, 20)));
                candidate.NextAttempt = now + TimeSpan.FromMilliseconds(backoff * (0.8 + 0.4 * Random.Shared.NextDouble()));
                if (role == LinkRole.Primary) _primaryNode = null;
            }
            else
            {
                if (candidate.Failures > 0) candidate.Failures--;
                candidate.ConsecutiveFailures = 0;
                candidate.NodeId = link.RemoteNodeId;
                candidate.IsMaster = link.RemoteIsMaster;
                candidate.LastSeen = now;
            }
        }
        if (link is null)
        {
            DtLog.DialFailed(_log, candidate.Address.ToString(), failure ?? "unknown");
            return;
        }
        Register(link, new LinkState(this, role, candidate, _options.RttSamples)
        {
            TestDone = role == LinkRole.Test ? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) : null,
        });
    }

    // ---- link registry ---------------------------------------------------------------------------------------

    private void Register(PeerLink link, LinkState state)
    {
        string? duplicate = null;
        lock (_lock)
        {
            if (_stop.IsCancellationRequested) duplicate = "node stopping";
            else if (_partitionedFrom.Contains(link.RemoteNodeId)) duplicate = "partitioned (fault injection)";
            else if (state.Role != LinkRole.Test)
            {
                // One full link per node pair: of two, keep the one dialed by the smaller node id (both sides agree).
                var existing = _links.Keys.FirstOrDefault(l => l.RemoteNodeId == link.RemoteNodeId && _links[l].Role != LinkRole.Test);
                if (existing is not null)
                {
                    Guid dialerNew = link.IsDialer ? _ctx.NodeId : link.RemoteNodeId;
                    Guid dialerOld = existing.IsDialer ? _ctx.NodeId : existing.RemoteNodeId;
                    if (dialerNew == dialerOld || dialerOld.CompareTo(dialerNew) < 0) duplicate = DuplicateLink;
                    else existing.Close(DuplicateLink);
                }
            }
            if (duplicate is null)
            {
                _links[link] = state;
                if (state.Role != LinkRole.Test)
                {
                    Touch(link.RemoteNodeId, link.RemoteIsMaster, link);
                    if (state.Role == LinkRole.Primary) _primaryNode = link.RemoteNodeId;
                    RebuildFullLinks();
                }
            }
        }
        link.Start(state);
        if (duplicate is not null)
        {
            link.Close(duplicate);
            return;
        }
        if (state.Role == LinkRole.Test) return;
        DtLog.LinkUp(_log, link.ToString(), state.Role.ToString(), link.RemoteIsMaster);
        _host.OnLinkUp(link);
        SendPeerList(link);
    }

    /// <summary>Test hook: dials an address now as an extra (bridge) link, to build topologies such as cycles.</summary>
    internal async Task AddCandidateForTests(string address)
    {
        if (!PeerAddress.TryParse(address, out var a)) throw new ArgumentException(address);
        Candidate c;
        lock (_lock)
        {
            if (!_candidates.TryGetValue(a.ToString(), out c!)) _candidates[a.ToString()] = c = new Candidate(a, configured: true, _options.RttSamples);
            c.Dialing = true;
        }
        await DialAsync(c, LinkRole.Bridge);
    }

    /// <summary>
    /// Fault injection for tests: refuses and cuts links to these nodes, as a network partition would.
    /// An empty set heals the partition.
    /// </summary>
    internal void Partition(IEnumerable<Guid> nodes)
    {
        List<PeerLink> cut;
        lock (_lock)
        {
            _partitionedFrom = [.. nodes];
            cut = _links.Keys.Where(l => _partitionedFrom.Contains(l.RemoteNodeId)).ToList();
        }
        foreach (var l in cut) l.Close("partitioned (fault injection)");
    }

    private void RebuildFullLinks() =>
        _fullLinks = _links.Keys.Where(l => _links[l].Role != LinkRole.Test && !l.IsClosed).ToArray();

    /// <summary>A link closed (<paramref name="state"/> is the handler it was started with).</summary>
    internal void OnClosed(LinkState state, PeerLink link, string reason)
    {
        bool wasFull;
        lock (_lock)
        {
            wasFull = _links.Remove(link) && state.Role != LinkRole.Test;
            RebuildFullLinks();
            if (state.Role == LinkRole.Primary && _primaryNode == link.RemoteNodeId && !_links.Keys.Any(l => l.RemoteNodeId == link.RemoteNodeId))
                _primaryNode = null;
            if (state.Candidate is { } c && state.Role != LinkRole.Test && !_stop.IsCancellationRequested && reason != DuplicateLink)
            {
                c.ConsecutiveFailures++;
                c.NextAttempt = _time.GetUtcNow() + _options.ReconnectBaseDelay;
            }
            // Links this node closed itself while another path remains (a duplicate, a bridge over the cap) say
            // nothing about who is reachable.
            if (wasFull && reason is not (DuplicateLink or OverCap)) Unconfirm(link);
        }
        if (!link.IsDialer) ReleaseInbound(link.RemoteEndPoint.Address.IsIPv4MappedToIPv6 ? link.RemoteEndPoint.Address.MapToIPv4() : link.RemoteEndPoint.Address);
        state.TestDone?.TrySetResult();
        if (!wasFull) return;
        DtLog.LinkDown(_log, link.ToString(), reason);
        _host.OnLinkDown(link, reason);
    }

    internal async ValueTask OnMessageAsync(LinkState state, PeerLink link, MessageType type, ReadOnlyMemory<byte> body)
    {
        switch (type)
        {
            case MessageType.Ping:
            {
                var r = new WireReader(body.Span);
                var ping = PingMessage.Decode(ref r, false);
                using var w = new WireWriter(16);
                new PingMessage(ping.SentTicks, true).Encode(w);
                link.TrySend(w.WrittenSpan);
                return;
            }
            case MessageType.Pong:
            {
                var r = new WireReader(body.Span);
                var pong = PingMessage.Decode(ref r, true);
                double ms = _time.GetElapsedTime(pong.SentTicks).TotalMilliseconds;
                if (ms < 0 || ms > 600_000) return;
                state.Rtt.Add(ms);
                state.Candidate?.Rtt.Add(ms);
                if (state.Role == LinkRole.Test && Interlocked.Increment(ref state.TestPongs) >= _options.RttSamples)
                    state.TestDone?.TrySetResult();
                return;
            }
        }
        if (state.Role == LinkRole.Test) return; // a node test carries nothing else
        switch (type)
        {
            case MessageType.PeerList:
            {
                var r = new WireReader(body.Span);
                OnPeerList(link, PeerListMessage.Decode(ref r));
                return;
            }
            case MessageType.Announce:
            {
                var r = new WireReader(body.Span);
                OnAnnounce(link, AnnounceMessage.Decode(ref r), body.Span);
                return;
            }
            case MessageType.Goodbye:
            {
                var r = new WireReader(body.Span);
                var bye = GoodbyeMessage.Decode(ref r);
                link.Close($"peer left: {bye.Reason}");
                return;
            }
        }
        await _host.OnMessageAsync(link, type, body);
    }

    // ---- discovery and presence ------------------------------------------------------------------------------

    /// <summary>The address other nodes can dial a linked peer at, if it listens.</summary>
    private static PeerAddress? DialableAddress(PeerLink link, LinkState state)
    {
        if (state.Candidate is { } c) return c.Address;
        if (link.RemoteListenPort == 0) return null;
        return PeerAddress.From(link.RemoteEndPoint.Address, link.RemoteListenPort);
    }

    private void SendPeerList(PeerLink to)
    {
        var records = new List<PeerRecord>();
        var horizon = _time.GetUtcNow() - _options.PurgeAfter;
        lock (_lock)
        {
            foreach (var l in _links.Keys)
            {
                var st = _links[l];
                if (l == to || st.Role == LinkRole.Test) continue;
                if (DialableAddress(l, st) is { } a) records.Add(new PeerRecord(l.RemoteNodeId, l.RemoteIsMaster, a.Host, (ushort)a.Port));
            }
            foreach (var c in _candidates.Values)
            {
                if (c.IsSelf || c.NodeId is null || c.NodeId == to.RemoteNodeId || c.LastSeen < horizon) continue;
                if (records.Count >= WireLimits.MaxPeersPerList) break;
                if (!records.Any(r => r.Host == c.Address.Host && r.Port == c.Address.Port))
                    records.Add(new PeerRecord(c.NodeId.Value, c.IsMaster, c.Address.Host, (ushort)c.Address.Port));
            }
        }
        if (records.Count > WireLimits.MaxPeersPerList) records = records[..WireLimits.MaxPeersPerList];
        using var w = new WireWriter();
        new PeerListMessage(records).Encode(w);
        to.TrySend(w.WrittenSpan);
    }

    private void OnPeerList(PeerLink from, PeerListMessage m)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            foreach (var p in m.Peers)
            {
                if (p.NodeId == _ctx.NodeId || p.Port == 0) continue;
                var address = new PeerAddress(p.Host, p.Port);
                if (!PeerAddress.TryParse(address.ToString(), out _)) continue;
                string key = address.ToString();
                if (!_candidates.TryGetValue(key, out var c))
                {
                    if (_candidates.Count >= 4096) continue;
                    _candidates[key] = c = new Candidate(address, configured: false, _options.RttSamples);
                    DtLog.Discovered(_log, key, p.NodeId);
                }
                c.NodeId ??= p.NodeId;
                c.IsMaster |= p.IsMaster;
                if (c.LastSeen < now) c.LastSeen = now;
            }
        }
    }

    private void OnAnnounce(PeerLink from, AnnounceMessage m, ReadOnlySpan<byte> body)
    {
        if (m.Origin == _ctx.NodeId) return;
        lock (_lock)
        {
            if (_members.TryGetValue(m.Origin, out var member) && member.Sequence >= m.Sequence) return;
            if (member is null)
            {
                if (_members.Count >= 65536) return;
                _members[m.Origin] = member = new Member();
            }
            member.Sequence = m.Sequence;
            member.LastSeen = _time.GetUtcNow();
            member.IsMaster = m.IsMaster;
            member.Via = from;
            Revive(m.Origin, member.LastSeen);
        }
        Span<byte> frame = stackalloc byte[body.Length + 1];
        frame[0] = (byte)MessageType.Announce;
        body.CopyTo(frame[1..]);
        foreach (var l in _fullLinks)
            if (l != from) l.TrySend(frame);
    }

    private void Touch(Guid node, bool isMaster, PeerLink via)
    {
        if (!_members.TryGetValue(node, out var m)) _members[node] = m = new Member();
        m.LastSeen = _time.GetUtcNow();
        m.IsMaster = isMaster;
        m.Via = via;
    }

    /// <summary>
    /// A node announcing itself is alive and reachable from somewhere: the backoff its failed dials built up (say,
    /// while a partition lasted) no longer says anything about it, so it may be dialed at once when needed.
    /// Caller holds <see cref="_lock"/>.
    /// </summary>
    private void Revive(Guid node, DateTimeOffset now)
    {
        foreach (var c in _candidates.Values)
            if (c.NodeId == node && !c.Dialing && c.NextAttempt > now)
            {
                c.ConsecutiveFailures = 0;
                c.NextAttempt = now;
            }
    }

    /// <summary>
    /// The nodes last heard of through <paramref name="link"/> may be out of reach now that it closed: they count as
    /// outside this node's fragment until news of them comes another way, so that bridging dials them at once rather
    /// than after the presence horizon (the segment's only way in died). Caller holds <see cref="_lock"/>.
    /// </summary>
    private void Unconfirm(PeerLink link)
    {
        var outside = _time.GetUtcNow() - PresenceHorizon - TimeSpan.FromTicks(1);
        foreach (var m in _members.Values)
            if (m.Via == link)
            {
                m.Via = null;
                if (m.LastSeen > outside) m.LastSeen = outside;
            }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        List<PeerLink> links;
        lock (_lock)
        {
            _stop.Cancel();
            links = _links.Keys.ToList();
        }
        _listener?.Dispose();
        using (var w = new WireWriter())
        {
            new GoodbyeMessage("node stopping").Encode(w);
            foreach (var l in links) l.TrySend(w.WrittenSpan);
        }
        // Give the goodbyes a moment to leave, then close.
        await Task.WhenAll(links.Select(async l =>
        {
            var deadline = DateTime.UtcNow.AddMilliseconds(500);
            while (l.QueuedBytes > 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
            await l.DisposeAsync();
        }));
        try { await Task.WhenAll(_acceptLoop, _maintenanceLoop).WaitAsync(TimeSpan.FromSeconds(5)); } catch { /* stopping */ }
    }
}
