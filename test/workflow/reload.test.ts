import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KINDS } from '../../functions/kube/types.js';
import { CLAIM_ANNOTATION, RESTART_MODE_ANNOTATION } from '../../functions/model/names.js';
import { mysqlCommand } from '../../functions/model/reload.js';
import { bundleTrusts, chainsTo, inspectTlsSecret } from '../../functions/pki/index.js';
import type { TaskFn } from '../../local/runner/index.js';
import { progressPrinter } from '../../local/runner/progress.js';
import { type CaIssuer, createCaIssuer, issuerRef, opsRequestFrom } from '../../local/runner/world.js';
import { waitForPodsReady } from '../../local/sim/fixtures.js';
import type { J } from '../../local/sim/store.js';
import { addTls, evictions, NS, podUids, secretPem, startWorld, type World } from './helpers.js';

const DB = 'reload-pxc';
const PODS = [`${DB}-0`, `${DB}-1`, `${DB}-2`];
const RELOAD = { [RESTART_MODE_ANNOTATION]: 'Reload' };
/** A 403 as EKS answers it: the message names the caller's IAM role and account. */
const FORBIDDEN_EXEC =
  'pods "reload-pxc-2" is forbidden: User "arn:aws:sts::123456789012:assumed-role/pxc-tls-ops-ReloadPodsFunctionRole-AbC/pxc-tls-ops-ReloadPodsFunction-XyZ" cannot create resource "pods/exec" in API group "" in the namespace "demo"';

/** The serial of the server certificate each pod's mysqld has loaded, by pod. */
function loadedSerials(world: World): Record<string, string | undefined> {
  return Object.fromEntries(PODS.map((p) => [p, world.sim.mysqld.view(NS, p)?.server?.serial]));
}

function serverSerial(world: World): string {
  return inspectTlsSecret({
    'tls.crt': secretPem(world, `${DB}-server-cert`, 'tls.crt'),
  }).serial.toUpperCase();
}

function execCount(world: World): number {
  return world.sim.requests.all().filter((r) => /\/pods\/[^/]+\/exec/.test(r.path)).length;
}

function conditions(world: World, ops: string) {
  return world.ops(ops).status?.conditions ?? [];
}

