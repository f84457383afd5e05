/**
 * A small world for workflow tests: a simulator with short pod delays, a CA Issuer, a
 * PerconaXtraDB, and `run()` executing the real ASL through the local runner with Waits and
 * retry intervals shortened. Logs are captured (and kept off the console) for the key scan.
 */
import * as http from 'node:http';
import { Logger } from '@aws-lambda-powertools/logger';
import { expect, vi } from 'vitest';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import type { Kube } from '../../functions/kube/types.js';
import { KINDS } from '../../functions/kube/types.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../../functions/model/types.js';
import { sweep } from '../../functions/steps/sweep.js';
import { type RunOptions, type RunResult, runExecution } from '../../local/runner/index.js';
import { type CaIssuer, createCaIssuer, opsRequestFrom } from '../../local/runner/world.js';
import {
  createPerconaXtraDB,
  type PerconaXtraDBFixture,
  waitForPodsReady,
} from '../../local/sim/fixtures.js';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../local/sim/index.js';
import { recordingLogger } from '../sam/helpers.js';

export const NS = 'demo';

export interface World {
  sim: Simulator;
  kube: Kube;
  issuer: CaIssuer;
  logs: string[];
  run(input: unknown, opts?: Partial<RunOptions>): Promise<RunResult>;
  createDatabase(f: Partial<PerconaXtraDBFixture> & { name: string }): Promise<void>;
  createOps(ops: PerconaXtraDBOpsRequest): PerconaXtraDBOpsRequest;
  ops(name: string): PerconaXtraDBOpsRequest;
  db(name: string): PerconaXtraDB;
  // biome-ignore lint/suspicious/noExplicitAny: free-form objects from the simulator store
  get(kind: { apiVersion: string; kind: string }, name: string, namespace?: string): any;
  stop(): Promise<void>;
}

export async function startWorld(
  o: { podReadyDelayMs?: number; simulator?: Partial<SimulatorOptions> } = {},
): Promise<World> {
  const sim = await startSimulator({
    podReadyDelayMs: o.podReadyDelayMs ?? 150,
    podDeleteGraceMs: 30,
    ...o.simulator,
  });
  const kube = kubeFromKubeconfig(sim.kubeconfig);
  const issuer = await createCaIssuer(sim, { name: 'px-issuer', namespace: NS });
  const logs: string[] = [];
  let active = 0;
  let spies: Array<{ mockRestore(): void }> = [];
  const logger = new Logger({ serviceName: 'pxc-tls-ops-test', logLevel: 'DEBUG' });
  const get = (
    kind: { apiVersion: string; kind: string },
    name: string,
    namespace: string | undefined = NS,
  ) => sim.store.get(kind.apiVersion, kind.kind, namespace, name);
  return {
    sim,
    kube,
    issuer,
    logs,
    async run(input, opts = {}) {
      // Logs are captured while any run is in flight (several may run at once).
      if (active++ === 0) {
        const capture = (chunk: unknown) => {
          logs.push(String(chunk));
          return true;
        };
        spies = [
          vi.spyOn(process.stdout, 'write').mockImplementation(capture),
          vi.spyOn(process.stderr, 'write').mockImplementation(capture),
        ];
      }
      const from = logs.length;
      try {
        const result = await runExecution({
          kube,
          input,
          waitScale: 0.05,
          retryScale: 0.02,
          logger,
          ...opts,
        });
        // Every run of every workflow test: no private key in any state input/output or log line.
        const leak = findPrivateKey(result.events, logs.slice(from));
        if (leak) throw new Error(`private key material found in ${leak}`);
        return result;
      } finally {
        if (--active === 0) for (const s of spies.splice(0)) s.mockRestore();
      }
    },
    async createDatabase(f) {
      const created = createPerconaXtraDB(sim, { namespace: NS, replicas: 3, ...f });
      await waitForPodsReady(sim, NS, created.podNames);
    },
    createOps(ops) {
      return sim.store.create(ops);
    },
    ops: (name) => get(KINDS.PerconaXtraDBOpsRequest, name) as PerconaXtraDBOpsRequest,
    db: (name) => get(KINDS.PerconaXtraDB, name) as PerconaXtraDB,
    get,
    stop: () => sim.stop(),
  };
}

/** Pod name → UID, from the simulator's store. */
/** Arrange: TLS added to `database` (in NS) by an add-TLS request named `name`, which must succeed. */
export async function addTls(world: World, database: string, name: string): Promise<void> {
  world.createOps(opsRequestFrom('pxcops-add-tls', { name, database }));
  const added = await world.run({ namespace: NS, opsRequest: name });
  expect(added.status, added.cause).toBe('SUCCEEDED');
}

