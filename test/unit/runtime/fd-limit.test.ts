import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fdLimitWarning, fdsNeeded, softFdLimit } from '../../../src/runtime/fd-limit.ts';

const LIMITS = (soft: string, hard: string) => `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     
Max locked memory         8388608              8388608              bytes     
`;

test('softFdLimit reads the soft "Max open files" of /proc/self/limits', () => {
  assert.equal(softFdLimit(LIMITS('1024', '524288')), 1024);
  assert.equal(softFdLimit(LIMITS('unlimited', 'unlimited')), Infinity);
  assert.equal(softFdLimit('no such line'), undefined);
  const own = softFdLimit();
  assert.ok(own === undefined || own > 0, String(own));
});

test('fdsNeeded: the floor, or 2 per configured connection plus a base', () => {
  assert.equal(fdsNeeded(), 4096);
  assert.equal(fdsNeeded(100), 4096);
  assert.equal(fdsNeeded(10_000), 20_064);
});

const CASES: Array<{ limit: number | undefined; needed: number; expected: RegExp | undefined }> = [
  { limit: 1024, needed: 4096, expected: /^open-file limit is 1024, below the 4096 Fulcrum wants \(2 per proxied connection, so about 480 connections at most\): raise it with `ulimit -n 65536` before starting, or LimitNOFILE=65536 in the systemd unit$/ },
  { limit: 20_000, needed: 20_064, expected: /limit is 20000, below the 20064 .* `ulimit -n 65536` .* LimitNOFILE=65536 / },
  { limit: 65_536, needed: 200_064, expected: /`ulimit -n 262144` .* LimitNOFILE=262144 / },
  { limit: 4096, needed: 4096, expected: undefined },
  { limit: Infinity, needed: 4096, expected: undefined },
  { limit: undefined, needed: 4096, expected: undefined },
];

for (const { limit, needed, expected } of CASES) {
  test(`fdLimitWarning(${limit}, ${needed}) ${expected ? 'warns' : 'is quiet'}`, () => {
    const warning = fdLimitWarning(limit, needed);
    if (expected === undefined) assert.equal(warning, undefined);
    else assert.match(warning ?? '', expected);
  });
}
