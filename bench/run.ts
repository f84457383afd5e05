/**
 * `npm run bench`: what a user pays — rotation wall time against the pods' own restart time,
 * readiness detection lag, state transitions, Kubernetes API requests, cold start, certificate
 * issuance and the expiry scan at scale — as ONE table, every figure a median of repeated runs
 * with min and max and its target beside it.
 *
 *   npm run bench                          # everything (about 7 minutes on 2 cores)
 *   npm run bench -- --quick               # smoke run (about 1 minute): 1 s pods, single runs, figures not comparable
 *   npm run bench -- --only coldstart,scale
 *   npm run bench -- --json bench.json     # also write the figures as JSON
 *   npm run bench -- --runs 5              # repetitions of each rotation case (default 3)
 *   npm run bench -- --only recovery       # time a database stays paused after an interruption (about 6 minutes)
 *   npm run bench -- --only fleet          # hourly scans of 3 clusters + 1 unreachable over 21 simulated days (docs/fleet.md)
 *   npm run bench -- --only reload-kubelet # Reload rotate/change issuer with a 60 s kubelet sync, touch off/on (~5 min)
 *   npm run bench -- --only disruption     # what clients feel per action and mode, on 3 real Galera servers
 *
 * Groups: rotation, transitions, requests (these three share the executions), reload (Reload
 * mode against Restart mode, Secret propagation 2 s), coldstart, certificates, scale; `recovery`
 * runs only when asked for with --only. Exits 0 when targets are missed (they print MISS);
 * non-zero only when a benchmark breaks.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { benchColdStart } from './coldstart.js';
import { benchDisruption } from './disruption.js';
import { benchExecutions } from './executions.js';
import { benchFleet } from './fleet.js';
import { benchCertificates } from './pki.js';
import { benchRecovery } from './recovery.js';
import { benchReload } from './reload.js';
import { benchReloadKubelet } from './reload-kubelet.js';
import { benchScale } from './scale.js';
import { type Figure, renderTable } from './stats.js';

export const GROUPS = [
  'rotation',
  'transitions',
  'requests',
  'reload',
  'reload-kubelet',
  'coldstart',
  'certificates',
  'scale',
  'recovery',
  'fleet',
  'disruption',
] as const;
/**
 * Groups that run only when named with --only: recovery, fleet and reload-kubelet take minutes; disruption needs
 * real servers (apt-get install mariadb-server galera-4 rsync).
 */
const ON_REQUEST: readonly Group[] = ['recovery', 'fleet', 'disruption', 'reload-kubelet'];
type Group = (typeof GROUPS)[number];

const { values } = parseArgs({
  options: {
    json: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
    runs: { type: 'string' },
    notes: { type: 'boolean', default: true },
  },
  allowPositionals: false,
});

const only = (values.only ?? []).flatMap((s) => s.split(',')).filter(Boolean);
for (const g of only) {
  if (!GROUPS.includes(g as Group)) {
    console.error(`--only: unknown group "${g}" (groups: ${GROUPS.join(', ')})`);
    process.exit(2);
  }
}
const selected = (g: Group) => (only.length === 0 && !ON_REQUEST.includes(g)) || only.includes(g);
const quick = values.quick ?? false;
const runs = Number(values.runs ?? (quick ? 1 : 3));

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const machine = {
  nproc: availableParallelism(),
  cpu: cpuModel(),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  loadAtStart: loadavg().map((l) => Number(l.toFixed(2))),
};
const started = Date.now();
const log = (line: string) =>
  console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

console.log(
  `pxc-tls-ops benchmark${quick ? ' (--quick: smoke run, figures not comparable)' : ''}\n` +
    `machine: ${machine.nproc} CPUs, ${machine.cpu}, Node ${machine.node}, load ${machine.loadAtStart.join(' ')}\n`,
);
if (!process.version.startsWith('v22.')) {
  console.error(`warning: running on Node ${process.version}; run through npm so Node 22 is used`);
}

const figures: Figure[] = [];
const details: Record<string, unknown> = {};
const broken: string[] = [];

