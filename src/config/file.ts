/**
 * Reading a config file (YAML or JSON) into the frozen FulcrumConfig. Every
 * problem is reported at once, one line each, as
 * `file:line:col: path: message`, with the position of the offending node
 * (for a missing key, the map that lacks it; for an unknown key, the key).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { FulcrumError } from '../errors.ts';
import { DEFAULTS, SERVICE_DEFAULTS, type FulcrumConfig, type HealthConfig, type ServiceConfig } from './config.ts';
import type { ProxyVersion } from './parse.ts';
import { allowedKeys, configFileSchema, type ConfigFileOutput, type ServiceFileOutput, type SettingsFileOutput } from './schema.ts';
import { closestKey } from './suggest.ts';
import { STORE_DEFAULTS, storeFromUrl, type StoreConfig } from './store.ts';

/** A config file that cannot be used: `errors` holds every problem, one line each; `message` joins them. */
export class ConfigFileError extends FulcrumError {
  readonly file: string;
  readonly errors: readonly string[];

  constructor(file: string, errors: readonly string[], options?: { cause?: unknown }) {
    super(errors.join('\n'), 'ERR_CONFIG_FILE', 'config', options);
    this.file = file;
    this.errors = Object.freeze([...errors]);
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Reads, validates and normalises the file at `path` (as the user typed it: errors name it so). */
export function loadConfigFile(path: string, env: Env = process.env): FulcrumConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigFileError(path, [`${path}: cannot read the file (${code})`], { cause: err });
  }
  return parseConfigText(text, path, env);
}

/** Validates and normalises config text; `fileName` is used in messages and, resolved, as `configFile`. */
export function parseConfigText(text: string, fileName: string, env: Env = process.env): FulcrumConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => {
    const { line, col } = lineCounter.linePos(offset ?? 0);
    return `${fileName}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    throw new ConfigFileError(fileName, doc.errors.map((e) => `${at(e.pos[0])}: invalid YAML: ${e.message.replace(/\.$/, '')}`));
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    throw new ConfigFileError(fileName, [`${at(0)}: the file is empty (a config file declares at least one service)`]);
  }

  // A map or list as a key (`? { a: 1 }`) has no place in a config, and toJS() would print a process warning for it.
  const complexKeys: string[] = [];
  visit(doc, {
    Pair(_, pair) {
      if (isMap(pair.key) || isSeq(pair.key)) complexKeys.push(`${at(pair.key.range?.[0])}: a key must be plain text, not a map or a list`);
    },
  });
  if (complexKeys.length > 0) throw new ConfigFileError(fileName, complexKeys);

  const result = configFileSchema.safeParse(doc.toJS(), { reportInput: true });
  if (!result.success) {
    const problems = flatten(result.error.issues, []).map((p, order) => ({ ...p, order, offset: offsetOf(doc, p.path, p.isKey) }));
    problems.sort((a, b) => a.offset - b.offset || a.order - b.order);
    throw new ConfigFileError(fileName, problems.map((p) => `${at(p.offset)}: ${p.path.length > 0 ? `${formatPath(p.path)}: ` : ''}${p.message}`));
  }
  const adminToken = result.data.admin?.token ?? env.FULCRUM_ADMIN_TOKEN;
  if (adminToken !== undefined && adminToken.trim() === '') {
    throw new ConfigFileError(fileName, [`${fileName}: FULCRUM_ADMIN_TOKEN: is empty (give a token, or unset it for an open admin API)`]);
  }
  return normalise(result.data, resolve(fileName), adminToken);
}

interface Problem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  /** The problem is the key itself (unknown key), not its value. */
  readonly isKey?: boolean;
}

/**
 * One problem per issue. A union that failed is reported through the branch
 * the value was meant for (the one not rejected for its type alone), so a bad
 * `{ address }` says what is wrong with the address; an unknown key becomes
 * one problem per key, with a suggestion when one allowed key is close.
 */
function flatten(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): Problem[] {
  const out: Problem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union') {
      const meant = issue.errors.filter((branch) => !branch.every((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value')));
      if (meant.length === 1) out.push(...flatten(meant[0]!, path));
      else out.push({ path, message: issue.message });
    } else if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeys(path);
      for (const key of issue.keys) {
        const near = closestKey(key, allowed);
        out.push({ path: [...path, key], message: `unknown key${near === undefined ? ` (allowed: ${allowed.join(', ')})` : ` (did you mean "${near}"?)`}`, isKey: true });
      }
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

/** `services[1].backends[0].address`; keys that are not identifiers in brackets. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(String(key))) out += out === '' ? String(key) : `.${String(key)}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/** Where the node at `path` starts; the deepest node that exists when it does not (a missing key's map). */
function offsetOf(doc: Document, path: readonly PropertyKey[], isKey = false): number {
  let node: unknown = doc.contents;
  let offset = (node as YamlNode | null)?.range?.[0] ?? 0;
  for (const [i, key] of path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    let next: unknown;
    let keyNode: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && (isScalar(p.key) ? p.key.value : p.key) === key);
      next = pair?.value;
      keyNode = pair?.key;
    } else if (isSeq(node) && typeof key === 'number') {
      next = node.items[key];
    }
    if (next === undefined && keyNode === undefined) return offset;
    // An empty value (`backends:` and nothing after) has no text of its own: point at its key.
    const empty = isScalar(next) && next.value === null && next.range?.[0] === next.range?.[1];
    const target = (isKey && i === path.length - 1) || empty ? (keyNode ?? next) : (next ?? keyNode);
    offset = (target as YamlNode | null)?.range?.[0] ?? offset;
    node = next;
  }
  return offset;
}

