/**
 * "Did you mean": the allowed key closest to a mistyped one, compared without
 * case, `-` or `_` (so `connect_timeout` finds `connectTimeout`), or undefined
 * when none is close enough to be a typo rather than a different word.
 */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
  const fold = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const typed = fold(key);
  // One edit per three characters, at least one: "helth" -> "health", but "port" does not become "sort".
  const limit = Math.max(1, Math.floor(typed.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of allowed) {
    const d = editDistance(typed, fold(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, with adjacent transpositions counting as one edit ("tiemout"). */
export function editDistance(a: string, b: string): number {
  // Rows i-2, i-1 and i of the (a.length+1) x (b.length+1) table.
  let older: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, older[j - 2]! + 1);
      row.push(d);
    }
    older = prev;
    prev = row;
  }
  return prev[b.length]!;
}
