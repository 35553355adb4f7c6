import * as assert from 'uvu/assert';

/** Awaits `fn` and returns what it threw; fails when it resolves or the error does not match. */
export async function rejects(fn: () => Promise<unknown>, pattern?: RegExp): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    if (pattern) assert.match(err instanceof Error ? err.message : String(err), pattern);
    return err;
  }
  assert.unreachable(`expected a rejection${pattern ? ` matching ${pattern}` : ''}`);
}

/** Waits (bounded) until `cond()` holds; the bound only keeps a broken run from hanging. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
