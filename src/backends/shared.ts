/**
 * Lays one shared-store entry over a service's registry: the third source of
 * backends after the file and the API (the store holds what was registered
 * or changed over any instance's API). The rule, per address:
 *
 * - a tombstone (`removed`): the backend goes, whether the file or the API
 *   brought it (a removal through any instance is a removal everywhere);
 * - an entry: the backend is there with the entry's weight and admin state.
 *   An address the file declares keeps its origin (the file's backends stay
 *   the file's); its other settings (maxConnections, proxyProtocol, backup,
 *   slowStart) are the entry's once a `register` has set them (`registered`,
 *   as the register did on the instance that took it; the entry holds the
 *   whole of them, left-out keys filled from the backend as it stood), else
 *   the file's (a PATCH or drain leaves a reload's new file settings alone);
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
  // No limit in the file is no limit (upsert leaves an absent one as it stands).
  const fromFile = file && { ...file, maxConnections: file.maxConnections ?? 0 };
  if (entry === undefined) {
    if (fromFile) {
      const { backend } = service.addBackend(fromFile, 'file');
      backend.registered = false;
      service.registry.setWeight(backend, fromFile.weight);
      service.registry.setAdminState(backend, 'active');
    } else if (current && current.origin === 'api') service.removeBackend(current);
    return;
  }
  if (entry.removed) {
    if (current) service.removeBackend(current);
    return;
  }
  const registered = entry.registered === true;
  const spec: BackendSpec = fromFile && !registered
    ? { ...fromFile, weight: entry.weight }
    : {
        host: entry.host,
        port: entry.port,
        weight: entry.weight,
        maxConnections: entry.maxConnections,
        ...(entry.backup && { backup: true }),
        ...(entry.slowStartMs !== undefined && { slowStartMs: entry.slowStartMs }),
        ...(entry.proxyProtocol !== undefined && { proxyProtocol: entry.proxyProtocol }),
      };
  const { backend } = service.addBackend(spec, file ? 'file' : 'api');
  backend.registered = registered;
  service.registry.setAdminState(backend, entry.state);
}