async function section(name: string, fn: () => Promise<void>): Promise<void> {
  const t = Date.now();
  log(`${name} …`);
  try {
    await fn();
    log(`${name} done in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  } catch (err) {
    broken.push(name);
    console.error(`${name} broke:`, err);
  }
}

if (selected('certificates')) {
  await section('certificates', async () => {
    const c = await benchCertificates({ runs: 20, forgeRuns: quick ? 1 : 3 });
    details.certificates = c;
    const [native, forge, ratio, inspect] = c.figures;
    figures.push(
      { ...native!, target: '≤ 1000 ms', met: native!.median <= 1000 },
      forge!,
      { ...ratio!, target: '≥ 10×', met: ratio!.median >= 10 },
      inspect!,
    );
  });
}

if (selected('coldstart')) {
  await section('cold start', async () => {
    const c = await benchColdStart({ runs: quick ? 3 : 10 });
    details.coldStart = c.bundles;
    details.bareProcessMs = c.bareProcessMs;
    details.bareCpuMs = c.bareCpuMs;
    figures.push(...c.figures);
  });
}

if (selected('scale')) {
  await section('scale', async () => {
    const s = await benchScale({ sizes: quick ? [100, 1000] : [100, 1000, 5000], runs: quick ? 1 : 3 });
    details.scale = s.cases;
    figures.push(...s.figures);
  });
}

if (selected('rotation') || selected('transitions') || selected('requests')) {
  await section('executions', async () => {
    const e = await benchExecutions({
      runs,
      podReadyDelayMs: quick ? 1000 : 5000,
      sizes: [3, 7],
      // Two passes over 7 pods is the longest case (≥ 70 s a run). The 5-s-pod cases vary by
      // under 1 % between runs, so one run (two fewer than the others) keeps the whole benchmark
      // well within 10 minutes on a busy 2-core machine.
      changeIssuerLargeRuns: Math.max(1, runs - 2),
      onProgress: log,
    });
    details.executions = e.runs;
    // Rotation first in the table, as in the issue.
    const front = [
      ...(selected('rotation') ? e.rotation : []),
      ...(selected('transitions') ? e.transitions : []),
      ...(selected('requests') ? e.requests : []),
    ];
    figures.push(...front);
  });
}

if (selected('reload')) {
  await section('reload', async () => {
    const r = await benchReload({
      runs,
      podReadyDelayMs: quick ? 1000 : 5000,
      secretPropagationMs: 2000,
      sizes: [3, 7],
      onProgress: log,
    });
    details.reload = r.runs;
    figures.push(...r.figures);
  });
}

if (selected('reload-kubelet')) {
  await section('reload-kubelet', async () => {
    const r = await benchReloadKubelet({
      syncPeriodMs: 60_000,
      podReadyDelayMs: quick ? 1000 : 5000,
      replicas: 3,
      onProgress: log,
    });
    details.reloadKubelet = r.runs;
    figures.push(...r.figures);
  });
}

if (selected('fleet')) {
  await section('fleet', async () => {
    const f = await benchFleet({
      databasesPerCluster: quick ? 40 : 100,
      days: quick ? 7 : 21,
      onProgress: log,
    });
    details.fleet = f.result;
    figures.push(...f.figures);
  });
}

if (selected('recovery')) {
  await section('recovery', async () => {
    const r = await benchRecovery({ onProgress: log });
    details.recovery = r.cases;
    figures.push(...r.figures);
  });
}

if (selected('disruption')) {
  await section('disruption', async () => {
    const d = await benchDisruption({ onProgress: log });
    details.disruption = d.cases;
    figures.push(...d.figures);
    console.log(
      `\nWhat clients feel (3 real MariaDB Galera servers, one run, real Wait durations):\n\n${d.table}\n`,
    );
  });
}

const ORDER = [
  'Rotation overhead',
  'Reload mode',
  'State transitions',
  'Kubernetes API requests',
  'Cold start',
  'Certificates',
  'Scale (expiry scan)',
  'Recovery',
  'Fleet (windows, deadlines, limits)',
  'Disruption (3 real Galera servers)',
];
const ordered = [...figures].sort((a, b) => ORDER.indexOf(a.group) - ORDER.indexOf(b.group));
const durationS = (Date.now() - started) / 1000;
console.log(renderTable(ordered, { notes: values.notes }));
const misses = ordered.filter((f) => f.met === false);
console.log(
  `\n${ordered.length} figures, ${ordered.filter((f) => f.met).length} targets met, ${misses.length} MISS` +
    `${misses.length ? `: ${misses.map((f) => `${f.group} / ${f.name}`).join('; ')}` : ''}` +
    `\ntotal ${durationS.toFixed(0)} s; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
);

if (values.json) {
  writeFileSync(
    values.json,
    `${JSON.stringify(
      {
        machine: { ...machine, loadAtEnd: loadavg().map((l) => Number(l.toFixed(2))) },
        options: { quick, runs, only: only.length ? only : GROUPS },
        startedAt: new Date(started).toISOString(),
        durationS,
        figures: ordered,
        details,
      },
      null,
      2,
    )}\n`,
  );
  log(`wrote ${values.json}`);
}
if (broken.length) {
  console.error(`broken: ${broken.join(', ')}`);
  process.exitCode = 1;
}
