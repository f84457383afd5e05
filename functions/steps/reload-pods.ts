/**
 * Reload pods (Reload mode): after a pass has written its Secrets, ensures every pod of the pass
 * serves the new files without a restart, or is handed to Restart pods.
 *
 * First each pod is touched: its annotation `pxc-tls-ops.io/tls-secret-version` set to the server
 * Secret's resourceVersion (once per pod per pass, an ensure; under the pod's UID and
 * resourceVersion as read). An update of the pod object makes the kubelet sync that pod's volumes at
 * once (kubernetes/website PR 32513; Elastic's operator does the same, cloud-on-k8s PR 496), where
 * it would otherwise show the new files only at its periodic sync, about a minute later — a
 * change of issuer waits for that three times. A touch that fails (no `patch` on pods, a conflict)
 * costs only time: the wait below still ends at the periodic sync. A late touch by an execution
 * that lost the request is harmless: it only brings forward what the kubelet would show anyway.
 *
 * For each pod, through `pods/exec` in the `perconaxtradb` container (credentials expanded by the
 * container's own shell, never sent): waits until the mounted Secret volume shows the pass's
 * `tls.crt` and `ca.crt` (the kubelet's sync), reloads (`ALTER INSTANCE RELOAD TLS`, and Galera's
 * `socket.ssl_reload=1` whenever the provider's options say Galera's TLS is on — model/reload.ts
 * galeraReload), and proves it: the server
 * itself reports the new certificate's validity (`Ssl_server_not_before/after`), distinct from
 * the certificate the request replaced. Peers keep trusting a reloaded pod because the pass is
 * reloaded only when old and new material trust each other (`round.trustOverlap`), which is also
 * why the pods are reloaded in parallel. A pod whose reload cannot be proven — a failed
 * statement, a subPath mount, no exec permission, files that do not arrive by the deadline
 * (spec.timeout) — falls back to the usual restart: it is returned in `pods` for Restart pods,
 * with its reason in a condition, an Event and the log.
 *
 * Each call holds briefly (RELOAD_HOLD_SECONDS, default 10) polling the pods, then returns
 * `reload.done: false` for the ASL's Wait/Choice loop, carrying the per-pod state. Safe to repeat:
 * reloading a server that already loaded the files changes nothing, and the proof reads back what
 * the server reports. Throws StepTimeoutError never (a timeout falls back), Kube* errors from the
 * adapter for the reads it cannot do without (the Secret, the pods).
 */
import type { Deps } from '../deps.js';
import { KubeForbiddenError, KubeRequestError } from '../errors.js';
import { KINDS } from '../kube/types.js';
import type { ConditionInput } from '../model/conditions.js';
import { backupKey, backupSecretName } from '../model/names.js';
import type { Plan } from '../model/plan.js';
import {
  galeraReload,
  mysqlCommand,
  parseRows,
  SQL,
  sqlError,
  unproven,
  type Validity,
  validityOf,
} from '../model/reload.js';
import type { PerconaXtraDBOpsRequest } from '../model/types.js';
import {
  getOpsRequest,
  isPodReady,
  type PodObject,
  type RequestIds,
  readPausedByUs,
  recordEvent,
  type SecretObject,
  updateOpsStatus,
} from './common.js';
import { keepTrustOf } from './keep-trust.js';
import { holdLease } from './lease.js';
import { CONTAINER, mountProblem, SERVER_MOUNT, SERVER_VOLUME, touchPods } from './pod-volumes.js';
import type { PodToRestart, Round } from './round.js';

export const DEFAULT_RELOAD_HOLD_SECONDS = 10;
const POLL_MS = 250;
const EXEC_TIMEOUT_SECONDS = 8;

export interface ReloadFallback {
  name: string;
  reason: string;
}

