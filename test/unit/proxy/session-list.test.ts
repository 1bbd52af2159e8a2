import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionList, type Listed } from '../../../src/proxy/session-list.ts';

class Item implements Listed<Item> {
  listPrev: Item | undefined = undefined;
  listNext: Item | undefined = undefined;
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

function names(list: SessionList<Item>): string {
  const out: string[] = [];
  list.forEach((i) => out.push(i.name));
  return out.join('');
}

test('session list: add, delete from the head, the middle and the tail, size', () => {
  const list = new SessionList<Item>();
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => new Item(n)) as [Item, Item, Item, Item];
  for (const i of [a, b, c, d]) list.add(i);
  assert.equal(names(list), 'dcba');
  assert.equal(list.size, 4);
  list.delete(c);
  assert.equal(names(list), 'dba');
  list.delete(d);
  assert.equal(names(list), 'ba');
  list.delete(a);
  assert.equal(names(list), 'b');
  list.delete(b);
  assert.equal(names(list), '');
  assert.equal(list.size, 0);
  list.add(c);
  assert.equal(names(list), 'c');
});

test('session list: a deleted item keeps no link to the others (nothing for the GC to follow)', () => {
  const list = new SessionList<Item>();
  const [a, b, c] = ['a', 'b', 'c'].map((n) => new Item(n)) as [Item, Item, Item];
  for (const i of [a, b, c]) list.add(i);
  list.delete(b);
  assert.equal(b.listPrev, undefined);
  assert.equal(b.listNext, undefined);
  assert.equal(c.listNext, a);
  assert.equal(a.listPrev, c);
});

test('session list: forEach may delete the item it is visiting, and visits every other one', () => {
  const list = new SessionList<Item>();
  const items = [...'abcdef'].map((n) => new Item(n));
  for (const i of items) list.add(i);
  const seen: string[] = [];
  list.forEach((i) => {
    seen.push(i.name);
    if ('bdf'.includes(i.name)) list.delete(i);
  });
  assert.equal(seen.join(''), 'fedcba');
  assert.equal(names(list), 'eca');
  assert.equal(list.size, 3);
});
