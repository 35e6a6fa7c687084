using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Dt.Tests.Silo;

/// <summary>Keeps every log message, so a test can check what a component reported (a reconnect, say).</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<string> Messages { get; } = new();

    /// <summary>The same messages with their levels and categories.</summary>
    public ConcurrentQueue<(LogLevel Level, string Category, string Message)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string message = formatter(state, exception);
            owner.Entries.Enqueue((logLevel, category, message));
            owner.Messages.Enqueue($"{category}: {message}");
        }
    }
}
