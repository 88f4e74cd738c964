#!/usr/bin/env python3
# start_probe.py: how long a server takes from exec to its first 200 answer.
# Used by bench/cold_start_bench.sh (standard library only).
#
#   start_probe.py --log FILE [--port N | --port-from-log] --path /healthz
#                  [--server-cpus LIST] [--timeout-s 30] [--interval-ms 1] -- COMMAND...
#
# Starts COMMAND (stdout and stderr to FILE; on the CPUs in LIST when given,
# set in the child before exec, so no extra process is timed), then every
# INTERVAL ms: while the port is not known, reads FILE for the first
# "listening on http://127.0.0.1:PORT"; then sends GET PATH to 127.0.0.1:PORT
# (a new connection each time) until one answers 200. Prints one line
# "START ms=<exec to 200> port_ms=<exec to the port in the log, or -> attempts=<GETs>"
# and stops COMMAND (SIGTERM, then SIGKILL after 10 s). Exits 1 when
# COMMAND exits first or the time runs out.
import argparse
import http.client
import os
import re
import signal
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--log", required=True)
parser.add_argument("--port", type=int)
parser.add_argument("--port-from-log", action="store_true")
parser.add_argument("--path", default="/healthz")
parser.add_argument("--server-cpus", default="")
parser.add_argument("--timeout-s", type=float, default=30.0)
parser.add_argument("--interval-ms", type=float, default=1.0)
parser.add_argument("command", nargs="+")
args = parser.parse_args()
if (args.port is None) == (not args.port_from_log):
    sys.exit("start_probe.py: give --port N or --port-from-log")


def cpu_list(text):
    cpus = set()
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            cpus.update(range(int(lo), int(hi) + 1))
        elif part:
            cpus.add(int(part))
    return cpus


# SIGTERM (the caller's cleanup) must still stop the server: exit through the
# finally below.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
cpus = cpu_list(args.server_cpus)
preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")

with open(args.log, "wb") as log:
    t0 = time.monotonic()
    proc = subprocess.Popen(args.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            preexec_fn=preexec)
port = args.port
port_ms = None
attempts = 0
result = None
exited = None
deadline = t0 + args.timeout_s
try:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            exited = proc.returncode
            break
        if port is None:
            with open(args.log, "rb") as f:
                m = LISTENING.search(f.read())
            if m:
                port = int(m.group(1))
                port_ms = (time.monotonic() - t0) * 1000.0
        if port is not None:
            attempts += 1
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", args.path)
                if conn.getresponse().status == 200:
                    result = (time.monotonic() - t0) * 1000.0
                    break
            except OSError:
                pass
            finally:
                conn.close()
        time.sleep(args.interval_ms / 1000.0)
finally:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

if result is None:
    why = "timed out" if exited is None else f"it exited with {exited}"
    sys.exit(f"start_probe.py: no 200 from {args.path} ({why}); see {args.log}")
print("START ms=%.2f port_ms=%s attempts=%d" % (result, "-" if port_ms is None else "%.2f" % port_ms, attempts))
