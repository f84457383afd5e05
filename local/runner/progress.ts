/**
 * What a DBA sees while `npm run local` or the demo runs: one line per thing that happened (a
 * request checked, the database paused, certificates issued, a pod evicted, a pod Ready again
 * with its new UID, the rollback), and for every wait the reason, refreshed at least every 10 s
 * (the checks bring a fresh reason every ~9 s; a ticker repeats the current one with its age
 * when nothing new came, e.g. between API retries). Lines are printed from what the steps
 * returned, never from a state merely being entered, so nothing is printed for work that did
 * not happen.
 */
import { plainReason, retryReason } from '../../functions/model/reasons.js';
import { isDns1123Label, isDns1123Subdomain, shortValue } from '../../functions/model/schema/index.js';
import { causeMessage } from '../../functions/steps/common.js';
import type { Progress } from './index.js';

/** How long the printer stays silent during a wait before repeating its reason. */
export const REFRESH_MS = 10_000;

// biome-ignore lint/suspicious/noExplicitAny: state outputs are free-form JSON
type Json = any;

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** Milliseconds into the execution of a time a step reported (ISO), else the event's own time. */
function at(p: Progress, iso: unknown): number {
  const t = typeof iso === 'string' ? Date.parse(iso) : Number.NaN;
  return Number.isNaN(t) ? p.elapsedMs : Math.max(0, t - p.startedAt);
}

/**
 * A name from the execution input as typed when it is a valid name, else clipped to a few dozen
 * characters: the input is printed before Validate has checked it, and must not come back whole.
 */
const NAME_RULES = {
  namespace: isDns1123Label,
  database: isDns1123Label,
  object: isDns1123Subdomain,
  execution: (v: unknown) => typeof v === 'string' && /^[A-Za-z0-9_-]{1,80}$/.test(v),
} as const;
export function inputName(kind: keyof typeof NAME_RULES, value: unknown): string {
  return NAME_RULES[kind](value) ? (value as string) : shortValue(value, 40);
}

const podLabel = (p: Progress) => (p.pod ? `pod ${p.pod.index + 1}/${p.pod.total} ${p.pod.name}` : 'pod');

/** What one progress event means to a person, or undefined when it is not news. */
export interface News {
  text: string;
  /** The reason of a wait that is still going on (repeated while nothing new comes). */
  wait?: string;
  /** Earlier moments the step reported (a pod's eviction), printed at their own time before `text`. */
  before?: Array<{ ms: number; text: string }>;
  /** The moment `text` happened, when the step reported it (a pod Ready again). */
  ms?: number;
}

