/**
 * The effective config as a config file: every service with every setting
 * spelled out (no `defaults` section), durations as text. parseConfigText of
 * the output gives back a deep-equal FulcrumConfig (same file name, same
 * environment); that round trip is tested.
 */
import { Document, isMap } from 'yaml';
import type { FulcrumConfig, ServiceConfig } from './config.ts';
import { formatDuration } from './duration.ts';
import { formatHostPort, type BackendSpec } from './parse.ts';

export interface PrintOptions {
  /**
   * Print the admin token. Off by default: `validate --print` output lands in
   * terminals and CI logs; the token is then left out with a comment saying so.
   */
  readonly showSecrets?: boolean;
}

function backendText(b: BackendSpec): string {
  const address = formatHostPort(b);
  return b.weight === 1 ? address : `${address}@${b.weight}`;
}

function serviceObject(s: ServiceConfig): Record<string, unknown> {
  return {
    name: s.name,
    listen: formatHostPort(s.listen),
    algo: s.algo,
    connectTimeout: formatDuration(s.connectTimeoutMs),
    retries: s.retries,
    idleTimeout: formatDuration(s.idleTimeoutMs),
    stickyTtl: formatDuration(s.stickyTtlMs),
    stickyMaxEntries: s.stickyMaxEntries,
    health: {
      interval: formatDuration(s.health.intervalMs),
      timeout: formatDuration(s.health.timeoutMs),
      rise: s.health.rise,
      fall: s.health.fall,
      ...(s.health.httpPath !== undefined && { http: s.health.httpPath }),
    },
    passive: {
      maxFails: s.passive.maxFails,
      ejectTime: formatDuration(s.passive.ejectBaseMs),
      maxEjectTime: formatDuration(s.passive.ejectMaxMs),
    },
    backends: s.backends.map(backendText),
  };
}

export function printConfig(config: FulcrumConfig, options: PrintOptions = {}): string {
  const showToken = config.adminToken !== undefined && options.showSecrets === true;
  const doc = new Document({
    admin: { listen: formatHostPort(config.admin), ...(showToken && { token: config.adminToken }) },
    workers: config.workers,
    ...(config.dataPlane !== 'auto' && { dataPlane: config.dataPlane }),
    drainTimeout: formatDuration(config.drainTimeoutMs),
    log: { level: config.logLevel },
    services: config.services.map(serviceObject),
  });
  const admin = doc.get('admin', true);
  if (config.adminToken !== undefined && !showToken && isMap(admin)) {
    admin.comment = ' token set, not shown (from admin.token or FULCRUM_ADMIN_TOKEN)';
  }
  // Short maps on one line, as people write them.
  for (const key of ['admin', 'log']) {
    const node = doc.get(key, true);
    if (isMap(node)) node.flow = true;
  }
  config.services.forEach((_, i) => {
    for (const key of ['health', 'passive']) {
      const node = doc.getIn(['services', i, key], true);
      if (isMap(node)) node.flow = true;
    }
  });
  return doc.toString({ lineWidth: 0 });
}
