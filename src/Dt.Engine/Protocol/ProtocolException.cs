namespace Dt.Protocol;

/// <summary>A peer sent bytes that do not follow the protocol. The link is closed; the node carries on.</summary>
internal sealed class ProtocolException(string message) : Exception(message);
