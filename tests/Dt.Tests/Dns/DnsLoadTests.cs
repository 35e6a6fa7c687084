using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dt.Dns;
using Dt.Dns.Wire;
using Dt.Tests.Engine;
using Dt.Tests.Silo;
using Microsoft.Extensions.Logging;
using Xunit;
using static Dt.Tests.Dns.DnsTestKit;

namespace Dt.Tests.Dns;

/// <summary>
/// The UDP server at saturation: several client sockets keep more queries in flight than the server's receive loops
/// can answer at once, so every loop is busy and sends overlap. Every answer must be right and the server must log no
/// failure (under load it once logged NullReferenceExceptions from Socket.SendToAsync, see issue 15).
/// </summary>
public sealed class DnsLoadTests
{
    private const int Records = 500;
    private const int Clients = 8;
    private const int QueriesPerClient = 6_000;
    private const int Window = 64;

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::")]
    public async Task Saturating_UDP_from_several_sockets_answers_every_query_right_and_logs_no_failure(string listen)
    {
        var capture = new CapturingLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(capture).AddProvider(new TestOutputLoggerProvider()).SetMinimumLevel(LogLevel.Information));
        await using var cluster = new TestCluster();
        var master = await cluster.Start(master: true);
        var options = DnsOptions.ForTests();
        options.ListenAddress = listen;
        options.UdpReceivers = 4;
        await using var dns = new DnsService(master, options, loggers);
        await dns.StartAsync(Ct);
        var zone = new StringBuilder("$ORIGIN load.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 1209600 60\n  IN NS ns1\nns1 IN A 192.0.2.53\n");
        for (int i = 0; i < Records; i++) zone.Append(CultureInfo.InvariantCulture, $"h{i} IN A 10.0.{i / 256}.{i % 256}\n");
        await dns.Editor.ImportZoneAsync("load.test", zone.ToString(), Ct);

        var server = new IPEndPoint(IPAddress.Loopback, dns.Port);
        var results = await Task.WhenAll(Enumerable.Range(0, Clients).Select(c => Task.Run(() => Flood(server, c))));

        long answered = results.Sum(r => r.Answered), wrong = results.Sum(r => r.Wrong);
        Assert.Equal(0, wrong);
        // Loopback with a 4 MiB receive buffer and at most Clients x Window queries in flight loses (next to) nothing;
        // the bound only guards against a server that stopped answering halfway.
        Assert.True(answered >= Clients * QueriesPerClient * 9L / 10, $"{answered} of {Clients * QueriesPerClient} queries answered");
        Assert.True(dns.Answered(false, DnsRcode.NoError) >= answered);
        var failures = capture.Entries.Where(e => e.Level >= LogLevel.Warning && e.Category == "Dt.Dns").Select(e => e.Message).ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} warnings or errors logged, first: {failures.FirstOrDefault()}");
        Assert.Equal(DnsRcode.NoError, (await Query(dns.Port, "h7.load.test", RrType.A)).Rcode);
    }

    /// <summary>
    /// One client socket: sends its queries in windows of <see cref="Window"/> and reads the answers of each window
    /// (a window's missing answers count as lost after a second without one). An answer is wrong if it is not
    /// NOERROR with the one A record its name was given.
    /// </summary>
    private static async Task<(long Answered, long Wrong)> Flood(IPEndPoint server, int client)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.ReceiveBufferSize = 1 << 20;
        socket.Connect(server);
        var buffer = new byte[2048];
        var rng = new Random(client);
        var pending = new Dictionary<ushort, int>();
        long answered = 0, wrong = 0;
        ushort id = (ushort)(client * 8192);
        for (int sent = 0; sent < QueriesPerClient;)
        {
            pending.Clear();
            for (int i = 0; i < Window && sent < QueriesPerClient; i++, sent++)
            {
                int host = rng.Next(Records);
                var q = new DnsMessage { Id = ++id };
                q.Questions.Add(new DnsQuestion(DnsName.Parse($"h{host}.load.test"), RrType.A));
                pending[q.Id] = host;
                socket.Send(q.ToWire());
            }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            while (pending.Count > 0)
            {
                timeout.CancelAfter(TimeSpan.FromSeconds(1));
                int n;
                try
                {
                    n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                }
                catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
                {
                    break; // the rest of this window is lost
                }
                var r = DnsMessage.Parse(buffer.AsSpan(0, n));
                if (!pending.Remove(r.Id, out int host)) continue;
                answered++;
                bool right = r.Rcode == DnsRcode.NoError && r.Answers.Count == 1 && r.Answers[0].Data is AData a
                    && a.Address.Equals(new IPAddress([10, 0, (byte)(host / 256), (byte)(host % 256)]))
                    && r.Question?.Name.Equals(DnsName.Parse($"h{host}.load.test")) == true;
                if (!right) wrong++;
            }
        }
        return (answered, wrong);
    }
}
