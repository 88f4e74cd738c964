#!/usr/bin/env bash
# End to end for hifi-delay-proxy, in front of small Python servers (echo,
# timestamp, a sink that never reads):
#  - --help exits 0; bad flags exit 2 with a message; the port file appears
#    and matches the "listening on" line;
#  - 5 MB of random data come back whole and in order (sha256), and the
#    stats file counts every byte each way;
#  - round trips of small messages: median near 40 ms with --delay-ms 20
#    --jitter-ms 10 (25..80 ms: a check of the delay, not of speed), under
#    10 ms without delay;
#  - --up-delay-ms 30 --down-delay-ms 0 delays only the way up (one-way
#    times from timestamps on the same machine's monotonic clock);
#  - order is kept under heavy jitter (delay 5, jitter 20);
#  - stalls hold a direction for --stall-ms;
#  - a receiver that never reads holds the proxy's memory bounded
#    (backpressure), and connections beyond 256 are refused.
# Usage: delay_proxy_test.sh BUILD_DIR/src   (holding hifi-delay-proxy)
set -euo pipefail
BIN_DIR=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
need_tools python3 jq
PROXY="$BIN_DIR/hifi-delay-proxy"

HELPER="$E2E_TMP/helper.py"
cat >"$HELPER" <<'PY'
"""Servers and clients for delay_proxy_test.sh; results go to stdout."""
import hashlib, os, socket, socketserver, statistics, sys, threading, time


