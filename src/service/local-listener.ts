/**
 * A service's data plane in this process: one ProxyListener per bind. With
 * `--workers`, src/cluster/ provides the same interface over the workers.
 */
import type { AddressInfo } from 'node:net';
import type { Backend } from '../backends/backend.ts';
import type { HostPort } from '../config/parse.ts';
import { ProxyListener, type ListenerSettings } from '../proxy/listener.ts';
import type { ClientGate } from './controls/gate.ts';
import type { ListenerFactory, Service, ServiceListener } from './service.ts';

class LocalListener implements ServiceListener {
  readonly address: AddressInfo;
  readonly proxy: ProxyListener;

  constructor(proxy: ProxyListener, address: AddressInfo) {
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

export const localListeners: ListenerFactory = {
  async bind(service: Service, listen: HostPort, settings: ListenerSettings): Promise<ServiceListener> {
    const proxy = new ProxyListener({
      registry: service.registry,
      stats: service.stats,
      log: service.log,
      observer: service.observer,
      admission: service.admission,
      ...settings,
    });
    const address = await proxy.listen(listen);
    return new LocalListener(proxy, address);
  },
};

/** The in-process ProxyListener behind a service listener, when it is one (tests reach the sessions through it). */
export function proxyOf(listener: ServiceListener | undefined): ProxyListener | undefined {
  return listener instanceof LocalListener ? listener.proxy : undefined;
}