export interface ReloadState {
  /** When pods still waiting for their files fall back to a restart (now + spec.timeout at the first call). */
  deadline: string;
  /** Pods not yet reloaded nor handed to a restart. */
  pending: PodToRestart[];
  reloaded: string[];
  fallback: ReloadFallback[];
  done: boolean;
}

export interface ReloadRound extends Round {
  reload?: ReloadState;
}

export interface ReloadPodsInput extends RequestIds {
  plan: Plan;
  round: ReloadRound;
}

function holdSeconds(): number {
  const v = Number(process.env.RELOAD_HOLD_SECONDS);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_RELOAD_HOLD_SECONDS;
}

interface ReloadEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** A wait: one Event refreshed at each check rather than repeated. */
  series?: string;
}

type PodOutcome =
  | { state: 'waiting' }
  | { state: 'reloaded'; detail: string }
  | { state: 'fallback'; reason: string };

interface Expected {
  secretName: string;
  /** The server Secret's resourceVersion: what each pod is touched with. */
  version: string;
  files: string;
  validity: Validity;
  /** Set when this pass replaced the server certificate: the one it replaced. */
  replaced?: Validity;
}

export async function reloadPods(input: ReloadPodsInput, deps: Deps): Promise<ReloadRound> {
  const { namespace: ns, round } = input;
  const now = deps.clock.now().getTime();
  // The failure path reloading pods back onto the restored files: fallbacks are reported, not restarted.
  const rollback = round.kind === 'rollback';
  // Like every step that reads the request: it must still be this execution's (LeaseLostError
  // otherwise, before any exec), and its lease is renewed when due, since a reload round may loop
  // for up to spec.timeout. A rollback may run for a request that is gone: nothing to hold then.
  const ops = rollback
    ? await deps.kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, {
        namespace: ns,
        name: input.opsRequest,
      })
    : await getOpsRequest(deps.kube, ns, input.opsRequest);
  const lease = ops && input.execution ? await holdLease(deps, ops, input.execution) : (round.lease ?? null);
  const state = round.reload ? structuredClone(round.reload) : startReload(input, deps, now);

  // Reloading pods of a database KubeDB has resumed races its provisioner: only while the pause is
  // ours (PauseLostError otherwise). A rollback reloads whatever holds the pause: it restores.
  if (!rollback && state.pending.length)
    await readPausedByUs(
      deps,
      { namespace: ns, name: input.opsRequest },
      input.plan.database,
      'reload TLS in pods',
    );
  // A change of CA under cert-manager: ca.crt must still hold both CAs before any pod reloads it.
  if (!rollback) await keepTrustOf(deps, input, state.pending);
  const expected = state.pending.length ? await expectedMaterial(input, deps) : undefined;
  const hold = Math.min(holdSeconds(), Math.max(0, (Date.parse(state.deadline) - now) / 1000));
  const events = await reloadPending(input, deps, state, now + hold * 1000, expected);
  if (state.pending.length > 0 && deps.clock.now().getTime() >= Date.parse(state.deadline)) {
    for (const pod of [...state.pending])
      fallBack(
        deps,
        state,
        pod,
        `its mounted Secret volume did not show the new files by the timeout (${state.deadline})`,
      );
  }
  state.done = state.pending.length === 0;
  events.push(...progressEvents(input, state));
  if (ops) await record(input, deps, ops, state, events);
  if (!state.done) {
    deps.logger.info('waiting for the new files to reach the pods', {
      pending: state.pending.map((p) => p.name),
      deadline: state.deadline,
    });
    return { ...round, lease, reload: state };
  }
  const restart = rollback ? [] : round.pods.filter((p) => state.fallback.some((f) => f.name === p.name));
  deps.logger.info('reload pass done', { reloaded: state.reloaded, restart: restart.map((p) => p.name) });
  return {
    ...round,
    lease,
    pods: restart.map((p, index) => ({ ...p, index, total: restart.length })),
    reload: state,
  };
}

