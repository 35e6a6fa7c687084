namespace Dt.Modules;

/// <summary>A module's periodic work on the node's clock.</summary>
internal static class ModuleTimer
{
    /// <summary>
    /// Runs <paramref name="tick"/> every <paramref name="period"/> of <paramref name="time"/> until <paramref name="stop"/>;
    /// a tick that throws is reported to <paramref name="failed"/> and the next tick runs as usual.
    /// </summary>
    public static async Task RunAsync(TimeSpan period, TimeProvider time, Action tick, Action<Exception> failed, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try { tick(); }
                catch (Exception e) when (e is not OperationCanceledException) { failed(e); }
            }
        }
        catch (OperationCanceledException) { }
    }
}
