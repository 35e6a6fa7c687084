namespace Dt.Gossip;

/// <summary>
/// Phi-accrual failure detector (Hayashibara et al., 2004) over a window of heartbeat inter-arrival times, with a
/// normal distribution as in Akka: phi = -log10(P(a heartbeat arrives later than now)). The mean is raised by an
/// acceptable pause, the standard deviation is floored, and intervals longer than the window's cap are not sampled
/// (a partition or a pause must not teach the detector to wait longer next time, as in Cassandra).
/// Not thread-safe: the gossip module calls it under its lock.
/// </summary>
internal sealed class PhiAccrualDetector
{
    private readonly double[] _samples;
    private readonly double _minStdDev, _pause, _maxInterval;
    private int _count, _next;
    private double _sum, _sumSquares;

    public PhiAccrualDetector(int maxSamples, double firstEstimateMs, double minStdDevMs, double acceptablePauseMs, double maxIntervalMs)
    {
        _samples = new double[Math.Max(2, maxSamples)];
        _minStdDev = minStdDevMs;
        _pause = acceptablePauseMs;
        _maxInterval = maxIntervalMs;
        // Bootstrap as Akka does: two samples around the first estimate (std = estimate / 4).
        double sd = firstEstimateMs / 4;
        Add(firstEstimateMs - sd);
        Add(firstEstimateMs + sd);
    }

    public int SampleCount => _count;

    public double Mean => _sum / _count;

    public double StdDev => Math.Sqrt(Math.Max(0, _sumSquares / _count - Mean * Mean));

    /// <summary>Records the time between two heartbeats. Intervals of zero or above the cap are ignored.</summary>
    public void AddInterval(double ms)
    {
        if (ms <= 0 || ms > _maxInterval) return;
        Add(ms);
    }

    private void Add(double ms)
    {
        if (_count == _samples.Length)
        {
            double old = _samples[_next];
            _sum -= old;
            _sumSquares -= old * old;
        }
        else _count++;
        _samples[_next] = ms;
        _next = (_next + 1) % _samples.Length;
        _sum += ms;
        _sumSquares += ms * ms;
    }

    /// <summary>Suspicion level after <paramref name="elapsedMs"/> without a heartbeat (0 = none; capped at 1000).</summary>
    public double Phi(double elapsedMs)
    {
        double mean = Mean + _pause;
        double sd = Math.Max(StdDev, _minStdDev);
        double y = (elapsedMs - mean) / sd;
        // Logistic approximation of the normal CDF (Bowling et al. 2009), as Akka uses.
        double e = Math.Exp(-y * (1.5976 + 0.070566 * y * y));
        double p = elapsedMs > mean ? e / (1 + e) : 1 - 1 / (1 + e);
        if (p <= 1e-300 || double.IsNaN(p)) return 1000;
        return Math.Min(1000, Math.Max(0, -Math.Log10(p)));
    }

    /// <summary>Time without heartbeats after which phi reaches <paramref name="threshold"/> (for logs and tests).</summary>
    public double TimeToReach(double threshold)
    {
        double lo = 0, hi = Mean + _pause + 100 * Math.Max(StdDev, _minStdDev);
        for (int i = 0; i < 60; i++)
        {
            double mid = (lo + hi) / 2;
            if (Phi(mid) >= threshold) hi = mid; else lo = mid;
        }
        return hi;
    }
}
