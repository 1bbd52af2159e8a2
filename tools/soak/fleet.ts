/**
 * The soak's backends, one process each (backend.mjs), so that a kill is a
 * real process dying with its connections; a restart listens on the same
 * port. Remembers when each was down, to tell a failure its fault caused
 * from one nothing excuses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./backend.mjs', import.meta.url));

export interface SoakBackend {
  readonly name: string;
  port: number;
  child: ChildProcess | undefined;
  /** [killedAt, restartedAt or Infinity] */
  readonly down: [number, number][];
  /** [killedAt, exitedAt]: a connection that began before its exit may have reached it. */
  readonly dying: [number, number][];
  readonly origin: 'file' | 'api';
}

export class Fleet {
  readonly backends = new Map<string, SoakBackend>();

  /**
   * Starts `name`, or restarts it on its port. Ports are chosen below the
   * ephemeral range: a freed ephemeral port can be taken at once by an
   * outgoing connection, and the restart on it would fail with EADDRINUSE.
   */
  async start(name: string, origin: 'file' | 'api'): Promise<SoakBackend> {
    const known = this.backends.get(name);
    const b: SoakBackend = known ?? { name, port: 0, child: undefined, down: [], dying: [], origin };
    for (let attempt = 0; ; attempt++) {
      const port = known === undefined ? 10_000 + Math.floor(Math.random() * 20_000) : b.port;
      const child = await this.#spawn(name, port);
      if (child !== undefined) {
        b.port = port;
        b.child = child;
        break;
      }
      if (attempt === 20) throw new Error(`backend ${name} could not listen on ${port}`);
      if (known !== undefined) await new Promise((r) => setTimeout(r, 100));
    }
    const last = b.down.at(-1);
    if (last !== undefined && last[1] === Infinity) last[1] = Date.now();
    this.backends.set(name, b);
    return b;
  }

  async #spawn(name: string, port: number): Promise<ChildProcess | undefined> {
    const child = spawn(process.execPath, [SCRIPT, name, String(port)], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    while (!/port \d+/.test(out)) {
      const [chunk] = await Promise.race([once(child.stdout!, 'data'), once(child, 'exit').then(() => [undefined])]);
      if (chunk === undefined) return undefined; // EADDRINUSE
      out += chunk;
    }
    return child;
  }

  /** SIGKILL: its open connections die with it. */
  async kill(b: SoakBackend): Promise<void> {
    const child = b.child;
    if (child === undefined) return;
    b.child = undefined;
    b.down.push([Date.now(), Infinity]);
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    b.dying.push([b.down.at(-1)![0], Date.now()]);
  }

  alive(): SoakBackend[] {
    return [...this.backends.values()].filter((b) => b.child !== undefined);
  }

  /**
   * Whether `name` was killed while a connection of [from, to] was open: it
   * was dying (killed, not yet exited) at some point of it. One that began
   * after the exit should have gone elsewhere (refused, then retried).
   */
  killedDuring(name: string, from: number, to: number): boolean {
    return (this.backends.get(name)?.dying ?? []).some(([killed, exited]) => killed <= to && exited >= from);
  }

  /** Whether no backend at all was up at `at`. */
  noneUp(at: number): boolean {
    return [...this.backends.values()].every((b) => b.down.some(([a, c]) => a <= at && c >= at));
  }

  /** At exit: nothing left behind. */
  killAllNow(): void {
    for (const b of this.backends.values()) b.child?.kill('SIGKILL');
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.backends.values()].map((b) => this.kill(b)));
  }
}