describe('Reload mode: TLS reloaded inside running pods, restarts only where a reload cannot be proven', () => {
  let world: World;
  beforeAll(async () => {
    // Running pods see a Secret change 300 ms after the write, as a kubelet sync would (scaled down).
    world = await startWorld({ simulator: { secretPropagationMs: 300 } });
    await world.createDatabase({ name: DB });
    await addTls(world, DB, 'reload-add');
  });
  afterAll(async () => {
    await world?.stop();
  });
  beforeEach(() => {
    world.sim.requests.reset();
    world.sim.faults.reset();
  });

  it('rotates without a restart: every pod serves the new certificate, no eviction, same pod UIDs', async () => {
    const before = podUids(world, DB);
    const oldSerial = serverSerial(world);
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'reload-rotate', database: DB, annotations: RELOAD }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'reload-rotate' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const serial = serverSerial(world);
    expect(serial).not.toBe(oldSerial);
    expect(loadedSerials(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, serial])));
    expect(podUids(world, DB)).toEqual(before);
    expect(evictions(world)).toEqual({});
    const ops = world.ops('reload-rotate');
    expect(ops.status?.phase).toBe('Successful');
    for (const pod of PODS)
      expect(
        conditions(world, 'reload-rotate').find((c) => c.type === `ReloadTLS--${pod}`)?.status,
        pod,
      ).toBe('True');
    const successful = conditions(world, 'reload-rotate').find((c) => c.type === 'Successful');
    expect(successful?.message).toMatch(
      /Reload mode: TLS reloaded without a restart in 3 pod\(s\), none restarted/,
    );
    expect(world.sim.readiness().filter((r) => r.reason === 'PeerNotTrusted')).toEqual([]);
    // The command runs with the container's own credentials: the password is in no payload, log or Event.
    const auth = world.get({ apiVersion: 'v1', kind: 'Secret' }, `${DB}-auth`);
    const password = Buffer.from(auth.data.password, 'base64').toString();
    expect(password.length).toBeGreaterThan(8);
    expect(JSON.stringify(result.events)).not.toContain(password);
    expect(world.logs.join('')).not.toContain(password);
    expect(JSON.stringify(world.sim.store.list('v1', 'Event', NS))).not.toContain(password);
    expect(JSON.stringify(world.ops('reload-rotate'))).not.toContain(password);
  });

  it('updates certificate fields without a restart: the server presents the certificate with the new field', async () => {
    const before = podUids(world, DB);
    world.createOps(
      opsRequestFrom('pxcops-update', { name: 'reload-update', database: DB, annotations: RELOAD }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'reload-update' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const serial = serverSerial(world);
    expect(loadedSerials(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, serial])));
    const loaded = world.sim.mysqld.view(NS, PODS[0]!)!.server!.certPem;
    expect(loaded).toBe(secretPem(world, `${DB}-server-cert`, 'tls.crt'));
    expect(podUids(world, DB)).toEqual(before);
    expect(evictions(world)).toEqual({});
  });

  it('changes the issuer in three reloaded passes and retires the old CA by the end, Galera reloaded too', async () => {
    // Galera's TLS on from its socket.ssl_* options alone, pxc_encrypt_cluster_traffic OFF: Galera
    // encrypts all the same (gu_asio.cpp init_use_ssl), so it must be reloaded too.
    await galeraTls(world, 'provider-options');
    for (const p of PODS) {
      const vars = world.sim.mysqld.exec(NS, p, mysqlCommand("SHOW GLOBAL VARIABLES LIKE 'pxc_encrypt%'"));
      expect(vars.stdout, p).toMatch(/pxc_encrypt_cluster_traffic\tOFF/);
    }
    const before = podUids(world, DB);
    const oldCa = world.issuer.certPem;
    const next = await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: 'reload-new-ca' });
    world.createOps(
      opsRequestFrom('pxcops-change-issuer', {
        name: 'reload-change-issuer',
        database: DB,
        annotations: RELOAD,
        tls: { issuerRef: { apiGroup: 'cert-manager.io', kind: 'ClusterIssuer', name: 'reload-new-ca' } },
      }),
    );
    world.sim.requests.reset();

    const result = await world.run({ namespace: NS, opsRequest: 'reload-change-issuer' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const passes = result.events.filter(
      (e) => e.type === 'StateEntered' && e.state?.name === 'Change certificates',
    );
    expect(passes).toHaveLength(3);
    expect(podUids(world, DB)).toEqual(before);
    expect(evictions(world)).toEqual({});
    for (const alias of ['server', 'client', 'metrics-exporter']) {
      const ca = secretPem(world, `${DB}-${alias}-cert`, 'ca.crt')!;
      expect(ca.match(/BEGIN CERTIFICATE/g), alias).toHaveLength(1);
      expect(chainsTo(secretPem(world, `${DB}-${alias}-cert`, 'tls.crt')!, next.certPem), alias).toBe(true);
    }
    for (const pod of PODS) {
      const view = world.sim.mysqld.view(NS, pod)!;
      // What the servers have loaded no longer trusts the retired CA, in both TLS contexts.
      expect(view.server!.caPem, pod).not.toContain(oldCa.trim().split('\n')[1]);
      expect(view.galera?.caPem, pod).toBe(view.server!.caPem);
      expect(chainsTo(view.server!.certPem, next.certPem), pod).toBe(true);
    }
    const galera = world.sim.mysqld.reloads().filter((r) => r.what === 'galera' && r.ok);
    expect(galera.length).toBeGreaterThanOrEqual(PODS.length * 3);
    expect(world.sim.readiness().filter((r) => r.reason === 'PeerNotTrusted')).toEqual([]);
  });

  it('restarts a pod whose Galera TLS is on but whose Galera build has no socket.ssl_reload, saying why', async () => {
    if (!world.sim.mysqld.view(NS, PODS[0]!)?.encryptClusterTraffic)
      await galeraTls(world, 'provider-options');
    const before = podUids(world, DB);
    world.sim.mysqld.galeraWithoutSslReload(NS, PODS[0]!);
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'reload-old-galera', database: DB, annotations: RELOAD }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'reload-old-galera' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(evictions(world)).toEqual({ [PODS[0]!]: 1 });
    const after = podUids(world, DB);
    expect([after[PODS[1]!], after[PODS[2]!]]).toEqual([before[PODS[1]!], before[PODS[2]!]]);
    expect(
      conditions(world, 'reload-old-galera').find((c) => c.type === `ReloadFallback--${PODS[0]}`)?.message,
    ).toMatch(/this Galera build has no socket\.ssl_reload/);
    // The restarted pod's Galera runs the new certificate, as the reloaded ones do.
    const serial = serverSerial(world);
    for (const p of PODS) expect(world.sim.mysqld.view(NS, p)?.galera?.serial, p).toBe(serial);
  });

  it('restarts only the pod whose reload fails, and the request still succeeds', async () => {
    const before = podUids(world, DB);
    world.sim.faults.failReload(NS, PODS[1]!, { what: 'tls', message: 'injected: cannot load the key' });
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'reload-fault', database: DB, annotations: RELOAD }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'reload-fault' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const after = podUids(world, DB);
    expect(after[PODS[0]!]).toBe(before[PODS[0]!]);
    expect(after[PODS[2]!]).toBe(before[PODS[2]!]);
    expect(after[PODS[1]!]).not.toBe(before[PODS[1]!]);
    expect(evictions(world)).toEqual({ [PODS[1]!]: 1 });
    const serial = serverSerial(world);
    expect(loadedSerials(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, serial])));
    const fallback = conditions(world, 'reload-fault').find((c) => c.type === `ReloadFallback--${PODS[1]}`);
    expect(fallback?.message).toMatch(
      /ALTER INSTANCE RELOAD TLS failed: ERROR 3888.*injected: cannot load the key/,
    );
    expect(conditions(world, 'reload-fault').find((c) => c.type === 'Successful')?.message).toMatch(
      new RegExp(`1 restarted because a reload could not be proven \\(${PODS[1]}`),
    );
    const events = world.sim.store
      .list<J>('v1', 'Event', NS)
      .filter((e) => e.involvedObject?.name === 'reload-fault' && e.reason === 'ReloadFallback');
    expect(events.map((e) => e.type)).toEqual(['Warning']);
    expect(events[0].message).toContain(PODS[1]);
  });

  it('restarts a pod it may not exec into (no k8s/rbac-reload.yaml for it), saying why without the API’s words', async () => {
    const before = podUids(world, DB);
    // As RBAC answers when the Role's resourceNames leave pod 2 out: the message names our role.
    world.sim.faults.inject({
      path: new RegExp(`/pods/${PODS[2]}/exec`),
      times: 1000,
      action: { status: 403, message: FORBIDDEN_EXEC },
    });
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'reload-forbidden', database: DB, annotations: RELOAD }),
    );
    const logsFrom = world.logs.length;

    const result = await world.run({ namespace: NS, opsRequest: 'reload-forbidden' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(evictions(world)).toEqual({ [PODS[2]!]: 1 });
    const after = podUids(world, DB);
    expect([after[PODS[0]!], after[PODS[1]!]]).toEqual([before[PODS[0]!], before[PODS[1]!]]);
    expect(
      conditions(world, 'reload-forbidden').find((c) => c.type === `ReloadFallback--${PODS[2]}`)?.message,
    ).toMatch(/pods\/exec is not allowed \(apply k8s\/rbac-reload\.yaml to enable Reload mode\)$/);
    // Anyone who can read the namespace sees conditions and Events: no identity there, only in the log.
    const fallbacks = world.sim.store
      .list<J>('v1', 'Event', NS)
      .filter((e) => e.reason === 'ReloadFallback' && e.involvedObject.name === 'reload-forbidden');
    expect(fallbacks.length).toBeGreaterThan(0);
    const seen = JSON.stringify([
      world.sim.store.get('ops.kubedb.com/v1alpha1', 'PerconaXtraDBOpsRequest', NS, 'reload-forbidden'),
      fallbacks,
    ]);
    expect(seen).not.toContain('arn:aws:sts');
    expect(seen).not.toContain('is forbidden');
    expect(world.logs.slice(logsFrom).join('')).toContain('arn:aws:sts::123456789012:assumed-role');
  });

  it('restarts, each saying why, a pod whose files cannot be read, one whose mysql does not answer, one whose Galera reload fails', async () => {
    // Galera's own TLS is on since the change of issuer above: its reload is sent too.
    expect(world.sim.mysqld.view(NS, PODS[2]!)?.encryptClusterTraffic).toBe(true);
    const before = podUids(world, DB);
    world.sim.faults.failReload(NS, PODS[0]!, { what: 'read' });
    world.sim.faults.failReload(NS, PODS[1]!, { what: 'connect' });
    world.sim.faults.failReload(NS, PODS[2]!, {
      what: 'galera',
      message: 'injected: galera cannot load the key',
    });
    world.createOps(
      opsRequestFrom('pxcops-rotate', {
        name: 'reload-exec-faults',
        database: DB,
        annotations: RELOAD,
        spec: { timeout: '3s' },
      }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'reload-exec-faults' });
    world.sim.faults.reset();

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const why = (pod: string) =>
      conditions(world, 'reload-exec-faults').find((c) => c.type === `ReloadFallback--${pod}`)?.message;
    expect(Object.fromEntries(PODS.map((p) => [p, why(p)]))).toEqual({
      [PODS[0]!]: expect.stringMatching(/cannot read its certificate files \(.*Permission denied/),
      [PODS[1]!]: expect.stringMatching(
        /mysql did not answer: ERROR 2002 \(HY000\): Can't connect to local MySQL server/,
      ),
      [PODS[2]!]: expect.stringMatching(/Galera's ssl_reload failed: ERROR 1210/),
    });
    expect(evictions(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, 1])));
    const after = podUids(world, DB);
    for (const pod of PODS) expect(after[pod], pod).not.toBe(before[pod]);
    const serial = serverSerial(world);
    expect(loadedSerials(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, serial])));
  });

  it('restarts a pod replaced, and one no longer Ready, between the check and the exec', async () => {
    const before = podUids(world, DB);
    const [replaced, sick, fine] = PODS as [string, string, string];
    world.createOps(
      opsRequestFrom('pxcops-rotate', {
        name: 'reload-moved',
        database: DB,
        annotations: RELOAD,
        spec: { timeout: '3s' },
      }),
    );
    let first = true;
    // As Reload pods starts: one pod deleted (its controller replaces it), another NotReady for a
    // moment (a readiness probe that failed once).
    const wrapTask = (state: string, fn: TaskFn): TaskFn =>
      state !== 'Reload pods'
        ? fn
        : async (input) => {
            if (!first) return fn(input);
            first = false;
            world.sim.store.delete('v1', 'Pod', NS, replaced);
            world.sim.faults.holdNotReady(NS, sick, 'held by the test');
            try {
              return await fn(input);
            } finally {
              world.sim.faults.release(NS, sick);
            }
          };

    const result = await world.run({ namespace: NS, opsRequest: 'reload-moved' }, { wrapTask });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const why = (pod: string) =>
      conditions(world, 'reload-moved').find((c) => c.type === `ReloadFallback--${pod}`)?.message;
    expect(why(replaced)).toMatch(/the pod was replaced or is going away/);
    expect(why(sick)).toMatch(/the pod is not Ready/);
    expect(why(fine)).toBeUndefined();
    // The replaced pod is not evicted again (its replacement already runs on the new files).
    expect(evictions(world)).toEqual({ [sick]: 1 });
    const after = podUids(world, DB);
    expect(after[fine]).toBe(before[fine]);
    expect(after[replaced]).not.toBe(before[replaced]);
    expect(after[sick]).not.toBe(before[sick]);
    const serial = serverSerial(world);
    expect(loadedSerials(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, serial])));
  });

  it('waits for the kubelet to sync the files, saying so in the terminal and in a refreshed Event', async () => {
    const before = podUids(world, DB);
    world.sim.secretPropagationMs = 1500;
    process.env.RELOAD_HOLD_SECONDS = '0.3';
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'reload-slow', database: DB, annotations: RELOAD }),
    );
    const lines: string[] = [];
    const printer = progressPrinter('', (l) => lines.push(l));
    try {
      const result = await world.run({ namespace: NS, opsRequest: 'reload-slow' }, { onProgress: printer });
      expect(result.status, result.cause).toBe('SUCCEEDED');
    } finally {
      printer.stop();
      world.sim.secretPropagationMs = 300;
      delete process.env.RELOAD_HOLD_SECONDS;
    }
    const text = lines.join('\n');
    expect(text).toMatch(/TLS to reload in 3 running pod\(s\) in parallel/);
    expect(text).toMatch(
      /waiting for the new certificate files to reach reload-pxc-0, reload-pxc-1, reload-pxc-2 \(kubelet sync\)/,
    );
    expect(text).toMatch(/TLS reloaded without a restart in reload-pxc-0, reload-pxc-1, reload-pxc-2/);
    const waits = world.sim.store
      .list<J>('v1', 'Event', NS)
      .filter((e) => e.involvedObject?.name === 'reload-slow' && e.reason === 'WaitingForReload');
    expect(waits).toHaveLength(1);
    expect(waits[0].count).toBeGreaterThan(1);
    expect(podUids(world, DB)).toEqual(before);
    expect(evictions(world)).toEqual({});
  });

  it('restarts the pods whose files never arrive before spec.timeout, and the request succeeds', async () => {
    const before = podUids(world, DB);
    world.sim.secretPropagationMs = 60_000;
    process.env.RELOAD_HOLD_SECONDS = '0.5';
    world.createOps(
      opsRequestFrom('pxcops-rotate', {
        name: 'reload-never',
        database: DB,
        annotations: RELOAD,
        spec: { timeout: '2s' },
      }),
    );
    try {
      const result = await world.run({ namespace: NS, opsRequest: 'reload-never' });
      expect(result.status, result.cause).toBe('SUCCEEDED');
    } finally {
      world.sim.secretPropagationMs = 300;
      delete process.env.RELOAD_HOLD_SECONDS;
    }
    expect(evictions(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, 1])));
    const after = podUids(world, DB);
    for (const pod of PODS) expect(after[pod], pod).not.toBe(before[pod]);
    const serial = serverSerial(world);
    expect(loadedSerials(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, serial])));
    expect(
      conditions(world, 'reload-never').find((c) => c.type === `ReloadFallback--${PODS[0]}`)?.message,
    ).toMatch(/did not show the new files by the timeout/);
  });

  it('on failure, reloads the pods that loaded the new certificate back onto the restored files', async () => {
    const before = podUids(world, DB);
    const original = serverSerial(world);
    // pod 1 cannot reload, so it is restarted; its new pod is held NotReady until the rollback.
    world.sim.faults.failReload(NS, PODS[1]!, { what: 'tls', times: 1 });
    world.createOps(
      opsRequestFrom('pxcops-rotate', {
        name: 'reload-rollback',
        database: DB,
        annotations: RELOAD,
        spec: { timeout: '3s' },
      }),
    );
    let evicted = false;
    // The hold ends when the rollback evicts the pod again (it never touches a Ready one): the
    // replacement starts on the restored files and becomes Ready.
    const kube = new Proxy(world.kube, {
      get: (target, key) =>
        key === 'evict'
          ? async (...args: Parameters<typeof target.evict>) => {
              const done = await target.evict(...args);
              if (evicted && args[0].name === PODS[1]) world.sim.faults.release(NS, PODS[1]!);
              else world.sim.faults.holdNotReady(NS, args[0].name);
              evicted = true;
              return done;
            }
          : Reflect.get(target, key, target).bind(target),
    });

    const result = await world.run({ namespace: NS, opsRequest: 'reload-rollback' }, { kube });

    expect(result.status).toBe('FAILED');
    expect(evicted).toBe(true);
    expect(serverSerial(world)).toBe(original);
    // Every pod serves the restored certificate again: 0 and 2 reloaded back, 1 restarted on it.
    expect(loadedSerials(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, original])));
    const after = podUids(world, DB);
    expect(after[PODS[0]!]).toBe(before[PODS[0]!]);
    expect(after[PODS[2]!]).toBe(before[PODS[2]!]);
    const failed = conditions(world, 'reload-rollback').find((c) => c.type === 'Failed');
    expect(failed?.message).toMatch(
      new RegExp(`restarted ${PODS[1]}; reloaded ${PODS[0]}, ${PODS[2]} back onto them`),
    );
    expect(result.events.some((e) => e.state?.name === 'Reload restored pods')).toBe(true);
  });

  it('without the annotation behaves as before: no exec, every pod restarted', async () => {
    const before = podUids(world, DB);
    world.createOps(opsRequestFrom('pxcops-rotate', { name: 'reload-absent', database: DB }));

    const result = await world.run({ namespace: NS, opsRequest: 'reload-absent' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(execCount(world)).toBe(0);
    expect(evictions(world)).toEqual(Object.fromEntries(PODS.map((p) => [p, 1])));
    const after = podUids(world, DB);
    for (const pod of PODS) expect(after[pod], pod).not.toBe(before[pod]);
    expect(result.events.some((e) => e.state?.name === 'Reload pods')).toBe(false);
  });

  it('refuses an unknown restart mode with a clear reason, changing nothing', async () => {
    const serial = serverSerial(world);
    const before = podUids(world, DB);
    world.createOps(
      opsRequestFrom('pxcops-rotate', {
        name: 'reload-typo',
        database: DB,
        annotations: { [RESTART_MODE_ANNOTATION]: 'reload' },
      }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'reload-typo' });

    expect(result.status).toBe('FAILED');
    const ops = world.ops('reload-typo');
    expect(ops.status?.phase).toBe('Failed');
    expect(conditions(world, 'reload-typo').find((c) => c.type === 'Failed')?.message).toMatch(
      /pxc-tls-ops\.io\/restart-mode.*"reload" is not Reload or Restart/,
    );
    expect(serverSerial(world)).toBe(serial);
    expect(podUids(world, DB)).toEqual(before);
    expect(execCount(world)).toBe(0);
    expect(world.db(DB).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
  });

  // Last in this world: the request is left to the execution that took it over.
  it('stops without another exec when its claim is taken over while it waits for the files', async () => {
    world.sim.secretPropagationMs = 1500;
    process.env.RELOAD_HOLD_SECONDS = '0.3';
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'reload-taken', database: DB, annotations: RELOAD }),
    );
    let calls = 0;
    let execsAfter = -1;
    // After the first check (files not there yet), another execution takes the request over.
    const wrapTask = (state: string, fn: TaskFn): TaskFn =>
      state !== 'Reload pods'
        ? fn
        : async (input) => {
            const first = ++calls === 1;
            const out = await fn(input);
            if (first) {
              const ops = world.ops('reload-taken');
              world.sim.store.put({
                ...ops,
                metadata: {
                  ...ops.metadata,
                  annotations: { ...ops.metadata.annotations, [CLAIM_ANNOTATION]: 'reload-taker' },
                },
              });
              world.sim.requests.reset();
            }
            return out;
          };
    let result: Awaited<ReturnType<World['run']>>;
    try {
      result = await world.run({ namespace: NS, opsRequest: 'reload-taken' }, { wrapTask });
      execsAfter = execCount(world);
    } finally {
      world.sim.secretPropagationMs = 300;
      delete process.env.RELOAD_HOLD_SECONDS;
    }

    expect(calls).toBeGreaterThanOrEqual(2);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('LeaseLostError');
    expect(result.cause).toMatch(/claimed by execution reload-taker/);
    expect(execsAfter).toBe(0);
    expect(evictions(world)).toEqual({});
    // Nothing this execution would write after losing it: the request is the taker's.
    expect(world.ops('reload-taken').metadata.annotations?.[CLAIM_ANNOTATION]).toBe('reload-taker');
    expect(world.ops('reload-taken').status?.phase).not.toBe('Failed');
  });
});

