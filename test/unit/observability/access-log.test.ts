/**
 * The access-log writer's contract, on fake and real destinations: bounded
 * (refuses, never queues without limit), whole lines per write, at most
 * PIPE_BUF on a stream; the time field as Date's own ISO text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { AccessLogWriter, MAX_ACCESS_LOG_BUFFER_BYTES } from '../../../src/observability/access-log/writer.ts';
import { jsonLine, textLine, type AccessRecord } from '../../../src/observability/access-log/access-log.ts';
import { End } from '../../../src/observability/access-log/end-reasons.ts';

/** A stream sink as writer.ts builds one for stdout, over `out`. */
function streamWriter(out: Writable): AccessLogWriter {
  // The StreamSink is private to writer.ts: reach it through the module's factory shape.
  const sink = {
    broken: false,
    busy: false,
    batchBytes: 4096,
    get held() {
      return out.writableLength;
    },
    send(chunk: string) {
      out.write(chunk);
    },
    reopen() {},
  };
  return new AccessLogWriter('test', sink);
}

test('a destination that never drains: lines are refused past the bound, never queued without limit', async () => {
  const stalled = new Writable({ highWaterMark: 16, write: () => {} }); // never calls back: nothing ever drains
  const writer = streamWriter(stalled);
  const owner = { accessLogDropped: 0 };
  const line = `${'x'.repeat(199)}\n`;
  let taken = 0;
  let refused = 0;
  for (let i = 0; i < 20_000; i++) (writer.offer(line, owner) ? taken++ : refused++);
  await writer.flush(100);
  assert.equal(taken, Math.floor(MAX_ACCESS_LOG_BUFFER_BYTES / 200));
  assert.equal(refused, 20_000 - taken);
  assert.ok(stalled.writableLength <= MAX_ACCESS_LOG_BUFFER_BYTES);
});

test('writes are whole lines, at most 4 KiB each on a stream, in order', async () => {
  const writes: string[] = [];
  const out = new Writable({ write: (chunk: Buffer, _e, cb) => (writes.push(chunk.toString()), cb()) });
  const writer = streamWriter(out);
  const owner = { accessLogDropped: 0 };
  const lines = Array.from({ length: 500 }, (_, i) => `${i} ${'y'.repeat(i % 97)}\n`);
  for (const l of lines) assert.ok(writer.offer(l, owner));
  await writer.flush(1000);
  await new Promise((r) => setImmediate(r));
  assert.ok(writes.length > 1 && writes.length < 100, `${writes.length} writes`);
  for (const w of writes) {
    assert.ok(Buffer.byteLength(w) <= 4096, `a write of ${Buffer.byteLength(w)} bytes`);
    assert.ok(w.endsWith('\n'));
  }
  assert.equal(writes.join(''), lines.join(''));
});

test('the time field is Date\'s ISO text, whatever the millisecond; IPv6 clients in brackets', () => {
  const base = Date.UTC(2026, 10, 30, 12, 45, 2);
  for (const ms of [0, 7, 45, 999, 1000, 61_001]) {
    const r: AccessRecord = { startedAt: base + ms, clientIp: '::1', clientPort: 1, backendKey: undefined, attempts: 0, queueMs: -1, connectMs: -1, bytesIn: 0, bytesOut: 0, endReason: End.NoBackend, endDetail: undefined };
    const json = JSON.parse(jsonLine('"svc"', r, '[::]:80'));
    assert.deepEqual([json.time, json.client, json.service, json.listener, json.backend, json.end], [new Date(base + ms).toISOString(), '[::1]:1', 'svc', '[::]:80', null, 'no-backend']);
    const before = Date.now() - r.startedAt;
    const text = textLine('svc', r, '[::]:80');
    const m = /^\[::1\]:1 \[(\S+)\] svc \[::\]:80 - 0 -1\/-1\/(\d+) 0 0 no-backend -\n$/.exec(text);
    assert.ok(m, text);
    assert.equal(m[1], new Date(base + ms).toISOString());
    assert.ok(Number(m[2]) >= before && Number(m[2]) <= Date.now() - r.startedAt);
  }
});
