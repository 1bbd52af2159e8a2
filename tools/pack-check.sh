#!/usr/bin/env bash
# tools/pack-check.sh: Fulcrum as a user installs it. Packs the clone, installs
# the tarball globally into a temporary prefix, and from / runs the installed
# `fulcrum` (the emitted JavaScript, with tsx removed: plain node, no loader): --version, validate, then --demo with --workers 2 answering a request;
# and checks the shipped systemd unit with systemd-analyze verify where it exists.
# Uses the `node` and `npm` first on PATH (.ci/run runs it on every Node).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "pack-check: $*" >&2; exit 1; }

tgz=$(cd "$root" && npm pack --silent --pack-destination "$tmp" | tail -n1)
npm install --global --silent --no-audit --no-fund --prefix "$tmp/prefix" "$tmp/$tgz"
fulcrum=$tmp/prefix/bin/fulcrum
# The installed copy runs the JavaScript emitted at pack time with plain node: with tsx gone, everything below must still work.
installed=$tmp/prefix/lib/node_modules/fulcrum
[[ -f $installed/src/main.js && -f $installed/src/cluster/worker.js ]] || fail "the package holds no emitted JavaScript (prepack)"
[[ -d $installed/node_modules/tsx ]] || fail "tsx is not where a global install puts it: $installed/node_modules/tsx"
rm -rf "$installed/node_modules/tsx"
[[ ! -f $root/src/main.js ]] || fail "postpack left emitted JavaScript in the clone"
cd /

want=$(node -p "require('$root/package.json').version")
got=$("$fulcrum" --version)
[[ $got == "$want" ]] || fail "fulcrum --version printed '$got', want '$want'"
echo "pack-check: $tgz installs; fulcrum --version: $got"
conf=$(mktemp --suffix=.yaml)
printf 'services:\n  - { name: web, listen: 127.0.0.1:0, backends: [ "127.0.0.1:9001" ] }\n' >"$conf"
summary=$(cd / && "$fulcrum" validate -c "$conf")
[[ $summary == "ok: 1 service: web on 127.0.0.1:0 (power-of-two-choices, 1 backend)" ]] || fail "fulcrum validate printed '$summary'"
rm -f "$conf"
echo "pack-check: from /, fulcrum validate: $summary"

exec 3< <(exec "$fulcrum" --demo --workers 2 --listen 127.0.0.1:0 --admin 127.0.0.1:0 --log-level warn)
pid=$!
port=
admin=
while IFS= read -r -t 60 line <&3; do
  [[ $line =~ proxy\ listening\ on\ 127\.0\.0\.1:([0-9]+) ]] && port=${BASH_REMATCH[1]}
  [[ $line =~ admin\ listening\ on\ 127\.0\.0\.1:([0-9]+) ]] && admin=${BASH_REMATCH[1]}
  [[ $line == *demo-3* ]] && break
done
[[ -n $port ]] || fail "fulcrum --demo printed no listening line"
workers=$(pgrep -c -P "$pid" || true)
[[ $workers == 2 ]] || fail "expected 2 workers, found $workers"
answer=$(curl -sS --max-time 5 "http://127.0.0.1:$port/")
[[ $answer == "hello from demo-"* ]] || fail "curl through the proxy answered '$answer'"
echo "pack-check: from /, fulcrum --demo --workers 2 answered: $answer"
# The dashboard's files ship, and uPlot resolves from the installed package's dependencies.
[[ -n $admin ]] || fail "fulcrum --demo printed no admin listening line"
for path in / /dashboard/app.js /dashboard/vendor/uPlot.esm.js; do
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$admin$path")
  [[ $code == 200 ]] || fail "GET $path on the admin port answered $code"
done
echo "pack-check: the dashboard and uPlot are served from the install"

# The shipped systemd unit, pointed at this install (verify wants ExecStart to exist).
if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/local/bin/fulcrum|$fulcrum|" "$tmp/prefix/lib/node_modules/fulcrum/tools/fulcrum.service" > "$tmp/fulcrum.service"
  systemd-analyze verify "$tmp/fulcrum.service" || fail "systemd-analyze verify rejects tools/fulcrum.service"
  echo "pack-check: systemd-analyze verify accepts tools/fulcrum.service"
else
  echo "pack-check: no systemd-analyze here; tools/fulcrum.service not verified"
fi

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[[ $status == 0 ]] || fail "fulcrum exited $status on SIGTERM"

# The shared store: ioredis is loaded (from the install's dependencies, by the emitted JavaScript) only with --store.
if command -v redis-server >/dev/null; then
  rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >/dev/null &
  rpid=$!
  exec 4< <(exec "$fulcrum" --store "redis://127.0.0.1:$rport/0" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --log-level warn)
  pid=$!
  admin=
  while IFS= read -r -t 60 line <&4; do
    [[ $line =~ admin\ listening\ on\ 127\.0\.0\.1:([0-9]+) ]] && admin=${BASH_REMATCH[1]} && break
  done
  [[ -n $admin ]] || fail "fulcrum --store printed no admin listening line"
  health=$(curl -sS --max-time 5 "http://127.0.0.1:$admin/healthz")
  kill -TERM "$pid"; wait "$pid" || true; pid=
  kill -TERM "$rpid"; wait "$rpid" || true
  [[ $health == *'"store":"connected"'* ]] || fail "fulcrum --store: /healthz answered '$health'"
  echo "pack-check: from /, fulcrum --store reaches redis-server: $health"
fi
