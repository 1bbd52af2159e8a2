/**
 * tcpKeepAlive: both sides of a proxied connection carry SO_KEEPALIVE with
 * the configured idle time, read back from the kernel with `ss -tno`
 * (`timer:(keepalive,…)` on an established socket); 0 leaves both off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { dial, readBytes } from '../helpers/net.ts';
import { backendAt, startProxy } from '../helpers/proxy.ts';

/** The `ss -tno` line of the established socket whose local address is 127.0.0.1:`port` and peer port `peer`. */
async function ssLine(local: number, peer: number): Promise<string> {
  const { stdout } = await promisify(execFile)('ss', ['-tnoH', 'state', 'established', `( sport = :${local} and dport = :${peer} )`]);
  return stdout.trim();
}

for (const [keepAliveMs, expected] of [[45_000, /timer:\(keepalive,(\d+)(?:\.\d+)?s?(?:ec)?,0\)|timer:\(keepalive,(\d+)min/], [0, null]] as const) {
  test(`tcpKeepAlive ${keepAliveMs / 1000}s: ${expected ? 'set on the client and the backend socket' : 'off on both'}`, { timeout: 10_000 }, async (t) => {
    const backendSockets: Socket[] = [];
    const backend = createServer((s) => {
      backendSockets.push(s);
      s.pipe(s);
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    t.after(() => {
      for (const s of backendSockets) s.destroy();
      backend.close();
    });
    const backendPort = (backend.address() as AddressInfo).port;
    const lb = await startProxy(t, { backends: [backendAt(backendPort)], tcpKeepAliveMs: keepAliveMs });
    const proxyPort = lb.proxyAddress.port;
    const client = await dial({ port: proxyPort });
    t.after(() => client.destroy());
    client.write('x');
    await readBytes(client, 1);
    // Fulcrum's side of the client connection: local port = the proxy's, peer = the client's port.
    const clientSide = await ssLine(proxyPort, client.localPort!);
    // Fulcrum's side of the backend connection: peer = the backend's port, local = what the backend sees as remote.
    const upstreamSide = await ssLine(backendSockets[0]!.remotePort!, backendPort);
    assert.notEqual(clientSide, '', 'found the client-side socket');
    assert.notEqual(upstreamSide, '', 'found the backend-side socket');
    for (const [side, line] of [['client', clientSide], ['backend', upstreamSide]] as const) {
      if (expected === null) {
        assert.doesNotMatch(line, /keepalive/, `${side} side: ${line}`);
        continue;
      }
      const m = expected.exec(line);
      assert.ok(m, `${side} side has a keepalive timer: ${line}`);
      // The first probe is due within the idle time (45 s), and not long since set.
      const seconds = m[1] !== undefined ? Number(m[1]) : Number(m[2]) * 60;
      assert.ok(seconds <= 45 && seconds >= 30, `${side} side: next probe in ${seconds}s (${line})`);
    }
  });
}
