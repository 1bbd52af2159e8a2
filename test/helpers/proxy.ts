/** Starts a Fulcrum on an ephemeral port for a test and stops it after. */
import type { TestContext } from 'node:test';
import { makeConfig } from '../../src/config/config.ts';
import { Fulcrum, type FulcrumOptions } from '../../src/fulcrum.ts';
import type { DataPlane } from '../../src/proxy/plane.ts';

/**
 * The data plane a data-plane test file runs on: `native` unless the file
 * was loaded by its `*.stream.test.ts` twin, which sets FULCRUM_TEST_DATA_PLANE.
 */
export function planeUnderTest(): DataPlane {
  return process.env.FULCRUM_TEST_DATA_PLANE === 'stream' ? 'stream' : 'native';
}

export type ProxyOverrides = Parameters<typeof makeConfig>[0];

export async function startProxy(t: TestContext, overrides: ProxyOverrides = {}, options: FulcrumOptions = {}): Promise<Fulcrum> {
  const config = makeConfig({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    algo: 'round-robin',
    dataPlane: planeUnderTest(),
    ...overrides,
    health: { intervalMs: 0, ...overrides.health },
  });
  const lb = await Fulcrum.start(config, options);
  t.after(() => lb.destroy());
  return lb;
}

export const backendAt = (port: number, weight = 1) => ({ host: '127.0.0.1', port, weight });
