#!/usr/bin/env bash
# DNS benchmark: one Dt node answering a 10,000-record zone from its table, loaded by dnsperf.
# Prints UDP queries/s at saturation, the loss at a fixed moderate rate (must be 0), and TCP queries/s.
# On 2+ cores the server runs on CPU 1 and dnsperf on CPU 0 (taskset), so the figures are the server's, not the
# two fighting over one core. Exit code 1 if the fixed-rate run lost queries.
# Usage: bench/dns/run.sh [--records N] [--seconds S] [--rate QPS] [--receivers N] [--no-pin]
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v dnsperf >/dev/null || { echo "dnsperf not installed (apt-get install dnsperf)"; exit 2; }
dotnet build -c Release bench/dns/DnsBench -v q -nologo >/dev/null
dll=bench/dns/DnsBench/bin/Release/net10.0/DnsBench.dll
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null && [[ " $* " != *" --no-pin "* ]]; then
  exec taskset -c 1 dotnet "$dll" --pinned "$@"
fi
exec dotnet "$dll" "$@"
