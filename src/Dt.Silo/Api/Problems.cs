using System.Text.Json;
using Dt.Client;

namespace Dt.Silo.Api;

/// <summary>Writes RFC 7807 problem documents (application/problem+json) carrying the <see cref="DtException"/> code.</summary>
internal static class Problems
{
    public static DtProblem For(string code, string detail) =>
        new(DtApiErrors.TypeFor(code), DtApiErrors.TitleFor(code), DtApiErrors.StatusFor(code), detail, code);

    public static async Task WriteAsync(HttpContext ctx, string code, string detail)
    {
        var problem = For(code, detail);
        ctx.Response.StatusCode = problem.Status;
        ctx.Response.ContentType = "application/problem+json";
        await JsonSerializer.SerializeAsync(ctx.Response.Body, problem, DtJsonContext.Default.DtProblem, ctx.RequestAborted);
    }
}
