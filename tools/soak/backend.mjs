// A soak backend, one process each (tools/soak.ts kills and restarts them): `node backend.mjs NAME PORT`.
// Every connection first gets `B NAME\n`. Then `P\n` is answered `pong\n` and closed (a short connection);
// `S UP DOWN\n` is a stream: the client sends UP random bytes and their sha256 (64 hex) and half-closes, while
// this side sends DOWN random bytes and their sha256, then `OK` when what it read matched the client's
// sha256 (else `BAD`), then its own FIN: bytes checked at both ends, half-close both ways.
// Prints "port N" once listening; exits when stdin closes.
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';

const [name, port] = process.argv.slice(2);
const CHUNK = 64 * 1024;

function stream(socket, up, down, first) {
  const hashIn = createHash('sha256');
  let got = 0;
  let tail = '';
  let sent;
  let ended = false;
  const finish = () => {
    if (sent === undefined || !ended) return;
    socket.end(`${sent}${got === up && tail === hashIn.digest('hex') ? 'OK' : 'BAD'}`);
  };
  const take = (c) => {
    const data = c.subarray(0, Math.max(0, up - got));
    hashIn.update(data);
    got += data.length;
    tail += c.subarray(data.length).toString('latin1');
  };
  take(first);
  socket.on('data', take);
  socket.on('end', () => {
    ended = true;
    finish();
  });
  const hashOut = createHash('sha256');
  let left = down;
  const pump = () => {
    while (left > 0) {
      const b = randomBytes(Math.min(left, CHUNK));
      hashOut.update(b);
      left -= b.length;
      if (!socket.write(b)) return void socket.once('drain', pump);
    }
    sent = hashOut.digest('hex');
    finish();
  };
  pump();
}

const server = createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => {});
  socket.write(`B ${name}\n`);
  let head = Buffer.alloc(0);
  const onHead = (c) => {
    head = Buffer.concat([head, c]);
    const nl = head.indexOf(10);
    if (nl < 0) return;
    socket.off('data', onHead);
    const line = head.subarray(0, nl).toString('latin1');
    const m = /^S (\d+) (\d+)$/.exec(line);
    if (line === 'P') {
      socket.on('end', () => socket.end());
      socket.write('pong\n');
      socket.resume();
    } else if (m) stream(socket, Number(m[1]), Number(m[2]), head.subarray(nl + 1));
    else socket.destroy();
  };
  socket.on('data', onHead);
  socket.on('end', () => head.indexOf(10) < 0 && socket.end());
});
server.listen({ port: Number(port), host: '127.0.0.1', backlog: 1024 }, () => console.log(`port ${server.address().port}`));
process.stdin.on('end', () => process.exit(0)).resume();