/**
 * Turns on Galera's own TLS and restarts the pods on it: with `--pxc-encrypt-cluster-traffic=ON`,
 * or with Galera's socket.ssl_* options alone (pxc_encrypt_cluster_traffic stays OFF).
 */
async function galeraTls(world: World, how: 'pxc-encrypt' | 'provider-options'): Promise<void> {
  const set = world.get(KINDS.PetSet, DB) as J;
  const c = set.spec.template.spec.containers.find((x: J) => x.name === 'perconaxtradb');
  const arg =
    how === 'pxc-encrypt'
      ? '--pxc-encrypt-cluster-traffic=ON'
      : '--wsrep_provider_options=socket.ssl_key=/etc/mysql/certs/server/tls.key;socket.ssl_cert=/etc/mysql/certs/server/tls.crt;socket.ssl_ca=/etc/mysql/certs/server/ca.crt';
  // Before the TLS args, where the wiring keeps other args (else the final pass rewrites the template).
  c.args = [arg, ...c.args];
  world.sim.store.put(set);
  for (const p of PODS) world.sim.store.delete('v1', 'Pod', NS, p);
  await new Promise((r) => setTimeout(r, 200));
  await waitForPodsReady(world.sim, NS, PODS);
  for (const p of PODS) expect(world.sim.mysqld.view(NS, p)?.encryptClusterTraffic, p).toBe(true);
}

