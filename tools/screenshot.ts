/**
 * `npm run screenshot`: the dashboard as an operator sees it, written to
 * docs/dashboard.png. Starts Fulcrum in this process with two services of
 * demo backends, puts a varying load through both (new connections, HTTP
 * requests with Connection: close), and along the way drains one backend,
 * reweights another and kills a third, so the page shows live charts, a
 * draining row, a down row and the events list. Needs Debian's chromium
 * (playwright-core drives it; no browser is downloaded).
 *
 *   npm run screenshot [-- --seconds 40 --out docs/dashboard.png]
 */
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { connect } from 'node:net';
import { parseCidr } from '../src/config/cidr.ts';
import { makeConfig, makeService } from '../src/config/config.ts';
import { Fulcrum } from '../src/fulcrum.ts';
import { startDemoBackend } from './backend.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '40' },
    out: { type: 'string', default: 'docs/dashboard.png' },
    chromium: { type: 'string', default: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' },
  },
});
const seconds = Number(values.seconds);
const loopback = { host: '127.0.0.1', port: 0 };
const health = { intervalMs: 500, timeoutMs: 300, rise: 2, fall: 2 };

const web = await Promise.all(['web-1', 'web-2', 'web-3', 'web-4'].map((n) => startDemoBackend(n)));
const cache = await Promise.all(['cache-1', 'cache-2'].map((n) => startDemoBackend(n)));
const at = (b: { address: { port: number } }, weight = 1) => ({ host: '127.0.0.1', port: b.address.port, weight });
const lb = await Fulcrum.start(
  makeConfig({
    admin: loopback,
    logLevel: 'silent',
    services: [
      // web-4 joins during the run and slow-starts; 127.0.0.9 is denied (a few of its connections show as refusals).
      makeService({ name: 'web', listen: loopback, algo: 'power-of-two-choices', backends: [at(web[0]!, 2), at(web[1]!), at(web[2]!)], health, slowStartMs: 60_000, deny: [parseCidr('deny', '127.0.0.9/32')] }),
      makeService({ name: 'cache', listen: loopback, algo: 'least-connections', backends: [at(cache[0]!), at(cache[1]!)], health, maxConnections: 200 }),
    ],
  }),
);
const admin = `http://127.0.0.1:${lb.adminAddress.port}`;

let stop = false;
/** `perSecond(t)` new connections a second to `port`, each one HTTP request. */
function load(port: number, perSecond: (t: number) => number): void {
  const t0 = Date.now();
  let owed = 0;
  const timer = setInterval(() => {
    if (stop) return clearInterval(timer);
    owed += perSecond((Date.now() - t0) / 1000) / 50;
    for (; owed >= 1; owed--) {
      const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => res.resume());
      req.on('error', () => {});
      req.end();
    }
  }, 20);
}
load(lb.service('web')!.address!.port, (t) => 220 + 120 * Math.sin(t / 5));
load(lb.service('cache')!.address!.port, (t) => 90 + 40 * Math.cos(t / 7));
const denied = setInterval(() => {
  if (stop) return clearInterval(denied);
  connect({ host: '127.0.0.1', port: lb.service('web')!.address!.port, localAddress: '127.0.0.9' }).on('error', () => {});
}, 700);

const browser = await chromium.launch({
  executablePath: values.chromium,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 980 }, deviceScaleFactor: 1 });
  await page.goto(`${admin}/`);
  const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));
  const idOf = async (service: string, port: number) =>
    ((await (await fetch(`${admin}/services/${service}/backends`)).json()) as { data: { backends: { id: string; address: string }[] } }).data.backends.find((b) => b.address.endsWith(`:${port}`))!.id;
  await sleep(seconds * 0.4);
  // An operator at work: drain one with the page's own button, reweight one, and a backend dies.
  await page.click(`section[data-service="web"] tr[data-address="127.0.0.1:${web[2]!.address.port}"] button.drain`);
  await fetch(`${admin}/services/web/backends/${await idOf('web', web[1]!.address.port)}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ weight: 3 }),
  });
  await sleep(seconds * 0.15);
  await fetch(`${admin}/services/web/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: `127.0.0.1:${web[3]!.address.port}`, weight: 2 }) });
  await sleep(seconds * 0.15);
  await cache[1]!.close();
  await sleep(seconds * 0.3);
  await page.screenshot({ path: values.out, fullPage: true });
  console.log(`wrote ${values.out}`);
} finally {
  stop = true;
  await browser.close();
  await lb.destroy();
  await Promise.all([...web, ...cache].map((b) => b.close()));
}
