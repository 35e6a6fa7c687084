using System.Net;
using Dt.Dns.Lookup;
using Dt.Dns.Server;
using Dt.Dns.Zones;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dt.Dns;

/// <summary>Settings that cannot work; the message lists every one.</summary>
public sealed class DnsConfigurationException(IReadOnlyList<string> errors)
    : Exception("invalid DNS configuration: " + string.Join(" ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}

/// <summary>
/// The DNS service of one Dt node: an authoritative server (UDP and TCP, AXFR/IXFR, NOTIFY, UPDATE) answering from
/// the node's DNS table, a zone editor, and the world-valid lookup responder. It reaches the node only through
/// <see cref="IDtGrainFactory"/>, so it runs beside an in-process <c>DtNode</c> or against a remote silo alike.
/// Start with <see cref="StartAsync"/>, stop with <see cref="StopAsync"/> or by disposing. Hostable as an
/// <see cref="IHostedService"/> (see <see cref="DnsHosting.AddDtDns"/>).
/// </summary>
public sealed class DnsService : IHostedService, IAsyncDisposable
{
    private readonly IDtGrainFactory _grains;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private DnsServer? _server;
    private DnsMetrics? _metrics;
    private ResponseRateLimiter? _rrl;
    private Notifier? _notifier;
    private LookupResponder? _responder;
    private Task _keeper = Task.CompletedTask;
    private Task _signing = Task.CompletedTask;
    private int _started, _stopped;

    public DnsService(IDtGrainFactory grains, DnsOptions options, ILoggerFactory? loggers = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0) throw new DnsConfigurationException(errors);
        _grains = grains;
        Options = options;
        _time = time ?? TimeProvider.System;
        _log = (loggers ?? NullLoggerFactory.Instance).CreateLogger("Dt.Dns");
        Zones = new ZoneStore(grains, options, _log, _time);
        Editor = new DnsZoneEditor(grains, options.Table, options.DefaultTtl, new StoreView(Zones, options.CommitTimeout));
        Lookup = new WorldLookup(grains, options.LookupTimeout + TimeSpan.FromSeconds(1));
    }

    public DnsOptions Options { get; }

    /// <summary>The zones this node serves (snapshots, serials).</summary>
    public ZoneStore Zones { get; }

    /// <summary>Changes zones (on a master): import, add, remove, delete; waits until the change is served here.</summary>
    public DnsZoneEditor Editor { get; }

    /// <summary>Runs world-valid lookups from this node.</summary>
    public WorldLookup Lookup { get; }

    /// <summary>Whether the node is a master (then UPDATEs are applied and zones left matching no serial are repaired).</summary>
    public bool IsMaster { get; private set; }

    public IPEndPoint UdpEndPoint => _server?.UdpEndPoint ?? throw new InvalidOperationException("the DNS service is not started");

    public IPEndPoint TcpEndPoint => _server?.TcpEndPoint ?? throw new InvalidOperationException("the DNS service is not started");

    /// <summary>The port answered on (UDP and TCP).</summary>
    public int Port => UdpEndPoint.Port;

    /// <summary>DNS responses sent so far with this protocol and header RCODE (the counts behind <c>dt.dns.queries</c>).</summary>
    public long Answered(bool tcp, Wire.DnsRcode rcode) => _metrics?.Count(tcp, rcode) ?? 0;

    /// <summary>UDP answers rate limiting dropped and sent truncated instead (slipped) so far; (0, 0) when it is off.</summary>
    public (long Dropped, long Slipped) RateLimited => _rrl is null ? (0, 0) : (_rrl.Dropped, _rrl.Slipped);

    /// <summary>NOTIFYs not yet acknowledged.</summary>
    public int PendingNotifies => _notifier?.PendingCount ?? 0;

    /// <summary>Binds the sockets (throws <see cref="System.Net.Sockets.SocketException"/> if the port is taken),
    /// starts following the table, and waits (up to <see cref="DnsOptions.CommitTimeout"/>) for the first listing.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) == 1) throw new InvalidOperationException("the DNS service was already started");
        var info = await _grains.GetNode().GetInfo();
        IsMaster = info.IsMaster;
        var configured = new TransferRules(Options.TransferAllow.Select(t => TransferRule.TryParse(t, out var r) ? r : null).OfType<TransferRule>().ToList());
        // A NOTIFY target signs with the key its entry names, else with the key of a TransferAllow entry covering it;
        // its transfers are allowed with that key (or unsigned when there is none).
        var notifyTargets = Options.NotifyTargets().Select(t => (t.EndPoint, Key: t.Key ?? configured.KeyFor(t.EndPoint.Address))).ToList();
        var rules = new TransferRules(configured.Rules.Concat(notifyTargets.Select(t => new TransferRule(AddressRange.Single(t.EndPoint.Address), t.Key))).ToList());
        var tsig = new Tsig(Options.TsigKeys, Options.TsigFudge, _time);
        var engine = new QueryEngine(Zones, Options, tsig);
        var transfer = new ZoneTransfer(Zones, Options, rules, tsig, _log, _time);
        var update = new UpdateProcessor(Zones, Editor, tsig, AddressRange.ParseAll(Options.UpdateAllow), _log);
        _metrics = new DnsMetrics(info.NodeId);
        _rrl = Options.RateLimitResponsesPerSecond > 0 ? new ResponseRateLimiter(Options, _time) : null;
        _server = new DnsServer(Options, engine, transfer, update, _log, _metrics, _rrl);
        _server.Bind();
        _notifier = new Notifier(notifyTargets.Select(t => (t.EndPoint, t.Key is null ? null : tsig.Find(t.Key))).ToList(), Options, _log, _time);
        _notifier.Start();
        Zones.Published += _notifier.Enqueue;
        Zones.Start();
        _server.Start();
        if (Options.AnswerLookups)
        {
            _responder = new LookupResponder(_grains, Options, _log, _time);
            _responder.Start();
        }
        if (IsMaster) _keeper = Task.Run(KeeperAsync);
        if (IsMaster && Options.SignedZones.Count > 0)
        {
            Signer = new ZoneSigner(Options, new DnssecKeyDirectory(Options.KeyDirectory!, Options.GenerateKeys, _log), _time);
            Editor.Signer = Signer;
            _signing = Task.Run(SigningAsync);
        }
        DnsLog.Started(_log, _server.UdpEndPoint.ToString(), _server.TcpEndPoint.ToString(), Options.Table);
        try
        {
            await Zones.Ready.WaitAsync(Options.CommitTimeout, _time, cancellationToken);
            if (_responder is not null) await _responder.Subscribed.WaitAsync(Options.CommitTimeout, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            // Serving starts anyway; zones appear as the table is read.
        }
    }

    /// <summary>
    /// On a master: re-commits zones whose content has matched no serial marker for <see cref="DnsOptions.KeeperGrace"/>
    /// (a change cut short midway, or two masters changing a zone at once), so every node converges on one serial.
    /// </summary>
    private async Task KeeperAsync()
    {
        var ct = _stop.Token;
        using var timer = new PeriodicTimer(Options.KeeperInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                foreach (var zone in Zones.ZonesNeedingRepair(Options.KeeperGrace))
                {
                    try
                    {
                        var r = await Editor.RecommitAsync(zone, ct);
                        if (r.Changed) DnsLog.Recommitted(_log, zone.ToString(), r.Serial);
                    }
                    catch (Exception e) when (e is DtException or InvalidOperationException)
                    {
                        DnsLog.RecommitFailed(_log, zone.ToString(), e.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// On a master with signed zones: every <see cref="DnsOptions.SigningInterval"/> (and once at start, after the
    /// first listing), re-reads the keys and commits what is due: new or retired keys, signatures close to expiry, and
    /// zones changed without this signer (by a remote editor or another master) whose signatures no longer verify.
    /// </summary>
    private async Task SigningAsync()
    {
        var ct = _stop.Token;
        using var timer = new PeriodicTimer(Options.SigningInterval, _time);
        try
        {
            await Zones.Ready.WaitAsync(ct);
            do
            {
                foreach (var zone in Signer!.Zones)
                {
                    if (Zones.GetState(zone) is not { HasSoa: true }) continue;
                    try
                    {
                        var r = await Editor.ResignAsync(zone, ct);
                        if (r.Changed) DnsLog.Resigned(_log, zone.ToString(), r.Serial, r.Added, r.Removed);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        // Logged and tried again next pass: a bad key file or a full disk must not end re-signing.
                        DnsLog.SigningFailed(_log, zone.ToString(), e.Message);
                    }
                }
            }
            while (await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The signer of this master's signed zones (null elsewhere): their keys and DS records.</summary>
    internal ZoneSigner? Signer { get; private set; }

    /// <summary>The DS records (SHA-256) of the zone's published KSKs, for its parent; empty if this node does not sign it.</summary>
    public IReadOnlyList<string> DsRecords(string zone)
    {
        var name = DnsZoneEditor.ParseZone(zone);
        if (Signer is null || !Signer.Signs(name)) return [];
        var now = _time.GetUtcNow();
        return Signer.Keys(name).Where(k => k.IsKsk && k.IsPublished(now)).Select(k => $"{name} IN DS {k.Ds().ToText()}").ToList();
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1) return;
        await _stop.CancelAsync();
        try { await _keeper; } catch (OperationCanceledException) { }
        try { await _signing; } catch (OperationCanceledException) { }
        if (_server is not null) await _server.DisposeAsync();
        _metrics?.Dispose();
        if (_responder is not null) await _responder.DisposeAsync();
        if (_notifier is not null)
        {
            Zones.Published -= _notifier.Enqueue;
            await _notifier.DisposeAsync();
        }
        await Zones.DisposeAsync();
        if (_started == 1) DnsLog.Stopped(_log);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }
}

/// <summary>Registers the DNS service in a generic host.</summary>
public static class DnsHosting
{
    /// <summary>
    /// Binds <see cref="DnsOptions"/> from <paramref name="section"/> (validated when the service is created) and,
    /// if <see cref="DnsOptions.Enabled"/>, adds a hosted <see cref="DnsService"/> over the grain factory that
    /// <paramref name="grains"/> returns when the host starts. The <see cref="DnsService"/> singleton is resolvable
    /// (for API endpoints: its <see cref="DnsService.Editor"/> and <see cref="DnsService.Lookup"/>).
    /// </summary>
    public static IServiceCollection AddDtDns(this IServiceCollection services, IConfiguration section, Func<IServiceProvider, IDtGrainFactory> grains)
    {
        var options = new DnsOptions();
        section.Bind(options);
        services.AddSingleton(options);
        if (!options.Enabled) return services;
        services.AddSingleton(sp => new DnsService(grains(sp), options, sp.GetService<ILoggerFactory>(), sp.GetService<TimeProvider>()));
        services.AddHostedService(sp => sp.GetRequiredService<DnsService>());
        return services;
    }
}
