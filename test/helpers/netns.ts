/**
 * Network namespaces for fault tests (issue 16): a namespace per test, joined
 * to the root namespace by a veth pair (or, for a delay on a kernel without
 * sch_netem, by two tun devices and delay-link.py), with faults made by the
 * kernel: iptables rules inside the namespace, links set down. Fulcrum runs
 * in the root namespace and reaches the backends at the namespace's address.
 *
 * Names and the /30 are chosen per run and checked free; everything made is
 * removed after the test, failed or not (t.after), processes first.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomInt } from 'node:crypto';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

/** Why the namespace tests cannot run here, or false when they can. */
export const NETNS_SKIP: string | false =
  process.getuid?.() === 0 ? false : 'needs root to create network namespaces (ip netns); .ci/run runs it as root';

const BACKEND = fileURLToPath(new URL('./netns-backend.mjs', import.meta.url));
const DELAY_LINK = fileURLToPath(new URL('./delay-link.py', import.meta.url));

export function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Whether this kernel has the netem qdisc (Firecracker's has not). */
export function hasNetem(dev: string): boolean {
  try {
    sh('tc', ['qdisc', 'add', 'dev', dev, 'root', 'netem', 'delay', '0ms']);
    sh('tc', ['qdisc', 'del', 'dev', dev, 'root']);
    return true;
  } catch {
    return false;
  }
}

export interface NsBackend {
  readonly port: number;
  readonly child: ChildProcess;
}

export interface BackendProcessOptions {
  readonly host: string;
  /** echo (default), silent (accepts, never answers) or trickle (one byte a second). */
  readonly mode?: 'echo' | 'silent' | 'trickle';
  /** Run inside this network namespace. */
  readonly netns?: string;
  /** Soft descriptor limit of the process (floods). */
  readonly nofile?: number;
}

/** A backend in a process of its own (netns-backend.mjs); the caller kills it (the netns helper and t.after do). */
export async function startBackendProcess(options: BackendProcessOptions): Promise<NsBackend> {
  const node = [process.execPath, BACKEND, options.host, options.mode ?? 'echo'];
  const inNs = options.netns === undefined ? node : ['ip', 'netns', 'exec', options.netns, ...node];
  const argv = options.nofile === undefined ? inNs : ['bash', '-c', `ulimit -n ${options.nofile} && exec "$@"`, 'bash', ...inNs];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  while (!/port \d+/.test(out)) {
    const [chunk] = await Promise.race([once(child.stdout!, 'data'), once(child, 'exit').then(() => [Buffer.from('exit')])]);
    if (String(chunk) === 'exit') throw new Error(`the backend process exited: ${out}`);
    out += chunk;
  }
  return { port: Number(/port (\d+)/.exec(out)![1]), child };
}

export interface Netns {
  readonly name: string;
  /** The namespace's address (where its backends listen). */
  readonly address: string;
  /** The root namespace's end of the link. */
  readonly local: string;
  /** The link's device in the namespace and in the root namespace. */
  readonly inner: string;
  readonly outer: string;
  /** Runs a command inside the namespace. */
  exec(cmd: string, ...args: string[]): string;
  /** An echo backend inside the namespace. */
  backend(): Promise<NsBackend>;
}

export interface NetnsOptions {
  /** Delay of every packet from the namespace to the root one (netem where the kernel has it, else a tun link). */
  readonly delayMs?: number;
}

let made = 0;

function freeSubnet(): string {
  const used = sh('ip', ['-o', '-4', 'addr']);
  for (;;) {
    const prefix = `10.${randomInt(100, 200)}.${randomInt(0, 256)}`;
    if (!used.includes(` ${prefix}.`)) return prefix;
  }
}

export async function makeNetns(t: TestContext, options: NetnsOptions = {}): Promise<Netns> {
  const id = `${process.pid % 100_000}${(made++).toString(36)}${randomInt(36 ** 2).toString(36)}`;
  const name = `fulcrum-t${id}`;
  const outer = `fo${id}`.slice(0, 15);
  const inner = `fi${id}`.slice(0, 15);
  const net = freeSubnet();
  const local = `${net}.1`;
  const address = `${net}.2`;
  const processes: ChildProcess[] = [];
  t.after(async () => {
    for (const p of processes) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await Promise.all(processes.map((p) => (p.exitCode === null && p.signalCode === null ? once(p, 'exit') : undefined)));
    try {
      sh('ip', ['netns', 'del', name]);
    } catch {}
    try {
      sh('ip', ['link', 'del', outer]);
    } catch {}
  });
  sh('ip', ['netns', 'add', name]);
  const exec = (cmd: string, ...args: string[]) => sh('ip', ['netns', 'exec', name, cmd, ...args]);
  exec('ip', 'link', 'set', 'lo', 'up');

  const delay = options.delayMs ?? 0;
  if (delay > 0 && !hasNetem('lo')) {
    // No netem: the packets cross user space through two tun devices, held `delay` ms on the way back.
    const link = spawn('python3', [DELAY_LINK, outer, inner, '0', String(delay)], { stdio: ['pipe', 'pipe', 'inherit'] });
    processes.push(link);
    await once(link.stdout!, 'data');
    sh('ip', ['link', 'set', inner, 'netns', name]);
    sh('ip', ['addr', 'add', local, 'peer', address, 'dev', outer]);
    exec('ip', 'addr', 'add', address, 'peer', local, 'dev', inner);
  } else {
    sh('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner, 'netns', name]);
    sh('ip', ['addr', 'add', `${local}/30`, 'dev', outer]);
    exec('ip', 'addr', 'add', `${address}/30`, 'dev', inner);
    if (delay > 0) exec('tc', 'qdisc', 'add', 'dev', inner, 'root', 'netem', 'delay', `${delay}ms`);
  }
  sh('ip', ['link', 'set', outer, 'up']);
  exec('ip', 'link', 'set', inner, 'up');

  return {
    name,
    address,
    local,
    inner,
    outer,
    exec,
    backend: async () => {
      const b = await startBackendProcess({ host: address, netns: name });
      processes.push(b.child);
      return b;
    },
  };
}
