using Dt.Client;
using Dt.Hosting;
using Dt.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dt.Tests.Silo;

/// <summary>The silo's HTTP API (the same wiring as Dt.Silo's Program) in front of a node of this process, on 127.0.0.1:0.</summary>
internal sealed class InProcessSilo : IAsyncDisposable
{
    private readonly WebApplication _app;

    private InProcessSilo(WebApplication app, DtNode node, Uri url, SiloOptions options)
    {
        _app = app;
        Node = node;
        Url = url;
        Options = options;
    }

    public DtNode Node { get; }

    public Uri Url { get; }

    public SiloOptions Options { get; }

    public static async Task<InProcessSilo> StartAsync(DtNode node, SiloOptions? options = null)
    {
        options ??= new SiloOptions();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--urls", "http://127.0.0.1:0"], ContentRootPath = Path.GetTempPath() });
        builder.Logging.ClearProviders();
        builder.Services.AddDtSilo(options);
        var app = builder.Build();
        app.Services.GetRequiredService<SiloNode>().Attach(node);
        app.UseDtSilo();
        await app.StartAsync(Xunit.TestContext.Current.CancellationToken);
        return new InProcessSilo(app, node, new Uri(app.Urls.First()), options);
    }

    public DtClient Client(Uri? via = null) =>
        new(new DtClientOptions { BaseAddress = via ?? Url, ApiToken = Options.ApiToken, ReconnectMaxDelay = TimeSpan.FromMilliseconds(300) });

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
