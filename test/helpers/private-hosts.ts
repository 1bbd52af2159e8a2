/**
 * A Fulcrum process with its own /etc/hosts (and /etc/resolv.conf), in a
 * private mount namespace: the only way to give a name to `getaddrinfo` (and
 * to our resolver) without touching the machine's files. Needs root and
 * `unshare -m`; `privateNamespaceSkip()` says why a test cannot run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { CliOptions } from './cli.ts';

/** Why a private mount namespace cannot be had here, or undefined when it can. */
export function privateNamespaceSkip(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for a private mount namespace (unshare -m) with its own /etc/hosts';
  const probe = spawnSync('unshare', ['-m', 'sh', '-c', 'mount --bind /etc/hosts /etc/hosts'], { stdio: 'ignore' });
  if (probe.status !== 0) return `unshare -m with a bind mount failed here (${probe.error?.message ?? `exit ${probe.status}`})`;
  return undefined;
}

/** CLI options that run the process with these files bind-mounted over /etc/hosts and /etc/resolv.conf. */
export function withPrivateFiles(t: TestContext, files: { hosts?: string; resolvConf?: string }): CliOptions {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-ns-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const mounts: string[] = [];
  for (const [content, target] of [
    [files.hosts, '/etc/hosts'],
    [files.resolvConf, '/etc/resolv.conf'],
  ] as const) {
    if (content === undefined) continue;
    const file = join(dir, target.replaceAll('/', '_'));
    writeFileSync(file, content);
    mounts.push(`mount --bind '${file}' ${target} &&`);
  }
  return { wrapper: ['unshare', '-m'], shellPrefix: mounts.join(' ') };
}
