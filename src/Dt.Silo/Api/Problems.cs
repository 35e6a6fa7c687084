using System.Text.Json;
using Dt.Client;

namespace Dt.Silo.Api;

/// <summary>Writes RFC 7807 problem documents (application/problem+json) carrying the <see cref="DtException"/> code.</summary>
internal static class Problems
{
    public static DtProblem For(string code, string detail) =>
        new(DtApiErrors.TypeFor(code), DtApiErrors.TitleFor(code), DtApiErrors.StatusFor(code), detail, code);

    public static async Task WriteAsync(HttpContext ctx, DtProblem problem)
    {
        ctx.Response.StatusCode = problem.Status;
        ctx.Response.ContentType = "application/problem+json";
        await JsonSerializer.SerializeAsync(ctx.Response.Body, problem, DtJsonContext.Default.DtProblem, ctx.RequestAborted);
    }

    /// <param name="status">The status to keep, when it says more than the code's (e.g. 415 for a bad content type).</param>
    public static async Task WriteAsync(HttpContext ctx, string code, string detail, int? status = null)
    {
        var problem = For(code, detail);
        if (status is { } s) problem = problem with { Status = s };
        ctx.Response.StatusCode = problem.Status;
        ctx.Response.ContentType = "application/problem+json";
        await JsonSerializer.SerializeAsync(ctx.Response.Body, problem, DtJsonContext.Default.DtProblem, ctx.RequestAborted);
    }
}
