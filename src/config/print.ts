/**
 * The effective config as a config file: every service with every setting
 * spelled out (no `defaults` section), durations as text. parseConfigText of
 * the output gives back a deep-equal FulcrumConfig (same file name, same
 * environment); that round trip is tested.
 */
import { Document, isMap } from 'yaml';
import type { FulcrumConfig, ServiceConfig } from './config.ts';
import { formatCidr } from './cidr.ts';
import { describeStore, STORE_DEFAULTS, type StoreConfig } from './store.ts';
import { formatDuration } from './duration.ts';
import { formatHostPort, type BackendSpec } from './parse.ts';

export interface PrintOptions {
  /**
   * Print the admin token. Off by default: `validate --print` output lands in
   * terminals and CI logs; the token is then left out with a comment saying so.
   */
  readonly showSecrets?: boolean;
}

function backendText(b: BackendSpec): string | Record<string, unknown> {
  const address = formatHostPort(b);
  if (b.backup !== undefined || b.slowStartMs !== undefined || b.maxConnections || b.proxyProtocol !== undefined) {
    return {
      address,
      weight: b.weight,
      ...(b.maxConnections && { maxConnections: b.maxConnections }),
      ...(b.backup !== undefined && { backup: b.backup }),
      ...(b.slowStartMs !== undefined && { slowStart: formatDuration(b.slowStartMs) }),
      ...(b.proxyProtocol !== undefined && { proxyProtocol: b.proxyProtocol }),
    };
  }
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
    hash: { key: s.hash.key, table: s.hash.table },
    hashBalanceFactor: s.hashBalanceFactor,
    health: {
      interval: formatDuration(s.health.intervalMs),
      timeout: formatDuration(s.health.timeoutMs),
      rise: s.health.rise,
      fall: s.health.fall,
      ...(s.health.httpPath !== undefined && { http: s.health.httpPath }),
      ...(s.health.type !== undefined && { type: s.health.type }),
      ...(s.health.send !== undefined && { send: s.health.send }),
      ...(s.health.expect !== undefined && { expect: s.health.expect }),
      ...(s.health.port !== undefined && { port: s.health.port }),
      ...(s.health.host !== undefined && { host: s.health.host }),
      ...(s.health.expectStatus !== undefined && { expectStatus: s.health.expectStatus }),
    },
    passive: {
      maxFails: s.passive.maxFails,
      ejectTime: formatDuration(s.passive.ejectBaseMs),
      maxEjectTime: formatDuration(s.passive.ejectMaxMs),
      maxEjectedPercent: s.passive.maxEjectedPercent,
    },
    limits: {
      maxConnectionsPerIp: s.limits.maxConnectionsPerIp,
      ...(s.limits.maxTrackedIps !== undefined && { maxTrackedIps: s.limits.maxTrackedIps }),
      ...(s.limits.connectionRatePerIp && { connectionRatePerIp: `${s.limits.connectionRatePerIp.count}/${s.limits.connectionRatePerIp.periodMs === 1000 ? 's' : 'm'}` }),
    },
    maxConnections: s.maxConnections,
    queue: { size: s.queue.size, timeout: formatDuration(s.queue.timeoutMs) },
    maxLifetime: formatDuration(s.maxLifetimeMs),
    ...(s.unavailableReply !== undefined && { unavailableReply: Buffer.from(s.unavailableReply, 'latin1').toString('utf8') }),
    ...(s.proxyProtocol !== undefined && { proxyProtocol: s.proxyProtocol }),
    ...(s.acceptProxy === true && { acceptProxy: true }),
    ...(s.trustedProxies !== undefined && { trustedProxies: s.trustedProxies.map(formatCidr) }),
    ...(s.proxyHeaderTimeoutMs !== undefined && { proxyHeaderTimeout: formatDuration(s.proxyHeaderTimeoutMs) }),
    ...(s.sni !== undefined && { sni: [...s.sni] }),
    ...(s.sniTimeoutMs !== undefined && { sniTimeout: formatDuration(s.sniTimeoutMs) }),
    ...(s.allow.length > 0 && { allow: s.allow.map(formatCidr) }),
    ...(s.deny.length > 0 && { deny: s.deny.map(formatCidr) }),
    slowStart: formatDuration(s.slowStartMs),
    allBackups: s.allBackups,
    tcpKeepAlive: formatDuration(s.tcpKeepAliveMs),
    accessLog: s.accessLog,
    accessLogFormat: s.accessLogFormat,
    backends: s.backends.map(backendText),
  };
}

/** The store as the file writes it: the URL alone when nothing else differs from the defaults. */
function storeObject(store: StoreConfig, showSecrets: boolean): string | Record<string, unknown> {
  const url = store.url !== undefined && !showSecrets ? describeStore(store) : store.url;
  const timings = {
    ...(store.resyncIntervalMs !== STORE_DEFAULTS.resyncIntervalMs && { resyncInterval: formatDuration(store.resyncIntervalMs) }),
    ...(store.startupTimeoutMs !== STORE_DEFAULTS.startupTimeoutMs && { startupTimeout: formatDuration(store.startupTimeoutMs) }),
    ...(store.heartbeatIntervalMs !== STORE_DEFAULTS.heartbeatIntervalMs && { heartbeatInterval: formatDuration(store.heartbeatIntervalMs) }),
  };
  if (url !== undefined && Object.keys(timings).length === 0) return url;
  return {
    ...(url !== undefined && { url }),
    ...(store.sentinels && { sentinels: store.sentinels.map(formatHostPort), name: store.name, db: store.db }),
    ...(store.password !== undefined && showSecrets && { password: store.password }),
    ...timings,
  };
}

export function printConfig(config: FulcrumConfig, options: PrintOptions = {}): string {
  const showToken = config.adminToken !== undefined && options.showSecrets === true;
  const doc = new Document({
    admin: { listen: formatHostPort(config.admin), ...(showToken && { token: config.adminToken }) },
    workers: config.workers,
    ...(config.dataPlane !== 'auto' && { dataPlane: config.dataPlane }),
    drainTimeout: formatDuration(config.drainTimeoutMs),
    log: config.logFormat === undefined ? { level: config.logLevel } : { level: config.logLevel, format: config.logFormat },
    ...(config.store && { store: storeObject(config.store, options.showSecrets === true) }),
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
    for (const key of ['hash', 'health', 'passive', 'limits', 'queue']) {
      const node = doc.getIn(['services', i, key], true);
      if (isMap(node)) node.flow = true;
    }
  });
  return doc.toString({ lineWidth: 0 });
}