export function describe(p: Progress): News | undefined {
  const o: Json = p.output ?? {};
  const i: Json = p.input ?? {};
  if (p.event === 'failed') {
    // The local runner refusing queued Map iterations after a failure: nothing happened.
    if (p.error?.name === 'LocalIterationCancelled') return undefined;
    const cause = causeMessage(p.error?.cause);
    if (p.error?.name === 'DatabaseBusyError') return { text: cause, wait: cause };
    if (p.error?.retry) {
      const why = `${p.state}: ${retryReason(p.error.name, cause)}; retry ${p.error.retry.attempt} of ${p.error.retry.of}`;
      return { text: why, wait: why };
    }
    if (['Roll back', 'Finish rollback', 'Replace restored pod', 'Check restored pod'].includes(p.state))
      return { text: `${p.state} failed: ${plainReason(p.error?.name ?? 'Error', cause, p.state)}` };
    return { text: `${p.state} stopped: ${plainReason(p.error?.name ?? 'Error', cause, p.state)}` };
  }
  if (p.event === 'entered') {
    if (p.state === 'Validate') {
      // Validate's input is {request: <the execution input>, execution} (state "Receive input").
      const r: Json = i.request ?? i;
      if (r?.recover) {
        const of = r.recover.opsRequest
          ? `PerconaXtraDBOpsRequest ${inputName('namespace', r.recover.namespace)}/${inputName('object', r.recover.opsRequest)}`
          : `the request execution ${inputName('execution', r.recover.execution)} claimed`;
        return { text: `recovering ${of}` };
      }
      const what = r?.opsRequest
        ? `PerconaXtraDBOpsRequest ${inputName('namespace', r.namespace)}/${inputName('object', r.opsRequest)}`
        : `a new request for PerconaXtraDB ${inputName('namespace', r?.namespace)}/${inputName('database', r?.database)}`;
      return { text: `checking ${what}, its database and issuer` };
    }
    return undefined;
  }
  switch (p.state) {
    case 'Validate': {
      if (o.skip)
        return {
          text: o.result
            ? o.reason === 'nothing to change'
              ? o.result.reason
              : o.reason
            : o.reason?.startsWith('waiting: ')
              ? `Pending: ${o.reason.slice('waiting: '.length)}`
              : `nothing to do: ${o.reason}`,
        };
      if (o.recovery) {
        const from = o.recovery.from ? `execution ${o.recovery.from}` : 'a request that no longer exists';
        return {
          text: o.recovery.resume
            ? `${o.namespace}/${o.opsRequest}: taking over from ${from}, whose lease ran out: restoring what it changed, then starting over`
            : `${o.namespace}/${o.opsRequest}: taking over from ${from} (${o.recovery.via}): restoring what it changed, then resuming the database`,
        };
      }
      const plan = o.plan ?? {};
      return {
        text: `${o.namespace}/${o.opsRequest}: ${plan.action}, ${plan.passes?.length ?? 1} pass(es) (${(plan.passes ?? []).join(', ')}) over ${plan.replicas} pods, timeout ${plan.timeoutSeconds}s per step${plan.restartMode === 'Reload' ? ', Reload mode' : ''}`,
      };
    }
    case 'Pause':
      return { text: `database ${o.namespace}/${o.plan?.database} paused (Paused condition set)` };
    case 'Change certificates': {
      const r = o.round ?? {};
      const pass = o.plan?.passes?.length > 1 ? `pass ${r.pass + 1}/${o.plan.passes.length} ` : '';
      const server = (r.certificates ?? []).find((c: Json) => c.alias === 'server');
      const what =
        r.kind === 'certificates'
          ? `issued ${(r.certificates ?? []).length} certificates${server ? ` (server serial ${String(server.serial).slice(0, 16)}…, valid until ${String(server.notAfter).slice(0, 10)})` : ''}`
          : r.kind === 'trust-bundle'
            ? 'ca.crt now trusts the current and the new CA (certificates unchanged)'
            : r.kind === 'retire-ca'
              ? 'ca.crt now trusts the new CA only (the old CA is retired; certificates unchanged)'
              : 'pod template TLS wiring updated';
      const pods = (r.pods ?? []).length;
      const restart =
        r.mode === 'Reload'
          ? `; TLS to reload in ${pods} running pod(s)${r.trustOverlap ? ' in parallel' : ''}: ${(r.pods ?? []).map((x: Json) => x.name).join(', ')}`
          : r.rollout
            ? `; the ${pods} pods are rolled by their controller (RollingUpdate)`
            : `; ${pods} pod(s) to restart one at a time: ${(r.pods ?? []).map((x: Json) => x.name).join(', ')}`;
      return { text: `${pass}${what}${pods ? restart : '; no pod needs a restart'}` };
    }
    case 'Restart pod':
    case 'Check pod':
    case 'Replace restored pod':
    case 'Check restored pod': {
      const c = o.check ?? {};
      const restored = p.state === 'Check restored pod' || p.state === 'Replace restored pod';
      const who = `${restored ? 'restored ' : ''}${podLabel(p)}`;
      const before = c.evicted
        ? [
            {
              ms: at(p, c.evictedAt),
              text: `${who} ${p.state === 'Replace restored pod' ? 'deleted to restart on the restored certificates' : 'evicted'} (old UID ${i.pod?.uid ?? '?'})`,
            },
          ]
        : [];
      if (c.blocked) {
        const why = `${who} cannot be evicted yet: ${c.message}; trying again every 5s until ${String(c.deadline).slice(11, 19)} UTC`;
        return { text: why, wait: why };
      }
      if (c.ready) return { before, ms: at(p, c.readyAt), text: `${who} Ready again, new UID ${c.uid}` };
      const why = `${who} not Ready yet: ${c.message} (gives up at ${String(c.deadline).slice(11, 19)} UTC)`;
      return { before, text: why, wait: why };
    }
    case 'Reload pods': {
      const st = o.round?.reload ?? {};
      const prev = i.round?.reload ?? {};
      const reloaded = (st.reloaded ?? []).filter((n: string) => !(prev.reloaded ?? []).includes(n));
      const fellBack = (st.fallback ?? []).filter(
        (f: Json) => !(prev.fallback ?? []).some((g: Json) => g.name === f.name),
      );
      const news = [
        ...(reloaded.length ? [`TLS reloaded without a restart in ${reloaded.join(', ')}`] : []),
        ...fellBack.map((f: Json) => `${f.name} will be restarted instead: ${f.reason}`),
      ];
      if (st.done) return news.length ? { text: news.join('; ') } : undefined;
      const why = `waiting for the new certificate files to reach ${(st.pending ?? []).map((x: Json) => x.name).join(', ')} (kubelet sync); restarted instead if still missing at ${String(st.deadline).slice(11, 19)} UTC`;
      return { text: [...news, why].join('; '), wait: why };
    }
    case 'Roll back': {
      const r = o.rollback ?? {};
      if (!r.restored) return undefined;
      return {
        text: `rolled back: previous certificates and TLS settings restored${r.pods?.length ? `; restarting ${r.pods.map((x: Json) => x.name).join(', ')}` : ''}`,
      };
    }
    case 'Finish rollback': {
      const f = o.failure ?? {};
      return {
        text: f.refused
          ? 'refused: nothing was changed'
          : `database ${f.namespace}/${f.database} resumed; request marked Failed`,
      };
    }
    case 'Resume':
      return { text: `database ${o.namespace}/${o.plan?.database} resumed; request Successful` };
    default:
      return undefined;
  }
}

