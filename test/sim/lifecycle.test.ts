import { createHook } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { createPerconaXtraDB, waitForPodsReady } from '../../local/sim/fixtures.js';
import { startFast } from './helpers.js';

describe('Simulator lifecycle', () => {
  it('stop() closes the server, open watches and its timers, leaving nothing running', async () => {
    const servers = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
    // Only the simulator's own timers count (set from local/sim/): the test runner, fetch (undici)
    // and node:http keep timers of their own that come and go meanwhile, and counting every timer
    // of the process made this test flaky under load.
    const timers = new Set<number>();
    const hook = createHook({
      init(id, type) {
        if (type === 'Timeout' && new Error().stack?.includes('/local/sim/')) timers.add(id);
      },
      destroy(id) {
        timers.delete(id);
      },
    }).enable();
    try {
      const before = servers();
      const sim = await startFast({ podReadyDelayMs: 60_000 });
      const db = createPerconaXtraDB(sim, { namespace: 'demo', name: 'lifecycle', replicas: 3 });
      const watch = await fetch(`${sim.url}/api/v1/namespaces/demo/pods?watch=true`);
      const reader = watch.body!.getReader();
      const during = { servers: servers(), timers: timers.size };

      await sim.stop();
      let ended = false;
      while (!ended) ended = (await reader.read()).done;
      const refused = await fetch(`${sim.url}/version`).then(
        () => false,
        () => true,
      );
      await new Promise((r) => setImmediate(r)); // destroy hooks run after this turn of the loop
      const after = { servers: servers(), timers: timers.size };

      expect(db.podNames).toHaveLength(3);
      expect(during.servers).toBe(before + 1);
      expect(during.timers).toBeGreaterThanOrEqual(3); // at least each pending pod's start
      expect(refused).toBe(true);
      expect(after).toEqual({ servers: before, timers: 0 });
    } finally {
      hook.disable();
    }
  });

  it('is ready to answer within the promise and can be started many times side by side', async () => {
    const sims = await Promise.all([startFast(), startFast(), startFast()]);
    try {
      const ports = new Set(sims.map((s) => new URL(s.url).port));
      const answers = await Promise.all(sims.map((s) => fetch(`${s.url}/version`).then((r) => r.status)));
      expect(ports.size).toBe(3);
      expect(answers).toEqual([200, 200, 200]);
      const db = createPerconaXtraDB(sims[0]!, { namespace: 'demo', name: 'isolated' });
      await waitForPodsReady(sims[0]!, 'demo', db.podNames);
      expect(sims[1]!.store.list('v1', 'Pod', 'demo')).toEqual([]);
    } finally {
      await Promise.all(sims.map((s) => s.stop()));
    }
  });
});
