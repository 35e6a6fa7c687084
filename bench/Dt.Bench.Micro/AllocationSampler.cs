using System.Diagnostics.Tracing;
using System.Reflection;
using BenchmarkDotNet.Attributes;

namespace Dt.Bench.Micro;

/// <summary>
/// Says which types a benchmark allocates, where <c>[MemoryDiagnoser]</c> only gives the bytes:
/// <c>dotnet run -c Release --project bench/Dt.Bench.Micro -- --allocations MessageBenchmarks.SendToPeer</c>.
/// Runs the benchmark's global setup and the method in this process, then listens to the runtime's allocation ticks
/// (one about every 100 KB allocated, naming the type that crossed it) while it runs the method again, and prints the
/// sampled types by share.
/// </summary>
internal static class AllocationSampler
{
    public static void Run(string name, int invocations = 200)
    {
        var (typeName, methodName) = (name[..name.IndexOf('.')], name[(name.IndexOf('.') + 1)..]);
        var type = typeof(AllocationSampler).Assembly.GetTypes().Single(t => t.Name == typeName);
        var method = type.GetMethod(methodName) ?? throw new ArgumentException($"no method {methodName} on {typeName}");
        object bench = Activator.CreateInstance(type)!;
        Invoke<GlobalSetupAttribute>(type, bench);
        for (int i = 0; i < invocations / 4; i++) method.Invoke(bench, null);

        using var ticks = new AllocationTicks();
        long before = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < invocations; i++) method.Invoke(bench, null);
        long bytes = GC.GetTotalAllocatedBytes(precise: true) - before;
        ticks.Dispose();
        int operations = method.GetCustomAttribute<BenchmarkAttribute>()?.OperationsPerInvoke ?? 1;
        Console.WriteLine($"{name}: {bytes} B over {invocations} invocations, {(double)bytes / invocations / operations:0.0} B per operation");
        foreach (var (t, n) in ticks.ByType.OrderByDescending(p => p.Value))
            Console.WriteLine($"  {n,6} ticks  {100.0 * n / Math.Max(1, ticks.Total),5:0.0} %  {t}");
        Invoke<GlobalCleanupAttribute>(type, bench);
    }

    private static void Invoke<T>(Type type, object bench) where T : Attribute
    {
        foreach (var m in type.GetMethods().Where(m => m.GetCustomAttribute<T>() is not null)) m.Invoke(bench, null);
    }

    private sealed class AllocationTicks : EventListener
    {
        public readonly Dictionary<string, int> ByType = [];
        public int Total;

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName is not { } n || !n.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.PayloadNames is null) return;
            int at = e.PayloadNames.IndexOf("TypeName");
            string typeName = at >= 0 ? e.Payload![at] as string ?? "?" : "?";
            // Arrays by size too: a pool's misses show as one size.
            int size = e.PayloadNames.IndexOf("ObjectSize");
            if (typeName.EndsWith("[]", StringComparison.Ordinal) && size >= 0) typeName += $" of {e.Payload![size]} B";
            lock (ByType)
            {
                ByType[typeName] = ByType.GetValueOrDefault(typeName) + 1;
                Total++;
            }
        }
    }
}