export interface Printer {
  (p: Progress): void;
  /** Stops the refresh ticker (call when the execution has ended). */
  stop(): void;
}

/**
 * A progress printer: `label` prefixes each line (the demo names the action). While a wait is
 * the latest news, repeats it every REFRESH_MS with how long it has lasted.
 */
export function progressPrinter(
  label: string,
  write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  clock: () => number = Date.now,
): Printer {
  let started = clock();
  let lastLine = clock();
  let wait: { text: string; since: number } | undefined;
  const prefix = (t: number) => `  ${secs(t).padStart(7)}  ${label ? `${label.padEnd(14)} ` : ''}`;
  const print = (t: number, text: string) => {
    for (const line of text.split('\n')) write(`${prefix(t)}${line}`);
    lastLine = clock();
  };
  const ticker = setInterval(() => {
    if (!wait || clock() - lastLine < REFRESH_MS) return;
    print(clock() - started, `still waiting (${secs(clock() - wait.since)}): ${wait.text}`);
  }, 1000);
  ticker.unref();
  const printer = ((p: Progress) => {
    started = p.startedAt;
    const d = describe(p);
    if (!d) return;
    // The same wait again within the refresh interval is no news (the ticker repeats it anyway).
    if (d.wait && wait?.text === d.wait && !d.before?.length && clock() - lastLine < REFRESH_MS) return;
    for (const b of d.before ?? []) print(b.ms, b.text);
    print(d.ms ?? p.elapsedMs, d.text);
    if (d.wait) {
      if (!wait || wait.text !== d.wait) wait = { text: d.wait, since: clock() };
    } else wait = undefined;
  }) as Printer;
  printer.stop = () => clearInterval(ticker);
  return printer;
}
