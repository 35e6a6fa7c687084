using Dt.Hosting;
using Dt.InProcess;
using Xunit;

namespace Dt.Tests;

/// <summary>Collects what a node hears until disposed.</summary>
internal sealed class Hearer : IAsyncDisposable
{
    private readonly CancellationTokenSource _cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
    private readonly Task _loop;
    private readonly List<SaidEvent> _heard = [];

    public Hearer(DtNode node, HearRequest request)
    {
        var e = new LocalGossipGrain("local", node).Hear(request, _cts.Token).GetAsyncEnumerator(_cts.Token);
        var first = e.MoveNextAsync(); // registers the subscription now
        _loop = Task.Run(async () =>
        {
            try
            {
                if (!await first) return;
                do lock (_heard) _heard.Add(e.Current);
                while (await e.MoveNextAsync());
            }
            catch (OperationCanceledException) { }
            finally { await e.DisposeAsync(); }
        });
    }

    public List<SaidEvent> Heard { get { lock (_heard) return [.. _heard]; } }

    public int Count { get { lock (_heard) return _heard.Count; } }

    public async ValueTask DisposeAsync()
    {
        _cts.Cancel();
        await _loop;
    }
}
