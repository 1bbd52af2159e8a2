/**
 * `fulcrum@REV`: Fulcrum as it was at a git revision, run beside today's in
 * one table (before/after a change, on the same machine at the same time).
 *
 * The revision is checked out once per run into a temporary `git worktree`
 * under os.tmpdir() (outside the repo, so nothing in it is seen by tsc or the
 * tests), with this checkout's node_modules symlinked in, and removed with
 * `git worktree remove` when the harness exits. If the harness is SIGKILLed,
 * the directory stays behind: `git worktree prune` after deleting it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './children.ts';

export const REVISION_PREFIX = 'fulcrum@';
export type RevisionTarget = `fulcrum@${string}`;

export function isRevisionTarget(name: string): name is RevisionTarget {
  return name.startsWith(REVISION_PREFIX) && name.length > REVISION_PREFIX.length;
}

/** Checkouts made in this run, by revision as written; an Error when it could not be made. */
const checkouts = new Map<string, string | Error>();

function git(repo: string, args: string[]): string {
  const r = spawnSync('git', ['-C', repo, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
  return r.stdout.trim();
}

/**
 * The directory of a worktree at `rev` (made on first call, reused after:
 * the memory test starts a second instance). Throws when `rev` is not a
 * commit or the worktree cannot be made.
 */
export function checkoutRevision(repo: string, rev: string): string {
  const known = checkouts.get(rev);
  if (known instanceof Error) throw known;
  if (known !== undefined) return known;
  try {
    let commit: string;
    try {
      commit = git(repo, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
    } catch {
      throw new Error(`"${rev}" is not a commit here`);
    }
    const dir = mkdtempSync(join(tmpdir(), `fulcrum-rev-${commit.slice(0, 12)}-`));
    rmSync(dir, { recursive: true, force: true }); // `git worktree add` wants to create it
    git(repo, ['worktree', 'add', '--detach', dir, commit]);
    onCleanup(() => {
      const r = spawnSync('git', ['-C', repo, 'worktree', 'remove', '--force', dir], { stdio: 'ignore' });
      if (r.status !== 0) rmSync(dir, { recursive: true, force: true });
    });
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
    if (!existsSync(join(dir, 'src/main.ts'))) throw new Error(`${rev} has no src/main.ts`);
    checkouts.set(rev, dir);
    return dir;
  } catch (err) {
    const e = new Error(`fulcrum@${rev}: ${(err as Error).message}`);
    checkouts.set(rev, e);
    throw e;
  }
}
