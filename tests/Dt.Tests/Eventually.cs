using System.Net.Sockets;
using Dt.Dns.Wire;
using Xunit;

namespace Dt.Tests;

/// <summary>
/// How a wait polls: how often, and which exceptions of the condition mean "not yet" rather than a failure
/// (any other exception ends the wait at once).
/// </summary>
internal sealed record Polling(TimeSpan Every, Func<Exception, bool>? NotYet = null)
{
    /// <summary>State in this process: every 20 ms; an exception fails the wait.</summary>
    public static readonly Polling InProcess = new(TimeSpan.FromMilliseconds(20));

    /// <summary>
    /// A node through its client, HTTP API or grains: every 50 ms; a node still starting (<see cref="DtException"/>,
    /// <see cref="HttpRequestException"/>, <see cref="IOException"/>) is "not yet".
    /// </summary>
    public static readonly Polling Node = new(TimeSpan.FromMilliseconds(50), e => e is DtException or HttpRequestException or IOException);

    /// <summary>A DNS server: every 20 ms; a lost or refused query or a garbled answer is "not yet".</summary>
    public static readonly Polling Dns = new(TimeSpan.FromMilliseconds(20), e => e is TimeoutException or SocketException or DnsFormatException);

    /// <summary>In-process state costly to read: polled every <paramref name="every"/>.</summary>
    public static Polling Costly(TimeSpan every) => new(every);
}

/// <summary>
/// The one way tests wait for a condition: poll it until it holds, or fail with a <see cref="TimeoutException"/> that
/// names what was awaited once the deadline passes (never a fixed sleep). Ends with the test's cancellation.
/// </summary>
internal static class Eventually
{
    /// <summary>How long a wait lasts unless told otherwise.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> (default <see cref="Deadline"/>)
    /// passes; <paramref name="progress"/> runs about once a second while waiting.
    /// </summary>
    public static Task Until(Func<bool> condition, string what, TimeSpan? timeout = null, Polling? polling = null, Action? progress = null) =>
        Until(() => Task.FromResult(condition()), what, timeout, polling, progress);

    /// <inheritdoc cref="Until(Func{bool}, string, TimeSpan?, Polling?, Action?)"/>
    public static async Task Until(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, Polling? polling = null, Action? progress = null)
    {
        polling ??= Polling.InProcess;
        var limit = timeout ?? Deadline;
        var deadline = DateTime.UtcNow + limit;
        var nextReport = DateTime.UtcNow.AddSeconds(1);
        var ct = TestContext.Current.CancellationToken;
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await condition()) return;
                last = null;
            }
            catch (Exception e) when (polling.NotYet?.Invoke(e) == true)
            {
                last = e;
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"timed out after {limit.TotalSeconds:0.#} s waiting until {what}" + (last is null ? "" : $" (last error: {last.Message})"));
            if (progress is not null && DateTime.UtcNow >= nextReport)
            {
                progress();
                nextReport = DateTime.UtcNow.AddSeconds(1);
            }
            await Task.Delay(polling.Every, ct);
        }
    }

    /// <summary>A token that ends with the test or after <paramref name="timeout"/> (default <see cref="Deadline"/>).</summary>
    public static CancellationTokenSource CancelAfter(TimeSpan? timeout = null)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout ?? Deadline);
        return cts;
    }
}
