/**
 * The open sessions of a listener, as a list threaded through the sessions
 * themselves: O(1) add and delete, nothing allocated.
 *
 * Not a Set, for the garbage collector's sake. A Set rehashes as it grows
 * and shrinks, and each table it drops still points at the sessions it held.
 * Once such a table sits in the old generation, V8's scavenger takes its
 * pointers as roots (it cannot tell a dead old object from a live one), so
 * finished sessions survived their young generation and were promoted with
 * their handles: under `Connection: close` load about 500 bytes per
 * connection, a 4 ms scavenge every half second and a full GC every few
 * seconds. Here a session leaves with both links cleared, so a finished
 * session points at no other.
 */
export interface Listed<T> {
  listPrev: T | undefined;
  listNext: T | undefined;
}

export class SessionList<T extends Listed<T>> {
  #head: T | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(item: T): void {
    item.listPrev = undefined;
    item.listNext = this.#head;
    if (this.#head) this.#head.listPrev = item;
    this.#head = item;
    this.#size++;
  }

  /** Removes `item`, which must be in this list. */
  delete(item: T): void {
    const { listPrev: prev, listNext: next } = item;
    if (prev) prev.listNext = next;
    else this.#head = next;
    if (next) next.listPrev = prev;
    item.listPrev = item.listNext = undefined;
    this.#size--;
  }

  /** Calls `fn` on each item; `fn` may delete the item it is given. */
  forEach(fn: (item: T) => void): void {
    for (let item = this.#head; item !== undefined; ) {
      const next = item.listNext;
      fn(item);
      item = next;
    }
  }
}
