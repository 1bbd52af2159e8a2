/**
 * `npm run bench:lc-order`: the two ways issue 8 names to keep
 * least-connections per service, measured per connection at 3, 100 and
 * 1,000 backends:
 *
 * - `scan`: what Fulcrum does, each service's own count table scanned by
 *   its own WebAssembly kernel instance (a pick; the connection's start and
 *   end are one cell write each).
 * - `order`: an order maintained as connections start and end, as HAProxy's
 *   lb_fwlc.c keeps servers in a tree keyed by served/weight; here an indexed
 *   binary heap keyed by active × (LCM of weights / weight), so the least
 *   loaded is the root (a pick is O(1)) and each start and end repositions
 *   one backend (O(log n)).
 *
 * Each iteration is one connection: pick, start (+1 on the picked backend),
 * and the end of an earlier connection (−1 on another backend).
 */
import { bench, do_not_optimize, group, run } from 'mitata';
import { Backend } from '../src/backends/backend.ts';
import { leastConnections } from '../src/strategies/least-connections.ts';

const SIZES = [3, 100, 1000];
type State = { get(name: 'n'): number };

function makeSet(n: number): Backend[] {
  return Array.from({ length: n }, (_, i) => {
    const b = new Backend({ host: '10.1.0.1', port: 1024 + i, weight: 1 + (i % 5) }, 'up');
    b.active = 1 + ((i * 7919) % 50);
    return b;
  });
}

/** An indexed min-heap of backends keyed by active × (60 / weight) (60: the LCM of weights 1–5). */
class LoadHeap {
  readonly #heap: number[] = [];
  readonly #pos: Int32Array;
  readonly #key: Float64Array;
  readonly #scale: Float64Array;

  constructor(backends: readonly Backend[]) {
    const n = backends.length;
    this.#pos = new Int32Array(n);
    this.#key = new Float64Array(n);
    this.#scale = Float64Array.from(backends, (b) => 60 / b.weight);
    for (let i = 0; i < n; i++) {
      this.#key[i] = backends[i]!.active * this.#scale[i]!;
      this.#heap.push(i);
      this.#pos[i] = i;
      this.#up(i);
    }
  }

  min(): number {
    return this.#heap[0]!;
  }

  /** Backend `i` gained (+1) or lost (−1) a connection. */
  change(i: number, delta: number): void {
    this.#key[i] = this.#key[i]! + delta * this.#scale[i]!;
    if (delta > 0) this.#down(this.#pos[i]!);
    else this.#up(this.#pos[i]!);
  }

  #up(at: number): void {
    const heap = this.#heap;
    const key = this.#key;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (key[heap[parent]!]! <= key[heap[at]!]!) return;
      this.#swap(at, parent);
      at = parent;
    }
  }

  #down(at: number): void {
    const heap = this.#heap;
    const key = this.#key;
    const n = heap.length;
    for (;;) {
      const l = 2 * at + 1;
      if (l >= n) return;
      const r = l + 1;
      const c = r < n && key[heap[r]!]! < key[heap[l]!]! ? r : l;
      if (key[heap[at]!]! <= key[heap[c]!]!) return;
      this.#swap(at, c);
      at = c;
    }
  }

  #swap(a: number, b: number): void {
    const heap = this.#heap;
    const x = heap[a]!;
    const y = heap[b]!;
    heap[a] = y;
    heap[b] = x;
    this.#pos[y] = a;
    this.#pos[x] = b;
  }
}

const ctx = { clientIp: '192.0.2.1' };
const accept = (b: Backend) => b.ready;

group('least-connections per connection: pick, start, end', () => {
  bench('scan (per-service kernel), $n backends', function* (state: State) {
    const set = makeSet(state.get('n'));
    const picker = leastConnections().build(set);
    let k = 0;
    yield () => {
      const b = picker.pick(ctx, accept)!;
      b.active++;
      const other = set[(k = (k + 7) % set.length)]!;
      if (other.active > 0) other.active--;
      do_not_optimize(b);
    };
  }).args('n', SIZES);

  bench('order (indexed heap by load), $n backends', function* (state: State) {
    const set = makeSet(state.get('n'));
    const heap = new LoadHeap(set);
    let k = 0;
    yield () => {
      const i = heap.min();
      const b = set[i]!;
      if (!accept(b)) throw new Error('not ready');
      b.active++;
      heap.change(i, 1);
      const j = (k = (k + 7) % set.length);
      const other = set[j]!;
      if (other.active > 0) {
        other.active--;
        heap.change(j, -1);
      }
      do_not_optimize(b);
    };
  }).args('n', SIZES);
});

await run();
