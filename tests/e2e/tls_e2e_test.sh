#!/usr/bin/env bash
# End to end, TLS everywhere: a certificate authority and certificates made
# by this test (openssl); three etcd members that serve clients over https
# and accept only clients with a certificate from that authority; three
# hifi-server nodes serving HTTPS and WSS, advertising https:// URLs,
# talking to each other (replica pushes, proxied reads, redirects) and to
# etcd through TLS. A user registers, uploads, downloads through every node
# and listens through WSS with the CLI; a renewed certificate is taken on
# SIGHUP without a restart; what is not trusted is refused with a clear
# message. (A peer whose certificate is not trusted: tests/server/tls_test.cc.)
# Usage: tls_e2e_test.sh BUILD_DIR/src   (holding hifi-server and hifi)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$HERE/lib.sh"
# shellcheck source=SCRIPTDIR/cluster_lib.sh
source "$HERE/cluster_lib.sh"

need_etcd
need_tools openssl curl jq sox
use_binaries "$(realpath "$1")"

# --- certificates ------------------------------------------------------------

PKI="$E2E_TMP/pki"
mkdir -p "$PKI"
# make_ca NAME: NAME.pem and NAME.key, a self-signed authority.
make_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
    -keyout "$PKI/$1.key" -out "$PKI/$1.pem" 2>/dev/null
}
# make_cert NAME CA SAN [DAYS]: NAME.pem and NAME.key for SAN (subjectAltName
# entries), signed by CA, for servers and clients.
make_cert() {
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' \
    "$3" >"$PKI/$1.ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$PKI/$1.key" -out "$PKI/$1.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.pem" -CAkey "$PKI/$2.key" -CAcreateserial \
    -days "${4:-1}" -extfile "$PKI/$1.ext" -out "$PKI/$1.pem" 2>/dev/null
}
serial_of() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }
# served_serial I: the serial of the certificate node I presents now.
served_serial() {
  openssl s_client -connect "127.0.0.1:${NODE_PORT[$1]}" -CAfile "$PKI/ca.pem" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}

step "a certificate authority and certificates, made now"
make_ca ca
make_cert etcd ca "IP:127.0.0.1,DNS:localhost"
make_cert node ca "IP:127.0.0.1,DNS:localhost"
make_cert etcd-client ca "DNS:hifi-node"
check "the node certificate chains to the CA" openssl verify -CAfile "$PKI/ca.pem" "$PKI/node.pem"

step "3 etcd members over https, client certificates required"
ETCD_TLS_CA="$PKI/ca.pem" ETCD_TLS_CERT="$PKI/etcd.pem" ETCD_TLS_KEY="$PKI/etcd.key"
check "3 etcd members start and answer over https" start_etcd_cluster 3 "$E2E_TMP" "hifi-tls-$$"
check "etcd's client URLs are https://" eq "${ETCD_ENDPOINTS:0:8}" "https://"
check "etcd refuses a client without a certificate" \
  bash -c "! curl -sf -m 5 --cacert '$PKI/ca.pem' 'https://127.0.0.1:${ETCD_CLIENT[1]}/health'"

NODE_SCHEME=https
NODE_ARGS=(--replicas 3 --member-ttl 2s --repair-interval 1s
  --tls-cert "$PKI/node.pem" --tls-key "$PKI/node.key" --tls-ca "$PKI/ca.pem"
  --etcd-ca "$PKI/ca.pem" --etcd-cert "$PKI/etcd-client.pem" --etcd-key "$PKI/etcd-client.key")
init_nodes

step "a node without etcd's client certificate cannot start, and says why"
free_port
set +e
timeout 60 "$BIN_DIR/hifi-server" --listen "127.0.0.1:$FREE_PORT" --data-dir "$E2E_TMP/lonely" \
  --etcd "$ETCD_ENDPOINTS" --etcd-ca "$PKI/ca.pem" >"$E2E_TMP/lonely.log" 2>&1
lonely=$?
set -e
check "it exits with an error" test "$lonely" -ne 0 -a "$lonely" -ne 124
check "its log names etcd and TLS" grep -q "etcd.*TLS" "$E2E_TMP/lonely.log"

