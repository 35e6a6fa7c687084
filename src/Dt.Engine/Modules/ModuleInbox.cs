using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Dt.Modules;

/// <summary>
/// A node module's incoming work, handled one item at a time on one task (like a grain's turns), from a bounded
/// queue. Drop policy: when the queue is full new work is dropped and counted; modules built on anti-entropy repair
/// what a dropped message carried in a later round. Link threads never wait for a module.
/// </summary>
internal sealed class ModuleInbox
{
    private readonly Channel<(Action<long> Work, long Posted)> _queue;
    private readonly TimeProvider _time;
    private readonly Action<Exception> _onError;
    private Task _loop = Task.CompletedTask;
    private long _drops;

    public ModuleInbox(int capacity, TimeProvider time, Action<Exception> onError)
    {
        _time = time;
        _onError = onError;
        _queue = Channel.CreateBounded<(Action<long>, long)>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.DropWrite,
        });
    }

    /// <summary>Work dropped because the queue was full.</summary>
    public long Drops => Interlocked.Read(ref _drops);

    /// <summary>Queues work; it receives how many milliseconds it waited in the queue.</summary>
    public void Post(Action<long> work, CancellationToken stopping)
    {
        if (!_queue.Writer.TryWrite((work, _time.GetTimestamp())) && !stopping.IsCancellationRequested) Interlocked.Increment(ref _drops);
    }

    public void Start(CancellationToken stopping) => _loop = Task.Run(async () =>
    {
        try
        {
            await foreach (var (work, posted) in _queue.Reader.ReadAllAsync(stopping))
            {
                try { work((long)_time.GetElapsedTime(posted).TotalMilliseconds); }
                catch (Exception e) when (e is not OperationCanceledException) { _onError(e); }
            }
        }
        catch (OperationCanceledException) { }
    });

    /// <summary>Stops taking work; completes when the loop has ended.</summary>
    public Task CompleteAsync()
    {
        _queue.Writer.TryComplete();
        return _loop;
    }
}
