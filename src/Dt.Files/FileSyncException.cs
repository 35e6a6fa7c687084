namespace Dt.Files;

/// <summary>A publish, mirror or restore that cannot go on, with a message that says what to fix.</summary>
public sealed class FileSyncException(string message, Exception? inner = null) : Exception(message, inner);
