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
/// <para>
/// Reconciliation messages take the same queue (<see cref="EnqueueAfterChanges"/>), so each is handled after every
/// change received before it is applied: a summary compared after a push compares what the push left, and nothing
/// already on its way is asked for again.
/// </para>
/// </summary>
internal sealed class PeerSyncSession : IDisposable
{
    /// <summary>One received item: a decoded Changes frame, or a reconciliation step to run after the changes before it.</summary>
    private readonly record struct Inbound(string? Table, List<(ChangeBatch Batch, List<Change> Included)>? Groups, FrameChunks? Chunks, Action? Step);

    private readonly Channel<Inbound> _received =
        Channel.CreateBounded<Inbound>(new BoundedChannelOptions(16) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Lock _bulkLock = new();
    private Task _bulkTail = Task.CompletedTask;
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
    public ChangeListPool Lists => _replicator.ChangeLists;

    /// <summary>Batches the peer's bulk stream asked this side to remember.</summary>
    public BatchMemory Received { get; } = new();

    /// <summary>
    /// Queues decoded changes to be applied in order; waits while the queue is full. The applier releases
    /// <paramref name="chunks"/> (the caller's hold on the frame's JSON) once it applied them.
    /// </summary>
    public ValueTask EnqueueChanges(string table, List<(ChangeBatch Batch, List<Change> Included)> groups, FrameChunks? chunks = null) =>
        _received.Writer.WriteAsync(new(table, groups, chunks, null));

    /// <summary>Queues a reconciliation step to run once every change received before it is applied.</summary>
    public ValueTask EnqueueAfterChanges(Action step) => _received.Writer.WriteAsync(new(null, null, null, step));

    /// <summary>
    /// Runs a bulk stream toward the peer in the background, strictly after the ones queued before it (so a step queued
    /// after a push goes out after the push's frames); it ends when the session does.
    /// </summary>
    public void RunBulk(Func<PeerSyncSession, CancellationToken, Task> stream)
    {
        lock (_bulkLock)
            _bulkTail = _bulkTail.ContinueWith(_ => RunOneAsync(stream), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
    }

    private async Task RunOneAsync(Func<PeerSyncSession, CancellationToken, Task> stream)
    {
        if (_ended.IsCancellationRequested) return;
        try { await stream(this, _ended.Token); }
        catch (OperationCanceledException) when (_ended.IsCancellationRequested) { }
        catch (Exception e) { _replicator.BulkSendFailed(_link, e); }
    }

    private async Task ApplyLoopAsync()
    {
        var applied = new List<Change>();
        await foreach (var (table, groups, chunks, step) in _received.Reader.ReadAllAsync())
        {
            try
            {
                if (step is not null) step();
                else _replicator.OnChanges(_link, table!, groups!, applied, chunks);
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
            // Nothing keeps a decoded list once applied: what won was copied to the applied buffer, the JSON into the
            // table's slab and the relayed frames; the journal holds the chunks itself if it still needs them.
            if (groups is not null)
                foreach (var (_, included) in groups) Lists.Return(included);
            chunks?.Release();
        }
    }

    public void Dispose()
    {
        _received.Writer.TryComplete();
        _ended.Cancel();
    }
}