def write_port(path, port):
    with open(path + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.rename(path + ".tmp", path)


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(65536):
            self.request.sendall(data)
        self.request.shutdown(socket.SHUT_WR)


class Stamp(socketserver.StreamRequestHandler):
    """Answers each line "SEQ T0" with "SEQ T0 T1", T1 its arrival."""
    def handle(self):
        for line in self.rfile:
            t1 = time.monotonic_ns()
            self.wfile.write(line.rstrip(b"\n") + b" %d\n" % t1)
            self.wfile.flush()


class Sink(socketserver.BaseRequestHandler):
    """Never reads: the proxy's queue toward it can only grow."""
    def handle(self):
        threading.Event().wait()


def serve(mode, port_file):
    handler = {"echo": Echo, "stamp": Stamp, "sink": Sink}[mode]
    socketserver.ThreadingTCPServer.daemon_threads = True
    socketserver.ThreadingTCPServer.request_queue_size = 512
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        write_port(port_file, server.server_address[1])
        server.serve_forever()


def connect(port):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(s, n):
    out = b""
    while len(out) < n:
        data = s.recv(n - len(out))
        if not data:
            raise EOFError("closed early")
        out += data
    return out


def bulk(port, size):
    """Prints the sha256 of what was sent, of what came back, and its size."""
    data = os.urandom(int(size))
    s = connect(port)

    def send():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    sender = threading.Thread(target=send)
    sender.start()
    back = hashlib.sha256()
    received = 0
    while chunk := s.recv(65536):
        back.update(chunk)
        received += len(chunk)
    sender.join()
    print(hashlib.sha256(data).hexdigest(), back.hexdigest(), received)


def rtt(port, count, min_seconds="0"):
    """Round trips of 16 bytes: prints the median and the largest, in ms."""
    s = connect(port)
    times = []
    start = time.monotonic()
    while len(times) < int(count) or time.monotonic() - start < float(min_seconds):
        t0 = time.monotonic_ns()
        s.sendall(b"x" * 16)
        recv_exactly(s, 16)
        times.append((time.monotonic_ns() - t0) / 1e6)
    print(f"{statistics.median(times):.2f} {max(times):.2f} {len(times)}")


def oneway(port, count):
    """Against a stamp server: prints the median up and down times in ms."""
    s = connect(port)
    f = s.makefile("rb")
    up, down = [], []
    for seq in range(int(count)):
        s.sendall(b"%d %d\n" % (seq, time.monotonic_ns()))
        fields = f.readline().split()
        t2 = time.monotonic_ns()
        assert int(fields[0]) == seq
        t0, t1 = int(fields[1]), int(fields[2])
        up.append((t1 - t0) / 1e6)
        down.append((t2 - t1) / 1e6)
    print(f"{statistics.median(up):.2f} {statistics.median(down):.2f}")


def order(port, count):
    """Sends numbered lines 1 ms apart, each its own segment, and prints how
    many came back before the first one out of place (all: in order)."""
    s = connect(port)
    expected = b"".join(b"%08d\n" % i for i in range(int(count)))

    def send():
        for i in range(int(count)):
            s.sendall(b"%08d\n" % i)
            time.sleep(0.001)
        s.shutdown(socket.SHUT_WR)
    sender = threading.Thread(target=send)
    sender.start()
    back = b""
    while chunk := s.recv(65536):
        back += chunk
    sender.join()
    good = 0
    for got, want in zip(back.split(b"\n"), expected.split(b"\n")[:-1]):
        if got != want:
            break
        good += 1
    print(good)


def flood(port):
    """Writes to a receiver that never reads until writing blocks for half a
    second (or 256 MiB went); prints the bytes the path took."""
    s = connect(port)
    s.settimeout(0.5)
    block = b"\0" * 65536
    sent = 0
    try:
        while sent < 256 << 20:
            sent += s.send(block)
    except socket.timeout:
        pass
    print(sent)
    sys.stdout.flush()
    # Holds the connection until told to stop, so the proxy's memory is
    # measured with the queue full.
    sys.stdin.read()


def many(port, count):
    """Opens COUNT connections, each echoing a byte, then one more: prints
    how many echoed and whether the extra one was closed at once."""
    conns = []
    echoed = 0
    for _ in range(int(count)):
        s = connect(port)
        s.sendall(b"x")
        echoed += recv_exactly(s, 1) == b"x"
        conns.append(s)
    extra = connect(port)
    extra.settimeout(10)
    try:
        extra.sendall(b"x")
        refused = extra.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        refused = True
    except socket.timeout:
        refused = False
    print(echoed, "refused" if refused else "accepted")
    for s in conns:
        s.close()


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
PY

helper() { python3 "$HELPER" "$@"; }

# start_backend NAME MODE: a helper server; sets NAME_PORT.
BACKEND_PIDS=()
start_backend() {
  local name=$1 mode=$2
  python3 "$HELPER" serve "$mode" "$E2E_TMP/$name.port" 2>"$E2E_TMP/$name.err" &
  E2E_PIDS+=("$!")
  BACKEND_PIDS+=("$!")
  wait_until 20 test -s "$E2E_TMP/$name.port"
  printf -v "${name}_PORT" '%s' "$(cat "$E2E_TMP/$name.port")"
}

# start_proxy NAME BACKEND_PORT [ARGS...]: a proxy with a port file and a
# stats file; sets NAME_PORT and NAME_PID.
start_proxy() {
  local name=$1 to=$2
  shift 2
  "$PROXY" --listen 127.0.0.1:0 --to "127.0.0.1:$to" --port-file "$E2E_TMP/$name.port" \
    --stats-file "$E2E_TMP/$name.stats.json" "$@" >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err" &
  E2E_PIDS+=("$!")
  printf -v "${name}_PID" '%s' "$!"
  wait_until 20 test -s "$E2E_TMP/$name.port" || { cat "$E2E_TMP/$name.err" >&2; return 1; }
  printf -v "${name}_PORT" '%s' "$(cat "$E2E_TMP/$name.port")"
}

# stop_proxy NAME: SIGTERM, then its exit code goes to NAME_RC.
stop_proxy() {
  local pid_var="${1}_PID" rc=0
  kill -TERM "${!pid_var}"
  wait "${!pid_var}" || rc=$?
  printf -v "${1}_RC" '%s' "$rc"
}

in_range() {  # in_range VALUE LOW HIGH (decimals allowed)
  awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }' ||
    { log "    $1 is not within $2..$3"; return 1; }
}
below() { in_range "$1" -1 "$2"; }
stat_of() { jq -r "$2" "$E2E_TMP/$1.stats.json"; }
logged_lines() { grep -c "$2" "$E2E_TMP/$1.err" || true; }
at_least() { (($1 >= $2)) || { log "    $1 < $2"; return 1; }; }

