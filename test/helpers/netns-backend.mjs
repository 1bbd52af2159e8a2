// A TCP backend in its own process (inside a test's network namespace with `ip netns exec`, or with a raised
// descriptor limit for floods): `node netns-backend.mjs HOST [echo|silent|trickle]`. echo: every byte back, and a
// half-close when the client's; silent: accepts and never answers; trickle: one byte a second, forever.
// Prints "port N" once listening; exits when stdin closes (the test went away).
import { createServer } from 'node:net';

const mode = process.argv[3] ?? 'echo';
let open = 0;
const server = createServer({ allowHalfOpen: mode === 'echo' }, (socket) => {
  open++;
  socket.on('close', () => open--);
  socket.on('error', () => {});
  if (mode === 'echo') socket.pipe(socket);
  else if (mode === 'silent') socket.resume();
  else {
    socket.resume();
    const timer = setInterval(() => socket.write('.'), 1000);
    socket.on('close', () => clearInterval(timer));
  }
});
server.listen({ port: 0, host: process.argv[2], backlog: 4096 }, () => console.log(`port ${server.address().port}`));
process.stdin.on('data', () => console.log(`open ${open}`)); // any line: how many connections are open
process.stdin.on('end', () => process.exit(0));
