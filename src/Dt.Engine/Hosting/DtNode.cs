using System.Net;
using System.Text.Json;
using Dt.Diagnostics;
using Dt.Events;
using Dt.InProcess;
using Dt.Messaging;
using Dt.Overlay;
using Dt.Protocol;
using Dt.Replication;
using Dt.Security;
using Dt.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dt.Hosting;

/// <summary>
/// One running Dt node: the composition of overlay (links), replication (tables), broadcast messages and events,
/// and the grain factory through which callers reach it. Start with <see cref="StartAsync"/>, stop by disposing.
/// </summary>
public sealed partial class DtNode : IOverlayHost, IDtGrainFactory, IAsyncDisposable
{
    private readonly ILogger _log;
    private readonly MessageIdWindow _messageIds;
    private readonly CancellationTokenSource _stop = new();
    private readonly PeerOverlay _overlay;
    private Task _loop = Task.CompletedTask;
    private int _disposed;
    private readonly List<INodeModule> _modules = [];
    private readonly Dictionary<MessageType, INodeModule> _moduleByType = [];

    private DtNode(DtOptions options, NodeStore store, Storage.ChangeLog? changeLog, TimeProvider time, ILoggerFactory loggers)
    {
        ChangeLog = changeLog;
        Options = options;
        Store = store;
        Time = time;
        NodeId = Guid.NewGuid();
        _log = loggers.CreateLogger("Dt.Node");
        NetworkKey.TryParse(options.Key, out var primary);
        var others = options.AcceptKeys.Select(k => { NetworkKey.TryParse(k, out var x); return x!; });
        Keys = new KeyRing(primary!, others);
        Events = new EventHub(options.EventBufferSize, options.SubscriberQueueSize, time);
        Clock = new HybridLogicalClock(time);
        _messageIds = new MessageIdWindow(options.MessageIdWindow, options.MaxRememberedMessageIds, time);
        var allow = options.IpAllowList.Select(a => { IpAccessControl.TryParseRange(a, out var r); return r; }).ToList();
        Access = new IpAccessControl(options.IpFailureLimit, options.IpFailureWindow, options.IpBlockDuration, options.NeverBlockLoopback, allow, time);
        Metrics = new DtMetrics(NodeId, () => Replicator!.Tables.Sum(t => t.LiveCount), () => _overlay!.Links.Count,
            () => _overlay!.Links.Sum(l => l.QueuedBytes), () => Access.BlockedNow());
        Access.Blocked += (ip, n) =>
        {
            DtLog.IpBlocked(_log, ip.ToString(), n);
            Metrics.IpBlocked();
            Events.Publish(DtEventTypes.Error, origin: ip.ToString(), error: $"address blocked for {options.IpBlockDuration} after {n} failed handshakes");
            IpBlocked?.Invoke(ip, n);
        };
        Socket = options.Listen ? PeerOverlay.Bind(options) : null;
        var ctx = new LinkContext(Keys, options.Network, NodeId, options.Master, (ushort)(Socket is null ? 0 : ((IPEndPoint)Socket.LocalEndPoint!).Port),
            options.MaxFrameBytes, options.MaxPeerQueueBytes, options.HandshakeTimeout, options.LinkIdleTimeout, time, Metrics);
        var overlayLog = loggers.CreateLogger("Dt.Overlay");
        Warnings = new PeerWarnings(overlayLog, _log, options.PeerWarningInterval, time);
        _overlay = new PeerOverlay(options, ctx, this, Access, time, overlayLog, Warnings);
        var trusted = new TrustedMasters();
        foreach (var k in options.TrustedMasterKeys)
            if (TrustedMasters.TryParsePublic(k, out var spki)) trusted.Add(spki);
        if (options.Master && MasterSigningKey.TryParse(options.MasterKey, out var signer))
        {
            Signer = signer;
            trusted.Add(signer!.PublicKey);
        }
        Trusted = trusted;
        Replicator = new Replicator(options, NodeId, store, Events, Clock, time, loggers.CreateLogger("Dt.Replication"), () => _overlay.Links, Signer, trusted, changeLog, Metrics, Warnings);
        CreateModules(_modules, loggers);
        foreach (var m in _modules)
            foreach (var t in m.MessageTypes)
                if (!_moduleByType.TryAdd(t, m)) throw new InvalidOperationException($"two node modules claim message type {(byte)t}");
    }

