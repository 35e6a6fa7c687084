using Xunit;

namespace Dt.Tests.Silo;

/// <summary>Waits for conditions with deadlines (never a fixed sleep): polls every 50 ms until true or too late.</summary>
internal static class Poll
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Deadline);
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await condition()) return;
                last = null;
            }
            catch (Exception e) when (e is DtException or HttpRequestException or IOException)
            {
                last = e; // not ready yet (a node still starting, say)
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"timed out after {(timeout ?? Deadline).TotalSeconds:0} s waiting until {what}" + (last is null ? "" : $" (last error: {last.Message})"));
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        UntilAsync(() => Task.FromResult(condition()), what, timeout);

    /// <summary>A token that ends with the test or after <paramref name="timeout"/>.</summary>
    public static CancellationTokenSource Timeout(TimeSpan? timeout = null)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout ?? Deadline);
        return cts;
    }
}
