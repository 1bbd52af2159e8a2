/**
 * A service's data plane in this process: one listener per bind, on the
 * plane the process runs (src/proxy/plane.ts). With `--workers`,
 * src/cluster/ provides the same interface over the workers.
 */
import type { AddressInfo } from 'node:net';
import type { Backend } from '../backends/backend.ts';
import type { HostPort } from '../config/parse.ts';
import type { DataPlaneListener, ListenerSettings } from '../proxy/listener.ts';
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

/** Listeners in this process on `plane`. */
export function localListeners(plane: DataPlane): ListenerFactory {
  return {
    async bind(service: Service, listen: HostPort, settings: ListenerSettings): Promise<ServiceListener> {
      const proxy = createProxyListener(plane, {
        registry: service.registry,
        stats: service.stats,
        log: service.log,
        observer: service.observer,
        admission: service.admission,
        service: service.name,
        ...settings,
      });
      const address = await proxy.listen(listen);
      return new LocalListener(proxy, address);
    },
  };
}

/** The in-process listener behind a service listener, when it is one (tests reach the sessions through it). */
export function proxyOf(listener: ServiceListener | undefined): DataPlaneListener | undefined {
  return listener instanceof LocalListener ? listener.proxy : undefined;
}
