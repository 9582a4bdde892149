#!/usr/bin/env bash
# npm run demo: castor's main job, for real, on loopback. Two daemons in temporary data
# dirs; a tree added and published under a signing key on one, fetched by KEY/NAME on
# the other (which trusts the key), verified and compared with the original; then a
# lying peer (a hostile peer from test/support, not castor) caught. Stops what it started
# (by pid) and removes its files on exit. CASTOR_DIST: the build to run (default dist).
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${CASTOR_DIST:-dist}
castor() { node "$dist/src/cli/main.js" "$@"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/castor-demo-XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# start_daemon NAME [ENV=VALUE...]: a daemon on 127.0.0.1 (a free port) with data dir $work/NAME,
# its log in $work/NAME.log; returns once it is ready.
start_daemon() {
  local name=$1; shift
  env "$@" node "$dist/src/cli/main.js" daemon --data-dir "$work/$name" --listen /ip4/127.0.0.1/tcp/0 --no-mdns 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q 'started: peer id' "$work/$name.log" 2>/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "daemon $name did not start:"; cat "$work/$name.log"; exit 1
}
address() { castor id --json --data-dir "$work/$1" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).addresses[0]))'; }
log() { sed -e 's/^[0-9T:.-]*Z //' -e "s#$work#\$work#g" "$work/$1.log"; }

step "two daemons on loopback, each with its own data dir and peer id"
start_daemon alice
start_daemon bob
castor id --data-dir "$work/alice"
castor id --data-dir "$work/bob" | head -1

step "alice adds a tree (through her daemon) and publishes it under a signing key"
mkdir -p "$work/tree/docs" "$work/tree/bin"
node -e "const c=require('crypto'),f=require('fs');f.writeFileSync(process.argv[1],c.randomBytes(16<<20))" "$work/tree/data.bin"
printf 'castor demo\n' > "$work/tree/docs/README"
printf '#!/bin/sh\necho hello from castor\n' > "$work/tree/bin/hello"; chmod +x "$work/tree/bin/hello"
ln -s docs/README "$work/tree/link"
mkdir "$work/keys" && castor key generate demo-1 --out "$work/keys" >/dev/null
digest=$(castor add "$work/tree" --data-dir "$work/alice" | cut -d' ' -f1)
echo "tree digest: $digest"
castor publish --key "$work/keys/demo-1.secret" "demo-tree=$digest" --data-dir "$work/alice"

step "bob fetches demo-1/demo-tree from alice, trusting only the key demo-1"
echo "trusted key: $(cat "$work/keys/demo-1.public")"
castor fetch demo-1/demo-tree "$work/fetched" --peer "$(address alice)" \
  --trusted-key "$work/keys/demo-1.public" --json --data-dir "$work/bob"
diff -r "$work/tree" "$work/fetched" && echo "identical to the original tree (diff -r)"
castor peers --data-dir "$work/bob"

step "without --trusted-key (and no config.json entry) bob refuses the same name"
set +e
castor fetch demo-1/demo-tree "$work/refused" --peer "$(address alice)" --data-dir "$work/bob"
echo "exit status $?"
set -e

step "a ticket: alice shares one file, bob pastes the ticket"
ticket=$(castor share "$work/tree/docs/README" --data-dir "$work/alice" | cut -d' ' -f1)
echo "$ticket"
castor fetch "$ticket" "$work/readme-copy" --data-dir "$work/bob"
cmp "$work/readme-copy" "$work/tree/docs/README" && echo "fetched by ticket: identical"

step "mallory serves a tree but flips one byte of each blob she sends (a hostile peer: test/support/hostile-peer.ts)"
mkdir -p "$work/evil"
node -e "const c=require('crypto'),f=require('fs');f.writeFileSync(process.argv[1],c.randomBytes(4<<20))" "$work/evil/payload.bin"
evil=$(castor add "$work/evil" --data-dir "$work/mallory" | cut -d' ' -f1)
node "$dist/test/support/hostile-peer-main.js" --data-dir "$work/mallory" --mode flip >"$work/mallory.out" 2>"$work/mallory.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/mallory.out" ] && break; sleep 0.1; done
mallory=$(head -1 "$work/mallory.out" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).addresses[0]))')
echo "mallory: $mallory"
set +e
castor fetch "$evil" "$work/evil-copy" --peer "$mallory" --data-dir "$work/bob"
status=$?
set -e
echo "exit status $status; $work/evil-copy: $(if [ -e "$work/evil-copy" ]; then echo "written (unexpected)"; else echo "not written"; fi)"
[ "$status" -ne 0 ] && [ ! -e "$work/evil-copy" ] || { echo "the lying peer was not caught"; exit 1; }

step "bob's daemon log"
log bob

printf '\nDone: a tree fetched by name through a signed root, verified and identical; a ticket fetched;\nthe lying peer named and refused, nothing unverified kept.\n'