/** Whether the database carries a Paused condition, whatever its status (a pause not yet confirmed counts). */
export function paused(world: World, database: string): boolean {
  return world.db(database).status?.conditions?.some((c) => c.type === 'Paused') === true;
}

export function podUids(world: World, database: string): Record<string, string> {
  const pods = world.sim.store.list<{
    metadata: { name: string; uid: string; labels?: Record<string, string> };
  }>('v1', 'Pod', NS);
  return Object.fromEntries(
    pods
      .filter((p) => p.metadata.labels?.['app.kubernetes.io/instance'] === database)
      .map((p) => [p.metadata.name, p.metadata.uid]),
  );
}

/** Successful evictions per pod name since the simulator's request log was last reset. */
export function evictions(world: World): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of world.sim.requests.all()) {
    const pod = /\/pods\/([^/]+)\/eviction$/.exec(r.path)?.[1];
    if (r.verb === 'evict' && r.status === 201 && pod) out[pod] = (out[pod] ?? 0) + 1;
  }
  return out;
}

export function secretPem(
  world: World,
  name: string,
  key: 'ca.crt' | 'tls.crt' | 'tls.key',
): string | undefined {
  const s = world.get(KINDS.Secret, name);
  const v = s?.data?.[key];
  return v ? Buffer.from(v, 'base64').toString('utf8') : undefined;
}

export const PRIVATE_KEY =
  /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----|BEGIN[\s\S]{0,40}PRIVATE KEY|LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVkt|LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0t/;

/** Where a PEM private key (plain or base64 as in a Secret) appears: 'the event log', 'the logs', or undefined. */
export function findPrivateKey(events: unknown, logs: string[]): string | undefined {
  if (PRIVATE_KEY.test(JSON.stringify(events))) return 'the event log';
  if (logs.some((l) => PRIVATE_KEY.test(l))) return 'the logs';
  return undefined;
}

/**
 * Follows a database's pods through a watch while a test runs: how many were unavailable (not
 * Ready, terminating, or not there) at the worst moment. A PodDisruptionBudget of maxUnavailable
 * 1 means this must never pass 1, rollbacks included. Await `ready` before acting; `stop()` after.
 */
export function watchAvailability(world: World, database: string, replicas = 3) {
  const ready = new Map<string, boolean>();
  for (const p of world.sim.store.list<PodShape>('v1', 'Pod', NS))
    if (p.metadata.labels?.['app.kubernetes.io/instance'] === database)
      ready.set(p.metadata.name, isReady(p));
  const unavailable = () => replicas - [...ready.values()].filter(Boolean).length;
  let worst = unavailable();
  const selector = encodeURIComponent(`app.kubernetes.io/instance=${database}`);
  let buffer = '';
  let req: http.ClientRequest | undefined;
  const started = new Promise<void>((resolve, reject) => {
    req = http.get(
      `${world.sim.url}/api/v1/namespaces/${NS}/pods?watch=true&labelSelector=${selector}`,
      (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (!line) continue;
            const ev = JSON.parse(line) as { type: string; object: PodShape };
            if (ev.type === 'DELETED') ready.delete(ev.object.metadata.name);
            else if (ev.type !== 'BOOKMARK') ready.set(ev.object.metadata.name, isReady(ev.object));
            worst = Math.max(worst, unavailable());
          }
        });
        res.on('error', () => {});
        resolve();
      },
    );
    req.on('error', reject);
  });
  return {
    ready: started,
    /** The most pods unavailable at once since the watch started. */
    maxUnavailable: () => worst,
    stop: () => req?.destroy(),
  };
}

interface PodShape {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

function isReady(p: PodShape): boolean {
  return (
    !p.metadata.deletionTimestamp &&
    !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/**
 * One run of the sweep against the world's cluster, as the scheduled function runs it: the
 * executions it would start are recorded, not started; `statuses` answers DescribeExecution.
 */
export async function sweepOnce(world: World, statuses: Record<string, string | undefined> = {}) {
  const started: Array<{ name: string; input: object }> = [];
  const result = await sweep({
    kube: world.kube,
    publish: async () => {},
    cluster: 'local',
    logger: recordingLogger(),
    startExecution: async (name, input) => {
      started.push({ name, input });
      return { alreadyExisted: false };
    },
    describeExecution: async (execution) => statuses[execution],
  });
  return { result, started };
}
