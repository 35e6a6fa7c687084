using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using Dt.Dns.Wire;
using Dt.Dns.Zones;
using Microsoft.Extensions.Logging;

namespace Dt.Dns.Lookup;

/// <summary>One node's answer to a world-valid lookup: its resolver's response code and answer records
/// (normalized: "owner TYPE data", no TTL, sorted), or the error that kept it from answering.</summary>
public sealed record WorldLookupAnswer(string NodeId, string Resolver, string Rcode, IReadOnlyList<string> Records, string? Error)
{
    /// <summary>What is compared between nodes.</summary>
    public string Fingerprint => Error is not null ? "error" : Rcode + "|" + string.Join("\n", Records);
}

/// <summary>Nodes that got the same answer.</summary>
public sealed record WorldLookupGroup(string Rcode, IReadOnlyList<string> Records, IReadOnlyList<string> Nodes, bool Majority);

/// <summary>
/// The outcome of a world-valid lookup: every answer, grouped; the majority answer; and the nodes whose answer
/// differs from it (a resolver fed a different answer, a record changed in transit). <see cref="Consistent"/> is
/// true when every node that answered got the same answer.
/// </summary>
public sealed record WorldLookupReport(
    string Id,
    string Name,
    string Type,
    IReadOnlyList<WorldLookupAnswer> Answers,
    IReadOnlyList<WorldLookupGroup> Groups,
    IReadOnlyList<string> DifferingNodes)
{
    public bool Consistent => Answers.Count > 0 && Groups.Count == 1;
}

/// <summary>
/// World-valid DNS lookups over Dt messages: the requester broadcasts <c>{"dtdns":"lookup","id","name","type"}</c>;
/// every node running the DNS service asks its own resolver (<see cref="DnsOptions.Resolver"/>) and broadcasts
/// <c>{"dtdns":"lookup-answer","id","resolver","rcode","records","error"}</c>; the requester collects the answers
/// (the sender of each is the message's origin node) until <c>expectedNodes</c> have answered or the timeout, then
/// compares them. Works over any grain factory (in process or a remote client).
/// </summary>
public sealed class WorldLookup(IDtGrainFactory grains, TimeSpan? defaultTimeout = null)
{
    internal const string Field = "dtdns";
    internal const string RequestKind = "lookup";
    internal const string AnswerKind = "lookup-answer";

    private static readonly TimeSpan ResendInterval = TimeSpan.FromSeconds(1);

    public async Task<WorldLookupReport> RunAsync(string name, string type = "A", int? expectedNodes = null, TimeSpan? timeout = null,
        CancellationToken ct = default)
    {
        var qname = DnsName.Parse(name.EndsWith('.') ? name : name + ".");
        if (!DnsMnemonics.TryParseType(type, out var qtype)) throw new DtException(DtErrorCodes.InvalidArgument, $"'{type}' is not a record type");
        string id = Guid.NewGuid().ToString("N");
        var wait = timeout ?? defaultTimeout ?? TimeSpan.FromSeconds(3);
        var stream = grains.GetMessageStream();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var messages = stream.Subscribe(cts.Token).GetAsyncEnumerator(cts.Token);
        // The in-process node registers the subscription inside the first call, before the request goes out.
        var next = messages.MoveNextAsync().AsTask();
        var answers = new Dictionary<string, WorldLookupAnswer>(StringComparer.Ordinal);
        try
        {
            var request = JsonSerializer.SerializeToElement(new Dictionary<string, string>
            {
                [Field] = RequestKind,
                ["id"] = id,
                ["name"] = qname.ToString(),
                ["type"] = DnsMnemonics.TypeName(qtype),
            });
            await stream.Send(request);
            cts.CancelAfter(wait);
            // A remote subscription (over HTTP) is registered only once its stream is up, which the request may beat:
            // answers sent before then never reach it. So the request goes out again each second until enough nodes
            // answered; answers are kept per node, so one that answers twice counts once.
            Task resend = Task.Delay(ResendInterval, cts.Token);
            while (expectedNodes is null || answers.Count < expectedNodes)
            {
                if (await Task.WhenAny(next, resend) == resend)
                {
                    if (resend.IsCompletedSuccessfully)
                    {
                        await stream.Send(request);
                        resend = Task.Delay(ResendInterval, cts.Token);
                    }
                    else resend = new TaskCompletionSource().Task; // the time is up: the pending read ends the loop
                    continue;
                }
                bool has;
                try
                {
                    has = await next;
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    break;
                }
                if (!has) break;
                if (TryReadAnswer(messages.Current, id) is { } a) answers[a.NodeId] = a;
                next = messages.MoveNextAsync().AsTask();
            }
        }
        finally
        {
            await cts.CancelAsync();
            try { await next; } catch (Exception) { /* cancelled */ }
            await messages.DisposeAsync();
        }
        return Compare(id, qname.ToString(), DnsMnemonics.TypeName(qtype), answers.Values.OrderBy(a => a.NodeId, StringComparer.Ordinal).ToList());
    }

