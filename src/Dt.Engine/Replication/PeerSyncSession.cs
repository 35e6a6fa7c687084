using System.Threading.Channels;
using Dt.Protocol;
using Dt.Transport;

namespace Dt.Replication;

/// <summary>
/// One link's replication state, made when the link comes up and ended when it goes down: the batches each
/// direction's bulk stream remembers (<see cref="BatchMemory"/>), the applier of received changes, and the one bulk
/// stream toward the peer at a time, all cancelled together.
/// <para>
/// Received changes are applied on the session's own task, in arrival order, so that decrypting and decoding (on the
/// link's read loop) and applying run on two cores during a bulk sync. A short bounded queue keeps backpressure: when
/// applying falls behind, the read loop waits, and so does TCP. When the link goes down, what is queued is still
/// applied (it was received and verified); bulk streams stop at once.
/// </para>
/// </summary>
internal sealed class PeerSyncSession : IDisposable
{
    private readonly Channel<(string Table, List<(ChangeBatch Batch, List<Change> Included)> Groups)> _received =
        Channel.CreateBounded<(string, List<(ChangeBatch, List<Change>)>)>(new BoundedChannelOptions(16) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly SemaphoreSlim _bulk = new(1, 1);
    private readonly CancellationTokenSource _ended = new();
    private readonly PeerLink _link;
    private readonly Replicator _replicator;

    public PeerSyncSession(PeerLink link, Replicator replicator)
    {
        _link = link;
        _replicator = replicator;
        _ = Task.Run(ApplyLoopAsync);
    }

    /// <summary>Batches this side's bulk stream told the peer to remember.</summary>
    public BatchMemory Sent { get; } = new();

    /// <summary>The change lists received frames are decoded into, given back once applied.</summary>
    public ChangeListPool Lists { get; } = new();

    /// <summary>Batches the peer's bulk stream asked this side to remember.</summary>
    public BatchMemory Received { get; } = new();

    /// <summary>Queues decoded changes to be applied in order; waits while the queue is full.</summary>
    public ValueTask EnqueueChanges(string table, List<(ChangeBatch Batch, List<Change> Included)> groups) => _received.Writer.WriteAsync((table, groups));

    /// <summary>Runs a bulk stream toward the peer in the background, after the ones before it; it ends when the session does.</summary>
    public void RunBulk(Func<PeerSyncSession, CancellationToken, Task> stream) => _ = Task.Run(async () =>
    {
        try { await _bulk.WaitAsync(_ended.Token); }
        catch (OperationCanceledException) { return; }
        try { await stream(this, _ended.Token); }
        catch (OperationCanceledException) when (_ended.IsCancellationRequested) { }
        catch (Exception e) { _replicator.BulkSendFailed(_link, e); }
        finally { _bulk.Release(); }
    });

    private async Task ApplyLoopAsync()
    {
        var applied = new List<Change>();
        await foreach (var (table, groups) in _received.Reader.ReadAllAsync())
        {
            try
            {
                _replicator.OnChanges(_link, table, groups, applied);
            }
            catch (ProtocolException e)
            {
                _link.Close($"protocol error: {e.Message}");
            }
            catch (DtException e)
            {
                _replicator.Warnings.BadMessage(_link, e.Message);
            }
            catch (Exception e)
            {
                _link.Close($"applying changes failed: {e.GetType().Name}: {e.Message}");
            }
            // Nothing keeps a decoded list once applied: what won was copied to the applied buffer.
            foreach (var (_, included) in groups) Lists.Return(included);
        }
    }

    public void Dispose()
    {
        _received.Writer.TryComplete();
        _ended.Cancel();
    }
}