/** A pod leaves the reload for a restart (or, in a rollback, for the final reason). */
function fallBack(deps: Deps, state: ReloadState, pod: PodToRestart, reason: string): void {
  state.pending = state.pending.filter((p) => p.name !== pod.name);
  state.fallback.push({ name: pod.name, reason });
  deps.logger.warn('reload not proven, the pod will be restarted', { pod: pod.name, reason });
}

/** The first call of a pass: every pod pending, unless old and new material do not trust each other. */
function startReload({ plan, round }: ReloadPodsInput, deps: Deps, now: number): ReloadState {
  const state: ReloadState = {
    deadline: new Date(now + plan.timeoutSeconds * 1000).toISOString(),
    pending: [...round.pods],
    reloaded: [],
    fallback: [],
    done: false,
  };
  if (!round.trustOverlap) {
    for (const pod of [...state.pending])
      fallBack(
        deps,
        state,
        pod,
        'the old and the new certificates do not trust each other, so pods cannot switch one by one without a restart',
      );
  }
  deps.logger.info('reloading TLS in running pods', {
    pass: round.pass,
    kind: round.kind,
    pods: state.pending.map((p) => p.name),
  });
  return state;
}

/** Tries every pending pod, again every POLL_MS until all are done or `until`; the ReloadTLS Events. */
async function reloadPending(
  input: ReloadPodsInput,
  deps: Deps,
  state: ReloadState,
  until: number,
  expected: Expected | undefined,
): Promise<ReloadEvent[]> {
  const { namespace: ns, round } = input;
  const events: ReloadEvent[] = [];
  for (;;) {
    const pods = await podsByName(input, deps, round.selector);
    if (expected) await touchPods(input.namespace, expected.version, deps, state.pending, pods);
    const outcomes = await Promise.all(
      state.pending.map(
        async (pod) => [pod, await reloadOne(input, deps, pods.get(pod.name), pod, expected!)] as const,
      ),
    );
    for (const [pod, o] of outcomes) {
      if (o.state === 'reloaded') {
        state.pending = state.pending.filter((p) => p.name !== pod.name);
        state.reloaded.push(pod.name);
        deps.logger.info('TLS reloaded', { pod: pod.name, detail: o.detail });
        events.push({
          type: 'Normal',
          reason: 'ReloadTLS',
          message: `Reloaded TLS in Pod ${ns}/${pod.name} ${round.kind === 'rollback' ? 'back onto the restored certificate files' : 'without a restart'} (${pod.index + 1}/${pod.total}): ${o.detail}`,
        });
      } else if (o.state === 'fallback') {
        fallBack(deps, state, pod, o.reason);
      }
    }
    if (state.pending.length === 0 || deps.clock.now().getTime() >= until) return events;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** A Warning per pod that fell back in this call, and the refreshed wait while pods are pending. */
function progressEvents({ namespace: ns, round }: ReloadPodsInput, state: ReloadState): ReloadEvent[] {
  const events: ReloadEvent[] = [];
  for (const f of state.fallback.filter((f) => !round.reload?.fallback.some((g) => g.name === f.name))) {
    events.push({
      type: 'Warning',
      reason: 'ReloadFallback',
      message: `Could not prove a TLS reload in Pod ${ns}/${f.name}: ${f.reason}; ${round.kind === 'rollback' ? 'it serves the failed request’s certificate until its next restart' : 'restarting it instead'}`,
    });
  }
  if (!state.done) {
    events.push({
      type: 'Normal',
      reason: 'WaitingForReload',
      message: `Waiting for the new certificate files to reach ${state.pending.map((p) => `${ns}/${p.name}`).join(', ')} (the kubelet syncs Secret volumes about once a minute); a pod without them at ${state.deadline} is restarted instead`,
      series: `reload/${round.kind}/${round.pass}`,
    });
  }
  return events;
}

/** The pass's server files and the validity the server must report once it has loaded them. */
async function expectedMaterial(input: ReloadPodsInput, deps: Deps): Promise<Expected> {
  const { namespace: ns, plan, round } = input;
  const pod = await deps.kube.get<PodObject>(KINDS.Pod, { namespace: ns, name: round.pods[0]!.name });
  const volumes = (pod?.spec?.volumes ?? []) as Array<{ name: string; secret?: { secretName?: string } }>;
  const secretName =
    volumes.find((v) => v.name === SERVER_VOLUME)?.secret?.secretName ?? `${plan.database}-server-cert`;
  const secret = await deps.kube.get<SecretObject>(KINDS.Secret, { namespace: ns, name: secretName });
  const pem = (b64: string | undefined) => (b64 ? Buffer.from(b64, 'base64').toString('utf8') : '');
  const crt = pem(secret?.data?.['tls.crt']);
  const ca = pem(secret?.data?.['ca.crt']);
  let replaced: Validity | undefined;
  if (round.kind === 'certificates') {
    const backup = await deps.kube.get<SecretObject>(KINDS.Secret, {
      namespace: ns,
      name: backupSecretName(plan.database, input.opsRequest),
    });
    const before = pem(backup?.data?.[backupKey(secretName, 'tls.crt')]);
    if (before) replaced = validityOf(before);
  }
  return {
    secretName,
    version: secret?.metadata.resourceVersion ?? '',
    files: crt + ca,
    validity: validityOf(crt),
    ...(replaced ? { replaced } : {}),
  };
}

async function podsByName(
  input: ReloadPodsInput,
  deps: Deps,
  selector: string,
): Promise<Map<string, PodObject>> {
  const list = await deps.kube.list<PodObject>(KINDS.Pod, input.namespace, { labelSelector: selector });
  return new Map(list.items.map((p) => [p.metadata.name!, p]));
}

async function reloadOne(
  input: ReloadPodsInput,
  deps: Deps,
  pod: PodObject | undefined,
  target: PodToRestart,
  expected: Expected,
): Promise<PodOutcome> {
  const ns = input.namespace;
  if (!pod || pod.metadata.uid !== target.uid || pod.metadata.deletionTimestamp) {
    return { state: 'fallback', reason: 'the pod was replaced or is going away' };
  }
  if (!isPodReady(pod)) return { state: 'fallback', reason: 'the pod is not Ready' };
  const mount = mountProblem(pod, expected.secretName);
  if (mount) return { state: 'fallback', reason: mount };
  // Each exec is bounded well inside the function's timeout (hold + four execs < 50 s): a hung
  // exec is network trouble, tried again at the next check.
  const run = (command: string[]) =>
    deps.kube.exec(
      { namespace: ns, name: target.name },
      { container: CONTAINER, command, timeoutSeconds: EXEC_TIMEOUT_SECONDS },
    );
  try {
    const files = await run(['cat', `${SERVER_MOUNT}/tls.crt`, `${SERVER_MOUNT}/ca.crt`]);
    if (files.exitCode !== 0) {
      // cat says why on stderr (Permission denied, No such file); it prints no ERROR line.
      const why =
        files.stderr
          .split('\n')
          .find((l) => l.trim())
          ?.trim() || sqlError(files);
      return { state: 'fallback', reason: `cannot read its certificate files (${why})` };
    }
    if (files.stdout !== expected.files) return { state: 'waiting' };

    const galera = await run(mysqlCommand(SQL.galeraTls));
    if (galera.exitCode !== 0)
      return { state: 'fallback', reason: `mysql did not answer: ${sqlError(galera)}` };
    // Galera's TLS is decided by the provider's own options, not by pxc_encrypt_cluster_traffic.
    const galeraTls = galeraReload(parseRows(galera.stdout).wsrep_provider_options ?? '');
    if (galeraTls === 'unsupported')
      return {
        state: 'fallback',
        reason:
          "Galera's TLS is on (socket.ssl = YES) and this Galera build has no socket.ssl_reload (Galera before 26.4.8, such as PXC 8.0's 4.7): only a restart loads its new certificates",
      };
    const encrypted = galeraTls === 'reload';
    const tls = await run(mysqlCommand(SQL.reloadTls));
    if (tls.exitCode !== 0) return { state: 'fallback', reason: `${SQL.reloadTls} failed: ${sqlError(tls)}` };
    if (encrypted) {
      const g = await run(mysqlCommand(SQL.reloadGalera));
      if (g.exitCode !== 0)
        return { state: 'fallback', reason: `Galera's ssl_reload failed: ${sqlError(g)}` };
    }
    // The proof from a new session, as a new client sees the server: MariaDB reports
    // Ssl_server_not_* of the old certificate in the very session that ran its reload (FLUSH SSL)
    // and of the new one in the next (measured on real servers, docs/galera.md).
    const proof = await run(mysqlCommand(SQL.loaded));
    if (proof.exitCode !== 0)
      return { state: 'fallback', reason: `mysql did not answer: ${sqlError(proof)}` };
    const rows = parseRows(proof.stdout);
    const why = unproven(
      { notBefore: rows.Ssl_server_not_before, notAfter: rows.Ssl_server_not_after },
      expected.validity,
      expected.replaced,
    );
    if (why) return { state: 'fallback', reason: why };
    return {
      state: 'reloaded',
      detail: `the server presents the certificate valid ${expected.validity.notBefore} – ${expected.validity.notAfter}${encrypted ? '; Galera reloaded too' : ''}`,
    };
  } catch (err) {
    // The reason goes into Events and conditions: a fixed sentence, never the API server's text (a
    // 403 names the caller's role and account); that is logged.
    if (err instanceof KubeForbiddenError) {
      deps.logger.warn('exec refused', { pod: target.name, error: err.message });
      return {
        state: 'fallback',
        reason: 'pods/exec is not allowed (apply k8s/rbac-reload.yaml to enable Reload mode)',
      };
    }
    if (err instanceof KubeRequestError) {
      deps.logger.warn('exec refused', { pod: target.name, error: err.message });
      return {
        state: 'fallback',
        reason: `the Kubernetes API server refused the exec (HTTP ${err.status?.code ?? '4xx'}; details in the function's log)`,
      };
    }
    // Network trouble or a slow exec: try again at the next check, until the deadline.
    deps.logger.warn('exec failed, trying again', { pod: target.name, error: (err as Error).message });
    return { state: 'waiting' };
  }
}

/** Per-pod conditions (KubeDB style, one status write) and the Events of this call. */
/** `ops` as read at the start of this call: nothing but this step writes the request meanwhile. */
async function record(
  input: ReloadPodsInput,
  deps: Deps,
  ops: PerconaXtraDBOpsRequest,
  state: ReloadState,
  events: ReloadEvent[],
): Promise<void> {
  for (const e of events)
    await recordEvent(deps, ops, e.type, e.reason, e.message, e.series ? { series: e.series } : {});
  // The rollback's reloads go to the final reason instead: these conditions describe the passes.
  if (!state.done || input.round.kind === 'rollback') return;
  const pass = `pass ${input.round.pass + 1}/${input.plan.passes.length} (${input.round.kind})`;
  const conditions: ConditionInput[] = [
    ...state.reloaded.map((pod) => ({
      type: `ReloadTLS--${pod}`,
      status: 'True' as const,
      reason: 'ReloadTLS',
      message: `Reloaded TLS in pod ${input.namespace}/${pod} without a restart (${pass})`,
    })),
    // A separate type, so a fallback in one pass stays on record when a later pass reloads the pod.
    ...state.fallback.map((f) => ({
      type: `ReloadFallback--${f.name}`,
      status: 'True' as const,
      reason: 'ReloadFallback',
      message: `Restarted pod ${input.namespace}/${f.name} instead of reloading it (${pass}): ${f.reason}`,
    })),
  ];
  await updateOpsStatus(deps, ops, { conditions });
}
