using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Dt.Diagnostics;
using Dt.Events;
using Dt.Gossip;
using Dt.InProcess;
using Dt.Maps;
using Dt.Messaging;
using Dt.Model;
using Dt.Modules;
using Dt.Overlay;
using Dt.Protocol;
using Dt.Replication;
using Dt.Security;
using Dt.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dt.Hosting;

/// <summary>
/// One running Dt node: the composition of the overlay (links) and the node's modules — replication (tables),
/// broadcast messages, gossip state, the event bus and shared maps — each routed its own messages by one
/// <see cref="ModuleRouter"/>; and the grain factory through which callers reach it. Start with
/// <see cref="StartAsync"/>, stop by disposing.
/// </summary>
public sealed class DtNode : IOverlayHost, IDtGrainFactory, IAsyncDisposable
{
    private readonly ILogger _log;
    private readonly PeerOverlay _overlay;
    private readonly ModuleRouter _modules;
    private readonly MemoryTrim _trim;
    private readonly CancellationTokenSource _stop = new();
    private Task _trimLoop = Task.CompletedTask;
    private int _disposed;

    private DtNode(DtOptions options, GossipOptions gossip, NodeStore store, Storage.ChangeLog? changeLog, MasterSigningKey? signer, TrustedMasters trusted,
        TimeProvider time, ILoggerFactory loggers, IPeerTransport transport)
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
        var overlayOptions = options.ForOverlay();
        Listener = options.Listen ? PeerOverlay.Bind(overlayOptions, transport) : null;
        var ctx = new LinkContext(Keys, options.Network, NodeId, options.Master, (ushort)(Listener?.LocalEndPoint.Port ?? 0),
            options.MaxFrameBytes, options.MaxPeerQueueBytes, options.HandshakeTimeout, options.LinkIdleTimeout, time, Metrics);
        var overlayLog = loggers.CreateLogger("Dt.Overlay");
        Warnings = new PeerWarnings(overlayLog, _log, options.PeerWarningInterval, time);
        _overlay = new PeerOverlay(overlayOptions, ctx, this, Access, time, overlayLog, Warnings, transport);
        Signer = signer;
        Trusted = trusted;
        var context = new ModuleContext(NodeId, options.NodeName, isRoot: options.Peers.Count == 0, () => _overlay.Links, Events, Clock, time, loggers, Warnings, Metrics);
        Replicator = new Replicator(options.ForReplication(), context, store.Tables, Signer, trusted, changeLog);
        Broadcast = new BroadcastModule(options.ForBroadcast(), context);
        Gossip = new GossipModule(gossip, context);
        EventBus = new EventBusModule(gossip, context, Gossip);
        Maps = new MapModule(gossip, context, store.Maps);
        _modules = new ModuleRouter([Replicator, Broadcast, Gossip, EventBus, Maps], context, _log);
        // What it read from disk at start counts as taken in: a node that replayed a large log trims once it is quiet
        // (a store handed over in memory was not read, and left nothing behind to return).
        long loaded = changeLog is null ? 0 : store.Tables.Values.Sum(t => (long)t.LiveJsonBytes);
        _trim = new MemoryTrim(options.TrimMemoryAfterBytes, () => loaded + Replicator.TakenInJsonBytes, time, _log, () =>
        {
            Replicator.ChangeLists.Clear();
            foreach (var t in Replicator.Tables) t.TrimExcess();
        });
    }

    /// <summary>Times the node returned memory to the system after a bulk of objects (see <see cref="DtOptions.TrimMemoryAfterBytes"/>).</summary>
    public int MemoryTrims => _trim.Trims;

    /// <summary>The node's modules, for the in-process grains that front them.</summary>
    internal T Module<T>() where T : INodeModule => _modules.Get<T>();

    internal BroadcastModule Broadcast { get; }

    /// <summary>Node state and membership.</summary>
    internal GossipModule Gossip { get; }

    /// <summary>The say/hear event bus.</summary>
    internal EventBusModule EventBus { get; }

    /// <summary>Shared maps.</summary>
    internal MapModule Maps { get; }

    public Guid NodeId { get; }

    public DtOptions Options { get; }

    public NodeStore Store { get; }

    /// <summary>The durable log of the node's tables, or null in memory-only mode.</summary>
    internal Storage.ChangeLog? ChangeLog { get; }

    public TimeProvider Time { get; }

    internal KeyRing Keys { get; }

    internal EventHub Events { get; }

    internal HybridLogicalClock Clock { get; }

    internal IpAccessControl Access { get; }

    internal DtMetrics Metrics { get; }

    /// <summary>The per-connection and per-message warnings, rate-limited per remote address.</summary>
    internal PeerWarnings Warnings { get; }

    /// <summary>Raised when an address (IPv6: a /64) is blocked after repeated failed handshakes.</summary>
    public event Action<IPAddress, int>? IpBlocked;

    internal Replicator Replicator { get; }

    /// <summary>This master's signing key; null on other nodes.</summary>
    internal MasterSigningKey? Signer { get; }

    internal TrustedMasters Trusted { get; }

    internal PeerOverlay Overlay => _overlay;

    public DateTimeOffset StartedAt { get; private set; }

    private IPeerListener? Listener { get; }

    /// <summary>The name of the node's meter (System.Diagnostics.Metrics) for exporters.</summary>
    public const string MeterName = DtMetrics.MeterName;

    /// <summary>Full links up now (node tests excluded).</summary>
    public int LinkCount => _overlay.Links.Count;

    /// <summary>The endpoint the peer listener is bound to, or null without a listener.</summary>
    public IPEndPoint? ListenEndPoint => _overlay.ListenEndPoint;

    /// <summary>What an operator must act on about trust, one sentence each: changes dropped because no trusted
    /// master signed them, or because their signature failed (empty when all is well).</summary>
    public IReadOnlyList<string> TrustWarnings() => Replicator.Untrusted.Warnings();

    /// <summary>The port peers dial, or null without a listener.</summary>
    public int? Port => _overlay.ListenEndPoint?.Port;

    /// <summary>
    /// Validates the options (throwing <see cref="DtConfigurationException"/> that names every bad setting), loads the
    /// tables from disk (<see cref="DtStorage.Disk"/>), binds the listener, and starts linking.
    /// <paramref name="store"/> hands an in-memory node its state across restarts (tests); it excludes disk storage.
    /// <paramref name="gossip"/> sets the gossip modules (node state, membership, event bus, maps); default <see cref="GossipOptions.Lan"/>.
    /// </summary>
    public static Task<DtNode> StartAsync(DtOptions options, ILoggerFactory? loggers = null, NodeStore? store = null, TimeProvider? time = null, GossipOptions? gossip = null) =>
        StartAsync(options, TcpPeerTransport.Instance, loggers, store, time, gossip);

    /// <summary>As the public <c>StartAsync</c>, over another transport (tests: <see cref="Transport.InMemory.InMemoryNetwork"/>).</summary>
    internal static Task<DtNode> StartAsync(DtOptions options, IPeerTransport transport, ILoggerFactory? loggers = null, NodeStore? store = null, TimeProvider? time = null, GossipOptions? gossip = null)
    {
        var errors = options.Validate();
        gossip ??= GossipOptions.Lan();
        errors.AddRange(gossip.Validate());
        if (errors.Count > 0) throw new DtConfigurationException(errors);
        loggers ??= NullLoggerFactory.Instance;
        var (signer, trusted) = Masters(options);
        Storage.ChangeLog? changeLog = null;
        try
        {
            if (store is null && options.Storage == DtStorage.Disk)
            {
                // The replay checks each batch's signature while it decodes (Start forgets what fails). A batch's
                // changes may sit in many records (a reconciliation takes a batch's entries in ranges): only the first
                // instance decoded is checked, and an instance that the table holds unchecked is checked at Start.
                var checkedBatches = new ConcurrentDictionary<(string, (Guid, ulong)), byte>();
                changeLog = Storage.ChangeLog.Open(Path.Combine(options.DataDir, "tables"), options.MaxObjectBytes, loggers.CreateLogger("Dt.Storage"),
                    (table, batch) =>
                    {
                        if (checkedBatches.TryAdd((table, batch.Key), 0)) Replicator.IsSigned(trusted, options.Network, table, batch);
                    }, out var tables);
                store = new NodeStore(tables);
            }
            var node = new DtNode(options, gossip.Clone(), store ?? new NodeStore(), changeLog, signer, trusted, time ?? TimeProvider.System, loggers, transport);
            node.Start();
            return Task.FromResult(node);
        }
        catch
        {
            changeLog?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            signer?.Dispose();
            throw;
        }
    }

    /// <summary>This node's signing key (a master's, if its key parses) and the masters it trusts, itself included.</summary>
    private static (MasterSigningKey? Signer, TrustedMasters Trusted) Masters(DtOptions options)
    {
        var trusted = new TrustedMasters();
        foreach (var k in options.TrustedMasterKeys)
            if (TrustedMasters.TryParsePublic(k, out var spki)) trusted.Add(spki);
        if (!options.Master || !MasterSigningKey.TryParse(options.MasterKey, out var signer)) return (null, trusted);
        trusted.Add(signer!.PublicKey);
        return (signer, trusted);
    }

    private void Start()
    {
        StartedAt = Time.GetUtcNow();
        int forgotten = Replicator.ForgetUnsigned();
        if (forgotten > 0) DtLog.ForgotUnsigned(_log, forgotten);
        _overlay.Start(Listener);
        DtLog.NodeStarted(_log, NodeId, Options.Master, Options.Network, _overlay.ListenEndPoint?.ToString() ?? "nothing (outbound only)");
        Events.Publish(DtEventTypes.Started, origin: NodeId.ToString());
        // An object_added event for every held object, as the reference emits them. No one subscribes before this
        // point, so only the newest that fit the event buffer can ever be read: the older ones only take their ids.
        long unread = Math.Max(0, Replicator.Tables.Sum(t => t.LiveCount) - Events.Capacity);
        foreach (var t in Replicator.Tables)
        {
            long skip = Math.Min(unread, t.LiveCount);
            Events.SkipUnread(skip);
            unread -= skip;
            foreach (var (h, json) in t.SnapshotLive(skip)) Events.Publish(DtEventTypes.ObjectAdded, t.Name, h, json, "store");
        }
        _modules.Start();
        _trimLoop = ModuleTimer.RunAsync(TimeSpan.FromSeconds(1), Time, () =>
        {
            // A table under steady load never goes quiet for the trim: it thins its batches once enough are thick.
            foreach (var t in Replicator.Tables) t.ThinBatchesIfDue();
            _trim.Tick();
        }, e => DtLog.MemoryTrimFailed(_log, e.Message), _stop.Token);
    }

    // ---- grains ----------------------------------------------------------------------------------------------

    public INodeGrain GetNode(string key = "local") => new LocalNodeGrain(key, this);

    public ITableGrain GetTable(string table = "default") => new LocalTableGrain(table, this);

    public IMessageStream GetMessageStream(string key = "default") => new LocalMessageStream(key, this);

    public IGossipGrain GetGossip(string key = "local") => new LocalGossipGrain(key, this);

    public IMapGrain GetMap(string name) => new LocalMapGrain(name, this);

    // ---- bulk adds ---------------------------------------------------------------------------------------------

    /// <summary>An empty batch for <see cref="AddObjects(string, ObjectBatch)"/>, with this node's Dt:MaxObjectBytes.</summary>
    public ObjectBatch CreateBatch() => new(Options.MaxObjectBytes);

    /// <summary>
    /// Adds the batch's objects to <paramref name="table"/> in one change (signed, logged, flooded to peers), then
    /// clears the batch; returns their hashes in order. The change is not yet on disk: await <see cref="WhenDurable"/>
    /// before acknowledging it. <c>not_master</c> on a non-master, <c>limit_reached</c> when the table would be full;
    /// nothing is added then.
    /// </summary>
    public IReadOnlyList<string> AddObjects(string table, ObjectBatch batch)
    {
        var hashes = Replicator.Add(table, batch.Objects);
        batch.Clear();
        var result = new string[hashes.Count];
        for (int i = 0; i < result.Length; i++) result[i] = hashes[i].ToString();
        return result;
    }

    /// <summary>Completes when every change this node applied so far is on disk (at once with memory storage).</summary>
    public Task WhenDurable() => Replicator.WhenDurable();

    /// <summary>
    /// Adds UTF-8 JSON values to <paramref name="table"/> in one change, each canonicalized straight from its bytes,
    /// and completes once the change is durable; returns their hashes in order. A value that is not one valid JSON
    /// value fails the whole call with <c>invalid_argument</c> naming its index (<c>too_large</c> for one over
    /// Dt:MaxObjectBytes), and nothing is added.
    /// </summary>
    public async Task<IReadOnlyList<string>> AddObjectsUtf8Async(string table, IReadOnlyList<byte[]> values)
    {
        TableNames.Require(table);
        var batch = CreateBatch();
        for (int i = 0; i < values.Count; i++)
        {
            try { batch.Add(values[i] ?? throw new DtException(DtErrorCodes.InvalidArgument, "the value is null")); }
            catch (DtException e) { throw new DtException(e.Code, $"value {i} of the batch (counting from 0) for table '{table}': {e.Message}"); }
        }
        var hashes = AddObjects(table, batch);
        await WhenDurable();
        return hashes;
    }

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

    // ---- events ----------------------------------------------------------------------------------------------

    /// <summary>The id of the newest event so far: read after it for only what follows.</summary>
    public long LastEventId => Events.LastId;

    /// <summary>
    /// The node's events after <paramref name="afterId"/> (null: from the oldest held), of the given types (null:
    /// all), as they come, until cancelled. Reads through a bounded feed: a reader that falls behind gets a notice
    /// (id 0) of the events the node no longer held.
    /// </summary>
    public async IAsyncEnumerable<DtEvent> ReadEvents(long? afterId, IReadOnlySet<string>? types = null,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var feed = Events.Open(null, afterId, types);
        await foreach (var e in feed.ReadAllAsync(cancellationToken)) yield return e;
    }

    /// <summary>Floods a message to every online node; it is delivered here too. Returns its id.</summary>
    public Guid SendMessage(JsonElement message) => Broadcast.Send(message);

    // ---- overlay callbacks -----------------------------------------------------------------------------------

    void IOverlayHost.OnLinkUp(PeerLink link)
    {
        Metrics.LinkOpened();
        _modules.OnLinkUp(link);
    }

    void IOverlayHost.OnLinkDown(PeerLink link, string reason)
    {
        Metrics.LinkClosed();
        _modules.OnLinkDown(link);
    }

    void IOverlayHost.OnHandshakeRefused(IPAddress remote, string reason, bool blocked)
    {
        Events.Publish(DtEventTypes.Error, origin: remote.ToString(), error: $"peer refused: {reason}");
    }

    ValueTask IOverlayHost.OnMessageAsync(PeerLink link, MessageType type, ReadOnlyMemory<byte> body) => _modules.RouteAsync(link, type, body);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        await _trimLoop;
        _stop.Dispose();
        await _overlay.DisposeAsync();
        await _modules.DisposeAsync();
        if (ChangeLog is not null) await ChangeLog.DisposeAsync();
        Signer?.Dispose();
        Metrics.Dispose();
        DtLog.NodeStopped(_log, NodeId);
    }
}