describe('Reload mode where cert-manager Certificates own the Secrets', () => {
  const CM = 'reload-cm';
  const CM_PODS = [`${CM}-0`, `${CM}-1`, `${CM}-2`];
  let world: World;
  beforeAll(async () => {
    world = await startWorld({ simulator: { secretPropagationMs: 300 } });
    await world.createDatabase({ name: CM, tls: { requireSSL: true, certManager: true } });
    // cert-manager's certificates start at the second they are issued: one re-issued within the
    // same second would share its validity with the one it replaces, and such a reload cannot be
    // proven (the pod is restarted, correctly). No real rotation follows issuance that closely.
    await new Promise((r) => setTimeout(r, 1100));
  });
  afterAll(async () => {
    await world?.stop();
  });
  beforeEach(() => world.sim.requests.reset());

  const serial = () =>
    inspectTlsSecret({ 'tls.crt': secretPem(world, `${CM}-server-cert`, 'tls.crt') }).serial.toUpperCase();
  const loaded = () => CM_PODS.map((p) => world.sim.mysqld.view(NS, p)?.server?.serial);

  it('rotates: cert-manager re-issues, the kubelet propagates, every pod reloads without a restart', async () => {
    const before = podUids(world, CM);
    const old = serial();
    world.createOps(
      opsRequestFrom('pxcops-rotate', { name: 'cm-reload-rotate', database: CM, annotations: RELOAD }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'cm-reload-rotate' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(serial()).not.toBe(old);
    const fallbacks = JSON.stringify(
      conditions(world, 'cm-reload-rotate').filter((c) => /Fallback/.test(c.type)),
    );
    expect(evictions(world), fallbacks).toEqual({});
    expect(loaded()).toEqual(CM_PODS.map(() => serial()));
    expect(podUids(world, CM)).toEqual(before);
  });

  it('changes the issuer through the Certificates in three reloaded passes, the old CA retired', async () => {
    const before = podUids(world, CM);
    const next = await createCaIssuer(world.sim, { kind: 'ClusterIssuer', name: 'cm-reload-new-ca' });
    world.createOps(
      opsRequestFrom('pxcops-change-issuer', {
        name: 'cm-reload-issuer',
        database: CM,
        annotations: RELOAD,
        tls: { issuerRef: { apiGroup: 'cert-manager.io', kind: 'ClusterIssuer', name: 'cm-reload-new-ca' } },
      }),
    );

    const result = await world.run({ namespace: NS, opsRequest: 'cm-reload-issuer' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(podUids(world, CM)).toEqual(before);
    expect(evictions(world)).toEqual({});
    const ca = secretPem(world, `${CM}-server-cert`, 'ca.crt')!;
    expect(ca.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    expect(chainsTo(secretPem(world, `${CM}-server-cert`, 'tls.crt')!, next.certPem)).toBe(true);
    expect(loaded()).toEqual(CM_PODS.map(() => serial()));
    for (const p of CM_PODS) expect(world.sim.mysqld.view(NS, p)!.server!.caPem, p).toBe(ca);
    // Clients verify the pods with the AppBinding: it follows the retired ca.crt too.
    const binding = world.get({ apiVersion: 'appcatalog.appscode.com/v1alpha1', kind: 'AppBinding' }, CM);
    expect(binding?.spec?.clientConfig?.caBundle).toBe(
      world.get(KINDS.Secret, `${CM}-server-cert`).data['ca.crt'],
    );
    expect(world.sim.readiness().filter((r) => r.reason === 'PeerNotTrusted')).toEqual([]);
  });
});

describe("Reload mode: a rotation after the issuer's CA was renewed, beside an alias with its own issuer", () => {
  const PA = 'reload-pa';
  const PA_PODS = [`${PA}-0`, `${PA}-1`, `${PA}-2`];
  let world: World;
  let clients: CaIssuer;
  beforeAll(async () => {
    world = await startWorld({ simulator: { secretPropagationMs: 300 } });
    clients = await createCaIssuer(world.sim, { name: 'px-clients', namespace: NS });
    await world.createDatabase({ name: PA });
    world.createOps(
      opsRequestFrom('pxcops-add-tls', {
        name: 'pa-add',
        database: PA,
        tls: {
          issuerRef: issuerRef(world.issuer),
          certificates: [{ alias: 'client', issuerRef: issuerRef(clients) }],
        },
      }),
    );
    const added = await world.run({ namespace: NS, opsRequest: 'pa-add' });
    expect(added.status, added.cause).toBe('SUCCEEDED');
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('trusts the renewed CA, moves to it and retires the old one in three reloaded passes, keeping the client issuer’s CA', async () => {
    const before = podUids(world, PA);
    const oldCa = world.issuer.certPem;
    // cert-manager (or a person) renewed the CA in the Issuer's Secret: a new key, a new certificate.
    const renewed = await createCaIssuer(world.sim, {
      name: 'px-issuer',
      namespace: NS,
      commonName: 'px CA 2',
    });
    world.createOps(
      opsRequestFrom('pxcops-rotate', {
        name: 'pa-rotate',
        database: PA,
        annotations: RELOAD,
        spec: { timeout: '5s' },
      }),
    );
    world.sim.requests.reset();

    const result = await world.run({ namespace: NS, opsRequest: 'pa-rotate' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    const kinds = result.events
      .filter((e) => e.type === 'StateExited' && e.state?.name === 'Change certificates')
      .map(
        (e) => (e.state?.output as { round?: { kind?: string; trustOverlap?: boolean } } | undefined)?.round,
      );
    expect(kinds).toEqual(
      ['trust-bundle', 'certificates', 'retire-ca'].map((kind) =>
        expect.objectContaining({ kind, trustOverlap: true }),
      ),
    );
    expect(evictions(world)).toEqual({});
    expect(podUids(world, PA)).toEqual(before);
    const crt = (alias: string) => secretPem(world, `${PA}-${alias}-cert`, `tls.crt`)!;
    expect(chainsTo(crt('server'), renewed.certPem)).toBe(true);
    expect(chainsTo(crt('client'), clients.certPem)).toBe(true);
    for (const alias of ['server', 'client', 'metrics-exporter']) {
      const ca = secretPem(world, `${PA}-${alias}-cert`, 'ca.crt')!;
      expect(bundleTrusts(ca, oldCa), `${alias} still trusts the old CA`).toBe(false);
      expect(bundleTrusts(ca, renewed.certPem), alias).toBe(true);
    }
    // The client alias' ca.crt keeps its own issuer's CA.
    expect(bundleTrusts(secretPem(world, `${PA}-client-cert`, 'ca.crt')!, crt('client'))).toBe(true);
    for (const pod of PA_PODS) {
      const loaded = world.sim.mysqld.view(NS, pod)!.server!;
      expect(loaded.certPem, pod).toBe(crt('server'));
      expect(bundleTrusts(loaded.caPem, oldCa), pod).toBe(false);
    }
    expect(world.sim.readiness().filter((r) => r.reason === 'PeerNotTrusted')).toEqual([]);
  });

  it('a pass whose old and new certificates do not trust each other reloads no pod: each is handed to a restart', async () => {
    // The CA renewed again, and the plan made to skip the trust pass (what the two-pass plan
    // avoids): the old and the new server certificates do not trust each other's CA.
    await createCaIssuer(world.sim, { name: 'px-issuer', namespace: NS, commonName: 'px CA 3' });
    world.createOps(
      opsRequestFrom('pxcops-rotate', {
        name: 'pa-no-overlap',
        database: PA,
        annotations: RELOAD,
        spec: { timeout: '3s' },
      }),
    );
    const onePass = (state: string, fn: TaskFn): TaskFn =>
      state !== 'Validate'
        ? fn
        : async (input) => {
            const out = (await fn(input)) as { plan?: { passes: string[] } };
            if (out.plan) out.plan.passes = ['certificates'];
            return out as never;
          };
    world.sim.requests.reset();

    const result = await world.run({ namespace: NS, opsRequest: 'pa-no-overlap' }, { wrapTask: onePass });

    const round = result.events.findLast((e) => e.type === 'StateExited' && e.state?.name === 'Reload pods')
      ?.state?.output as {
      round?: { reload?: { reloaded: string[]; fallback: Array<{ name: string; reason: string }> } };
    };
    expect(round, `${result.error}: ${result.cause}`).toBeDefined();
    expect(round?.round?.reload?.reloaded).toEqual([]);
    expect(round?.round?.reload?.fallback).toEqual(
      PA_PODS.map((name) => ({
        name,
        reason: expect.stringMatching(/the old and the new certificates do not trust each other/),
      })),
    );
    // Not one exec before the first restart: a reload would have switched pods that cannot
    // verify each other.
    const firstEviction = world.sim.requests.all().findIndex((r) => r.verb === 'evict');
    expect(firstEviction).toBeGreaterThan(-1);
    expect(
      world.sim.requests
        .all()
        .slice(0, firstEviction)
        .filter((r) => /\/exec/.test(r.path)),
    ).toEqual([]);
    // The first pod restarted on the new CA is refused by its peers: the request fails and rolls back.
    expect(result.status).toBe('FAILED');
    expect(world.db(PA).status?.conditions?.some((c) => c.type === 'Paused')).toBe(false);
  });
});
