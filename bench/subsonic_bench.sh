#!/usr/bin/env bash
# Subsonic API benchmark: the read paths apps hit most, on a library of
# 30,000 real songs (uploaded through POST /api/v1/songs).
#
#   getAlbumList2 type=alphabeticalByName size=50 at random offsets (browsing)
#   getAlbumList2 type=newest size=50 (the home screen)
#   search3 with a common word (default counts: 20 artists, 20 albums, 20 songs)
#   search3 with the empty query, songCount=500 at random songOffset (how
#     Symfonium and others sync a whole library, 500 songs a page)
#   getCoverArt size=300 of covers already resized once (the cache's path)
#   the web app's search as you type: GET /api/v1/songs?q=<the first 1 to n
#     letters of a word>&limit=200 (its goal: p95 under 100 ms)
#
# The library: BENCH_SONGS tiny distinct WAVs (0.1 s of 8 kHz silence with a
# LIST/INFO chunk: title, artist, album, year, genre, track), 10 songs an
# album, 5 albums an artist (so 3,000 albums and 600 artists by default),
# made and uploaded by a node script with BENCH_UPLOAD_CONCURRENCY parallel
# keep-alive connections; plus BENCH_COVERS MP3s (ffmpeg) with an embedded
# 800x800 JPEG cover, each its own album.
#
# hifi-server is pinned to the last core and every client (the uploader, curl,
# wrk) to core 0, when the machine has two or more. Each scenario runs with
# wrk -t1 at each concurrency of BENCH_CONNECTIONS (BENCH_WARMUP s of warm-up,
# then BENCH_SECONDS s measured); wrk checks the first answer and then one in
# BENCH_CHECK_EVERY for "status":"ok" (an image/* type for
# getCoverArt), and the script fails if any is not, or on any socket error
# or non-2xx answer.
#
# Usage: bench/subsonic_bench.sh      # about 3.5 min on 2 cores, plus the build
# Environment:
#   BENCH_SONGS               songs in the library (default 30000)
#   BENCH_COVERS              MP3s with a cover, for getCoverArt (default 20)
#   BENCH_SECONDS             measured seconds per wrk run (default 10)
#   BENCH_WARMUP              warm-up seconds before each run (default 2)
#   BENCH_CONNECTIONS         wrk connections, a list: one run each (default "1 8")
#   BENCH_LONG=1              longer runs: 60 s measured, 5 s warm-up, "1 8 32"
#                             connections (BENCH_SECONDS etc. still win)
#   BENCH_CHECK_EVERY         check one answer in N for "status":"ok" (default 20)
#   BENCH_UPLOAD_CONCURRENCY  parallel uploads while seeding (default 8)
#   BENCH_HIFI_ARGS           extra hifi-server arguments
#   BENCH_HIFI_BIN            the hifi-server to measure (no setup, no build),
#                             e.g. build/release/src/hifi-server
#   BENCH_KEEP=1              keep the temp dir (logs, data) for inspection
#   BENCH_SKIP_SETUP=1        skip scripts/setup and the build (use build/bench as is)
#   BENCH_SERVER_CPUS, BENCH_CLIENT_CPUS  taskset CPU lists for hifi-server and for the
#                             clients, instead of the default (last core, core 0)
#   BENCH_RESULTS             a file: append the headline rows for bench/all to it
# Prints a final machine-readable line: SUBSONIC_JSON {...}
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR="$ROOT/build/bench"

if [[ "${BENCH_LONG:-0}" == 1 ]]; then
  DEF_SECONDS=60 DEF_WARMUP=5 DEF_CONNS="1 8 32"
else
  DEF_SECONDS=10 DEF_WARMUP=2 DEF_CONNS="1 8"
fi
SONGS=${BENCH_SONGS:-30000}
COVERS=${BENCH_COVERS:-20}
SECONDS_PER_RUN=${BENCH_SECONDS:-$DEF_SECONDS}
WARMUP=${BENCH_WARMUP:-$DEF_WARMUP}
read -r -a CONNS <<<"${BENCH_CONNECTIONS:-$DEF_CONNS}"
CHECK_EVERY=${BENCH_CHECK_EVERY:-20}
UPLOAD_CONC=${BENCH_UPLOAD_CONCURRENCY:-8}
ALBUMS=$(((SONGS + 9) / 10))
ARTISTS=$(((ALBUMS + 4) / 5))
PAGE=50
SYNC_PAGE=500
SEED=20261205
# The words titles, albums and artists are made of (20, so each is in about
# 10% of the titles); search3 asks for one of them at random.
WORDS="love night heart fire rain blue dream light river summer shadow gold ocean wild silver storm moon road glass echo"

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=SCRIPTDIR/lib.sh
source "$ROOT/bench/lib.sh"