step "3 nodes with HTTPS, advertised as https://"
for i in 1 2 3; do
  # Node 3 fetches songs it lacks from their holder itself (--read-mode proxy).
  if ((i == 3)); then extra=(--read-mode proxy); else extra=(); fi
  check "node $i starts over TLS and joins" start_node "$i" "${extra[@]}"
done
check "node 1 says it serves https" grep -q "listening on https://" "${NODE_LOG[1]}"
check "node 1 logs its certificate" grep -q "TLS with the certificate /CN=node" "${NODE_LOG[1]}"

export CURL_CA_BUNDLE="$PKI/ca.pem" XDG_CONFIG_HOME="$E2E_TMP/config" HOME="$E2E_TMP/home"
mkdir -p "$HOME"
HIFI=("$BIN_DIR/hifi" --server "${NODE_URL[1]}")

step "the CLI over https"
set +e
echo "correct horse" | "${HIFI[@]}" register --username alice --password-stdin >"$E2E_TMP/untrusted.out" 2>&1
untrusted=$?
set -e
check "without the CA, the CLI refuses the server (exit 6)" eq "$untrusted" 6
check "and says the certificate is not trusted" grep -q "certificate is not trusted" "$E2E_TMP/untrusted.out"
register_with_ca() { echo "correct horse" | "${HIFI[@]}" --ca-file "$PKI/ca.pem" register --username alice --password-stdin; }
check "register with --ca-file" register_with_ca
export HIFI_CA_FILE="$PKI/ca.pem"
TOKEN=$(curl -sf -m 10 -X POST -H 'Content-Type: application/json' -d '{"username":"alice","password":"correct horse"}' \
  "${NODE_URL[2]}/api/v1/auth/login" | jq -r .token)
check "log in on node 2 over https" test -n "$TOKEN"
check "every node sees all three, each at its https:// URL" wait_until 30 all_see_all 1 2 3
check "members advertise https://" eq "$(cluster_json 1 | jq -r '[.members[].advertise | startswith("https://")] | all')" true

step "upload: copies pushed between nodes through TLS"
sox -n -r 44100 -c 2 -b 16 "$E2E_TMP/song.wav" synth 120 sine 440 2>/dev/null
check "upload through the CLI" "${HIFI[@]}" upload "$E2E_TMP/song.wav"
SONG=$("${HIFI[@]}" songs --json | jq -r '(if type == "array" then . else .items end)[0].id')
SHA=$(sha256sum "$E2E_TMP/song.wav" | cut -d' ' -f1)
# live_replicas I ID: how many live nodes hold song ID, as node I says.
live_replicas() {
  curl -sf -m 10 -H "Authorization: Bearer $TOKEN" "${NODE_URL[$1]}/api/v1/songs/$2" | jq '[.replicas[]? | select(.live)] | length'
}
three_copies() { [[ "$(live_replicas 2 "$SONG")" == 3 ]]; }
check "the song has 3 live copies" wait_until 30 three_copies
for i in 1 2 3; do check "node $i holds the bytes" cmp -s "$(blob_path "$i" "$SHA")" "$E2E_TMP/song.wav"; done

