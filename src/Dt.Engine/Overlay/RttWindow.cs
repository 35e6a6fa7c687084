namespace Dt.Overlay;

/// <summary>The last N round-trip samples of a peer and their average.</summary>
internal sealed class RttWindow(int capacity)
{
    private readonly double[] _samples = new double[capacity];
    private readonly Lock _lock = new();
    private int _count, _next;

    public void Add(double ms)
    {
        lock (_lock)
        {
            _samples[_next] = ms;
            _next = (_next + 1) % _samples.Length;
            if (_count < _samples.Length) _count++;
        }
    }

    public int Count { get { lock (_lock) return _count; } }

    public double? Average
    {
        get
        {
            lock (_lock)
            {
                if (_count == 0) return null;
                double sum = 0;
                for (int i = 0; i < _count; i++) sum += _samples[i];
                return sum / _count;
            }
        }
    }
}