((SONGS >= 1000)) || die "BENCH_SONGS must be at least 1000"
((COVERS >= 1)) || die "BENCH_COVERS must be at least 1"
if [[ -n "${BENCH_HIFI_BIN:-}" ]]; then
  HIFI_BIN=$BENCH_HIFI_BIN
  [[ -x "$HIFI_BIN" ]] || die "$HIFI_BIN is not an executable"
else
  build_for_bench hifi-server
  HIFI_BIN=$BUILD_DIR/src/hifi-server
fi
for tool in wrk node ffmpeg curl jq taskset md5sum; do
  command -v "$tool" >/dev/null || die "$tool is not installed (run scripts/setup bench)"
done
(($(node -p 'process.versions.node.split(".")[0]') >= 18)) || die "node 18 or later is needed (fetch)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hifi-subsonic-bench.XXXXXX")
HIFI_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$HIFI_PID" TERM
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
exit_traps cleanup

if [[ -n "${BENCH_SERVER_CPUS:-}${BENCH_CLIENT_CPUS:-}" ]]; then
  bench_pins
  PINNING="hifi-server on CPU ${BENCH_SERVER_CPUS:-any}, clients (uploader, curl, wrk) on CPU ${BENCH_CLIENT_CPUS:-any}"
elif (($(nproc) >= 2)); then
  SERVER_CPU=$(($(nproc) - 1))
  PIN_SERVER=(taskset -c "$SERVER_CPU")
  PIN_CLIENT=(taskset -c 0)
  PINNING="hifi-server on core $SERVER_CPU, clients (uploader, curl, wrk) on core 0"
else
  PIN_SERVER=()
  PIN_CLIENT=()
  PINNING="one core: nothing pinned"
fi
log "$PINNING"

# --- hifi-server --------------------------------------------------------------
mkdir -p "$TMP/hifi-data"
# shellcheck disable=SC2086
"${PIN_SERVER[@]}" "$HIFI_BIN" --listen 127.0.0.1:0 --data-dir "$TMP/hifi-data" --shutdown-grace 2s \
  ${BENCH_HIFI_ARGS:-} >"$TMP/hifi.log" 2>&1 &
HIFI_PID=$!
HIFI="http://127.0.0.1:$(wait_port "$TMP/hifi.log" "$HIFI_PID" hifi-server)"
log "hifi-server on $HIFI"

