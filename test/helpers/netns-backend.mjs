// A TCP backend run inside a test's network namespace (`ip netns exec NS node netns-backend.mjs HOST`):
// echoes every byte, half-closes when the client does, prints "port N" once listening.
import { createServer } from 'node:net';

const server = createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => {});
  socket.pipe(socket);
});
server.listen(0, process.argv[2], () => console.log(`port ${server.address().port}`));
process.stdin.on('end', () => process.exit(0)).resume(); // the test went away
