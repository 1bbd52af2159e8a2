/**
 * Lays one shared-store entry over a service's registry: the third source of
 * backends after the file and the API (the store holds what was registered
 * or changed over any instance's API). The rule, per address:
 *
 * - a tombstone (`removed`): the backend goes, whether the file or the API
 *   brought it (a removal through any instance is a removal everywhere);
 * - an entry: the backend is there with the entry's settings (weight,
 *   maxConnections, proxyProtocol, backup, slowStart) and admin state. An
 *   address the file declares keeps its origin (the file's backends stay the
 *   file's) but takes the entry's settings over the file's, as the `register`
 *   that wrote the entry did on the instance that took it: the entry always
 *   holds the whole of them (a register's left-out keys are filled from the
 *   backend as it stood), so every instance ends with the same backend;
 * - no entry (the store lost it, or never had it): a file backend is put
 *   back as the file says; an API backend goes, since every API backend of
 *   an instance with a store was written there first.
 *
 * Idempotent: applying the same entry twice changes nothing the second time,
 * so an instance's own change, made locally and then heard back on the
 * channel, is not applied twice.
 */
import { formatHostPort, type BackendSpec } from '../config/parse.ts';
import type { Service } from '../service/service.ts';
import type { SharedEntry } from '../store/entry.ts';

export function applyShared(service: Service, key: string, entry: SharedEntry | undefined): void {
  const file = service.config.backends.find((b) => formatHostPort(b) === key);
  const current = service.registry.getByKey(key);
  if (entry === undefined) {
    if (file) {
      // No limit in the file is no limit (upsert leaves an absent one as it stands).
      const { backend } = service.addBackend({ ...file, maxConnections: file.maxConnections ?? 0 }, 'file');
      service.registry.setWeight(backend, file.weight);
      service.registry.setAdminState(backend, 'active');
    } else if (current && current.origin === 'api') service.removeBackend(current);
    return;
  }
  if (entry.removed) {
    if (current) service.removeBackend(current);
    return;
  }
  const spec: BackendSpec = {
    host: entry.host,
    port: entry.port,
    weight: entry.weight,
    maxConnections: entry.maxConnections,
    ...(entry.backup && { backup: true }),
    ...(entry.slowStartMs !== undefined && { slowStartMs: entry.slowStartMs }),
    ...(entry.proxyProtocol !== undefined && { proxyProtocol: entry.proxyProtocol }),
  };
  const { backend } = service.addBackend(spec, file ? 'file' : 'api');
  service.registry.setAdminState(backend, entry.state);
}