api() {  # api METHOD PATH [curl args...]: prints the body, fails on HTTP >= 400
  local method=$1 path=$2
  shift 2
  "${PIN_CLIENT[@]}" curl -sS --fail-with-body --max-time 60 -X "$method" "$HIFI$path" "$@"
}
api POST /api/v1/auth/register -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench-password-1"}' >/dev/null
TOKEN=$(api POST /api/v1/auth/login -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench-password-1"}' | jq -er .token)

# --- seeding: SONGS distinct WAVs ----------------------------------------------
cat >"$TMP/seed.mjs" <<'EOF'
// seed.mjs BASE TOKEN SONGS ALBUMS ARTISTS CONCURRENCY SEED WORDS: uploads
// SONGS tiny distinct WAVs, CONCURRENCY at a time over keep-alive. Prints
// "SEED ok=N seconds=S"; exits 1 on any answer other than 201.
const [base, token, songsS, albumsS, artistsS, concS, seedS, wordsS] = process.argv.slice(2);
const songs = +songsS, albums = +albumsS, artists = +artistsS, conc = +concS;
const WORDS = wordsS.split(' ').map((w) => w[0].toUpperCase() + w.slice(1));
const GENRES = ['Rock', 'Jazz', 'Pop', 'Electronic', 'Classical', 'Folk', 'Hip-Hop', 'Ambient'];
let s = +seedS >>> 0;
const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
const pick = (a) => a[Math.floor(rand() * a.length)];
const albumNames = [], albumYears = [], artistNames = [];
for (let a = 0; a < albums; a++) {
  albumNames.push(`${pick(WORDS)} ${pick(WORDS)} ${String(a).padStart(4, '0')}`);
  albumYears.push(1960 + Math.floor(rand() * 65));
}
for (let a = 0; a < artists; a++) artistNames.push(`The ${pick(WORDS)} ${String(a).padStart(3, '0')}`);
function chunk(id, body) {
  const h = Buffer.alloc(8);
  h.write(id, 0, 'ascii');
  h.writeUInt32LE(body.length, 4);
  return Buffer.concat(body.length % 2 ? [h, body, Buffer.alloc(1)] : [h, body]);
}
function info(tags) {  // a LIST/INFO chunk of NUL-terminated strings
  return chunk('LIST', Buffer.concat([Buffer.from('INFO'),
    ...tags.map(([id, v]) => chunk(id, Buffer.from(v + '\0', 'utf8')))]));
}
const RATE = 8000, NSAMP = 800;  // 0.1 s, mono, 16-bit
const fmt = Buffer.alloc(16);
fmt.writeUInt16LE(1, 0); fmt.writeUInt16LE(1, 2); fmt.writeUInt32LE(RATE, 4);
fmt.writeUInt32LE(RATE * 2, 8); fmt.writeUInt16LE(2, 12); fmt.writeUInt16LE(16, 14);
function wav(i) {
  const album = i % albums, artist = album % artists, track = Math.floor(i / albums) + 1;
  const title = `${pick(WORDS)} ${pick(WORDS)} ${String(i).padStart(5, '0')}`;
  const samples = Buffer.alloc(NSAMP * 2);
  samples.writeUInt32LE(i + 1, 0);  // distinct audio as well as distinct tags
  const body = Buffer.concat([Buffer.from('WAVE'), chunk('fmt ', fmt),
    info([['INAM', title], ['IART', artistNames[artist]], ['IPRD', albumNames[album]],
      ['ICRD', String(albumYears[album])], ['IGNR', GENRES[album % GENRES.length]], ['IPRT', String(track)]]),
    chunk('data', samples)]);
  return chunk('RIFF', body);
}
let next = 0, ok = 0;
const t0 = performance.now();
async function worker() {
  for (;;) {
    const i = next++;
    if (i >= songs) return;
    const res = await fetch(`${base}/api/v1/songs`, { method: 'POST', body: wav(i),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'audio/wav', 'x-filename': `song-${i}.wav` } });
    const text = await res.text();
    if (res.status !== 201) {
      console.error(`upload ${i}: HTTP ${res.status} ${text.slice(0, 300)}`);
      process.exit(1);
    }
    if (++ok % 5000 === 0) console.error(`  ${ok}/${songs} uploaded, ${(ok * 1000 / (performance.now() - t0)).toFixed(0)}/s`);
  }
}
await Promise.all(Array.from({ length: conc }, worker));
console.log(`SEED ok=${ok} seconds=${((performance.now() - t0) / 1000).toFixed(1)}`);
EOF
log "seeding $SONGS songs ($ALBUMS albums, $ARTISTS artists), $UPLOAD_CONC parallel uploads"
SEED_LINE=$("${PIN_CLIENT[@]}" node "$TMP/seed.mjs" "$HIFI" "$TOKEN" "$SONGS" "$ALBUMS" "$ARTISTS" \
  "$UPLOAD_CONC" "$SEED" "$WORDS") || die "seeding failed"
SEED_SECONDS=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$SEED_LINE")
log "$SEED_LINE ($(awk -v n="$SONGS" -v s="$SEED_SECONDS" 'BEGIN { printf "%.0f", n / s }') uploads/s)"

