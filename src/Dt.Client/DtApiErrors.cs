using System.Net;

namespace Dt.Client;

/// <summary>
/// How <see cref="DtException"/> codes map to HTTP statuses, in both directions; the silo and the client share it so
/// an error keeps its code across the wire.
/// </summary>
public static class DtApiErrors
{
    /// <summary>A /v1 request without the right bearer token.</summary>
    public const string Unauthorized = "unauthorized";

    /// <summary>The object (or route) asked for does not exist.</summary>
    public const string NotFound = "not_found";

    /// <summary>The route exists, but not for this HTTP method (405, with an Allow header).</summary>
    public const string MethodNotAllowed = "method_not_allowed";

    /// <summary>An unexpected failure inside the silo; details are in its log.</summary>
    public const string Internal = "internal";

    public static int StatusFor(string code) => code switch
    {
        DtErrorCodes.InvalidArgument => StatusCodes.BadRequest,
        Unauthorized => StatusCodes.Unauthorized,
        DtErrorCodes.NotMaster => StatusCodes.Forbidden,
        NotFound => StatusCodes.NotFound,
        MethodNotAllowed => StatusCodes.MethodNotAllowed,
        DtErrorCodes.TooLarge => StatusCodes.PayloadTooLarge,
        // A capacity limit of the node (objects per table, number of tables): the request is fine, the node is full.
        DtErrorCodes.LimitReached => StatusCodes.InsufficientStorage,
        DtErrorCodes.SubscriberTooSlow or DtErrorCodes.Unavailable => StatusCodes.ServiceUnavailable,
        _ => StatusCodes.InternalServerError,
    };

    /// <summary>The code for a status that came without a problem body (a proxy, a wrong URL).</summary>
    public static string CodeFor(HttpStatusCode status) => (int)status switch
    {
        StatusCodes.BadRequest => DtErrorCodes.InvalidArgument,
        StatusCodes.Unauthorized => Unauthorized,
        StatusCodes.Forbidden => DtErrorCodes.NotMaster,
        StatusCodes.NotFound => NotFound,
        StatusCodes.MethodNotAllowed => MethodNotAllowed,
        StatusCodes.PayloadTooLarge => DtErrorCodes.TooLarge,
        StatusCodes.InsufficientStorage or StatusCodes.Conflict => DtErrorCodes.LimitReached,
        StatusCodes.BadGateway or StatusCodes.ServiceUnavailable or StatusCodes.GatewayTimeout => DtErrorCodes.Unavailable,
        _ => Internal,
    };

    public static string TitleFor(string code) => code switch
    {
        DtErrorCodes.InvalidArgument => "Invalid request",
        Unauthorized => "Missing or wrong API token",
        DtErrorCodes.NotMaster => "This node is not a master",
        NotFound => "Not found",
        MethodNotAllowed => "Method not allowed",
        DtErrorCodes.TooLarge => "Too large",
        DtErrorCodes.LimitReached => "A limit of the node is reached",
        DtErrorCodes.SubscriberTooSlow => "Event subscriber too slow",
        DtErrorCodes.Unavailable => "Unavailable",
        _ => "Internal error",
    };

    /// <summary>The problem "type" URI of a code.</summary>
    public static string TypeFor(string code) => "urn:dt:error:" + code;

    /// <summary>Status codes used here, as numbers (the client has no ASP.NET Core reference).</summary>
    private static class StatusCodes
    {
        public const int BadRequest = 400, Unauthorized = 401, Forbidden = 403, NotFound = 404, MethodNotAllowed = 405, Conflict = 409, PayloadTooLarge = 413;
        public const int InternalServerError = 500, BadGateway = 502, ServiceUnavailable = 503, GatewayTimeout = 504, InsufficientStorage = 507;
    }
}
