/** Starts a Fulcrum on an ephemeral port for a test and stops it after. */
import type { TestContext } from 'node:test';
import { makeConfig } from '../../src/config/config.ts';
import { Fulcrum, type FulcrumOptions } from '../../src/fulcrum.ts';

export type ProxyOverrides = Parameters<typeof makeConfig>[0];

export async function startProxy(t: TestContext, overrides: ProxyOverrides = {}, options: FulcrumOptions = {}): Promise<Fulcrum> {
  const config = makeConfig({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    algo: 'round-robin',
    ...overrides,
    health: { intervalMs: 0, ...overrides.health },
  });
  const lb = await Fulcrum.start(config, options);
  t.after(() => lb.destroy());
  return lb;
}

export const backendAt = (port: number, weight = 1) => ({ host: '127.0.0.1', port, weight });