# --- covers: MP3s with an embedded 800x800 JPEG --------------------------------
log "uploading $COVERS MP3s with an embedded cover"
COVER_IDS=()
for ((c = 1; c <= COVERS; c++)); do
  f="$TMP/cover-$c.mp3"
  "${PIN_CLIENT[@]}" ffmpeg -nostdin -loglevel error -f lavfi -i "sine=frequency=$((200 + 10 * c)):duration=1" \
    -f lavfi -i "testsrc2=size=800x800:rate=1:duration=1" -map 0:a -map 1:v -frames:v 1 \
    -c:a libmp3lame -b:a 64k -c:v mjpeg -disposition:v attached_pic \
    -metadata title="Cover Song $c" -metadata artist="Cover Artist $c" -metadata album="Cover Album $c" \
    -y "$f"
  COVER_IDS+=("$(api POST /api/v1/songs -H "Authorization: Bearer $TOKEN" -H 'Content-Type: audio/mpeg' \
    -H "X-Filename: cover-$c.mp3" --data-binary "@$f" | jq -er .id)")
done
TOTAL_SONGS=$((SONGS + COVERS))
TOTAL_ALBUMS=$((ALBUMS + COVERS))

# --- Subsonic credentials --------------------------------------------------------
APP_PASSWORD=$(api POST /api/v1/me/app-passwords -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"name":"bench"}' | jq -er .password)
SALT=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
SUBSONIC_TOKEN=$(printf '%s%s' "$APP_PASSWORD" "$SALT" | md5sum | cut -d' ' -f1)
AUTHQ="u=bench&t=$SUBSONIC_TOKEN&s=$SALT&v=1.16.1&c=bench&f=json"

sub() {  # sub ENDPOINT QUERY: prints the JSON answer; dies unless status is ok
  local out
  out=$(api GET "/rest/$1?$AUTHQ&$2") || die "$1?$2: HTTP error"
  jq -e '."subsonic-response".status == "ok"' <<<"$out" >/dev/null ||
    die "$1?$2 answered: $(head -c 300 <<<"$out")"
  printf '%s' "$out"
}

# The library is all there: the last page of each listing ends where it must.
n=$(sub search3 "query=%22%22&artistCount=0&albumCount=0&songCount=$SYNC_PAGE&songOffset=$((TOTAL_SONGS - 1))" |
  jq '."subsonic-response".searchResult3.song // [] | length')
[[ "$n" == 1 ]] || die "search3 does not see $TOTAL_SONGS songs (the last page holds $n, not 1)"
n=$(sub getAlbumList2 "type=alphabeticalByName&size=$PAGE&offset=$((TOTAL_ALBUMS - 1))" |
  jq '."subsonic-response".albumList2.album // [] | length')
[[ "$n" == 1 ]] || die "getAlbumList2 does not see $TOTAL_ALBUMS albums (the last page holds $n, not 1)"
n=$(sub getArtists "" | jq '[."subsonic-response".artists.index[]?.artist[]?] | length')
log "library: $TOTAL_SONGS songs, $TOTAL_ALBUMS albums, $n artists"

# Each cover resized once (the first request makes and caches the JPEG).
COLD_MS=()
for id in "${COVER_IDS[@]}"; do
  read -r code type ms < <("${PIN_CLIENT[@]}" curl -sS --max-time 60 -o "$TMP/cover.jpg" \
    -w '%{http_code} %{content_type} %{time_total}\n' "$HIFI/rest/getCoverArt?$AUTHQ&id=$id&size=300" |
    awk '{ printf "%s %s %.2f\n", $1, $2, $3 * 1000 }')
  [[ "$code" == 200 && "$type" == image/jpeg ]] || die "getCoverArt $id: HTTP $code, $type: $(head -c 300 "$TMP/cover.jpg")"
  COLD_MS+=("$ms")
