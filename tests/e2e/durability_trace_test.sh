#!/usr/bin/env bash
# End to end: the order in which hifi-server makes an upload and a room
# command durable, read from the system calls it makes (strace). A kill -9
# keeps the page cache, so only this order protects acknowledged writes from
# a power loss:
#   upload:       the temporary file is fsynced, then renamed into blobs/,
#                 then its directory is fsynced, then the store's WAL is
#                 fsynced (the song published), and only then 201 is sent;
#   room command: the store's WAL is fsynced before the 200 is sent.
# Usage: durability_trace_test.sh PATH/TO/hifi-server
set -euo pipefail
BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$HERE/lib.sh"

need_tools strace sox jq curl sha256sum

DATA=$(realpath -m "$E2E_TMP/data")
mkdir -p "$DATA"
DATA=$(realpath "$DATA")
TRACE="$E2E_TMP/trace"
LOGFILE="$E2E_TMP/server.log"
# -y names each file descriptor's file (or socket); -s shows the start of
# what is read from and sent to sockets: the request and status lines.
strace -f -y -s 48 -o "$TRACE" \
  -e trace=fsync,fdatasync,rename,renameat,renameat2,recvmsg,recvfrom,sendmsg,sendto,writev \
  "$BIN" --listen 127.0.0.1:0 --data-dir "$DATA" >"$LOGFILE" 2>&1 &
STRACE_PID=$!
E2E_PIDS+=("$STRACE_PID")
check "hifi-server starts under strace" wait_until 30 grep -q "listening on http://" "$LOGFILE"
BASE=$(grep -o "http://127.0.0.1:[0-9]*" "$LOGFILE" | head -1)
SERVER_PID=$(pgrep -P "$STRACE_PID" | head -1)
check "hifi-server runs as strace's child" test -n "$SERVER_PID"

api POST /api/v1/auth/register -d '{"username":"alice","password":"correct horse"}' >/dev/null
check "register" eq "$(status)" 201
TOKEN=$(api POST /api/v1/auth/login -d '{"username":"alice","password":"correct horse"}' | json_field token)
check "log in" test -n "$TOKEN"
sox -n -r 22050 -c 1 -b 16 "$E2E_TMP/song.wav" synth 2 sine 440 2>/dev/null
SHA=$(sha256sum <"$E2E_TMP/song.wav" | cut -d' ' -f1)
SONG=$(api POST /api/v1/songs -H "Content-Type: audio/wav" --data-binary "@$E2E_TMP/song.wav" | json_field id)
check "upload: 201" eq "$(status)" 201
ROOM=$(api POST /api/v1/rooms -d '{"name":"traced"}' | json_field id)
check "create a room" test -n "$ROOM"
api POST "/api/v1/rooms/$ROOM/commands" -d "{\"type\":\"add\",\"song_ids\":[\"$SONG\"]}" >/dev/null
check "room command: 200" eq "$(status)" 200

# Stop the server (strace exits with it, with the whole trace written).
kill -TERM "$SERVER_PID"
strace_done() { ! kill -0 "$STRACE_PID" 2>/dev/null; }
check "the server stops" wait_until 30 strace_done
wait "$STRACE_PID" 2>/dev/null || true

