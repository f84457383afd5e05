/**
 * The disruption probe: what clients of a real-server database (`mysqld: 'mariadb'`) feel while
 * an action runs. Several times a second it
 * - opens a new TLS connection to every pod that is Ready in the API, verifying the CA (the
 *   server Secret's `ca.crt` at that moment, what KubeDB publishes to clients) and the pod's host
 *   name, as a client with `ssl-mode=VERIFY_IDENTITY` would (mysql-tls.ts);
 * - writes a row on one Ready pod and reads it on another (`wsrep_sync_wait=1`);
 * - samples `wsrep_cluster_size` and `wsrep_cluster_status` of every Ready pod's server.
 * It counts failed connections by reason, failed and unreplicated writes, the smallest cluster
 * size and the non-Primary samples. Nothing it does changes the cluster beyond its own table.
 */
import type { Simulator } from './index.js';
import { mysqlTls } from './mysql-tls.js';

export interface ProbeFigures {
  tlsOk: number;
  /** Failed TLS connections by reason (refused = nothing listening: the server is down). */
  tlsFailed: Record<'refused' | 'verify' | 'other', number>;
  /** Pods that had a failed connection, with the count. */
  failedPods: Record<string, number>;
  /** First few failure messages (for the report). */
  examples: string[];
  writes: number;
  writeFailed: number;
  unreplicated: number;
  samples: number;
  minClusterSize: number;
  nonPrimary: number;
}

interface PodLike {
  metadata: { name: string; deletionTimestamp?: string };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

export class DisruptionProbe {
  private timers: NodeJS.Timeout[] = [];
  private inflight = new Set<Promise<unknown>>();
  /** Row ids unique across probes on the same database (each case starts a new probe). */
  private row = Date.now() * 1000;
  readonly figures: ProbeFigures = {
    tlsOk: 0,
    tlsFailed: { refused: 0, verify: 0, other: 0 },
    failedPods: {},
    examples: [],
    writes: 0,
    writeFailed: 0,
    unreplicated: 0,
    samples: 0,
    minClusterSize: Number.POSITIVE_INFINITY,
    nonPrimary: 0,
  };

  constructor(
    private readonly sim: Simulator,
    private readonly o: {
      namespace: string;
      database: string;
      replicas: number;
      /** TLS connection rounds per second (each round: one connection per Ready pod); default 4. */
      tlsHz?: number;
      /** Write/read pairs per second; default 2. */
      writeHz?: number;
    },
  ) {}

  start(): this {
    const every = (hz: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => {
        const p = fn().catch(() => undefined);
        this.inflight.add(p);
        void p.finally(() => this.inflight.delete(p));
      }, 1000 / hz);
      this.timers.push(t);
    };
    every(this.o.tlsHz ?? 4, () => this.tlsRound());
    every(this.o.writeHz ?? 2, () => this.writeRead());
    every(2, async () => this.sample());
    return this;
  }

  async stop(): Promise<ProbeFigures> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await Promise.all([...this.inflight]);
    return this.figures;
  }

  private readyPods(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.o.replicas; i++) {
      const name = `${this.o.database}-${i}`;
      const p = this.sim.store.get<PodLike>('v1', 'Pod', this.o.namespace, name);
      if (
        p &&
        !p.metadata.deletionTimestamp &&
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
      )
        out.push(name);
    }
    return out;
  }

  private server(pod: string) {
    return this.sim
      .galera!.servers()
      .filter((s) => s.namespace === this.o.namespace && s.pod === pod)
      .pop();
  }

  private caPem(): string | undefined {
    const s = this.sim.store.get<{ data?: Record<string, string> }>(
      'v1',
      'Secret',
      this.o.namespace,
      `${this.o.database}-server-cert`,
    );
    const ca = s?.data?.['ca.crt'];
    return ca ? Buffer.from(ca, 'base64').toString('utf8') : undefined;
  }

  private async tlsRound(): Promise<void> {
    const ca = this.caPem();
    if (!ca) return;
    await Promise.all(
      this.readyPods().map(async (pod) => {
        const s = this.server(pod);
        if (!s) return;
        const r = await mysqlTls({
          port: s.ports.mysql,
          ca,
          servername: `${pod}.${this.o.database}-pods.${this.o.namespace}.svc`,
          timeoutMs: 3000,
        });
        const f = this.figures;
        if (r.ok) f.tlsOk++;
        else {
          const reason = r.reason === 'refused' ? 'refused' : r.reason === 'verify' ? 'verify' : 'other';
          f.tlsFailed[reason]++;
          f.failedPods[pod] = (f.failedPods[pod] ?? 0) + 1;
          if (f.examples.length < 5) f.examples.push(`${pod}: ${r.reason}: ${r.message.slice(0, 160)}`);
        }
      }),
    );
  }

  private async writeRead(): Promise<void> {
    const ready = this.readyPods();
    if (ready.length < 2) return;
    const id = ++this.row;
    const writer = ready[id % ready.length]!;
    const reader = ready[(id + 1) % ready.length]!;
    const ns = this.o.namespace;
    const f = this.figures;
    f.writes++;
    const value = `w${id}`;
    const w = await this.sim.galera!.sql(
      ns,
      writer,
      `CREATE TABLE IF NOT EXISTS probe.disruption (id BIGINT PRIMARY KEY, v VARCHAR(32)); INSERT INTO probe.disruption VALUES (${id}, '${value}')`,
    );
    if (w.exitCode !== 0) {
      f.writeFailed++;
      if (f.examples.length < 5) f.examples.push(`write on ${writer}: ${w.stderr.trim().slice(0, 160)}`);
      return;
    }
    const r = await this.sim.galera!.sql(
      ns,
      reader,
      `SET SESSION wsrep_sync_wait=1; SELECT v FROM probe.disruption WHERE id=${id}`,
    );
    if (r.exitCode !== 0 || r.stdout.trim() !== value) {
      // The reader may have gone down in between: that is a failed read, not lost data; count
      // it as unreplicated only when the reader answered.
      if (r.exitCode === 0) f.unreplicated++;
      else if (this.readyPods().includes(reader)) f.unreplicated++;
    }
  }

  private sample(): void {
    for (const pod of this.readyPods()) {
      const s = this.server(pod);
      const size = Number(s?.status.wsrep.wsrep_cluster_size);
      const status = s?.status.wsrep.wsrep_cluster_status;
      if (!s || !Number.isFinite(size) || !status) continue;
      this.figures.samples++;
      this.figures.minClusterSize = Math.min(this.figures.minClusterSize, size);
      if (status !== 'Primary') this.figures.nonPrimary++;
    }
  }
}
