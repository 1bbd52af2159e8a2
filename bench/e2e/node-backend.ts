/**
 * Fallback HTTP backend for when nginx is not installed: `/small` answers
 * "ok\n", `/large` a 1 MiB body. One process (the machine has two cores and
 * the load generator and the balancer need them). Timeouts are long so the
 * idle-connection test's keep-alive connections stay open.
 *
 * Usage: node --import tsx bench/e2e/node-backend.ts PORT
 */
import http from 'node:http';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: node-backend.ts PORT\n');
  process.exit(2);
}

const SMALL = Buffer.from('ok\n');
const LARGE = Buffer.alloc(1 << 20, 'x');

const server = http.createServer(
  { keepAliveTimeout: 600_000, requestTimeout: 0, headersTimeout: 0, maxHeaderSize: 8192 },
  (req, res) => {
    const body = req.url === '/small' ? SMALL : req.url === '/large' ? LARGE : undefined;
    if (!body) {
      res.writeHead(404, { 'content-length': 0 }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  },
);
server.listen(port, '127.0.0.1', 4096);
process.on('SIGTERM', () => process.exit(0));
