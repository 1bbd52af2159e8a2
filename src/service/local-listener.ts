/**
 * A service's data plane in this process: one listener per bind, on the
 * plane the process runs (src/proxy/plane.ts). With `--workers`,
 * src/cluster/ provides the same interface over the workers.
 */
import type { AddressInfo } from 'node:net';
import type { Backend } from '../backends/backend.ts';
import type { HostPort } from '../config/parse.ts';
import type { DataPlaneListener, ListenerSettings, SharedPort } from '../proxy/listener.ts';
import { PortTable } from '../proxy/port.ts';
import { createProxyListener, type DataPlane } from '../proxy/plane.ts';
import type { ClientGate } from './controls/gate.ts';
import type { ListenerFactory, Service, ServiceListener } from './service.ts';

class LocalListener implements ServiceListener {
  readonly address: AddressInfo;
  readonly proxy: DataPlaneListener;

  constructor(proxy: DataPlaneListener, address: AddressInfo) {
    this.proxy = proxy;
    this.address = address;
  }

  setSettings(settings: ListenerSettings): void {
    this.proxy.setSettings(settings);
  }

  setGate(gate: ClientGate | undefined): void {
    this.proxy.gate = gate;
  }

  destroyConnectionsTo(backend: Backend): void {
    this.proxy.destroyConnectionsTo(backend);
  }

  close(graceMs: number): Promise<number> {
    return this.proxy.close(graceMs);
  }

  get openConnections(): number {
    return this.proxy.openConnections;
  }
}

/**
 * Listeners in this process on `plane`. Services that share a listen address
 * (`share`, the address as configured: SNI routing) share one port: the
 * first to bind opens it, the others join it, and it closes with the last.
 */
export function localListeners(plane: DataPlane): ListenerFactory {
  const ports = new PortTable<SharedPort>();
  return {
    async bind(service: Service, listen: HostPort, settings: ListenerSettings, share?: string): Promise<ServiceListener> {
      const proxy = createProxyListener(plane, {
        registry: service.registry,
        stats: service.stats,
        log: service.log,
        observer: service.observer,
        admission: service.admission,
        service: service.name,
        ...settings,
      });
      return new LocalListener(proxy, await listenOrJoin(proxy, ports, listen, share));
    },
  };
}

/** Joins the port already open for `share`, or listens on `listen` (and keeps the port under `share`). */
export async function listenOrJoin(proxy: DataPlaneListener, ports: PortTable<SharedPort>, listen: HostPort, share: string | undefined): Promise<AddressInfo> {
  const open = ports.get(share);
  if (open !== undefined) return proxy.join(open);
  const address = await proxy.listen(listen);
  // Two binds of one shared address in flight at once: the second to finish joins the first's port instead.
  const raced = ports.get(share);
  if (raced !== undefined) {
    await proxy.destroy();
    throw new Error(`fulcrum: ${share} was bound twice at once`);
  }
  ports.add(share, proxy.port!);
  return address;
}

/** The in-process listener behind a service listener, when it is one (tests reach the sessions through it). */
export function proxyOf(listener: ServiceListener | undefined): DataPlaneListener | undefined {
  return listener instanceof LocalListener ? listener.proxy : undefined;
}
