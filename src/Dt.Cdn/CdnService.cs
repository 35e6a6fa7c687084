using System.Text.Json;
using Dt.Files;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dt.Cdn;

/// <summary>Settings that cannot work; the message lists every one.</summary>
public sealed class CdnConfigurationException(IReadOnlyList<string> errors) : Exception("invalid CDN configuration: " + string.Join(" ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}

/// <summary>
/// The CDN of one Dt node, over <see cref="IDtGrainFactory"/> only (in process beside a node, or against a remote
/// silo): with <see cref="CdnOptions.Serve"/> an HTTP server for the file set's content and a beacon every
/// <see cref="CdnOptions.BeaconInterval"/>; with <see cref="CdnOptions.Redirect"/> a redirector that hears the
/// beacons and sends each request to a live node.
/// </summary>
public sealed class CdnService : IHostedService, IAsyncDisposable
{
    private readonly IDtGrainFactory _dt;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private ContentIndex? _index;
    private ContentResponder? _responder;
    private WebApplication? _content, _redirector;
    private string _nodeName = "";
    private int _started, _stopped;

    public CdnService(IDtGrainFactory dt, CdnOptions options, ILoggerFactory? loggers = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(dt);
        if (options.Validate() is { Count: > 0 } errors) throw new CdnConfigurationException(errors);
        _dt = dt;
        Options = options;
        _loggers = loggers ?? NullLoggerFactory.Instance;
        _log = _loggers.CreateLogger("Dt.Cdn");
        _time = time ?? TimeProvider.System;
        Beacons = new BeaconBook(options.Set, options.MissedBeacons, _time, _log);
    }

    public CdnOptions Options { get; }

    /// <summary>What the redirector knows of the serving nodes.</summary>
    public BeaconBook Beacons { get; }

    /// <summary>The addresses content is served on (ports resolved), once started.</summary>
    public IReadOnlyList<string> ContentUrls { get; private set; } = [];

    /// <summary>The addresses the redirector answers on, once started.</summary>
    public IReadOnlyList<string> RedirectUrls { get; private set; } = [];

    /// <summary>The base URL this node's beacons send clients to.</summary>
    public string? PublicUrl { get; private set; }

    /// <summary>Binds the listeners (throws <see cref="IOException"/> if an address is taken), then starts following
    /// the set, beaconing and hearing beacons.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) == 1) throw new InvalidOperationException("the CDN was already started");
        var info = await _dt.GetNode().GetInfo();
        _nodeName = info.Name ?? info.NodeId;
        if (Options.Redirect)
        {
            _redirector = Build(Options.RedirectUrls, app => app.Run(RedirectAsync));
            await _redirector.StartAsync(cancellationToken);
            RedirectUrls = Addresses(_redirector);
            _loops.Add(Task.Run(() => HearBeaconsAsync(_stop.Token)));
            CdnLog.Redirecting(_log, Options.Set, string.Join(' ', RedirectUrls));
        }
        if (Options.Serve)
        {
            _index = new ContentIndex(_dt, Options.Set, _log, _time);
            _responder = new ContentResponder(_index, new ChunkCache(new ChunkFetcher(_dt, Options.Set), Options.CacheBytes), _log);
            var limit = new SemaphoreSlim(Options.MaxConcurrentRequests);
            _content = Build(Options.Urls, app => app.Run(async http =>
            {
                if (!limit.Wait(0))
                {
                    http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    return;
                }
                try { await _responder.HandleAsync(http); }
                finally { limit.Release(); }
            }));
            await _content.StartAsync(cancellationToken);
            ContentUrls = Addresses(_content);
            PublicUrl = (Options.PublicUrl ?? ContentUrls[0]).TrimEnd('/');
            _index.Start();
            try { await _index.Loaded.WaitAsync(TimeSpan.FromSeconds(10), _time, cancellationToken); }
            catch (TimeoutException) { /* serving starts anyway; paths appear as the set is read */ }
            _loops.Add(Task.Run(() => BeaconAsync(_stop.Token)));
            CdnLog.Serving(_log, Options.Set, string.Join(' ', ContentUrls), PublicUrl, Options.Location);
        }
    }

    private WebApplication Build(List<string> urls, Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(_loggers);
        builder.WebHost.UseUrls([.. urls]);
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
        var app = builder.Build();
        map(app);
        return app;
    }

    private static List<string> Addresses(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToList();

    /// <summary>The live nodes, for operators and tests.</summary>
    public const string NodesPath = "/_dt/cdn/nodes";

    private Task RedirectAsync(HttpContext http)
    {
        if (http.Request.Path == NodesPath) return http.Response.WriteAsJsonAsync(Beacons.Live(), BeaconJson.Default.IReadOnlyListLiveNode);
        string? location = http.Request.Query["location"] is { Count: > 0 } q ? q[0] : http.Request.Headers["X-Dt-Location"] is { Count: > 0 } h ? h[0] : Options.Location;
        var node = Beacons.Choose(location);
        http.Response.Headers.CacheControl = "no-store";
        if (node is null)
        {
            http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            http.Response.Headers.RetryAfter = "1";
            return http.Response.WriteAsync($"no live node serves '{Options.Set}' (no beacon heard within {Options.MissedBeacons} intervals)\n");
        }
        http.Response.StatusCode = Options.RedirectStatus;
        http.Response.Headers.Location = node.Url + http.Request.Path.ToUriComponent() + RemoveLocation(http.Request.Query);
        return Task.CompletedTask;
    }

    private static string RemoveLocation(IQueryCollection query)
    {
        var kept = query.Where(kv => kv.Key != "location").SelectMany(kv => kv.Value.Select(v => new KeyValuePair<string, string?>(kv.Key, v)));
        return QueryString.Create(kept).Value ?? "";
    }

    private async Task BeaconAsync(CancellationToken ct)
    {
        var stream = _dt.GetMessageStream();
        using var timer = new PeriodicTimer(Options.BeaconInterval, _time);
        long lastCount = 0;
        var lastAt = _time.GetTimestamp();
        do
        {
            long count = _responder!.Requests;
            double seconds = Math.Max(_time.GetElapsedTime(lastAt).TotalSeconds, 0.001);
            lastAt = _time.GetTimestamp();
            var beacon = new Beacon(Options.Set, _nodeName, PublicUrl!, Options.Location, (count - lastCount) / seconds, Online: true, Options.BeaconInterval);
            lastCount = count;
            await SendAsync(stream, beacon);
        }
        while (await WaitTickAsync(timer, ct));
    }

    private static async Task<bool> WaitTickAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try { return await timer.WaitForNextTickAsync(ct); }
        catch (OperationCanceledException) { return false; }
    }

    private async Task SendAsync(IMessageStream stream, Beacon beacon)
    {
        try { await stream.Send(beacon.ToJson()); }
        catch (Exception e) when (e is DtException or IOException or HttpRequestException) { CdnLog.BeaconFailed(_log, e.Message); }
    }

    private async Task HearBeaconsAsync(CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await foreach (var m in _dt.GetMessageStream().Subscribe(ct))
                {
                    if (Beacon.TryParse(m.Payload, out var error) is { } b) Beacons.Heard(b);
                    else if (error is not null) CdnLog.BadBeacon(_log, m.Origin, error);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is DtException or IOException or HttpRequestException)
            {
                CdnLog.FollowBroken(_log, "beacons", e.Message);
            }
            try { await Task.Delay(delay, _time, ct); } catch (OperationCanceledException) { return; }
            delay = delay * 2 > TimeSpan.FromSeconds(5) ? TimeSpan.FromSeconds(5) : delay * 2;
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1) return;
        await _stop.CancelAsync();
        foreach (var loop in _loops) try { await loop; } catch (OperationCanceledException) { }
        // The last beacon says this node is gone, so redirectors stop at once instead of after missed beacons.
        if (_responder is not null && PublicUrl is not null)
            await SendAsync(_dt.GetMessageStream(), new Beacon(Options.Set, _nodeName, PublicUrl, Options.Location, 0, Online: false, Options.BeaconInterval));
        if (_content is not null) await _content.DisposeAsync();
        if (_redirector is not null) await _redirector.DisposeAsync();
        if (_index is not null) await _index.DisposeAsync();
        if (_started == 1) CdnLog.Stopped(_log);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }
}
