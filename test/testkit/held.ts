/**
 * What each test of a file holds (a vhost, a project, a running Warren…), released after it whatever
 * happened: call `heldPerTest(release)` once at the top of the file, and hand each thing to `hold`
 * as the test makes it (`const vhost = hold('vhost', await createTestVhost('x'))`). A test that makes
 * a second one of a kind (a restarted runtime) hands that one over too; the last one is released.
 */
import { afterEach } from 'vitest';

export function heldPerTest<T extends object>(release: (held: Partial<T>) => Promise<void>) {
  let held: Partial<T> = {};
  afterEach(async () => {
    const releasing = held;
    held = {};
    await release(releasing);
  });
  return <K extends keyof T>(key: K, value: T[K]): T[K] => {
    held[key] = value;
    return value;
  };
}
