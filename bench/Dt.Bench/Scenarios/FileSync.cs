using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dt.Client;
using Dt.Files;

namespace Dt.Bench.Scenarios;

/// <summary>
/// File sync between two Release <c>Dt.Silo</c> processes on loopback (tables on disk), against rsync:
/// <list type="bullet">
/// <item>a mixed tree is generated: a quarter large random files (incompressible), a quarter 1 MB random files, half
/// text files of 100 KB (compressible), adding up to the size asked for;</item>
/// <item>publish: <c>FilePublisher</c> through the master's HTTP API (chunk, hash, compress where it pays, send);</item>
/// <item>replicate: until the node's two tables report the master's digests;</item>
/// <item>mirror: <c>FileMirror</c> through the node's HTTP API into an empty directory (fetch, check, write, rename);</item>
/// <item>rsync: the same tree pushed with <c>rsync -a</c> to an rsync daemon on loopback into an empty directory;</item>
/// <item>1 % of one large file changed in place and published again: bytes of chunks sent, and rsync's bytes sent for the same change.</item>
/// </list>
/// </summary>
public static class FileSync
{
    public static async Task<Values> RunAsync(long totalBytes, Action<string> progress)
    {
        string silo = await SiloPipeline.EnsureBuiltAsync();
        var v = new Values();
        var net = new BenchNet();
        string root = Path.Combine(Path.GetTempPath(), "dt-bench-files-" + Guid.NewGuid().ToString("N")[..8]);
        string source = Path.Combine(root, "source"), mirror = Path.Combine(root, "mirror"), rsyncTarget = Path.Combine(root, "rsync");
        int mPeer = SiloPipeline.FreePort(), mApi = SiloPipeline.FreePort(), nPeer = SiloPipeline.FreePort(), nApi = SiloPipeline.FreePort();
        string[] common = [$"--Dt:Key={net.Key}", $"--Dt:TrustedMasterKeys:0={net.MasterKey.PublicKeyBase64}", "--Dt:ListenAddress=127.0.0.1",
            "--Logging:LogLevel:Default=Warning"];
        var master = new SiloPipeline.SiloProcess(silo, [.. common, "--Dt:Master=true", $"--Dt:MasterKey={net.MasterKey.ExportPrivateBase64()}", $"--Dt:Port={mPeer}",
            $"--Dt:DataDir={Path.Combine(root, "m")}", "--urls", $"http://127.0.0.1:{mApi}"]);
        var node = new SiloPipeline.SiloProcess(silo, [.. common, "--Dt:Master=false", $"--Dt:Peers:0=127.0.0.1:{mPeer}", $"--Dt:Port={nPeer}",
            $"--Dt:DataDir={Path.Combine(root, "n")}", "--urls", $"http://127.0.0.1:{nApi}"]);
        using var http = new HttpClient();
        try
        {
            progress($"[files] generating {Fmt.Bytes(totalBytes)} of mixed files ...");
            var (files, bytes, large) = Generate(source, totalBytes);
            v["files"] = files;
            v["bytes"] = bytes;
            await master.WaitReadyAsync(http, mApi, TimeSpan.FromSeconds(60));
            await node.WaitReadyAsync(http, nApi, TimeSpan.FromSeconds(60));
            using var masterClient = new DtClient($"http://127.0.0.1:{mApi}");
            using var nodeClient = new DtClient($"http://127.0.0.1:{nApi}");

            var cpu0 = (Cpu(Environment.ProcessId), Cpu(master.Id), Cpu(node.Id));
            var t0 = Stopwatch.GetTimestamp();
            var published = await new FilePublisher(masterClient, "bench").PublishAsync(source);
            double publishS = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            // Where the publish spent CPU: the publisher (this process), the master silo, the node silo.
            v["publish_cpu_client_s"] = Cpu(Environment.ProcessId) - cpu0.Item1;
            v["publish_cpu_master_s"] = Cpu(master.Id) - cpu0.Item2;
            v["publish_cpu_node_s"] = Cpu(node.Id) - cpu0.Item3;
            progress($"[files] CPU during the publish: publisher {v["publish_cpu_client_s"]:0.0} s, master silo {v["publish_cpu_master_s"]:0.0} s, node silo {v["publish_cpu_node_s"]:0.0} s");
            v["publish_s"] = publishS;
            v["publish_mbps"] = bytes / 1e6 / publishS;
            v["sent_ratio"] = (double)published.BytesSent / bytes;
            progress($"[files] published {files} files, {Fmt.Bytes(bytes)} in {Fmt.Seconds(publishS)} ({v["publish_mbps"]:0} MB/s), {Fmt.Bytes(published.BytesSent)} of chunks sent");

            await WaitConvergedAsync(masterClient, nodeClient, TimeSpan.FromMinutes(10));
            double replicatedS = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            v["replicated_s"] = replicatedS;
            progress($"[files] node holds both tables {Fmt.Seconds(replicatedS)} after the publish started");

            var cpu1 = (Cpu(Environment.ProcessId), Cpu(node.Id));
            var t1 = Stopwatch.GetTimestamp();
            var pass = await new FileMirror(nodeClient, "bench", mirror).SyncOnceAsync();
            double mirrorS = Stopwatch.GetElapsedTime(t1).TotalSeconds;
            v["mirror_cpu_client_s"] = Cpu(Environment.ProcessId) - cpu1.Item1;
            v["mirror_cpu_node_s"] = Cpu(node.Id) - cpu1.Item2;
            progress($"[files] CPU during the mirror: mirror {v["mirror_cpu_client_s"]:0.0} s, node silo {v["mirror_cpu_node_s"]:0.0} s");
            if (!pass.Complete || pass.Written != files) throw new InvalidOperationException($"mirror pass incomplete: {pass.Written} of {files} written, {string.Join("; ", pass.Errors.Take(2))}");
            v["mirror_s"] = mirrorS;
            v["mirror_mbps"] = bytes / 1e6 / mirrorS;
            v["end_to_end_mbps"] = bytes / 1e6 / (replicatedS + mirrorS);
            progress($"[files] mirrored in {Fmt.Seconds(mirrorS)} ({v["mirror_mbps"]:0} MB/s); end to end {v["end_to_end_mbps"]:0} MB/s");

            string? rsync = Rsync.Find();
            if (rsync is not null)
            {
                var (rsyncS, _) = await Rsync.PushAsync(rsync, root, source, rsyncTarget);
                v["rsync_s"] = rsyncS;
                v["rsync_mbps"] = bytes / 1e6 / rsyncS;
                progress($"[files] rsync -a to a daemon on loopback: {Fmt.Seconds(rsyncS)} ({v["rsync_mbps"]:0} MB/s)");
            }
            else
            {
                progress("[files] rsync not installed (apt-get install rsync): the rsync figures are skipped");
            }

            // 1 % of one large file changed in place, published again (and pushed again with rsync).
            var content = await File.ReadAllBytesAsync(large);
            new Random(99).NextBytes(content.AsSpan(content.Length / 2, content.Length / 100));
            await File.WriteAllBytesAsync(large, content);
            var again = await new FilePublisher(masterClient, "bench").PublishAsync(source);
            v["delta_file_bytes"] = content.Length;
            v["delta_sent"] = again.BytesSent;
            progress($"[files] 1 % of a {Fmt.Bytes(content.Length)} file changed: {Fmt.Bytes(again.BytesSent)} of chunks sent ({(double)again.BytesSent / content.Length:P1} of the file)");
            if (rsync is not null)
            {
                var (_, rsyncDelta) = await Rsync.PushAsync(rsync, root, source, rsyncTarget);
                v["rsync_delta_sent"] = rsyncDelta;
                progress($"[files] rsync for the same change: {Fmt.Bytes(rsyncDelta)} sent");
            }
        }
        finally
        {
            await node.StopAsync();
            await master.StopAsync();
            try { Directory.Delete(root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return v;
    }

    /// <summary>User + system CPU seconds of a process so far (Linux /proc; NaN elsewhere).</summary>
    private static double Cpu(int pid)
    {
        try
        {
            var f = File.ReadAllText($"/proc/{pid}/stat");
            var parts = f[(f.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(parts[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(parts[12], System.Globalization.CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException) { return double.NaN; }
    }

    private static (int Files, long Bytes, string Large) Generate(string root, long total)
    {
        var random = new Random(1);
        int files = 0;
        long bytes = 0;
        string? large = null;
        void Write(string rel, byte[] data)
        {
            string p = Path.Combine(root, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(p)!);
            File.WriteAllBytes(p, data);
            files++;
            bytes += data.Length;
        }
        long quarter = total / 4;
        int largeSize = (int)Math.Clamp(quarter / 2, 1 << 20, 128 << 20);
        for (long done = 0; done < quarter; done += largeSize)
        {
            var b = new byte[largeSize];
            random.NextBytes(b);
            Write($"large/{files:0000}.bin", b);
            large ??= Path.Combine(root, $"large/{files - 1:0000}.bin");
        }
        for (long done = 0; done < quarter; done += 1 << 20)
        {
            var b = new byte[1 << 20];
            random.NextBytes(b);
            Write($"medium/{files % 16:00}/{files:00000}.bin", b);
        }
        string[] words = ["replicated", "table", "node", "master", "chunk", "manifest", "mirror", "publish", "the", "of", "and", "a", "to", "file"];
        var text = new StringBuilder();
        for (long done = 0; done < total - 2 * quarter; done += 100_000)
        {
            text.Clear();
            while (text.Length < 100_000) text.Append(words[random.Next(words.Length)]).Append(random.Next(8) == 0 ? '\n' : ' ');
            Write($"text/{files % 32:00}/{files:00000}.txt", Encoding.ASCII.GetBytes(text.ToString(0, 100_000)));
        }
        return (files, bytes, large!);
    }

    private static async Task WaitConvergedAsync(DtClient master, DtClient node, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            bool equal = true;
            foreach (var t in new[] { FileSetNames.ManifestTable("bench"), FileSetNames.ChunkTable("bench") })
                equal &= (await master.GetTable(t).GetSummary()).Digest == (await node.GetTable(t).GetSummary()).Digest;
            if (equal) return;
            await Task.Delay(20);
        }
        throw new TimeoutException("the node did not converge on the file set");
    }

    /// <summary>rsync to a daemon on loopback: the network path a Dt mirror takes too, without ssh's cipher cost.</summary>
    private static class Rsync
    {
        public static string? Find() => new[] { "/usr/bin/rsync", "/usr/local/bin/rsync" }.FirstOrDefault(File.Exists);

        /// <summary>Pushes <paramref name="source"/> to <paramref name="target"/> through a daemon; seconds and bytes sent (from --stats).</summary>
        public static async Task<(double Seconds, long BytesSent)> PushAsync(string rsync, string root, string source, string target)
        {
            Directory.CreateDirectory(target);
            int port = SiloPipeline.FreePort();
            string conf = Path.Combine(root, "rsyncd.conf");
            await File.WriteAllTextAsync(conf, $"use chroot = no\npid file = {Path.Combine(root, "rsyncd.pid")}\n[bench]\npath = {target}\nread only = no\nuid = root\ngid = root\n");
            using var daemon = Start(rsync, ["--daemon", "--no-detach", $"--port={port}", $"--config={conf}", "--address=127.0.0.1"]);
            try
            {
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
                while (!CanConnect(port))
                {
                    if (DateTime.UtcNow > deadline || daemon.HasExited) throw new InvalidOperationException("the rsync daemon did not start");
                    await Task.Delay(20);
                }
                var t0 = Stopwatch.GetTimestamp();
                using var push = Start(rsync, ["-a", "--stats", source.TrimEnd('/') + "/", $"rsync://127.0.0.1:{port}/bench/"]);
                string output = await push.StandardOutput.ReadToEndAsync();
                await push.WaitForExitAsync();
                double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (push.ExitCode != 0) throw new InvalidOperationException($"rsync failed ({push.ExitCode}): {await push.StandardError.ReadToEndAsync()}");
                var m = System.Text.RegularExpressions.Regex.Match(output, @"Total bytes sent: ([\d,]+)");
                return (s, m.Success ? long.Parse(m.Groups[1].Value.Replace(",", ""), System.Globalization.CultureInfo.InvariantCulture) : -1);
            }
            finally
            {
                try { daemon.Kill(); } catch (InvalidOperationException) { }
                await daemon.WaitForExitAsync();
            }
        }

        private static bool CanConnect(int port)
        {
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, port);
                return true;
            }
            catch (SocketException) { return false; }
        }

        private static Process Start(string file, string[] args)
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            return Process.Start(psi)!;
        }
    }
}