# One event per line, "LINE SYSCALL FD-OR-ARGS...": an interrupted call
# (<unfinished ...> then <... resumed>) is put together and counted where it
# completed; fsync and the like only count when they returned 0.
awk '
  { pid = $1; rest = $0; sub(/^[0-9]+ +/, "", rest) }
  rest ~ /<unfinished \.\.\.>$/ { sub(/ <unfinished \.\.\.>$/, "", rest); pending[pid] = rest; next }
  rest ~ /^<\.\.\. [a-z0-9_]+ resumed>/ { sub(/^<\.\.\. [a-z0-9_]+ resumed>/, "", rest); rest = pending[pid] rest; delete pending[pid] }
  rest ~ /^(fsync|fdatasync|rename|renameat|renameat2)\(/ && rest !~ /= 0$/ { next }
  { print NR, rest }
' "$TRACE" >"$E2E_TMP/events"

# first_after LINE REGEX: the line number of the first event after LINE
# matching REGEX (empty when none).
# (The regex goes through the environment: awk -v would eat its backslashes.)
first_after() { RE=$2 awk -v after="$1" '$1 > after && $0 ~ ENVIRON["RE"] { print $1; exit }' "$E2E_TMP/events"; }
# last_before LINE REGEX: the last such event before LINE.
last_before() { RE=$2 awk -v before="$1" '$1 < before && $0 ~ ENVIRON["RE"] { n = $1 } END { if (n) print n }' "$E2E_TMP/events"; }
# The socket (as -y shows it) an event line's call used.
socket_of() { awk -v n="$1" '$1 == n { if (match($0, /socket:\[[0-9]+\]/)) print substr($0, RSTART, RLENGTH) }' "$E2E_TMP/events"; }
re_escape() { sed 's/[][\.*^$/+?(){}|]/\\&/g' <<<"$1"; }
before() { [[ -n "$1" && -n "$2" ]] && (($1 < $2)); }

# --- the upload ---------------------------------------------------------------
req=$(first_after 0 '^[0-9]+ (recvmsg|recvfrom)\(.*POST /api/v1/songs ')
sock=$(socket_of "$req")
reply=$(first_after "${req:-0}" "^[0-9]+ (sendmsg|sendto|writev)\\([0-9]+<$(re_escape "${sock:-none}")>.*HTTP/1.1 201")
check "the trace shows the upload's request and its 201" before "$req" "$reply"
blob="$DATA/blobs/${SHA:0:2}/${SHA:2:2}/$SHA"
rename=$(first_after "${req:-0}" "^[0-9]+ rename(at2?)?\\(.*\"$(re_escape "$blob")\"")
check "the blob is renamed into blobs/ before the 201" before "$rename" "$reply"
temp=$(awk -v n="$rename" '$1 == n { if (match($0, /"[^"]*\/tmp\/[^"]*"/)) print substr($0, RSTART + 1, RLENGTH - 2) }' "$E2E_TMP/events")
check "from a temporary file in tmp/" test -n "$temp"
log "    $(basename "${temp:-?}") -> blobs/${SHA:0:2}/${SHA:2:2}/$SHA"
synced_temp=$(last_before "${rename:-0}" "^[0-9]+ (fsync|fdatasync)\\([0-9]+<$(re_escape "${temp:-none}")>")
check "the temporary file is fsynced before the rename" before "${req:-}" "$synced_temp"
synced_dir=$(first_after "${rename:-0}" "^[0-9]+ (fsync|fdatasync)\\([0-9]+<$(re_escape "$(dirname "$blob")")>")
check "the blob's directory is fsynced after the rename, before the 201" before "$synced_dir" "$reply"
synced_wal=$(first_after "${synced_dir:-0}" "^[0-9]+ (fsync|fdatasync)\\([0-9]+<$(re_escape "$DATA/meta.db-wal")>")
check "the store's WAL is fsynced after that (the song published), before the 201" before "$synced_wal" "$reply"

# --- the room command -----------------------------------------------------------
req=$(first_after 0 "^[0-9]+ (recvmsg|recvfrom)\\(.*POST /api/v1/rooms/$ROOM/commands")
sock=$(socket_of "$req")
reply=$(first_after "${req:-0}" "^[0-9]+ (sendmsg|sendto|writev)\\([0-9]+<$(re_escape "${sock:-none}")>.*HTTP/1.1 200")
check "the trace shows the room command's request and its 200" before "$req" "$reply"
synced_wal=$(first_after "${req:-0}" "^[0-9]+ (fsync|fdatasync)\\([0-9]+<$(re_escape "$DATA/meta.db-wal")>")
check "the store's WAL is fsynced after the command arrived, before the 200" before "$synced_wal" "$reply"

if ((E2E_FAILURES > 0)); then
  log "---- the trace's last events:"
  tail -n 80 "$E2E_TMP/events" >&2
fi
finish