    /// <summary>Adds the node's modules (implemented in the modules' own partial files).</summary>
    partial void CreateModules(List<INodeModule> modules, ILoggerFactory loggers);

    /// <summary>The node's modules, for grains that front them.</summary>
    public T Module<T>() where T : INodeModule => _modules.OfType<T>().Single();

    public Guid NodeId { get; }

    public DtOptions Options { get; }

    public NodeStore Store { get; }

    /// <summary>The durable log of the node's tables, or null in memory-only mode.</summary>
    public Storage.ChangeLog? ChangeLog { get; }

    public TimeProvider Time { get; }

    public KeyRing Keys { get; }

    public EventHub Events { get; }

    public HybridLogicalClock Clock { get; }

    public IpAccessControl Access { get; }

    public DtMetrics Metrics { get; }

    /// <summary>The per-connection and per-message warnings, rate-limited per remote address.</summary>
    public PeerWarnings Warnings { get; }

    /// <summary>Raised when an address (IPv6: a /64) is blocked after repeated failed handshakes.</summary>
    public event Action<IPAddress, int>? IpBlocked;

    public Replicator Replicator { get; }

    /// <summary>This master's signing key; null on other nodes.</summary>
    public MasterSigningKey? Signer { get; }

    public TrustedMasters Trusted { get; }

    public PeerOverlay Overlay => _overlay;

    public DateTimeOffset StartedAt { get; private set; }

    private System.Net.Sockets.Socket? Socket { get; }

    /// <summary>The port peers dial, or null without a listener.</summary>
    public int? Port => _overlay.ListenEndPoint?.Port;

