using System.Diagnostics.Tracing;

namespace Dt.Bench;

/// <summary>
/// Counts the runtime's allocation ticks (one about every 100 KB allocated, naming the type that crossed it; arrays
/// with their size, so a pool's misses show as one size) while it is alive. Used by the micro-benchmarks'
/// <c>--allocations</c> and, with <c>DT_BENCH_ALLOCATIONS=1</c>, by the scenario benchmark's node processes.
/// </summary>
public sealed class AllocationTicks : EventListener
{
    private readonly Dictionary<string, int> _byType = [];
    private int _total;

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is not { } n || !n.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.PayloadNames is null) return;
        int at = e.PayloadNames.IndexOf("TypeName");
        string typeName = at >= 0 ? e.Payload![at] as string ?? "?" : "?";
        int size = e.PayloadNames.IndexOf("ObjectSize");
        if (typeName.EndsWith("[]", StringComparison.Ordinal) && size >= 0) typeName += $" of {e.Payload![size]} B";
        lock (_byType)
        {
            _byType[typeName] = _byType.GetValueOrDefault(typeName) + 1;
            _total++;
        }
    }

    /// <summary>The sampled types, most first, as lines of ticks, share and type.</summary>
    public IEnumerable<string> Report(int top = 20)
    {
        lock (_byType)
            return _byType.OrderByDescending(p => p.Value).Take(top)
                .Select(p => $"{p.Value,6} ticks  {100.0 * p.Value / Math.Max(1, _total),5:0.0} %  {p.Key}").ToList();
    }
}
