#!/usr/bin/env bash
# npm run demo: what castor can do today, end to end on real files. The network
# (daemons, fetching from peers) does not exist yet; this shows the verified-
# streaming core it will stand on.
set -euo pipefail
cd "$(dirname "$0")/.."
castor() { node dist/src/cli/main.js "$@"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/castor-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "castor demo (verified streaming core; no network yet)"
node -e "const c=require('crypto');const f=require('fs');const fd=f.openSync(process.argv[1],'w');for(let i=0;i<48;i++)f.writeSync(fd,c.randomBytes(1<<20));f.closeSync(fd)" "$work/data.bin"
ls -l "$work/data.bin"

step "1. hash a 48 MiB file (BLAKE3, the same digest b3sum prints)"
castor hash "$work/data.bin"
hash=$(castor hash --no-names "$work/data.bin")
if command -v b3sum >/dev/null; then echo "b3sum says: $(b3sum --no-names "$work/data.bin")"; fi

step "2. build its outboard (16 KiB chunk groups, 0.39% of the data)"
castor bao encode "$work/data.bin" --outboard "$work/data.obao"
ls -l "$work/data.obao"

step "3. prove one range: slice 1 MiB from the middle, verify it against the hash alone"
castor bao slice 20000000 1048576 "$work/data.bin" "$work/mid.slice" --outboard "$work/data.obao"
ls -l "$work/mid.slice"
castor bao decode-slice "$hash" 20000000 1048576 "$work/mid.slice" "$work/mid.out"
cmp "$work/mid.out" <(tail -c +20000001 "$work/data.bin" | head -c 1048576) && echo "slice verified: 1048576 bytes identical to the original"

step "4. a lying peer: flip one byte of the slice; decoding refuses it (exit 1)"
node -e "const f=require('fs');const b=f.readFileSync(process.argv[1]);b[b.length-4000]^=1;f.writeFileSync(process.argv[2],b)" "$work/mid.slice" "$work/bad.slice"
set +e
castor bao decode-slice "$hash" 20000000 1048576 "$work/bad.slice" "$work/bad.out"
status=$?
set -e
echo "exit status $status; bytes released before the bad group: $(stat -c %s "$work/bad.out") (all of them verified)"

step "5. the whole file as a combined encoding, decoded from a pipe"
castor bao encode "$work/data.bin" "$work/data.bao"
castor bao decode "$hash" < "$work/data.bao" | cmp - "$work/data.bin" && echo "decoded stream identical to the original"

step "6. a Nix-format publisher key, and a narinfo fingerprint signed and checked"
castor key generate demo-1 --out "$work" >/dev/null
fp="1;/nix/store/0000000000000000000000000000000a-demo;sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s;1024;"
sig=$(castor nix sign-fingerprint "$fp" --key "$work/demo-1.secret")
echo "Sig: $sig"
castor nix verify-fingerprint "$fp" "$sig" "$work/demo-1.public" && echo "signature valid"

step "7. content-defined chunks (FastCDC 2020) of the first 1 MiB, as stored at rest later"
head -c 1048576 "$work/data.bin" > "$work/head.bin"
castor chunk "$work/head.bin" | head -5

printf '\nDone. Next: the disk store, signed roots and the libp2p node (see README).\n'
