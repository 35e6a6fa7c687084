namespace Dt.Model;

/// <summary>
/// Hybrid logical clock: 48 bits of Unix milliseconds, 16 bits of logical counter. Timestamps a master issues are
/// strictly increasing and never behind any timestamp it has seen, so a later change wins even under clock skew.
/// </summary>
internal sealed class HybridLogicalClock(TimeProvider time)
{
    private const int LogicalBits = 16;
    private readonly Lock _lock = new();
    private ulong _last;

    public ulong Now()
    {
        lock (_lock)
        {
            ulong physical = (ulong)time.GetUtcNow().ToUnixTimeMilliseconds() << LogicalBits;
            _last = physical > _last ? physical : _last + 1;
            return _last;
        }
    }

    /// <summary>Moves the clock past a timestamp seen from elsewhere.</summary>
    public void Observe(ulong seen)
    {
        lock (_lock)
            if (seen > _last) _last = seen;
    }

    public static DateTimeOffset ToTime(ulong hlc) => DateTimeOffset.FromUnixTimeMilliseconds((long)(hlc >> LogicalBits));

    public static ulong FromTime(DateTimeOffset time) => (ulong)time.ToUnixTimeMilliseconds() << LogicalBits;
}
