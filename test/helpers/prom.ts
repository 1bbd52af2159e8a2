/** A strict parser of the Prometheus text format (0.0.4), for tests that scrape /metrics. */
import assert from 'node:assert/strict';

export interface Family {
  type: string;
  help: string;
  /** `name` is the sample's own name: a histogram's carry `_bucket`, `_sum`, `_count`. */
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;

/** A strict parser of the Prometheus text format (0.0.4); throws on anything else. */
export function parseProm(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { type: '', help: '', samples: [] }));
    return f;
  };
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    let m: RegExpExecArray | null;
    if ((m = /^# HELP (\S+) (.*)$/.exec(line))) {
      assert.match(m[1]!, NAME);
      family(m[1]!).help = m[2]!;
    } else if ((m = /^# TYPE (\S+) (counter|gauge|histogram|summary)$/.exec(line))) {
      assert.equal(family(m[1]!).samples.length, 0, `TYPE after samples for ${m[1]}`);
      family(m[1]!).type = m[2]!;
    } else if ((m = SAMPLE.exec(line))) {
      // A histogram's or summary's samples carry a suffix on the family's name.
      const base = /^(.*)_(bucket|sum|count)$/.exec(m[1]!)?.[1];
      const f = families.get(m[1]!) ?? (base === undefined ? undefined : families.get(base));
      assert.ok(f?.type, `sample of an undeclared metric: ${line}`);
      const labels: Record<string, string> = {};
      if (m[2] !== undefined && m[2] !== '') {
        LABEL.lastIndex = 0;
        let l: RegExpExecArray | null;
        let end = 0;
        while ((l = LABEL.exec(m[2]))) {
          labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
          end = LABEL.lastIndex;
          if (l[3] === '') break;
        }
        assert.equal(end, m[2].length, `bad labels in: ${line}`);
      }
      const value = Number(m[3]);
      // Prometheus parses NaN in any case (Go's ParseFloat); prom-client writes `Nan` before a first sample.
      assert.ok(!Number.isNaN(value) || /^nan$/i.test(m[3]!), `bad value in: ${line}`);
      if (f.type === 'counter') assert.ok(value >= 0, `negative counter: ${line}`);
      f.samples.push({ name: m[1]!, labels, value });
    } else {
      assert.fail(`not Prometheus text: ${JSON.stringify(line)}`);
    }
  }
  return families;
}


/**
 * One histogram of `family` (the series whose labels include `labels`),
 * checked as Prometheus requires: buckets in increasing `le`, cumulative
 * counts that never decrease, `+Inf` equal to `_count`.
 */
export function histogramOf(families: Map<string, Family>, family: string, labels: Record<string, string>): { buckets: [number, number][]; sum: number; count: number } | undefined {
  const f = families.get(family);
  assert.ok(f, `no metric ${family}`);
  assert.equal(f.type, 'histogram', `${family} is a ${f.type}`);
  const match = (l: Record<string, string>) => Object.entries(labels).every(([k, v]) => l[k] === v);
  const samples = f.samples.filter((s) => match(s.labels));
  if (samples.length === 0) return undefined;
  const buckets: [number, number][] = samples
    .filter((s) => s.name === `${family}_bucket`)
    .map((s) => [s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value]);
  const sum = samples.find((s) => s.name === `${family}_sum`)?.value;
  const count = samples.find((s) => s.name === `${family}_count`)?.value;
  assert.ok(buckets.length > 1 && sum !== undefined && count !== undefined, `${family}: incomplete histogram`);
  for (let i = 1; i < buckets.length; i++) {
    assert.ok(buckets[i]![0] > buckets[i - 1]![0], `${family}: le out of order`);
    assert.ok(buckets[i]![1] >= buckets[i - 1]![1], `${family}: bucket counts decrease`);
  }
  assert.equal(buckets.at(-1)![0], Infinity, `${family}: no +Inf bucket`);
  assert.equal(buckets.at(-1)![1], count, `${family}: +Inf differs from _count`);
  return { buckets, sum, count };
}
