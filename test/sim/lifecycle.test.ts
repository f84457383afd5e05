import { describe, expect, it } from 'vitest';
import { createPerconaXtraDB, waitForPodsReady } from '../../local/sim/fixtures.js';
import { startFast } from './helpers.js';

describe('Simulator lifecycle', () => {
  it('stop() closes the server, open watches and its timers, leaving nothing running', async () => {
    const count = (kind: string) => process.getActiveResourcesInfo().filter((r) => r === kind).length;
    const before = { servers: count('TCPServerWrap'), timers: count('Timeout') };
    const sim = await startFast({ podReadyDelayMs: 60_000 });
    const db = createPerconaXtraDB(sim, { namespace: 'demo', name: 'lifecycle', replicas: 3 });
    const watch = await fetch(`${sim.url}/api/v1/namespaces/demo/pods?watch=true`);
    const reader = watch.body!.getReader();
    const during = { servers: count('TCPServerWrap'), timers: count('Timeout') };

    await sim.stop();
    let ended = false;
    while (!ended) ended = (await reader.read()).done;
    const refused = await fetch(`${sim.url}/version`).then(
      () => false,
      () => true,
    );
    const after = { servers: count('TCPServerWrap'), timers: count('Timeout') };

    expect(db.podNames).toHaveLength(3);
    expect(during.servers).toBeGreaterThan(before.servers);
    expect(during.timers).toBeGreaterThan(before.timers);
    expect(refused).toBe(true);
    expect(after).toEqual(before);
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