# --- flags -----------------------------------------------------------------
usage_exit() {  # usage_exit PATTERN ARGS...: exits 2 printing PATTERN
  local pattern=$1 rc=0
  shift
  "$PROXY" "$@" >/dev/null 2>"$E2E_TMP/flags.err" || rc=$?
  ((rc == 2)) || { log "    exit $rc for: $*"; return 1; }
  grep -q -- "$pattern" "$E2E_TMP/flags.err" || { log "    no '$pattern' in: $(cat "$E2E_TMP/flags.err")"; return 1; }
}
help_works() {
  local out
  out=$("$PROXY" --help) || return 1
  grep -q -- --stall-every-s <<<"$out"
}
check "--help prints the usage and exits 0" help_works
check "an unknown flag exits 2" usage_exit "unknown argument '--bogus'" --listen 127.0.0.1:0 --to 127.0.0.1:1 --bogus
check "a bad number exits 2" usage_exit "--delay-ms needs a number" --listen 127.0.0.1:0 --to 127.0.0.1:1 --delay-ms abc
check "a negative jitter exits 2" usage_exit "--up-jitter-ms needs a number" --listen 127.0.0.1:0 --to 127.0.0.1:1 --up-jitter-ms -3
check "a missing --to exits 2" usage_exit "--to HOST:PORT is required" --listen 127.0.0.1:0
check "a bad address exits 2" usage_exit "--listen needs HOST:PORT" --listen 127.0.0.1 --to 127.0.0.1:1
check "a flag without its value exits 2" usage_exit "--seed needs a value" --listen 127.0.0.1:0 --to 127.0.0.1:1 --seed

start_backend ECHO echo
start_backend STAMP stamp
start_backend SINK sink

# --- 20 ms each way, 10 ms jitter: bytes whole, round trips near 40 ms -------
start_proxy WAN "$ECHO_PORT" --delay-ms 20 --jitter-ms 10
check "the port file holds the port printed on stdout" \
  eq "$(cat "$E2E_TMP/WAN.out")" "listening on 127.0.0.1:$WAN_PORT"
BULK=$((5 * 1024 * 1024))
read -r sent_sha back_sha back_bytes < <(helper bulk "$WAN_PORT" "$BULK")
check "5 MB come back whole and in order" eq "$back_sha $back_bytes" "$sent_sha $BULK"
read -r wan_median wan_max _ < <(helper rtt "$WAN_PORT" 100)
log "    delay 20 jitter 10: round trip median $wan_median ms, max $wan_max ms"
check "round trips with 20 ms each way have a median near 40 ms" in_range "$wan_median" 25 80
wan_closed() { (($(logged_lines WAN ' closed ') == 2)); }
check "each connection's close is logged once both sides are done" wait_until 10 wan_closed
stop_proxy WAN
check "SIGTERM exits 0" eq "$WAN_RC" 0
check "the stats count both connections" eq "$(stat_of WAN .connections)" 2
check "the stats count every byte up" eq "$(stat_of WAN .up.bytes)" $((BULK + 100 * 16))
check "the stats count every byte down" eq "$(stat_of WAN .down.bytes)" $((BULK + 100 * 16))
log "    stats: $(jq -c . "$E2E_TMP/WAN.stats.json")"
check "the stats report the scheduled delay up (20 ms drawn, more behind earlier chunks)" in_range "$(stat_of WAN .up.delay_ms_p50)" 15 60
check "each connection's open is logged" eq "$(logged_lines WAN ' open ')" 2