step "reads of a song a node lacks: redirect and proxy to an https:// holder"
# A fourth node, given no copy (the song was stored before it joined), must
# fetch it from a holder: by redirect to the holder's https:// URL, and with
# --read-mode proxy by reading it from the holder through TLS.
free_port; P4=$FREE_PORT
start_extra() {
  "$BIN_DIR/hifi-server" --listen "127.0.0.1:$1" --data-dir "$E2E_TMP/$2" --etcd "$ETCD_ENDPOINTS" "${NODE_ARGS[@]}" \
    "${@:3}" >"$E2E_TMP/$2.log" 2>&1 &
  E2E_PIDS+=("$!")
  wait_until 60 grep -qs "joined the cluster as node" "$E2E_TMP/$2.log"
}
check "a fourth node joins" start_extra "$P4" node4
hops=$(curl -sS -m 20 -L -o "$E2E_TMP/via4.wav" -w '%{num_redirects} %{url_effective}' \
  -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$P4/api/v1/songs/$SONG/stream" || true)
check "the fourth node redirects once, to a holder's https:// URL" \
  eq "$(sed -E 's#^([0-9]+) (https://127\.0\.0\.1:)[0-9]+/.*#\1 \2#' <<<"$hops")" "1 https://127.0.0.1:"
check "and the bytes arrive whole" cmp -s "$E2E_TMP/via4.wav" "$E2E_TMP/song.wav"
free_port; P5=$FREE_PORT
check "a fifth node (--read-mode proxy) joins" start_extra "$P5" node5 --read-mode proxy
code=$(curl -sS -m 20 -o "$E2E_TMP/via5.wav" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  "https://127.0.0.1:$P5/api/v1/songs/$SONG/stream" || true)
check "the fifth node proxies it from a holder through TLS (200, no redirect)" eq "$code" 200
check "with the uploaded bytes" cmp -s "$E2E_TMP/via5.wav" "$E2E_TMP/song.wav"
check "downloads through the CLI verify the hash over https" \
  "$BIN_DIR/hifi" --server "https://127.0.0.1:$P5" download "$SONG" -o "$E2E_TMP/dl.wav"

step "a room over WSS"
ROOM=$("${HIFI[@]}" rooms create tls --json | jq -r .id)
check "room created" test -n "$ROOM"
"${HIFI[@]}" queue "$ROOM" add "$SONG" >/dev/null
"$BIN_DIR/hifi" --server "${NODE_URL[2]}" listen "$ROOM" --no-spread --sink null --sync-log "$E2E_TMP/sync.log" \
  >"$E2E_TMP/listen.out" 2>&1 &
E2E_PIDS+=("$!")
check "the listener connects to node 2 over wss" wait_until 20 grep -q "connected to ${NODE_URL[2]}" "$E2E_TMP/listen.out"
check "play through node 1" "${HIFI[@]}" play "$ROOM"
check "the listener on node 2 plays (100 output buffers)" wait_until 30 more_lines "$E2E_TMP/sync.log" 100

step "plain HTTP and untrusted certificates are refused"
plain=$(curl -sS -m 5 -o "$E2E_TMP/plain.json" -w '%{http_code}' "http://127.0.0.1:${NODE_PORT[1]}/healthz" || true)
check "plain HTTP to an https port gets 400" eq "$plain" 400
check "which says to use https://" eq "$(jq -r .type "$E2E_TMP/plain.json")" "urn:hifi:problem:https-required"
check "the node still answers over https afterwards" curl -sf -m 5 "${NODE_URL[1]}/healthz" -o /dev/null
check "TLS 1.1 is refused" bash -c "! curl -sf -m 5 --tlsv1.1 --tls-max 1.1 '${NODE_URL[1]}/healthz'"

step "a renewed certificate on SIGHUP, without a restart"
before=$(served_serial 1)
check "node 1 serves the certificate it was started with" eq "$before" "$(serial_of "$PKI/node.pem")"
cp "$PKI/node.pem" "$PKI/node-old.pem"
make_cert node ca "IP:127.0.0.1,DNS:localhost"
check "the renewed certificate has another serial" test "$(serial_of "$PKI/node.pem")" != "$before"
played=$(lines "$E2E_TMP/sync.log")
kill -HUP "${NODE_PID[1]}"
renewed() { [[ "$(served_serial 1)" == "$(serial_of "$PKI/node.pem")" ]]; }
check "node 1 serves the renewed certificate" wait_until 10 renewed
check "and logs it" grep -q "TLS certificate reloaded" "${NODE_LOG[1]}"
check "the listener on node 2 kept playing" wait_until 20 more_lines "$E2E_TMP/sync.log" $((played + 100))
echo "not a certificate" >"$PKI/broken.pem"
cp "$PKI/node.pem" "$PKI/node-good.pem"
cp "$PKI/broken.pem" "$PKI/node.pem"
kill -HUP "${NODE_PID[1]}"
check "a broken file on SIGHUP is logged" wait_until 10 grep -q "the certificate stays as it was" "${NODE_LOG[1]}"
check "and the node keeps serving the good one" eq "$(served_serial 1)" "$(serial_of "$PKI/node-good.pem")"
check "node 1 is still up" node_alive 1
cp "$PKI/node-good.pem" "$PKI/node.pem"


log ""
log "took $((SECONDS - T0)) s"
finish
