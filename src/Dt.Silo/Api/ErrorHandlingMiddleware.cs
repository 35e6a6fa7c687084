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
            // Routing's own 404 and 405 (its Allow header kept), and any other bare 4xx, get a problem body too.
            if (ctx.Response is { StatusCode: >= 400 and < 500, HasStarted: false, ContentType: null } r)
                await (r.StatusCode switch
                {
                    404 => Problems.WriteAsync(ctx, DtApiErrors.NotFound, $"no such route: {ctx.Request.Method} {ctx.Request.Path}"),
                    405 => Problems.WriteAsync(ctx, DtApiErrors.MethodNotAllowed,
                        $"{ctx.Request.Method} is not allowed on {ctx.Request.Path}" + (r.Headers.Allow.Count > 0 ? $" (allowed: {r.Headers.Allow})" : "")),
                    _ => Problems.WriteAsync(ctx, DtApiErrors.CodeFor((System.Net.HttpStatusCode)r.StatusCode), $"{ctx.Request.Method} {ctx.Request.Path} was refused ({r.StatusCode})", r.StatusCode),
                });
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
