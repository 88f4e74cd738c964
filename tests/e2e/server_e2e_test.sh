#!/usr/bin/env bash
# End to end: the real hifi-server binary, real audio of every supported
# format generated here, real curl. Also kill -9 in the middle of an upload
# and right after an acknowledged one.
# Usage: server_e2e_test.sh PATH/TO/hifi-server
set -euo pipefail
BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

AUDIO="$E2E_TMP/audio"
bash "$HERE/gen_audio.sh" "$AUDIO" >/dev/null
DATA="$E2E_TMP/data"
start_server "$BIN" "$DATA"

api POST /api/v1/auth/register -d '{"username":"alice","password":"correct horse"}' >/dev/null
check "register" eq "$(status)" 201
TOKEN=$(api POST /api/v1/auth/login -d '{"username":"alice","password":"correct horse"}' | json_field token)
check "login gives a token" test -n "$TOKEN"

declare -A TYPES=([mp3]=audio/mpeg [flac]=audio/flac [ogg]=audio/ogg [opus]=audio/ogg [wav]=audio/wav [m4a]=audio/mp4)
declare -A LABELS=([mp3]=MP3 [flac]=FLAC [ogg]=Vorbis [opus]=Opus [wav]=WAV [m4a]=AAC)
declare -A IDS
for ext in mp3 flac ogg opus wav m4a; do
  f="$AUDIO/tone.$ext"
  body=$(api POST /api/v1/songs -H "Content-Type: application/octet-stream" -H "X-Filename: tone.$ext" --data-binary "@$f")
  check "upload $ext -> 201" eq "$(status)" 201
  check "upload $ext content type" eq "$(json_field content_type <<<"$body")" "${TYPES[$ext]}"
  check "upload $ext sha256" eq "$(json_field sha256 <<<"$body")" "$(sha256sum "$f" | cut -d' ' -f1)"
  check "upload $ext title from tags" eq "$(json_field title <<<"$body")" "Tone ${LABELS[$ext]}"
  IDS[$ext]=$(json_field id <<<"$body")
done

body=$(api POST /api/v1/songs -H "Content-Type: audio/mpeg" --data-binary "@$AUDIO/cover.mp3")
check "upload with cover art" eq "$(status)" 201
cover_url=$(json_field cover_url <<<"$body")
OUT="$E2E_TMP/cover.out" api GET "$cover_url"
check "cover art is served" eq "$(status)" 200
check "cover art is an image" bash -c "file -b --mime-type '$E2E_TMP/cover.out' 2>/dev/null | grep -q image || head -c 8 '$E2E_TMP/cover.out' | grep -q PNG"

for ext in mp3 flac wav; do
  api POST /api/v1/songs -H "Content-Type: audio/mpeg" --data-binary "@$AUDIO/tone.$ext" >/dev/null
  check "same bytes again ($ext) -> 200" eq "$(status)" 200
done

for f in notes.txt random.bin empty.mp3 image.png video.mp4; do
  body=$(api POST /api/v1/songs -H "Content-Type: application/octet-stream" --data-binary "@$AUDIO/bad/$f")
  check "bad file $f -> 415" eq "$(status)" 415
  check "bad file $f says why" test -n "$(json_field detail <<<"$body")"
done
count=$(api GET "/api/v1/songs?limit=500" | jq '.items | length')
check "library holds exactly the good songs" eq "$count" 7

for ext in mp3 flac ogg opus wav m4a; do
  f="$AUDIO/tone.$ext"
  OUT="$E2E_TMP/dl" api GET "/api/v1/songs/${IDS[$ext]}/stream"
  check "download $ext -> 200" eq "$(status)" 200
  check "download $ext has the same SHA-256" eq "$(sha256sum <"$E2E_TMP/dl" | cut -d' ' -f1)" "$(sha256sum <"$f" | cut -d' ' -f1)"
  size=$(stat -c %s "$f")
  OUT="$E2E_TMP/part" api GET "/api/v1/songs/${IDS[$ext]}/stream" -H "Range: bytes=1000-"
  check "range download $ext -> 206" eq "$(status)" 206
  check "range download $ext bytes match" cmp -s "$E2E_TMP/part" <(tail -c +1001 "$f")
  # Reassemble from two ranges and compare hashes.
  OUT="$E2E_TMP/head" api GET "/api/v1/songs/${IDS[$ext]}/stream" -H "Range: bytes=0-999"
  check "two ranges reassemble to the original ($ext)" eq "$(cat "$E2E_TMP/head" "$E2E_TMP/part" | sha256sum | cut -d' ' -f1)" "$(sha256sum <"$f" | cut -d' ' -f1)"
  api GET "/api/v1/songs/${IDS[$ext]}/stream" -H "Range: bytes=$size-" >/dev/null
  check "range past the end ($ext) -> 416" eq "$(status)" 416
