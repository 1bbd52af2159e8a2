/** The one line `fulcrum validate` prints for a good file. */
import type { FulcrumConfig } from './config.ts';
import { formatHostPort } from './parse.ts';

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** `ok: 2 services: web on 0.0.0.0:8080 (weighted-round-robin, 2 backends), cache on …`. */
export function summarize(config: FulcrumConfig): string {
  const services = config.services.map(
    (s) => `${s.name} on ${formatHostPort(s.listen)} (${s.algo}, ${count(s.backends.length, 'backend', 'backends')})`,
  );
  return `ok: ${count(config.services.length, 'service', 'services')}: ${services.join(', ')}`;
}
