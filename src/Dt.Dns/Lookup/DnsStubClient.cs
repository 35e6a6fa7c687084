using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Dt.Dns.Wire;

namespace Dt.Dns.Lookup;

/// <summary>
/// A small DNS client: one query to one server, over UDP with EDNS (retried over TCP when the answer is truncated),
/// or over TCP. Answers whose id or question do not match the query are ignored (RFC 5452 §9.1).
/// </summary>
public static class DnsStubClient
{
    public static async Task<DnsMessage> QueryAsync(IPEndPoint server, DnsName name, RrType type, TimeSpan timeout,
        bool recursionDesired = true, CancellationToken ct = default)
    {
        var query = NewQuery(name, type, recursionDesired);
        var response = await ExchangeUdpAsync(server, query, timeout, ct);
        return (response.Flags & DnsFlags.TC) != 0 ? await QueryTcpAsync(server, name, type, timeout, recursionDesired, ct) : response;
    }

    public static async Task<DnsMessage> QueryTcpAsync(IPEndPoint server, DnsName name, RrType type, TimeSpan timeout,
        bool recursionDesired = true, CancellationToken ct = default)
    {
        var query = NewQuery(name, type, recursionDesired);
        var responses = await ExchangeTcpAsync(server, query.ToWire(), timeout, 1, ct);
        var r = DnsMessage.Parse(responses[0]);
        if (r.Id != query.Id) throw new DnsFormatException("the TCP answer's id does not match the query's");
        return r;
    }

    public static DnsMessage NewQuery(DnsName name, RrType type, bool recursionDesired = true)
    {
        var q = new DnsMessage { Id = (ushort)RandomNumberGenerator.GetInt32(0, 65536), Edns = EdnsInfo.Default() };
        q.SetFlag(DnsFlags.RD, recursionDesired);
        q.Questions.Add(new DnsQuestion(name, type));
        return q;
    }

    private static async Task<DnsMessage> ExchangeUdpAsync(IPEndPoint server, DnsMessage query, TimeSpan timeout, CancellationToken ct)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(server);
        await socket.SendAsync(query.ToWire(), SocketFlags.None, ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        var buffer = new byte[65535];
        while (true)
        {
            int n;
            try
            {
                n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"no answer from {server} within {timeout.TotalSeconds:0.#} s"));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                throw new TimeoutException($"{server} refused the query (nothing listens there)");
            }
            DnsMessage r;
            try
            {
                r = DnsMessage.Parse(buffer.AsSpan(0, n));
            }
            catch (DnsFormatException)
            {
                continue;
            }
            if (r.Id != query.Id || !r.IsResponse) continue;
            if (r.Question is { } q && (!q.Name.Equals(query.Question!.Name) || q.Type != query.Question.Type)) continue;
            return r;
        }
    }

    /// <summary>Sends one framed request over TCP and reads <paramref name="expected"/> framed messages (or, with 0,
    /// messages until an AXFR-style transfer ends with its second SOA).</summary>
    public static async Task<List<byte[]>> ExchangeTcpAsync(IPEndPoint server, byte[] request, TimeSpan timeout, int expected, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        using var client = new TcpClient(server.AddressFamily);
        try
        {
            await client.ConnectAsync(server, cts.Token);
            var stream = client.GetStream();
            var framed = new byte[request.Length + 2];
            BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)request.Length);
            request.CopyTo(framed, 2);
            await stream.WriteAsync(framed, cts.Token);
            var result = new List<byte[]>();
            var len = new byte[2];
            int soas = 0;
            while (expected == 0 ? soas < 2 : result.Count < expected)
            {
                await stream.ReadExactlyAsync(len, cts.Token);
                var msg = new byte[BinaryPrimitives.ReadUInt16BigEndian(len)];
                await stream.ReadExactlyAsync(msg, cts.Token);
                result.Add(msg);
                if (expected == 0)
                {
                    var m = DnsMessage.Parse(msg);
                    if (m.Rcode != DnsRcode.NoError) break;
                    soas += m.Answers.Count(a => a.Type == RrType.SOA);
                    if (result.Count == 1 && m.Answers.Count == 1 && m.Answers[0].Type == RrType.SOA && m.Question?.Type == RrType.IXFR) break;
                }
            }
            return result;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"no complete TCP answer from {server} within {timeout.TotalSeconds:0.#} s"));
        }
    }

    /// <summary>The resolver of this machine: the first nameserver of /etc/resolv.conf (port 53), if any.</summary>
    public static IPEndPoint? SystemResolver()
    {
        try
        {
            foreach (var line in File.ReadLines("/etc/resolv.conf"))
            {
                var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 2 && parts[0] == "nameserver" && IPAddress.TryParse(parts[1].Split('%')[0], out var ip))
                    return new IPEndPoint(ip, 53);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return null;
    }
}