done

url=$(api GET "/api/v1/songs/${IDS[mp3]}/stream-url" | json_field url)
code=$(curl -s -o "$E2E_TMP/signed" -w '%{http_code}' "$BASE$url")
check "signed URL works without a header" eq "$code" 200
check "signed URL bytes" cmp -s "$E2E_TMP/signed" "$AUDIO/tone.mp3"

# --- kill -9 in the middle of an upload --------------------------------------
big="$E2E_TMP/big.wav"
sox -n -r 44100 -c 2 -b 16 "$big" synth 60 sine 330 2>/dev/null   # ~10 MB
curl -sS -o /dev/null --limit-rate 1M -X POST -H "Authorization: Bearer $TOKEN" \
  -H "Content-Type: audio/wav" --data-binary "@$big" "$BASE/api/v1/songs" 2>/dev/null &
CURL_PID=$!
E2E_PIDS+=("$CURL_PID")
partial_upload_on_disk() { [[ -n "$(find "$DATA/tmp" -name '*.part' -size +100k 2>/dev/null)" ]]; }
# The exact songs and blobs before the kill: a half-written upload can never
# be found by its whole file's SHA-256, so compare everything instead.
songs_now() { api GET "/api/v1/songs?limit=500" | jq -r '.items[] | "\(.id) \(.sha256)"' | sort; }
blobs_now() { find "$DATA/blobs" -type f -printf '%P %s\n' | sort; }
songs_before=$(songs_now)
blobs_before=$(blobs_now)
check "a partial upload reaches the disk" wait_until 30 partial_upload_on_disk
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
wait "$CURL_PID" 2>/dev/null || true
start_server "$BIN" "$DATA"
check "restart removes the unfinished upload" grep -q "removed 1 unfinished upload" "$SERVER_LOG"
check "no temporary files remain" eq "$(find "$DATA/tmp" -type f | wc -l)" 0
api GET "/api/v1/songs/by-sha256/$(sha256sum "$big" | cut -d' ' -f1)" >/dev/null
check "the killed upload is not a song" eq "$(status)" 404
check "the killed upload left no blob" test ! -e "$DATA/blobs/$(sha256sum "$big" | cut -c1-2)/$(sha256sum "$big" | cut -c3-4)/$(sha256sum "$big" | cut -d' ' -f1)"
check "after the restart the songs are exactly those before the kill" eq "$(songs_now)" "$songs_before"
check "and the blob files (names and sizes) exactly those before the kill" eq "$(blobs_now)" "$blobs_before"
count=$(api GET "/api/v1/songs?limit=500" | jq '.items | length')
check "earlier songs survived kill -9" eq "$count" 7

# --- an acknowledged upload survives kill -9 ---------------------------------
sox -n -r 22050 -c 1 -b 16 "$E2E_TMP/ack.wav" synth 2 sine 550 2>/dev/null
api POST /api/v1/songs -H "Content-Type: audio/wav" --data-binary "@$E2E_TMP/ack.wav" >/dev/null
check "upload acknowledged" eq "$(status)" 201
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
start_server "$BIN" "$DATA"
ack_id=$(sha256sum "$E2E_TMP/ack.wav" | cut -c1-32)
OUT="$E2E_TMP/ack.out" api GET "/api/v1/songs/$ack_id/stream"
check "acknowledged upload downloads after kill -9" eq "$(status)" 200
check "with the right bytes" cmp -s "$E2E_TMP/ack.out" "$E2E_TMP/ack.wav"
check "the token survived kill -9 too" eq "$(api GET /api/v1/me | json_field username)" alice

# --- graceful shutdown ----------------------------------------------------------
kill -TERM "$SERVER_PID"
server_gone() { ! kill -0 "$SERVER_PID" 2>/dev/null; }
check "SIGTERM stops the server" wait_until 20 server_gone
check "it says it stopped cleanly" grep -q "stopped cleanly" "$SERVER_LOG"

finish
