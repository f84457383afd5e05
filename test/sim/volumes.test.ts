/**
 * The realistic kubelet's schedule (local/sim/volumes.ts), on a clock the test moves: which
 * version of a Secret a running pod's volume shows, and when.
 */
import { describe, expect, it } from 'vitest';
import { RESOURCES } from '../../local/sim/resources.js';
import { Store } from '../../local/sim/store.js';
import { SecretVolumes } from '../../local/sim/volumes.js';

const SECRET = RESOURCES.find((r) => r.kind === 'Secret')!;
const secret = (v: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { namespace: 'demo', name: 's' },
  data: { v },
});

function setup() {
  const store = new Store();
  let now = 1_000_000;
  const clock = { at: (t: number) => (now = t), now: () => now };
  // Syncs at mount + 30 s, + 90 s, ...
  const volumes = new SecretVolumes(store, 0, clock.now, { syncPeriodMs: 60_000, phaseMs: () => 30_000 });
  const shown = () => volumes.read('demo', 's', 'pod-uid')?.data?.v;
  return { store, clock, volumes, shown, start: now };
}

describe('realistic kubelet: a running pod shows the Secret as of its last sync', () => {
  it('a change shows at the next periodic sync, not before', () => {
    const { store, clock, volumes, shown, start } = setup();
    const first = store.insert(SECRET, secret('one'));
    volumes.mount('pod-uid', start);
    clock.at(start + 1_000);
    store.replace(SECRET, first, { ...first, data: { v: 'two' } });
    clock.at(start + 29_000);
    expect(shown()).toBe('one');
    clock.at(start + 30_000);
    expect(shown()).toBe('two');
  });

  it('a Secret created after the pod started is mounted as soon as it exists (the kubelet retries the mount)', () => {
    const { store, clock, volumes, shown, start } = setup();
    volumes.mount('pod-uid', start);
    expect(shown()).toBeUndefined();
    clock.at(start + 5_000);
    store.insert(SECRET, secret('one'));
    expect(shown()).toBe('one');
  });
});
