#!/usr/bin/env bash
# DNS benchmark: one Dt node answering a 10,000-record zone from its table, side by side with BIND (named) and Knot
# (knotd) on the same zone file, query file and pinning, all loaded by dnsperf. Prints, per server, UDP queries/s at
# saturation (-c 4 and -c 8), loss and p50/p99 latency at a fixed rate, TCP queries/s, then Dt ÷ BIND and Dt ÷ Knot.
# A server that is not installed is skipped with a message (apt-get install bind9 knot dnsperf).
# On 2+ cores the servers run on CPU 1 and dnsperf on CPU 0 (taskset), so the figures are the servers', not a server
# and the load generator fighting over one core. Exit code 1 if the fixed-rate run lost queries or Dt logged a failure.
# Usage: bench/dns/run.sh [--records N] [--seconds S] [--rate QPS] [--repeat R] [--receivers N] [--listen ADDR]
#                         [--bind-threads N] [--knot-workers N]
#                         [--only dt,bind,knot] [--silo] [--no-pin]
# --silo adds the real Dt.Silo process (zone imported through its HTTP API, as `dt dns import` does) as "Dt.Silo".
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v dnsperf >/dev/null || { echo "dnsperf not installed (apt-get install dnsperf)"; exit 2; }
dotnet build -c Release bench/dns/DnsBench -v q -nologo >/dev/null
dll=bench/dns/DnsBench/bin/Release/net10.0/DnsBench.dll
# --silo: also measure the real Dt.Silo process (Release build), zone imported through its HTTP API.
args=()
for a in "$@"; do
  if [ "$a" = "--silo" ]; then
    dotnet build -c Release src/Dt.Silo -v q -nologo >/dev/null
    args+=(--silo "$PWD/src/Dt.Silo/bin/Release/net10.0/Dt.Silo.dll")
  else
    args+=("$a")
  fi
done
set -- "${args[@]}"
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null && [[ " $* " != *" --no-pin "* ]]; then
  exec taskset -c 1 dotnet "$dll" --pinned "$@"
fi
exec dotnet "$dll" "$@"
