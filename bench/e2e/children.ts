/**
 * Every process the harness starts goes through here, so that one place can
 * stop them all: at the end of a run, on an exception, and on Ctrl-C.
 *
 * Each child leads its own process group (`detached`), for two reasons: the
 * terminal's SIGINT then reaches only the harness, which stops things in order,
 * and a signal to the group also reaches grandchildren (nginx workers, Fulcrum
 * workers) that would otherwise outlive their parent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const groups = new Set<number>();
const cleanups: Array<() => void> = [];
let groupsFile: string | undefined;

/** Mirrors the live groups to a file for the watchdog; small, and only written on start/stop. */
function persist(): void {
  if (groupsFile) writeFileSync(groupsFile, [...groups].join('\n'));
}

/**
 * Signal handlers cannot run when the harness is SIGKILLed (or its tsx parent
 * vanishes), and nginx or haproxy would then run forever. A detached shell
 * polls the harness once a second and, once it is gone, kills every group
 * listed in `dir` and removes `dir`. It exits by itself after a normal run.
 */
export function startWatchdog(dir: string): void {
  groupsFile = join(dir, 'process-groups');
  persist();
  const script =
    'while kill -0 "$1" 2>/dev/null; do sleep 1; done; ' +
    'for g in $(cat "$2/process-groups" 2>/dev/null); do kill -s KILL -- "-$g" 2>/dev/null; done; rm -rf "$2"';
  spawn('sh', ['-c', script, 'watchdog', String(process.pid), dir], { detached: true, stdio: 'ignore' }).unref();
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Last few KiB of stdout+stderr, for error messages; reading it also keeps the pipes drained. */
  tail(): string;
  /** Resolves with the exit code (or signal name) once the leader has exited. */
  readonly exited: Promise<number | string>;
  hasExited(): boolean;
}

const TAIL_BYTES = 4096;

export function spawnGroup(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Spawned {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (err) => {
      done = true;
      tail += `\nspawn ${cmd}: ${err.message}`;
      resolve('spawn-error');
    });
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal ?? 'unknown');
    });
  });
  // pid is undefined only when spawn itself failed (ENOENT); the 'error' path above reports that.
  const pid = child.pid ?? -1;
  if (pid > 0) {
    groups.add(pid);
    persist();
  }
  return { child, pid, tail: () => tail, exited, hasExited: () => done };
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

/**
 * SIGTERM to the group, then SIGKILL after `graceMs` whatever happened: a
 * leader that exits on TERM may leave a worker behind, and the group id is
 * only ours while one of its members is alive.
 */
export async function stopGroup(p: Spawned, graceMs = 3000): Promise<void> {
  if (p.pid <= 0 || !groups.has(p.pid)) return;
  signalGroup(p.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.exited, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
  clearTimeout(timer);
  signalGroup(p.pid, 'SIGKILL');
  groups.delete(p.pid);
  persist();
}

/** Synchronous, so it can run from an 'exit' handler. */
export function killAllSync(): void {
  for (const pgid of groups) signalGroup(pgid, 'SIGKILL');
  groups.clear();
  groupsFile = undefined; // the cleanups below remove its directory
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch {
      // Best effort: we are on the way out.
    }
  }
}

/** Registers a synchronous cleanup (temp dirs) that runs after the children are killed. */
export function onCleanup(fn: () => void): void {
  cleanups.push(fn);
}

let installed = false;

/** Ctrl-C, SIGTERM and a crash all end with every child group killed. */
export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: stopping everything the benchmark started\n`);
      killAllSync();
      process.exit(130);
    });
  }
  process.on('exit', killAllSync);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
