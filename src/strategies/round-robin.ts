import type { Backend } from '../backends/backend.ts';
import type { Accept, PickContext, Picker, Strategy } from './strategy.ts';

/** Plain rotation. A backend that is not accepted is skipped; the rotation still advances past it. */
class RoundRobinPicker implements Picker {
  /** A private copy: indexing the registry's frozen arrays is several times slower. */
  readonly #backends: Backend[];
  #next = 0;

  constructor(backends: readonly Backend[]) {
    this.#backends = [...backends];
  }

  pick(_ctx: PickContext, accept: Accept): Backend | undefined {
    const list = this.#backends;
    const n = list.length;
    for (let i = 0; i < n; i++) {
      const b = list[this.#next]!;
      this.#next = this.#next + 1 === n ? 0 : this.#next + 1;
      if (accept(b)) return b;
    }
    return undefined;
  }
}

export function roundRobin(): Strategy {
  return { name: 'round-robin', build: (backends) => new RoundRobinPicker(backends) };
}
