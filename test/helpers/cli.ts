/** The `fulcrum` command as a child process, for tests of what only the real process shows. */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliOptions {
  readonly env?: Record<string, string>;
  /** stdio for stdin, stdout, stderr; stdout must stay a pipe. @default ['ignore', 'pipe', 'pipe'] */
  readonly stdio?: StdioOptions;
  /** Run through `bash -c` with this before `exec` (e.g. `ulimit -n 64 &&`). */
  readonly shellPrefix?: string;
  /** Run the `bash -c` command under this program (e.g. `['unshare', '-m']`, with a `shellPrefix` that mounts). */
  readonly wrapper?: readonly string[];
  /** Killed after this long at the latest. @default 20000 */
  readonly timeoutMs?: number;
}

export function spawnCli(args: readonly string[], options: CliOptions = {}): ChildProcess {
  const env = { ...process.env, ...options.env };
  const stdio = options.stdio ?? ['ignore', 'pipe', 'pipe'];
  // Killed after 20 s at the latest, so a process that should have exited fails its test instead of hanging the run.
  const timeout = options.timeoutMs ?? 20_000;
  if (options.shellPrefix === undefined && options.wrapper === undefined) {
    return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, stdio, env, timeout, killSignal: 'SIGKILL' });
  }
  const quoted = args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const cmd = `${options.shellPrefix ?? ''} exec "${process.execPath}" --import tsx src/main.ts ${quoted}`;
  const [program, ...wrapperArgs] = [...(options.wrapper ?? []), 'bash'];
  return spawn(program!, [...wrapperArgs, '-c', cmd], { cwd: ROOT, stdio, env, timeout, killSignal: 'SIGKILL' });
}

/** Runs to exit; resolves with the exit code and everything printed. */
export async function exitOf(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args, { env });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c) => (stdout += c));
  child.stderr!.on('data', (c) => (stderr += c));
  const [code] = await once(child, 'exit');
  return { code, stdout, stderr };
}

export interface RunningCli {
  readonly child: ChildProcess;
  readonly proxyPort: number;
  /** `http://127.0.0.1:PORT` */
  readonly admin: string;
  readonly adminPort: number;
}

/** Starts on 127.0.0.1:0 for both listeners, waits for the startup lines, and kills the process after the test. */
export async function startCli(t: TestContext, args: readonly string[], options: CliOptions = {}): Promise<RunningCli> {
  // A `*.stream.test.ts` twin runs its file's cases on the stream data plane (see planeUnderTest in proxy.ts).
  const plane = process.env.FULCRUM_TEST_DATA_PLANE === undefined ? [] : ['--data-plane', process.env.FULCRUM_TEST_DATA_PLANE];
  const child = spawnCli(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...plane, ...args], options);
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`fulcrum exited with ${code} before listening: ${out}`);
  });
  exited.catch(() => {});
  while (!/admin listening/.test(out)) await Promise.race([once(child.stdout!, 'data'), exited]);
  const proxyPort = Number(/proxy listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const adminPort = Number(/admin listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  return { child, proxyPort, adminPort, admin: `http://127.0.0.1:${adminPort}` };
}