    /// <summary>
    /// Validates the options (throwing <see cref="DtConfigurationException"/> that names every bad setting), loads the
    /// tables from disk (<see cref="DtStorage.Disk"/>), binds the listener, and starts linking.
    /// <paramref name="store"/> hands an in-memory node its state across restarts (tests); it excludes disk storage.
    /// </summary>
    public static Task<DtNode> StartAsync(DtOptions options, ILoggerFactory? loggers = null, NodeStore? store = null, TimeProvider? time = null)
    {
        var errors = options.Validate();
        if (errors.Count > 0) throw new DtConfigurationException(errors);
        loggers ??= NullLoggerFactory.Instance;
        Storage.ChangeLog? changeLog = null;
        if (store is null && options.Storage == DtStorage.Disk)
            changeLog = Storage.ChangeLog.Open(Path.Combine(options.DataDir, "tables"), options.MaxObjectBytes, loggers.CreateLogger("Dt.Storage"), out store);
        try
        {
            var node = new DtNode(options, store ?? new NodeStore(), changeLog, time ?? TimeProvider.System, loggers);
            node.Start();
            return Task.FromResult(node);
        }
        catch
        {
            changeLog?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    private void Start()
    {
        StartedAt = Time.GetUtcNow();
        int forgotten = Replicator.ForgetUnsigned();
        if (forgotten > 0) DtLog.ForgotUnsigned(_log, forgotten);
        _overlay.Start(Socket);
        DtLog.NodeStarted(_log, NodeId, Options.Master, Options.Network, _overlay.ListenEndPoint?.ToString() ?? "nothing (outbound only)");
        Events.Publish(DtEventTypes.Started, origin: NodeId.ToString());
        foreach (var t in Replicator.Tables)
        {
            List<(ObjectHash Hash, byte[] Json)> live;
            lock (t.Sync) live = t.SnapshotLive();
            foreach (var (h, json) in live) Events.Publish(DtEventTypes.ObjectAdded, t.Name, h, json, "store");
        }
        foreach (var m in _modules) m.Start();
        _loop = Task.Run(PeriodicAsync);
    }

    private async Task PeriodicAsync()
    {
        using var timer = new PeriodicTimer(Options.SyncInterval, Time);
        var lastPurge = Time.GetUtcNow();
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                foreach (var link in _overlay.Links)
                    if (link.IsDialer) Replicator.StartSync(link);
                if (Time.GetUtcNow() - lastPurge > TimeSpan.FromMinutes(10))
                {
                    lastPurge = Time.GetUtcNow();
                    Replicator.PurgeTombstones();
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    // ---- grains ----------------------------------------------------------------------------------------------

    public INodeGrain GetNode(string key = "local") => new LocalNodeGrain(key, this);

    public ITableGrain GetTable(string table = "default") => new LocalTableGrain(table, this);

    public IMessageStream GetMessageStream(string key = "default") => new LocalMessageStream(key, this);

    public IGossipGrain GetGossip(string key = "local") => new LocalGossipGrain(key, this);

    public IMapGrain GetMap(string name) => new LocalMapGrain(name, this);

    // ---- key rotation ----------------------------------------------------------------------------------------

    /// <summary>Rotation step 1: accept a new network key from peers (base64 or hex). Returns its id.</summary>
    public string InstallKey(string key)
    {
        if (!NetworkKey.TryParse(key, out var k))
            throw new DtException(DtErrorCodes.InvalidArgument, "a network key is 32 bytes written as base64 (44 characters) or hex (64 characters)");
        Keys.Install(k!);
        return k!.IdHex;
    }

    /// <summary>Rotation step 2: offer this installed key when dialing.</summary>
    public void UseKey(string keyId) => Keys.Use(ParseKeyId(keyId));

    /// <summary>Rotation step 3: stop accepting a key; links running on it are closed and re-dialed with the primary key.</summary>
    public void RemoveKey(string keyId)
    {
        var id = ParseKeyId(keyId);
        Keys.Remove(id);
        foreach (var (link, _) in _overlay.LinkStates())
            if (link.KeyId.AsSpan().SequenceEqual(id)) link.Close("its network key was removed");
    }

    private static byte[] ParseKeyId(string keyId)
    {
        try
        {
            var id = Convert.FromHexString(keyId);
            if (id.Length == 8) return id;
        }
        catch (FormatException) { }
        throw new DtException(DtErrorCodes.InvalidArgument, $"'{keyId}' is not a network key id (16 hex characters)");
    }

    // ---- messages --------------------------------------------------------------------------------------------

    /// <summary>Floods a message to every online node; it is delivered here too. Returns its id.</summary>
    public Guid SendMessage(JsonElement message)
    {
        byte[] payload = JsonSerializer.SerializeToUtf8Bytes(message);
        if (payload.Length > Options.MaxMessageBytes)
            throw new DtException(DtErrorCodes.TooLarge, $"message of {payload.Length} bytes is over the limit of {Options.MaxMessageBytes} bytes (Dt:MaxMessageBytes)");
        var m = new BroadcastMessage(Guid.NewGuid(), NodeId, Time.GetUtcNow().ToUnixTimeMilliseconds(), payload);
        _messageIds.TryRemember(m.Id);
        Deliver(m, null);
        return m.Id;
    }

    private void OnBroadcast(PeerLink from, BroadcastMessage m)
    {
        if (!_messageIds.TryRemember(m.Id)) return;
        if (!IsJson(m.Payload)) throw new ProtocolException("broadcast payload is not JSON");
        Deliver(m, from);
    }

    /// <summary>Validates JSON without building a document (one pass of the reader).</summary>
    private static bool IsJson(ReadOnlySpan<byte> utf8)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 64 });
            while (reader.Read()) { }
            return reader.TokenType != JsonTokenType.None;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private void Deliver(BroadcastMessage m, PeerLink? from)
    {
        Events.Publish(DtEventTypes.MessageReceived, json: m.Payload, origin: m.Origin.ToString(), messageId: m.Id);
        Metrics.MessageDelivered();
        using var w = new WireWriter(m.Payload.Length + 64);
        m.Encode(w);
        foreach (var link in _overlay.Links)
            if (link != from) link.TrySend(w.WrittenSpan);
    }

    // ---- overlay callbacks -----------------------------------------------------------------------------------

    void IOverlayHost.OnLinkUp(PeerLink link)
    {
        Metrics.LinkOpened();
        if (link.IsDialer) Replicator.StartSync(link);
        foreach (var m in _modules) m.OnLinkUp(link);
    }

    void IOverlayHost.OnLinkDown(PeerLink link, string reason)
    {
        Metrics.LinkClosed();
        Replicator.LinkClosed(link);
        foreach (var m in _modules) m.OnLinkDown(link);
    }

    void IOverlayHost.OnHandshakeRefused(IPAddress remote, string reason, bool blocked)
    {
        Events.Publish(DtEventTypes.Error, origin: remote.ToString(), error: $"peer refused: {reason}");
    }

    ValueTask IOverlayHost.OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body)
    {
        var r = new WireReader(body.Span);
        try
        {
            switch (type)
            {
                case MessageType.Changes:
                {
                    var (table, groups) = BatchCodec.Decode(ref r, Options.MaxObjectBytes, Replicator.ReceivedBatches(link));
                    return Replicator.EnqueueChanges(link, table, groups);
                }
                case MessageType.SyncSummary:
                    Replicator.OnSyncSummary(link, SyncSummaryMessage.Decode(ref r));
                    break;
                case MessageType.SyncNodesRequest:
                    Replicator.OnSyncNodesRequest(link, RangesMessage.Decode(ref r, type));
                    break;
                case MessageType.SyncNodes:
                    Replicator.OnSyncNodes(link, SyncNodesMessage.Decode(ref r));
                    break;
                case MessageType.RangeRequest:
                    Replicator.OnRangeRequest(link, RangesMessage.Decode(ref r, type));
                    break;
                case MessageType.RangeVersions:
                {
                    var (table, depth, prefixes, entries) = RangeVersionsCodec.Decode(ref r);
                    Replicator.OnRangeVersions(link, table, depth, prefixes, entries);
                    break;
                }
                case MessageType.EntryRequest:
                {
                    var (table, hashes) = EntryRequestCodec.Decode(ref r);
                    Replicator.OnEntryRequest(link, table, hashes);
                    break;
                }
                case MessageType.Broadcast:
                    OnBroadcast(link, BroadcastMessage.Decode(ref r, Options.MaxMessageBytes));
                    break;
                default:
                    if (_moduleByType.TryGetValue(type, out var module)) module.OnMessage(link, type, body.Span);
                    // A newer peer may send types this node does not know: drop them, keep the link.
                    else DtLog.UnknownMessage(_log, (byte)type, link.ToString());
                    break;
            }
        }
        catch (DtException e)
        {
            Warnings.BadMessage(link, e.Message);
            Events.Publish(DtEventTypes.Error, origin: link.RemoteNodeId.ToString(), error: e.Message);
        }
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        await _overlay.DisposeAsync();
        foreach (var m in _modules) await m.DisposeAsync();
        if (ChangeLog is not null) await ChangeLog.DisposeAsync();
        Signer?.Dispose();
        Metrics.Dispose();
        try { await _loop.WaitAsync(TimeSpan.FromSeconds(5)); } catch { /* stopping */ }
        DtLog.NodeStopped(_log, NodeId);
    }
}

/// <summary>Invalid options; the message lists every problem, each naming its setting.</summary>
public sealed class DtConfigurationException(IReadOnlyList<string> errors)
    : Exception("Invalid Dt configuration: " + string.Join(" ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
