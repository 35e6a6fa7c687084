using Dt.Client;

namespace Dt.Silo.Api;

/// <summary>
/// Turns every failure of a request into a problem response: <see cref="DtException"/> by its code, Kestrel's
/// refusals (a body over the limit) by their status, anything else as a logged 500. Nothing escapes to crash or to
/// leak a stack trace. Unknown routes get a problem body too.
/// </summary>
internal sealed class ErrorHandlingMiddleware(RequestDelegate next, ILogger<ErrorHandlingMiddleware> log)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        try
        {
            await next(ctx);
            if (ctx.Response is { StatusCode: 404 or 405, HasStarted: false, ContentType: null })
                await Problems.WriteAsync(ctx, ctx.Response.StatusCode == 404 ? DtApiErrors.NotFound : DtErrorCodes.InvalidArgument,
                    ctx.Response.StatusCode == 404 ? $"no such route: {ctx.Request.Method} {ctx.Request.Path}" : $"{ctx.Request.Method} is not allowed on {ctx.Request.Path}");
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is no one to answer.
        }
        catch (DtException e)
        {
            await AnswerAsync(ctx, e.Code, e.Message);
        }
        catch (BadHttpRequestException e)
        {
            string code = e.StatusCode == StatusCodes.Status413PayloadTooLarge ? DtErrorCodes.TooLarge : DtErrorCodes.InvalidArgument;
            await AnswerAsync(ctx, code, code == DtErrorCodes.TooLarge ? RequestBody.TooLargeMessage(null, Limit(ctx)) : e.Message);
        }
        catch (Exception e)
        {
            SiloLog.RequestFailed(log, ctx.Request.Method, ctx.Request.Path, e);
            await AnswerAsync(ctx, DtApiErrors.Internal, "the silo failed to handle this request; its log has the details");
        }
    }

    private static async Task AnswerAsync(HttpContext ctx, string code, string detail)
    {
        if (ctx.Response.HasStarted)
        {
            // A streamed answer is under way: cutting the connection is the only honest signal left.
            ctx.Abort();
            return;
        }
        ctx.Response.Clear();
        await Problems.WriteAsync(ctx, code, detail);
    }

    private static long Limit(HttpContext ctx) => ctx.RequestServices.GetRequiredService<SiloOptions>().MaxBodyBytes;
}