function settings(service: SettingsFileOutput, defaults: SettingsFileOutput | undefined) {
  const d = SERVICE_DEFAULTS;
  return {
    algo: service.algo ?? defaults?.algo ?? d.algo,
    connectTimeoutMs: service.connectTimeout ?? defaults?.connectTimeout ?? d.connectTimeoutMs,
    retries: service.retries ?? defaults?.retries ?? d.retries,
    idleTimeoutMs: service.idleTimeout ?? defaults?.idleTimeout ?? d.idleTimeoutMs,
    stickyTtlMs: service.stickyTtl ?? defaults?.stickyTtl ?? d.stickyTtlMs,
    stickyMaxEntries: service.stickyMaxEntries ?? defaults?.stickyMaxEntries ?? d.stickyMaxEntries,
    hash: Object.freeze({
      key: service.hash?.key ?? defaults?.hash?.key ?? d.hash.key,
      table: service.hash?.table ?? defaults?.hash?.table ?? d.hash.table,
    }),
    hashBalanceFactor: service.hashBalanceFactor ?? defaults?.hashBalanceFactor ?? d.hashBalanceFactor,
    health: Object.freeze({
      intervalMs: service.health?.interval ?? defaults?.health?.interval ?? d.health.intervalMs,
      timeoutMs: service.health?.timeout ?? defaults?.health?.timeout ?? d.health.timeoutMs,
      rise: service.health?.rise ?? defaults?.health?.rise ?? d.health.rise,
      fall: service.health?.fall ?? defaults?.health?.fall ?? d.health.fall,
      httpPath: service.health?.http ?? defaults?.health?.http ?? d.health.httpPath,
      // Set only when given, so a config without them reads as it did before they existed.
      ...optionalHealth(service.health, defaults?.health),
    }),
    passive: Object.freeze({
      maxFails: service.passive?.maxFails ?? defaults?.passive?.maxFails ?? d.passive.maxFails,
      ejectBaseMs: service.passive?.ejectTime ?? defaults?.passive?.ejectTime ?? d.passive.ejectBaseMs,
      ejectMaxMs: service.passive?.maxEjectTime ?? defaults?.passive?.maxEjectTime ?? d.passive.ejectMaxMs,
      maxEjectedPercent: service.passive?.maxEjectedPercent ?? defaults?.passive?.maxEjectedPercent ?? d.passive.maxEjectedPercent,
    }),
    limits: Object.freeze({
      maxConnectionsPerIp: service.limits?.maxConnectionsPerIp ?? defaults?.limits?.maxConnectionsPerIp ?? d.limits.maxConnectionsPerIp,
      connectionRatePerIp: service.limits?.connectionRatePerIp ?? defaults?.limits?.connectionRatePerIp ?? d.limits.connectionRatePerIp,
      ...((service.limits?.maxTrackedIps ?? defaults?.limits?.maxTrackedIps) !== undefined && { maxTrackedIps: service.limits?.maxTrackedIps ?? defaults?.limits?.maxTrackedIps }),
    }),
    maxConnections: service.maxConnections ?? defaults?.maxConnections ?? d.maxConnections,
    maxLifetimeMs: service.maxLifetime ?? defaults?.maxLifetime ?? d.maxLifetimeMs,
    unavailableReply: service.unavailableReply ?? defaults?.unavailableReply ?? d.unavailableReply,
    queue: Object.freeze({
      size: service.queue?.size ?? defaults?.queue?.size ?? d.queue.size,
      timeoutMs: service.queue?.timeout ?? defaults?.queue?.timeout ?? d.queue.timeoutMs,
    }),
    ...proxyProtocolOf(service.proxyProtocol ?? defaults?.proxyProtocol),
    ...((service.acceptProxy ?? defaults?.acceptProxy) === true && { acceptProxy: true }),
    ...((service.trustedProxies ?? defaults?.trustedProxies ?? []).length > 0 && { trustedProxies: Object.freeze([...(service.trustedProxies ?? defaults?.trustedProxies ?? [])]) }),
    ...((service.proxyHeaderTimeout ?? defaults?.proxyHeaderTimeout) !== undefined && { proxyHeaderTimeoutMs: service.proxyHeaderTimeout ?? defaults?.proxyHeaderTimeout }),
    ...((service.sniTimeout ?? defaults?.sniTimeout) !== undefined && { sniTimeoutMs: service.sniTimeout ?? defaults?.sniTimeout }),
    allow: Object.freeze([...(service.allow ?? defaults?.allow ?? d.allow)]),
    deny: Object.freeze([...(service.deny ?? defaults?.deny ?? d.deny)]),
    slowStartMs: service.slowStart ?? defaults?.slowStart ?? d.slowStartMs,
    allBackups: service.allBackups ?? defaults?.allBackups ?? d.allBackups,
    tcpKeepAliveMs: service.tcpKeepAlive ?? defaults?.tcpKeepAlive ?? d.tcpKeepAliveMs,
    accessLog: service.accessLog ?? defaults?.accessLog ?? d.accessLog,
    accessLogFormat: service.accessLogFormat ?? defaults?.accessLogFormat ?? d.accessLogFormat,
  };
}