# --- no delay -----------------------------------------------------------------
start_proxy LAN "$ECHO_PORT" --delay-ms 0 --jitter-ms 0
read -r lan_median lan_max _ < <(helper rtt "$LAN_PORT" 200)
log "    delay 0: round trip median $lan_median ms, max $lan_max ms"
check "round trips without delay have a median under 10 ms" below "$lan_median" 10
stop_proxy LAN

# --- asymmetry: 30 ms up, none down ----------------------------------------------
start_proxy ASYM "$STAMP_PORT" --delay-ms 0 --jitter-ms 0 --up-delay-ms 30 --up-jitter-ms 0
read -r up_median down_median < <(helper oneway "$ASYM_PORT" 50)
log "    up 30 down 0: one-way medians up $up_median ms, down $down_median ms"
check "the up direction takes about 30 ms" in_range "$up_median" 25 60
check "the down direction takes under 10 ms" below "$down_median" 10
stop_proxy ASYM

# --- order under heavy jitter ----------------------------------------------------
start_proxy JITTER "$ECHO_PORT" --delay-ms 5 --jitter-ms 20 --seed 7
check "500 numbered lines come back in order under 20 ms jitter" eq "$(helper order "$JITTER_PORT" 500)" 500
stop_proxy JITTER
jitter_chunks=$(stat_of JITTER .up.chunks)
log "    delay 5 jitter 20: $jitter_chunks chunks up, delay p50 $(stat_of JITTER .up.delay_ms_p50) ms"
check "the lines went as separate chunks (each could have overtaken another)" at_least "$jitter_chunks" 100

# --- stalls ------------------------------------------------------------------------
start_proxy STALL "$ECHO_PORT" --delay-ms 0 --jitter-ms 0 --stall-every-s 0.5 --stall-ms 200
read -r stall_median stall_max stall_count < <(helper rtt "$STALL_PORT" 100 2)
log "    stalls every 0.5 s of 200 ms: $stall_count round trips, median $stall_median ms, max $stall_max ms"
check "stalls hold a round trip for about 200 ms" in_range "$stall_max" 150 1000
check "between stalls round trips are quick" below "$stall_median" 10
stop_proxy STALL

# --- backpressure: a receiver that never reads ---------------------------------------
start_proxy FLOOD "$SINK_PORT" --delay-ms 0 --jitter-ms 0
coproc FLOODER { python3 "$HELPER" flood "$FLOOD_PORT"; }
E2E_PIDS+=("$FLOODER_PID")
read -r flooded <&"${FLOODER[0]}"
flood_peak_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$FLOOD_PID/status")
log "    a sink that never reads took $((flooded >> 20)) MiB; proxy peak memory $((flood_peak_kb >> 10)) MiB"
check "writing stops well before 256 MiB (backpressure)" below "$flooded" $((96 << 20))
check "the proxy's memory stays bounded" below "$flood_peak_kb" $((64 << 10))
stop_proxy FLOOD
check "a connection open at exit is logged as closed" eq "$(logged_lines FLOOD 'closed .*(proxy stopping)')" 1
flooder_in=${FLOODER[1]}
exec {flooder_in}>&-
wait "$FLOODER_PID" || true

# --- the connection limit ------------------------------------------------------
start_proxy MANY "$ECHO_PORT" --delay-ms 0 --jitter-ms 0
check "256 connections relay and the 257th is refused" eq "$(helper many "$MANY_PORT" 256)" "256 refused"
check "the refusal is logged" eq "$(logged_lines MANY '^refused ')" 1
all_closed() { (($(logged_lines MANY ' closed ') == 256)); }
check "closed connections free their slots" wait_until 20 all_closed
read -r _ _ many_count < <(helper rtt "$MANY_PORT" 5)
check "a new connection relays after that" eq "$many_count" 5
stop_proxy MANY

for pid in "${BACKEND_PIDS[@]}"; do
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done
finish
