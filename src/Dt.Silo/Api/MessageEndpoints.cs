using Dt.Client;

namespace Dt.Silo.Api;

/// <summary>Broadcast messages: any JSON value, from this node to every online node.</summary>
internal static class MessageEndpoints
{
    public static async Task SendAsync(HttpContext ctx)
    {
        var body = await RequestBody.ReadAsync(ctx, ApiEndpoints.BodyLimit(ctx));
        using var doc = RequestBody.ParseValue(body);
        string id = await ApiEndpoints.Node(ctx).GetMessageStream().Send(doc.RootElement);
        await ApiEndpoints.WriteAsync(ctx, new MessageIdResult(id), DtJsonContext.Default.MessageIdResult);
    }
}
