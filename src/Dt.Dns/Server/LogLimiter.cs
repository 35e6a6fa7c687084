namespace Dt.Dns.Server;

/// <summary>
/// Lets at most <paramref name="burst"/> log lines through per <paramref name="window"/> and counts the rest, so a
/// flood of refused requests cannot flood the log; the next line let through reports how many were left out.
/// Thread-safe.
/// </summary>
internal sealed class LogLimiter(int burst, TimeSpan window, TimeProvider time)
{
    private readonly Lock _lock = new();
    private DateTimeOffset _windowStart = DateTimeOffset.MinValue;
    private int _inWindow;
    private long _suppressed;

    /// <summary>True if this line may be logged; <paramref name="suppressed"/> is then how many were dropped before it.</summary>
    public bool TryEnter(out long suppressed)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (now - _windowStart >= window)
            {
                _windowStart = now;
                _inWindow = 0;
            }
            if (_inWindow < burst)
            {
                _inWindow++;
                suppressed = _suppressed;
                _suppressed = 0;
                return true;
            }
            _suppressed++;
            suppressed = 0;
            return false;
        }
    }
}