/// <summary>Invalid options; the message lists every problem, each naming its setting.</summary>
public sealed class DtConfigurationException(IReadOnlyList<string> errors)
    : Exception("Invalid Dt configuration: " + string.Join(" ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}

/// <summary>
/// Objects gathered for one change (<see cref="DtNode.AddObjects(string, ObjectBatch)"/>), each kept in its RFC 8785
/// canonical form, made straight from its UTF-8 JSON (no document is built): the bulk path of the HTTP API and the
/// grains. A value that fails to add leaves the batch as it was. Not thread-safe; reusable after a commit.
/// </summary>
public sealed class ObjectBatch
{
    private readonly int _maxObjectBytes;
    private readonly CanonicalBuffer _scratch = new(256);

    internal ObjectBatch(int maxObjectBytes) => _maxObjectBytes = maxObjectBytes;

    internal List<byte[]> Objects { get; } = [];

    public int Count => Objects.Count;

    /// <summary>Canonical bytes held.</summary>
    public long Bytes { get; private set; }

    /// <summary>Adds one JSON value (UTF-8; whitespace and a byte-order mark around it allowed). <c>invalid_argument</c>
    /// when it is not exactly one valid JSON value, <c>too_large</c> when its canonical form is over Dt:MaxObjectBytes.</summary>
    public void Add(ReadOnlySpan<byte> utf8Json)
    {
        _scratch.Clear();
        try { CanonicalJson.WriteUtf8(utf8Json, _scratch); }
        catch (FormatException e) { throw Invalid(e); }
        Keep();
    }

    /// <summary>Adds the value whose first token <paramref name="reader"/> is on (e.g. an element of an array), leaving
    /// the reader on its last token. Malformed JSON throws the reader's <see cref="JsonException"/>; the other refusals
    /// are as for <see cref="Add(ReadOnlySpan{byte})"/>.</summary>
    public void Add(ref Utf8JsonReader reader)
    {
        _scratch.Clear();
        try { CanonicalJson.WriteFromReader(ref reader, _scratch); }
        catch (FormatException e) { throw Invalid(e); }
        Keep();
    }

    public void Clear()
    {
        Objects.Clear();
        Bytes = 0;
    }

    private void Keep()
    {
        int n = _scratch.WrittenCount;
        if (n > _maxObjectBytes)
            throw new DtException(DtErrorCodes.TooLarge, $"too large: its canonical form of {n} bytes is over the limit of {_maxObjectBytes} bytes (Dt:MaxObjectBytes)");
        Objects.Add(_scratch.WrittenSpan.ToArray());
        Bytes += n;
    }

    private static DtException Invalid(FormatException e) => new(DtErrorCodes.InvalidArgument, e.Message.StartsWith("Malformed JSON: ", StringComparison.Ordinal)
        ? "not valid JSON: " + e.Message["Malformed JSON: ".Length..]
        : "not a valid object: " + e.Message);
}
