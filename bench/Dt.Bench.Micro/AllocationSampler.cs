using System.Reflection;
using BenchmarkDotNet.Attributes;
using Dt.Bench;

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
        foreach (var line in ticks.Report()) Console.WriteLine("  " + line);
        Invoke<GlobalCleanupAttribute>(type, bench);
    }

    private static void Invoke<T>(Type type, object bench) where T : Attribute
    {
        foreach (var m in type.GetMethods().Where(m => m.GetCustomAttribute<T>() is not null)) m.Invoke(bench, null);
    }
}
