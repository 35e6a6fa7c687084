using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Perfolizer.Horology;

namespace Dt.Bench.Micro;

/// <summary>
/// Micro-benchmarks of Dt's hot paths. Run all (a few minutes):
/// <c>dotnet run -c Release --project bench/Dt.Bench.Micro -- --filter '*'</c>.
/// The job is short on purpose (1 launch, 2 warm-ups, 5 iterations of about 250 ms); pass <c>--job default</c>
/// for BenchmarkDotNet's longer, tighter defaults; <c>--allocations Class.Method</c> names the types a benchmark
/// allocates (see <see cref="AllocationSampler"/>). Every figure is per operation as named in the method
/// (per frame, per object, ...): the benchmarks loop internally and declare it with OperationsPerInvoke.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        var rest = new List<string>(args);
        int a = rest.IndexOf("--allocations");
        if (a >= 0 && a + 1 < rest.Count)
        {
            AllocationSampler.Run(rest[a + 1]);
            return;
        }
        int j = rest.IndexOf("--job");
        bool defaultJob = j >= 0 && j + 1 < rest.Count && rest[j + 1] == "default";
        if (defaultJob) rest.RemoveRange(j, 2);
        var job = defaultJob
            ? Job.Default
            : Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(5).WithIterationTime(TimeInterval.FromMilliseconds(250)).WithId("Short");
        var config = DefaultConfig.Instance
            .AddJob(job.AsDefault())
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(StatisticColumn.Median)
            .WithSummaryStyle(SummaryStyle.Default.WithMaxParameterColumnWidth(24))
            .WithOptions(ConfigOptions.JoinSummary);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run([.. rest], config);
    }
}
