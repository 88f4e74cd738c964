#!/usr/bin/env bash
# End to end: hifi-server on a small file system of its own (a 24 MiB tmpfs
# the test mounts as the data directory; 8 MiB of it the metadata store's
# reserve).
#  - Uploads stop with 507 when they would eat into --min-free-space, with
#    nothing half-written left behind.
#  - With the disk then filled to the last byte by something else, logins,
#    room commands and reads go on: the metadata store gives back its
#    reserve and still writes.
# Needs root (mount); skipped with exit 77 where mounting is not permitted.
# Usage: disk_full_test.sh PATH/TO/hifi-server
set -euo pipefail
BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$HERE/lib.sh"

need_tools sox jq curl

DATA="$E2E_TMP/small-disk"
mkdir -p "$DATA"
if ! mount -t tmpfs -o size=24m,mode=0700 tmpfs "$DATA" 2>"$E2E_TMP/mount.err"; then
  echo "cannot mount a tmpfs ($(cat "$E2E_TMP/mount.err")); this test needs root: skipping"
  exit 77
fi
unmount() {
  local pid
  for pid in "${E2E_PIDS[@]:-}"; do
    [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  umount "$DATA" 2>/dev/null || umount -l "$DATA" || true
  e2e_cleanup
}
trap unmount EXIT

free_kib() { df -k --output=avail "$DATA" | tail -1 | tr -d ' '; }

start_server "$BIN" "$DATA" --min-free-space 2MiB
log "server on $BASE, $(free_kib) KiB free"
api POST /api/v1/auth/register -d '{"username":"alice","password":"correct horse"}' >/dev/null
check "register" eq "$(status)" 201
TOKEN=$(api POST /api/v1/auth/login -d '{"username":"alice","password":"correct horse"}' | json_field token)
ROOM=$(api POST /api/v1/rooms -d '{"name":"Kitchen"}' | json_field id)
check "create a room" test -n "$ROOM"

check "the metadata store made its reserve" test -f "$DATA/meta.db.reserve"

# Songs of 1 MiB (noise, so no two are alike) until the disk is refused.
# Without a Content-Length (chunked) the check must happen as bytes arrive.
uploaded=0 refused=""
for i in $(seq 1 30); do
  sox -n -r 8000 -c 2 -b 16 "$E2E_TMP/song.wav" synth 32 whitenoise vol 0.$((i % 9 + 1)) 2>/dev/null
  if ((i % 2)); then
    api POST /api/v1/songs -H 'Content-Type: audio/wav' --data-binary @"$E2E_TMP/song.wav" >/dev/null
  else
    api POST /api/v1/songs -H 'Content-Type: audio/wav' -H 'Transfer-Encoding: chunked' \
      --data-binary @"$E2E_TMP/song.wav" >/dev/null
  fi
  case "$(status)" in
    201) uploaded=$((uploaded + 1)) ;;
    507) refused=$i; break ;;
    *) log "upload $i: unexpected $(status): $(cat "$E2E_TMP/body")"; break ;;
  esac
done
check "uploads are accepted until the disk is nearly full ($uploaded were)" test "$uploaded" -ge 5
check "then refused with 507" test -n "$refused"
check "as insufficient-storage" eq "$(jq -r .type "$E2E_TMP/body")" "urn:hifi:problem:insufficient-storage"
check "leaving the reserve free ($(free_kib) KiB)" test "$(free_kib)" -ge 1024
check "and nothing half-written" eq "$(find "$DATA/tmp" -type f | wc -l)" 0
check "the refused song is not in the library" \
  eq "$(api GET /api/v1/songs | jq '.items | length')" "$uploaded"

# Something else fills the disk to the last byte.
dd if=/dev/zero of="$DATA/filler" bs=64k status=none 2>/dev/null || true
log "disk filled: $(free_kib) KiB free"

for n in 1 2 3; do
  TOKEN2=$(api POST /api/v1/auth/login -d '{"username":"alice","password":"correct horse"}' | json_field token)
  check "log in on a full disk ($n)" eq "$(status)" 200
done
TOKEN=$TOKEN2
SONG=$(api GET /api/v1/songs | jq -r '.items[0].id')
api POST "/api/v1/rooms/$ROOM/commands" -d "{\"type\":\"add\",\"song_ids\":[\"$SONG\"]}" >/dev/null
check "add to a room's queue on a full disk" eq "$(status)" 200
for n in $(seq 1 20); do
  api POST "/api/v1/rooms/$ROOM/commands" -d '{"type":"play"}' >/dev/null
  [[ "$(status)" == 200 ]] || break
  api POST "/api/v1/rooms/$ROOM/commands" -d "{\"type\":\"seek\",\"position_ms\":$((n * 100))}" >/dev/null
  [[ "$(status)" == 200 ]] || break
  api POST "/api/v1/rooms/$ROOM/commands" -d '{"type":"pause"}' >/dev/null
  [[ "$(status)" == 200 ]] || break
done
check "60 room commands on a full disk ($(status): $(head -c 200 "$E2E_TMP/body"))" eq "$(status)" 200
OUT="$E2E_TMP/song.out" api GET "/api/v1/songs/$SONG/stream"
check "stream a song on a full disk" eq "$(status)" 200
[[ -e "$DATA/meta.db.reserve" ]] && log "(the store wrote without its reserve)" || log "(the store gave back its reserve)"
# What the reserve gave back is free space again; uploads may take it, but
# never --min-free-space.
for i in $(seq 31 45); do
  sox -n -r 8000 -c 2 -b 16 "$E2E_TMP/song.wav" synth 32 whitenoise vol 0.0$((i % 9 + 1)) 2>/dev/null
  api POST /api/v1/songs -H 'Content-Type: audio/wav' --data-binary @"$E2E_TMP/song.wav" >/dev/null
  [[ "$(status)" == 201 ]] || break
done
check "uploads after that stop with 507 again" eq "$(status)" 507
check "still leaving the reserve free ($(free_kib) KiB)" test "$(free_kib)" -ge 1024
TOKEN=$(api POST /api/v1/auth/login -d '{"username":"alice","password":"correct horse"}' | json_field token)
check "and logins go on" eq "$(status)" 200

# Space comes back: uploads go on.
rm -f "$DATA/filler"
sox -n -r 8000 -c 1 -b 16 "$E2E_TMP/small.wav" synth 1 sine 300 2>/dev/null
api POST /api/v1/songs -H 'Content-Type: audio/wav' --data-binary @"$E2E_TMP/small.wav" >/dev/null
check "uploads work again once space is freed" eq "$(status)" 201

kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
check "the server stopped cleanly" grep -q "" "$SERVER_LOG"
finish