    internal static WorldLookupReport Compare(string id, string name, string type, IReadOnlyList<WorldLookupAnswer> answers)
    {
        var groups = answers.GroupBy(a => a.Fingerprint, StringComparer.Ordinal)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
        var result = groups.Select((g, i) => new WorldLookupGroup(g.First().Error is null ? g.First().Rcode : "ERROR", g.First().Records,
            g.Select(a => a.NodeId).ToList(), i == 0)).ToList();
        var differing = groups.Skip(1).SelectMany(g => g.Select(a => a.NodeId)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        return new WorldLookupReport(id, name, type, answers, result, differing);
    }

    private static WorldLookupAnswer? TryReadAnswer(DtMessage m, string id)
    {
        var p = m.Payload;
        if (p.ValueKind != JsonValueKind.Object || !p.TryGetProperty(Field, out var kind) || kind.GetString() != AnswerKind) return null;
        if (!p.TryGetProperty("id", out var i) || i.GetString() != id) return null;
        var records = p.TryGetProperty("records", out var rs) && rs.ValueKind == JsonValueKind.Array
            ? rs.EnumerateArray().Select(r => r.GetString() ?? "").ToList() : [];
        return new WorldLookupAnswer(m.Origin, Str(p, "resolver") ?? "?", Str(p, "rcode") ?? "?", records, Str(p, "error"));
    }

    private static string? Str(JsonElement o, string name) => o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>The answer section, normalized for comparison: owner, type and data (names lower case), sorted; no TTLs.</summary>
    public static List<string> Normalize(DnsMessage response) =>
        response.Answers.Select(r =>
            {
                var n = DnsObjects.Normalize(r);
                // Normalizing zeroes an SOA's serial (zone objects carry none); a lookup compares what was answered.
                return r.Data is SoaData soa ? n.WithData(((SoaData)n.Data).WithSerial(soa.Serial)) : n;
            })
            .Select(r => $"{r.Name.Key} {DnsMnemonics.TypeName(r.Type)} {r.Data.ToText()}")
            .Distinct().Order(StringComparer.Ordinal).ToList();
}

/// <summary>
/// The answering side of world-valid lookups, run by each node's DNS service: reads lookup requests from the
/// node's broadcast messages into a bounded queue (<see cref="DnsOptions.LookupQueueSize"/>; when full, requests are
/// dropped and the requester sees no answer from this node), asks the node's resolver, and broadcasts the answer.
/// </summary>
internal sealed class LookupResponder(IDtGrainFactory grains, DnsOptions options, ILogger log, TimeProvider time) : IAsyncDisposable
{
    private readonly Channel<(string Id, string Name, string Type)> _queue = Channel.CreateBounded<(string, string, string)>(
        new BoundedChannelOptions(options.LookupQueueSize) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];

    /// <summary>Completes once the first subscription to the node's messages is registered.</summary>
    public Task Subscribed => _subscribed.Task;

    private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Start()
    {
        _loops.Add(Task.Run(ListenAsync));
        _loops.Add(Task.Run(AnswerAsync));
    }

    private async Task ListenAsync()
    {
        var ct = _stop.Token;
        int failures = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var messages = grains.GetMessageStream().Subscribe(ct).GetAsyncEnumerator(ct);
                var next = messages.MoveNextAsync().AsTask();
                _subscribed.TrySetResult();
                try
                {
                    while (await next)
                    {
                        failures = 0;
                        Accept(messages.Current.Payload);
                        next = messages.MoveNextAsync().AsTask();
                    }
                }
                finally
                {
                    try { await next; } catch (Exception) { /* ended */ }
                    await messages.DisposeAsync();
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                DnsLog.MessagesEnded(log, e.Message);
            }
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 << Math.Min(failures++, 6))), time, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Accept(JsonElement p)
    {
        if (p.ValueKind != JsonValueKind.Object || !p.TryGetProperty(WorldLookup.Field, out var kind) || kind.GetString() != WorldLookup.RequestKind) return;
        if (!p.TryGetProperty("id", out var id) || !p.TryGetProperty("name", out var name) || !p.TryGetProperty("type", out var type)) return;
        if (id.ValueKind != JsonValueKind.String || name.ValueKind != JsonValueKind.String || type.ValueKind != JsonValueKind.String) return;
        if (!_queue.Writer.TryWrite((id.GetString()!, name.GetString()!, type.GetString()!)))
            DnsLog.LookupDropped(log, options.LookupQueueSize);
    }

    private async Task AnswerAsync()
    {
        var ct = _stop.Token;
        try
        {
            await foreach (var (id, name, type) in _queue.Reader.ReadAllAsync(ct))
            {
                var answer = new Dictionary<string, object?> { [WorldLookup.Field] = WorldLookup.AnswerKind, ["id"] = id };
                IPEndPoint? resolver = options.Resolver is { } r && DnsOptions.TryParseEndPoint(r, 53, out var ep) ? ep : DnsStubClient.SystemResolver();
                answer["resolver"] = resolver?.ToString() ?? "none";
                try
                {
                    if (resolver is null) throw new InvalidOperationException("no resolver: set Dns:Resolver or /etc/resolv.conf");
                    if (!DnsName.TryParse(name, null, out var qname, out var err)) throw new FormatException(err);
                    if (!DnsMnemonics.TryParseType(type, out var qtype)) throw new FormatException($"'{type}' is not a record type");
                    var response = await DnsStubClient.QueryAsync(resolver, qname, qtype, options.LookupTimeout, recursionDesired: true, ct);
                    var records = WorldLookup.Normalize(response);
                    answer["rcode"] = DnsMnemonics.RcodeName(response.Rcode);
                    answer["records"] = records;
                    DnsLog.LookupAnswered(log, id, name, type, DnsMnemonics.RcodeName(response.Rcode), records.Count, resolver.ToString());
                }
                catch (Exception e) when (e is TimeoutException or FormatException or InvalidOperationException or DnsFormatException
                                          or System.Net.Sockets.SocketException)
                {
                    answer["rcode"] = "ERROR";
                    answer["records"] = Array.Empty<string>();
                    answer["error"] = e.Message;
                }
                try
                {
                    await grains.GetMessageStream().Send(JsonSerializer.SerializeToElement(answer));
                }
                catch (DtException e)
                {
                    DnsLog.HandlerFailed(log, "lookup answer", e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _queue.Writer.TryComplete();
        try { await Task.WhenAll(_loops); } catch (Exception) { /* stopping */ }
        _stop.Dispose();
    }
}