/** `none` in a service overrides a version in `defaults`, and reads as unset. */
function proxyProtocolOf(value: SettingsFileOutput['proxyProtocol']): { proxyProtocol?: ProxyVersion } {
  return value === undefined || value === 'none' ? {} : { proxyProtocol: value };
}

type HealthFile = SettingsFileOutput['health'];

/** The health keys that have no default: present in the result only when the service or `defaults` sets them. */
function optionalHealth(service: HealthFile, defaults: HealthFile): Partial<HealthConfig> {
  const out: { -readonly [K in keyof HealthConfig]?: HealthConfig[K] } = {};
  const type = service?.type ?? defaults?.type;
  const send = service?.send ?? defaults?.send;
  const expect = service?.expect ?? defaults?.expect;
  const port = service?.port ?? defaults?.port;
  const host = service?.host ?? defaults?.host;
  const expectStatus = service?.expectStatus ?? defaults?.expectStatus;
  if (type !== undefined) out.type = type;
  if (send !== undefined) out.send = send;
  if (expect !== undefined) out.expect = expect;
  if (port !== undefined) out.port = port;
  if (host !== undefined) out.host = host;
  if (expectStatus !== undefined) out.expectStatus = expectStatus;
  return out;
}

/** Per-service keys over `defaults` over SERVICE_DEFAULTS, field by field (health and passive key by key). */
function normalise(file: ConfigFileOutput, configFile: string, adminToken: string | undefined): FulcrumConfig {
  const service = (s: ServiceFileOutput): ServiceConfig =>
    Object.freeze({
      name: s.name,
      listen: Object.freeze(s.listen),
      ...settings(s, file.defaults),
      ...(s.sni !== undefined && s.sni.length > 0 && { sni: Object.freeze([...s.sni]) }),
      backends: Object.freeze((s.backends ?? []).map((b) => Object.freeze(b))),
    });
  return Object.freeze({
    admin: Object.freeze(file.admin?.listen ?? DEFAULTS.admin),
    adminToken,
    adminAllowedHosts: Object.freeze([...(file.admin?.allowedHosts ?? [])]),
    workers: file.workers === 'auto' ? availableParallelism() : (file.workers ?? DEFAULTS.workers),
    dataPlane: file.dataPlane ?? DEFAULTS.dataPlane,
    logLevel: file.log?.level ?? DEFAULTS.logLevel,
    logFormat: file.log?.format,
    drainTimeoutMs: file.drainTimeout ?? DEFAULTS.drainTimeoutMs,
    demo: false,
    ...(file.store !== undefined && { store: storeOf(file.store) }),
    services: Object.freeze(file.services.map(service)),
    configFile,
  });
}

/** The file's `store`, a URL or a map, as a complete StoreConfig. */
function storeOf(store: ConfigFileOutput['store']): StoreConfig | undefined {
  if (store === undefined) return undefined;
  if (typeof store === 'string') return storeFromUrl('store', store);
  return Object.freeze({
    url: store.url,
    sentinels: store.sentinels && Object.freeze([...store.sentinels]),
    name: store.name,
    db: store.db ?? STORE_DEFAULTS.db,
    password: store.password,
    resyncIntervalMs: store.resyncInterval ?? STORE_DEFAULTS.resyncIntervalMs,
    startupTimeoutMs: store.startupTimeout ?? STORE_DEFAULTS.startupTimeoutMs,
    heartbeatIntervalMs: store.heartbeatInterval ?? STORE_DEFAULTS.heartbeatIntervalMs,
  });
}