done
COLD_MEDIAN=$(printf '%s\n' "${COLD_MS[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
log "first getCoverArt size=300 of each cover (resize + cache): median $COLD_MEDIAN ms"

# --- wrk ----------------------------------------------------------------------------
# One script for every scenario: args MODE AUTHQ N LIST. It checks the first
# answer and then one in CHECK_EVERY, and reports a BENCH line.
cat >"$TMP/subsonic.lua" <<EOF
local threads = {}
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end
local mode, q, n, list = nil, nil, 0, {}
init = function(args)
  mode, q, n = args[1], args[2], tonumber(args[3])
  for item in string.gmatch(args[4] or "", "[^,]+") do table.insert(list, item) end
  math.randomseed($SEED + (id or 0))
  seen, checked, bad, firstbad = 0, 0, 0, ""
end
request = function()
  local path
  if mode == "alpha" then
    path = "/rest/getAlbumList2?" .. q .. "&type=alphabeticalByName&size=$PAGE&offset=" .. math.random(0, n - $PAGE)
  elseif mode == "newest" then
    path = "/rest/getAlbumList2?" .. q .. "&type=newest&size=$PAGE&offset=0"
  elseif mode == "word" then
    path = "/rest/search3?" .. q .. "&query=" .. list[math.random(#list)]
  elseif mode == "sync" then
    path = "/rest/search3?" .. q .. "&query=%22%22&artistCount=0&albumCount=0&songCount=$SYNC_PAGE&songOffset="
      .. $SYNC_PAGE * math.random(0, math.floor((n - 1) / $SYNC_PAGE))
  elseif mode == "type" then
    local w = list[math.random(#list)]
    path = "/api/v1/songs?limit=200&q=" .. string.sub(w, 1, math.random(1, #w))
    return wrk.format("GET", path, { ["Authorization"] = "Bearer $TOKEN" })
  else
    path = "/rest/getCoverArt?" .. q .. "&size=300&id=" .. list[math.random(#list)]
  end
  return wrk.format("GET", path)
end
response = function(status, headers, body)
  seen = seen + 1
  if (seen - 1) % $CHECK_EVERY ~= 0 then return end
  checked = checked + 1
  local ok
  if mode == "cover" then
    ok = status == 200 and string.find(headers["Content-Type"] or "", "^image/") ~= nil
  elseif mode == "type" then
    ok = status == 200 and string.find(body, '"items"', 1, true) ~= nil
  else
    ok = status == 200 and string.find(body, '"status":"ok"', 1, true) ~= nil
  end
  if not ok then
    bad = bad + 1
    if firstbad == "" then firstbad = status .. " " .. string.sub(body, 1, 200) end
  end
end
done = function(summary, latency, requests)
  local checked, bad, firstbad = 0, 0, ""
  for _, t in ipairs(threads) do
    checked = checked + t:get("checked")
    bad = bad + t:get("bad")
    if firstbad == "" then firstbad = t:get("firstbad") end
  end
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d bytes=%d errors=%d non2xx=%d checked=%d bad=%d p50_us=%d p95_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.timeout, e.status,
    checked, bad, math.floor(latency:percentile(50)), math.floor(latency:percentile(95)),
    math.floor(latency:percentile(99))))
  if bad > 0 then io.write("BAD " .. firstbad .. "\n") end
end
EOF

CLK_TCK=$(getconf CLK_TCK)
server_ticks() {  # user + system clock ticks hifi-server used so far
  local stat f
  stat=$(cat "/proc/$HIFI_PID/stat")
  stat=${stat##*) }
  read -r -a f <<<"$stat"
  echo $((f[11] + f[12]))
}
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<" $2"; }

run_wrk() {  # run_wrk NAME CONNS SECONDS MODE N LIST: prints the BENCH line
  local name=$1 conns=$2 secs=$3 out="$TMP/wrk-$1-c$2.out" line
  shift 3
  timeout $((secs + 30)) "${PIN_CLIENT[@]}" wrk -t1 -c"$conns" -d"${secs}s" --timeout 10s \
    -s "$TMP/subsonic.lua" "$HIFI" -- "$1" "$AUTHQ" "$2" "$3" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk failed ($name, c=$conns)"; }
  line=$(grep '^BENCH ' "$out") || { cat "$out" >&2; die "no result from wrk ($name, c=$conns)"; }
  if [[ $(field errors "$line") != 0 || $(field non2xx "$line") != 0 || $(field bad "$line") != 0 ||
    $(field checked "$line") == 0 ]]; then
    cat "$out" >&2
    die "$name, c=$conns: errors or answers that are not ok ($line)"
  fi
  echo "$line"
}

COVER_LIST=$(IFS=,; echo "${COVER_IDS[*]}")
WORD_LIST=${WORDS// /,}
# name | mode | N | list
SCENARIOS=(
  "getAlbumList2 alphabeticalByName size=50, random offset|alpha|$TOTAL_ALBUMS|"
  "getAlbumList2 newest size=50|newest|$TOTAL_ALBUMS|"
  "search3 common word (20/20/20)|word|0|$WORD_LIST"
  "search3 empty query, songCount=500, random songOffset|sync|$TOTAL_SONGS|"
  "getCoverArt size=300 (cached)|cover|0|$COVER_LIST"
  "web search as you type: /api/v1/songs?q=prefix, limit 200|type|0|$WORD_LIST"
)
RESULTS="$TMP/results.tsv"
: >"$RESULTS"
log "wrk -t1, connections ${CONNS[*]}; ${WARMUP}s warm-up + ${SECONDS_PER_RUN}s per run; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name mode count list <<<"$s"
  for c in "${CONNS[@]}"; do
    if ((WARMUP > 0)); then run_wrk "$mode-warmup" "$c" "$WARMUP" "$mode" "$count" "$list" >/dev/null; fi
    t0=$(server_ticks)
    line=$(run_wrk "$mode" "$c" "$SECONDS_PER_RUN" "$mode" "$count" "$list")
    t1=$(server_ticks)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$c" "$(field requests "$line")" \
      "$(field duration_us "$line")" "$(field bytes "$line")" "$(field p50_us "$line")" \
      "$(field p99_us "$line")" "$(((t1 - t0) * 1000000 / CLK_TCK))" "$(field checked "$line")" \
      "$(field p95_us "$line")" >>"$RESULTS"
    log "$(awk -F'\t' 'END { printf "%-55s c=%-3s %9.1f req/s  p50 %.2f ms  p95 %.2f ms  p99 %.2f ms", $1, $2, $3 * 1e6 / $4, $6 / 1000, $10 / 1000, $7 / 1000 }' "$RESULTS")"
  done
done

echo
echo "Subsonic API on $TOTAL_SONGS songs, $TOTAL_ALBUMS albums; wrk -t1, ${SECONDS_PER_RUN}s per run; $PINNING"
awk -F'\t' '
  BEGIN { printf "%-55s %6s %9s %9s %9s %9s %10s %10s %12s\n", "endpoint", "conns", "requests", "p50 ms", "p95 ms",
            "p99 ms", "req/s", "KB/answer", "CPU us/req" }
  { printf "%-55s %6d %9d %9.2f %9.2f %9.2f %10.1f %10.1f %12.0f\n", $1, $2, $3, $6 / 1000, $10 / 1000, $7 / 1000,
      $3 * 1e6 / $4, $3 ? $5 / $3 / 1000 : 0, $3 ? $8 / $3 : 0 }' "$RESULTS"
echo "(KB/answer: whole HTTP responses, headers included; CPU: hifi-server user + system time per request)"
echo "seeding: $SONGS uploads in $SEED_SECONDS s ($UPLOAD_CONC parallel); first getCoverArt size=300 (resize): median $COLD_MEDIAN ms"
echo "versions: $("$HIFI_BIN" --version 2>&1 | head -n1), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2), node $(node --version)"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), Linux $(uname -r); load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
JSON=$(awk -F'\t' '{ printf "%s{\"endpoint\":\"%s\",\"connections\":%d,\"requests\":%d,\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f,\"rps\":%.1f,\"cpu_us_per_req\":%.0f}",
  (NR > 1 ? "," : ""), $1, $2, $3, $6 / 1000, $10 / 1000, $7 / 1000, $3 * 1e6 / $4, $3 ? $8 / $3 : 0 }' "$RESULTS")
# Headline rows for bench/all (BENCH_RESULTS): the web app's search as you
# type, whose goal is p95 under 100 ms (at 30,000 songs).
while IFS=$'\t' read -r name c _ _ _ _ _ _ _ p95; do
  [[ "$name" == "web search as you type"* ]] || continue
  v=$(awk -v p="$p95" 'BEGIN { printf "%.2f", p / 1000 }')
  bench_result "web search as you type p95, $TOTAL_SONGS songs, $c connection(s)" "$v" - ms "<= 100 ms at 30,000 songs" \
    "$(bench_met "$v" "<" 100)"
done <"$RESULTS"
echo "SUBSONIC_JSON {\"songs\":$TOTAL_SONGS,\"albums\":$TOTAL_ALBUMS,\"seconds\":$SECONDS_PER_RUN,\"seed_seconds\":$SEED_SECONDS,\"cover_cold_ms\":$COLD_MEDIAN,\"runs\":[$JSON]}"
