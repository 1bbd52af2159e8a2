/**
 * Polling, for state that no event announces (a counter inside the proxy, a
 * process list). Bounded: it fails with `what` rather than hanging a test.
 */
export async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function waitFor(condition: () => boolean, ms = 3000, what = 'a condition'): Promise<void> {
  await until(what, () => (condition() ? true : undefined), ms);
}
