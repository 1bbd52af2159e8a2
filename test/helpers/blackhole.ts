/**
 * A backend that never completes a TCP handshake: a listener with a backlog
 * of 0 that never accepts, its queue filled by the test. Further SYNs are
 * dropped by the kernel, so connects hang until the caller's timeout, which
 * is what a backend that is up but overwhelmed looks like. Node always
 * accepts, so the listener is a python3 one-liner (python3 is on every
 * machine this project runs on).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

const SCRIPT = `
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
print(s.getsockname()[1], flush=True)
sys.stdin.read()
`;

export interface Blackhole {
  readonly port: number;
  close(): Promise<void>;
}

export async function startBlackhole(): Promise<Blackhole> {
  const child = spawn('python3', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  // Fill the accept queue; once a connect stays pending, the next SYN is dropped too.
  const fillers: Socket[] = [];
  for (;;) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
    const ok = await Promise.race([once(s, 'connect').then(() => true), new Promise((r) => setTimeout(r, 100, false))]);
    if (!ok) break;
  }
  return {
    port,
    close: async () => {
      for (const s of fillers) s.destroy();
      child.stdin.end();
      child.kill();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}
