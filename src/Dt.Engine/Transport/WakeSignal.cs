using System.Threading.Tasks.Sources;

namespace Dt.Transport;

/// <summary>
/// Wakes one waiting loop when there is work, without allocating per wake: a set while nobody waits is remembered
/// (once, however often it is set), and completing the signal ends the wait with false. A bounded channel of one item
/// did the same but allocated an operation object for each wait that had to suspend, on a link's every write.
/// One waiter at a time; any number of setters.
/// </summary>
internal sealed class WakeSignal : IValueTaskSource<bool>
{
    private readonly Lock _lock = new();
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private bool _pending, _waiting, _completed;

    /// <summary>True when set (at once if it was set meanwhile), false once completed.</summary>
    public ValueTask<bool> WaitAsync()
    {
        lock (_lock)
        {
            if (_pending)
            {
                _pending = false;
                return new ValueTask<bool>(true);
            }
            if (_completed) return new ValueTask<bool>(false);
            if (_waiting) throw new InvalidOperationException("one waiter at a time");
            _core.Reset();
            _waiting = true;
            return new ValueTask<bool>(this, _core.Version);
        }
    }

    public void Set() => Wake(complete: false);

    /// <summary>Ends the waiting for good: the current and every later wait return false.</summary>
    public void Complete() => Wake(complete: true);

    private void Wake(bool complete)
    {
        lock (_lock)
        {
            if (_completed) return;
            if (complete) _completed = true;
            if (!_waiting)
            {
                if (!complete) _pending = true;
                return;
            }
            _waiting = false;
        }
        // Outside the lock: the waiter runs on the thread pool (asynchronous continuations), and only this caller
        // saw _waiting set, so the result is given once.
        _core.SetResult(!complete);
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
