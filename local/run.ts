/**
 * `npm run local -- [options]`: runs the state machine locally (aws-local-stepfunctions, handlers
 * in-process) against any cluster reachable through a kubeconfig — the simulator included
 * (`npm run sim` writes one). Says which cluster it will act on before acting, prints what
 * happens and why it waits, and ends with one verdict and its exit code (see USAGE).
 *
 * Interruptions: Ctrl-C stops the execution after the step in flight and runs the recovery
 * (restore, resume the database, mark the request Failed) before exiting; a second Ctrl-C exits
 * at once, saying what is left. A request claimed by an execution that is gone (a killed run) is
 * waited for until its lease runs out, then taken over (recovered first, then carried out).
 * `--recover <name>` does the recovery on demand.
 *
 * Test hook: PXC_TLS_OPS_HOLD_BEFORE="<state>#<n>" makes the run print `holding before <state> #<n>`
 * and wait (until Ctrl-C or a kill) when the n-th call of that Task is about to start, so an
 * interruption can be placed exactly.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { parseArgs } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeFromKubeconfig } from '../functions/kube/client.js';
import type { Kube } from '../functions/kube/types.js';
import { KINDS } from '../functions/kube/types.js';
import { claimOf, leaseLeft } from '../functions/model/lease.js';
import { EXECUTION_LABEL, LEASE_UNTIL_ANNOTATION, labelSafe } from '../functions/model/names.js';
import { plainReason } from '../functions/model/reasons.js';
import {
  BY_NAME_INPUT_SCHEMA,
  formatSchemaErrors,
  shortValue,
  validateValue,
} from '../functions/model/schema/index.js';
import type { PerconaXtraDB, PerconaXtraDBOpsRequest } from '../functions/model/types.js';
import { causeMessage, pausedBy } from '../functions/steps/common.js';
import { dryRun } from './dry-run.js';
import { EXIT } from './exit-codes.js';
import { type RunResult, runExecution, type TaskFn } from './runner/index.js';
import { progressPrinter } from './runner/progress.js';

export const USAGE = `usage: npm run local -- [--kubeconfig <file>] [--context <name>]
                        (--namespace <ns> --ops-request <name> | --input <json|@file>
                         | --namespace <ns> --recover <name>)
                        [--dry-run] [--wait-scale <factor>] [--lease-seconds <n>] [--verbose]

Runs the reconfigure-tls state machine on this machine, its Lambda handlers in-process,
against the cluster of a kubeconfig (the simulator's, from \`npm run sim\`, or a real one).

  --kubeconfig <file>    kubeconfig to use; default $KUBECONFIG (first path), else ~/.kube/config
  --context <name>       context of that kubeconfig; default its current-context
  -n, --namespace <ns>   namespace of the PerconaXtraDBOpsRequest to run (with --ops-request)
  --ops-request <name>   an existing PerconaXtraDBOpsRequest (kubectl apply -f k8s/samples/...)
  --input <json|@file>   a console input instead, e.g. @events/console/rotate.json: Validate
                         creates the OpsRequest first ({"namespace","database","tls",...})
  --recover <name>       end a request an interrupted run left behind (with --namespace): restore
                         what it changed, resume the database, mark it Failed; waits first for
                         a lease another run may still hold. Also resumes a database left Paused
                         by a request that no longer exists
  --dry-run              print the plan (action, passes, Secrets to write, pods to restart in
                         order) and change nothing: only reads reach the cluster
  --wait-scale <factor>  multiply the state machine's Wait states (e.g. 0.1); default 1
  --lease-seconds <n>    how long this run's claim lasts without renewal; default 60 (a killed
                         run is taken over by the next run of the same request once it expires)
  --verbose              also print the functions' JSON logs
  -h, --help             this text

Before acting it prints the kubeconfig, context and API server it will use. Ctrl-C stops the
run after the step in flight and recovers the request (restore, resume, Failed) before exiting;
a second Ctrl-C exits at once and says what is left. A request an earlier run still claims is
waited for until that run's lease expires, then taken over: restored first, then carried out.

Exit codes:
  ${EXIT.succeeded}  succeeded: the OpsRequest is Successful (also when there was nothing to change; for a
     --dry-run: the plan was printed, or there is nothing to change)
  ${EXIT.failed}  failed: the change was rolled back, the database resumed, the OpsRequest is Failed
  ${EXIT.refused}  refused, nothing changed: invalid request or input, missing database, issuer,
     namespace or kubeconfig (a --dry-run that would be refused too)
  ${EXIT.nothingToDo}  nothing to do: the request is already finished, another execution has claimed it,
     or it stays Pending while another change holds its database
  ${EXIT.rollbackIncomplete}  failed and the rollback did not complete: the previous state is kept in the
     backup Secret named in the reason
  ${EXIT.interrupted}  interrupted with Ctrl-C: the request was recovered (Failed, database resumed) and
     may be run again`;

interface Outcome {
  code: number;
  verdict: string;
  reason?: string;
}

async function main(): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse().values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return EXIT.refused;
  }
  if (values.help) {
    console.log(USAGE);
    return EXIT.succeeded;
  }
  let input: unknown;
  try {
    if (values.input) {
      const text = values.input.startsWith('@') ? readFileSync(values.input.slice(1), 'utf8') : values.input;
      input = JSON.parse(text);
    } else if (values.namespace && values['ops-request']) {
      input = { namespace: values.namespace, opsRequest: values['ops-request'] };
    } else if (values.namespace && values.recover) {
      input = undefined;
    } else {
      console.error(`Say which request to run: --namespace and --ops-request, or --input.\n\n${USAGE}`);
      return EXIT.refused;
    }
  } catch (err) {
    // Neither the input nor the parser's quote of it comes back whole.
    console.error(`--input ${shortValue(values.input, 80)}: ${shortValue((err as Error).message, 200)}`);
    return EXIT.refused;
  }
  const named = values['ops-request'] ?? values.recover;
  if (!values.input && values.namespace && named) {
    // Checked like an execution input's names before anything is printed or sent with them.
    const errors = validateValue(
      BY_NAME_INPUT_SCHEMA,
      { namespace: values.namespace, opsRequest: named },
      { unknownFields: 'reject' },
    );
    if (errors.length) {
      const flag = values['ops-request'] ? '--ops-request' : '--recover';
      console.error(
        `REFUSED, nothing changed: ${formatSchemaErrors(errors)
          .replace(/(^|; )namespace:/g, '$1--namespace:')
          .replace(/(^|; )opsRequest:/g, `$1${flag}:`)}`,
      );
      return EXIT.refused;
    }
  }

  const kubeconfigPath =
    values.kubeconfig ?? process.env.KUBECONFIG?.split(':')[0] ?? `${homedir()}/.kube/config`;
  if (!existsSync(kubeconfigPath)) {
    console.error(
      `No kubeconfig at ${kubeconfigPath}. Pass --kubeconfig <file> or set KUBECONFIG ` +
        '(`npm run sim -- --kubeconfig /tmp/sim.kubeconfig` writes one for the simulator; ' +
        '`aws eks update-kubeconfig --name <cluster>` for EKS). Nothing was changed.',
    );
    return EXIT.refused;
  }
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(kubeconfigPath);
    if (values.context) {
      if (!kc.getContextObject(values.context)) throw new Error(`it has no context "${values.context}"`);
      kc.setCurrentContext(values.context);
    }
  } catch (err) {
    console.error(`Cannot use kubeconfig ${kubeconfigPath}: ${(err as Error).message}. Nothing was changed.`);
    return EXIT.refused;
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    console.error(`kubeconfig ${kubeconfigPath} has no current context with a cluster. Nothing was changed.`);
    return EXIT.refused;
  }
  console.log(
    `kubeconfig ${kubeconfigPath}, context "${kc.getCurrentContext()}", API server ${cluster.server}`,
  );
  const kube = kubeFromKubeconfig(values.context ? kc.exportConfig().replace(/$/, '\n') : kubeconfigPath);

  if (values['dry-run']) {
    console.log('dry run: reading only, nothing will be written\n');
    const plan = await dryRun(kube, input);
    for (const line of plan.lines) console.log(`  ${line}`);
    // The exit code the run itself would end with: "nothing to change" is a success, as it is
    // for the run (USAGE, README), not "nothing to do" (a request finished or claimed).
    return plan.verdict === 'refused'
      ? EXIT.refused
      : plan.verdict === 'nothing'
        ? EXIT.nothingToDo
        : EXIT.succeeded;
  }

  const ctx: Ctx = {
    kube,
    logger: new Logger({ serviceName: 'pxc-tls-ops-local', logLevel: values.verbose ? 'INFO' : 'ERROR' }),
    ...(values['wait-scale'] ? { waitScale: Number(values['wait-scale']) } : {}),
    leaseSeconds: Number(values['lease-seconds'] ?? process.env.LEASE_SECONDS ?? LOCAL_LEASE_SECONDS),
  };
  if (values.recover) return recoverCommand(ctx, values.namespace!, values.recover);
  if (values.namespace && values['ops-request'])
    await waitForLease(ctx, values.namespace, values['ops-request']);

  const executionName = `local-${randomUUID()}`;
  console.log(`execution ${executionName}\n`);
  const controller = new AbortController();
  const i = (input ?? {}) as { namespace?: unknown; opsRequest?: unknown };
  const target = {
    namespace: typeof i.namespace === 'string' ? i.namespace : '',
    opsRequest: typeof i.opsRequest === 'string' ? i.opsRequest : '',
  };
  let interrupts = 0;
  let inState = '';
  const onSigint = () => {
    if (++interrupts === 1) {
      console.log(
        `\ninterrupted: stopping after the step in flight${inState ? ` (${inState})` : ''}, then recovering the request (Ctrl-C again to exit at once)`,
      );
      controller.abort();
      return;
    }
    void whatIsLeft(ctx, target, executionName).then((left) => {
      console.log(`\nexiting at once. ${left}`);
      process.exit(EXIT.interrupted);
    });
  };
  process.on('SIGINT', onSigint);
  const printer = progressPrinter('');
  const hold = holdBefore(controller.signal);
  const result = await runExecution({
    kube,
    input,
    logger: ctx.logger,
    ...(ctx.waitScale !== undefined ? { waitScale: ctx.waitScale } : {}),
    executionName,
    leaseSeconds: ctx.leaseSeconds,
    signal: controller.signal,
    ...(hold ? { wrapTask: hold } : {}),
    onProgress: (p) => {
      inState = p.state;
      printer(p);
    },
  });
  printer.stop();
  if (result.status === 'ABORTED') {
    if (!target.opsRequest) target.opsRequest = (await createdBy(ctx, target.namespace, executionName)) ?? '';
    const code = await recoverAfterInterrupt(ctx, target, executionName);
    process.off('SIGINT', onSigint);
    return code;
  }
  process.off('SIGINT', onSigint);

  const outcome = await verdict(kube, input, result, executionName);
  const took = `${(result.durationMs / 1000).toFixed(1)}s, ${result.transitions} state transitions`;
  console.log(`\n${outcome.verdict} (${took})`);
  if (outcome.reason) console.log(`reason: ${outcome.reason}`);
  return outcome.code;
}

function parse() {
  return parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      'ops-request': { type: 'string' },
      input: { type: 'string' },
      'dry-run': { type: 'boolean' },
      recover: { type: 'string' },
      'wait-scale': { type: 'string' },
      'lease-seconds': { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** A killed local run must be taken over soon after, by a re-run: a shorter lease than on AWS. */
const LOCAL_LEASE_SECONDS = 60;

interface Ctx {
  kube: Kube;
  logger: Logger;
  waitScale?: number;
  leaseSeconds: number;
}

/** Console input: the request Validate created carries this execution's label. */
async function createdBy(ctx: Ctx, namespace: string, executionName: string): Promise<string | undefined> {
  if (!namespace) return undefined;
  const created = await ctx.kube
    .list<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, namespace, {
      labelSelector: `${EXECUTION_LABEL}=${labelSafe(executionName)}`,
    })
    .catch(() => undefined);
  return created?.items[0]?.metadata.name;
}

/** After Ctrl-C: recover the request if this execution still claims it, then say how it ended. */
async function recoverAfterInterrupt(
  ctx: Ctx,
  target: { namespace: string; opsRequest: string },
  executionName: string,
): Promise<number> {
  const ops =
    target.namespace && target.opsRequest
      ? await ctx.kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, {
          namespace: target.namespace,
          name: target.opsRequest,
        })
      : undefined;
  if (!ops || claimOf(ops).holder !== executionName) {
    console.log('stopped: this execution held no request, nothing to recover');
    return EXIT.interrupted;
  }
  console.log(`stopped; recovering PerconaXtraDBOpsRequest ${target.namespace}/${target.opsRequest}`);
  await runRecovery(ctx, {
    namespace: target.namespace,
    opsRequest: target.opsRequest,
    execution: executionName,
    status: 'ABORTED',
    via: 'interrupt',
  });
  return EXIT.interrupted;
}

/** `--recover <name>`: end a request an interrupted execution left (or resume a database its deleted request left Paused). */
async function recoverCommand(ctx: Ctx, namespace: string, name: string): Promise<number> {
  const ops = await ctx.kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, { namespace, name });
  if (!ops) {
    const dbs = await ctx.kube.list<PerconaXtraDB>(KINDS.PerconaXtraDB, namespace);
    const db = dbs.items.find((d) => pausedBy(d) === `${namespace}/${name}`);
    if (!db) {
      console.log(
        `NOTHING TO DO: PerconaXtraDBOpsRequest ${namespace}/${name} does not exist and pauses no database`,
      );
      return EXIT.nothingToDo;
    }
    return runRecovery(ctx, {
      namespace,
      opsRequest: name,
      database: db.metadata.name!,
      via: 'recover command',
    });
  }
  const phase = ops.status?.phase;
  if (phase === 'Successful' || phase === 'Failed' || phase === 'Skipped') {
    console.log(`NOTHING TO DO: PerconaXtraDBOpsRequest ${namespace}/${name} is already ${phase}`);
    return EXIT.nothingToDo;
  }
  if (!claimOf(ops).holder) {
    console.log(`NOTHING TO DO: PerconaXtraDBOpsRequest ${namespace}/${name} was never started`);
    return EXIT.nothingToDo;
  }
  const current = (await waitForLease(ctx, namespace, name)) ?? ops;
  return runRecovery(ctx, {
    namespace,
    opsRequest: name,
    execution: claimOf(current).holder ?? claimOf(ops).holder!,
    via: 'recover command',
  });
}

/**
 * A request claimed by another execution is only taken over once that execution's lease has run
 * out (it may be alive elsewhere): wait for that, saying so. Returns the request as last read.
 */
async function waitForLease(
  ctx: Ctx,
  namespace: string,
  name: string,
): Promise<PerconaXtraDBOpsRequest | undefined> {
  for (;;) {
    const ops = await ctx.kube
      .get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, { namespace, name })
      .catch(() => undefined);
    const claim = ops ? claimOf(ops) : {};
    const phase = ops?.status?.phase;
    // Only a claim with a lease of its own is waited for: it will either be renewed (its run is
    // alive) or run out (taken over next); an older claim without one is reported as it is.
    const leased = !!ops?.metadata.annotations?.[LEASE_UNTIL_ANNOTATION];
    if (!ops || !claim.holder || !claim.lease || !leased || phase === 'Successful' || phase === 'Failed')
      return ops;
    // Judged as Validate judges it (functions/steps/lease.ts leaseTime, as an observer): in the API
    // server's time at its earliest, since the holder wrote lease-until in that time at its latest.
    const left = leaseLeft(claim.lease, ctx.kube.serverTime?.()?.earliest ?? new Date());
    if (left <= 0) return ops;
    console.log(
      `PerconaXtraDBOpsRequest ${namespace}/${name} is claimed by execution ${claim.holder} until ${claim.lease.until}: ` +
        `waiting ${Math.ceil(left)}s for its lease to run out (Ctrl-C to give up)`,
    );
    await new Promise((r) => setTimeout(r, Math.ceil(left * 1000) + 100));
  }
}

/** Runs a recovery execution and prints its verdict; a second Ctrl-C meanwhile exits at once. */
async function runRecovery(ctx: Ctx, recover: Record<string, string>): Promise<number> {
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) return;
    interrupted = true;
    void whatIsLeft(ctx, { namespace: recover.namespace!, opsRequest: recover.opsRequest! }, '').then(
      (left) => {
        console.log(`\nexiting at once. ${left}`);
        process.exit(EXIT.interrupted);
      },
    );
  };
  process.on('SIGINT', onSigint);
  const printer = progressPrinter('recovery');
  let result: RunResult;
  try {
    result = await runExecution({
      kube: ctx.kube,
      input: { recover },
      logger: ctx.logger,
      executionName: `local-recover-${randomUUID()}`,
      leaseSeconds: ctx.leaseSeconds,
      ...(ctx.waitScale !== undefined ? { waitScale: ctx.waitScale } : {}),
      onProgress: printer,
    });
  } finally {
    printer.stop();
    process.off('SIGINT', onSigint);
  }
  const out = (result.output ?? {}) as { skip?: boolean; reason?: string };
  if (out.skip) {
    console.log(`NOTHING TO DO: nothing to recover: ${out.reason}`);
    return EXIT.nothingToDo;
  }
  const ops = await ctx.kube
    .get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, {
      namespace: recover.namespace!,
      name: recover.opsRequest!,
    })
    .catch(() => undefined);
  const failed = ops?.status?.conditions?.find((c) => c.type === 'Failed');
  const incomplete = /rollback did not complete/.test(failed?.message ?? '');
  console.log(
    `\nRECOVERED in ${(result.durationMs / 1000).toFixed(1)}s: ` +
      (ops
        ? `PerconaXtraDBOpsRequest ${recover.namespace}/${recover.opsRequest} is ${ops.status?.phase}, the database resumed`
        : `PerconaXtraDB ${recover.namespace}/${recover.database} resumed`),
  );
  console.log(`reason: ${failed?.message ?? result.cause ?? ''}`);
  return incomplete ? EXIT.rollbackIncomplete : EXIT.succeeded;
}

/** What a second Ctrl-C leaves behind, in one line (best effort, bounded in time). */
async function whatIsLeft(
  ctx: Ctx,
  target: { namespace: string; opsRequest: string },
  execution: string,
): Promise<string> {
  if (!target.opsRequest) return 'No request was claimed yet.';
  const { namespace, opsRequest } = target;
  const read = ctx.kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, {
    namespace,
    name: opsRequest,
  });
  const ops = await Promise.race([
    read,
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000)),
  ]).catch(() => undefined);
  const claim = ops ? claimOf(ops) : {};
  return (
    `Left: PerconaXtraDBOpsRequest ${namespace}/${opsRequest} ${ops?.status?.phase ?? ''}, claimed by execution ${claim.holder ?? execution}` +
    (claim.lease ? ` until ${claim.lease.until}` : '') +
    `, its database probably still Paused. Run \`npm run local -- --namespace ${namespace} --recover ${opsRequest}\` ` +
    '(it waits for the lease), or run the request again after that time.'
  );
}

/** The test hook PXC_TLS_OPS_HOLD_BEFORE="<state>#<n>" (see the header). */
function holdBefore(signal: AbortSignal): ((state: string, fn: TaskFn) => TaskFn) | undefined {
  const spec = process.env.PXC_TLS_OPS_HOLD_BEFORE;
  if (!spec) return undefined;
  const [state, nth] = spec.split('#');
  let calls = 0;
  return (name, fn) =>
    name !== state
      ? fn
      : async (input) => {
          if (++calls === Number(nth ?? 1)) {
            console.log(`holding before ${state} #${calls}`);
            await new Promise<void>((resolve) => {
              if (signal.aborted) resolve();
              else signal.addEventListener('abort', () => resolve(), { once: true });
            });
            throw Object.assign(new Error('interrupted'), { name: 'LocalExecutionAborted' });
          }
          return fn(input);
        };
}

/** One verdict from the execution's own record, then the OpsRequest's status when there is one. */
async function verdict(
  kube: ReturnType<typeof kubeFromKubeconfig>,
  input: unknown,
  result: Awaited<ReturnType<typeof runExecution>>,
  executionName: string,
): Promise<Outcome> {
  const out = (result.output ?? {}) as {
    namespace?: string;
    opsRequest?: string;
    skip?: boolean;
    reason?: string;
    result?: { reason?: string };
  };
  const i = (input ?? {}) as { namespace?: string; opsRequest?: string };
  const ns = out.namespace ?? i.namespace;
  let name = out.opsRequest ?? i.opsRequest;
  if (!name && ns) {
    // Console input: the request Validate created carries this execution's label.
    const created = await kube
      .list<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, ns, {
        labelSelector: `${EXECUTION_LABEL}=${labelSafe(executionName)}`,
      })
      .catch(() => undefined);
    name = created?.items[0]?.metadata.name;
  }
  const ops =
    ns && name
      ? await kube
          .get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, { namespace: ns, name })
          .catch(() => undefined)
      : undefined;
  const which = ops ? `PerconaXtraDBOpsRequest ${ns}/${name}` : 'request';
  if (result.status === 'SUCCEEDED') {
    if (out.skip && !out.result) {
      if (out.reason?.startsWith('waiting: '))
        return {
          code: EXIT.nothingToDo,
          verdict: `PENDING: ${which} stays Pending: ${out.reason.slice('waiting: '.length)}. It is refused or run once the database is free: the sweep starts it again, or run this again then`,
        };
      const why = out.reason?.startsWith('claimed by execution')
        ? `${which} is ${out.reason}, which is handling it`
        : `${which} is ${out.reason}`;
      return { code: EXIT.nothingToDo, verdict: `NOTHING TO DO: ${why}` };
    }
    const reason =
      ops?.status?.conditions?.find((c) => c.type === 'Successful')?.message ?? out.result?.reason;
    return {
      code: EXIT.succeeded,
      verdict: `SUCCEEDED: ${which} is Successful`,
      ...(reason ? { reason } : {}),
    };
  }
  const finish = [...result.events]
    .reverse()
    .find((e) => e.type === 'StateExited' && e.state?.name === 'Finish rollback');
  // Finish rollback's outcome; when Finish rollback itself failed, its Catch put the error there instead.
  const recorded = (
    finish?.state?.output as { failure?: { phase?: string; reason?: string; refused?: boolean } } | undefined
  )?.failure;
  const failure = recorded?.phase ? recorded : undefined;
  const rollbackError = !!(finish?.state?.input as { rollbackError?: unknown } | undefined)?.rollbackError;
  // The error that sent the execution to the failure path, in words.
  const caught = (
    result.events.find((e) => e.type === 'StateEntered' && e.state?.name === 'Roll back')?.state?.input as
      | { error?: { Error?: string; Cause?: unknown; State?: string } }
      | undefined
  )?.error;
  const firstReason = caught
    ? plainReason(caught.Error ?? 'Error', causeMessage(caught.Cause), caught.State)
    : undefined;
  const reason =
    ops?.status?.conditions?.find((c) => c.type === 'Failed')?.message ??
    failure?.reason ??
    firstReason ??
    `${result.error}: ${result.cause}`;
  // Nothing was written when the execution never got the database paused (only Validate ran),
  // even if the failure path could not reach the cluster to record the outcome.
  const paused = result.events.some(
    (e) =>
      e.type === 'StateExited' &&
      e.state?.name === 'Pause' &&
      !(e.state.output as { error?: unknown } | undefined)?.error,
  );
  if (!failure && !paused)
    return {
      code: EXIT.refused,
      verdict: `REFUSED, nothing changed: ${which} could not be run, and its outcome could not be recorded`,
      reason: firstReason ?? reason,
    };
  if (failure?.refused)
    return {
      code: EXIT.refused,
      verdict: `REFUSED, nothing changed: ${which} ${ops ? 'is Failed' : 'was not run'}`,
      reason,
    };
  if (rollbackError || !failure)
    return {
      code: EXIT.rollbackIncomplete,
      verdict: `FAILED, rollback incomplete: ${which} ${ops?.status?.phase === 'Failed' ? 'is Failed' : 'needs a look'}`,
      reason,
    };
  return {
    code: EXIT.failed,
    verdict: `FAILED, rolled back: ${which} is Failed, the database resumed`,
    reason,
  };
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(EXIT.failed);
  },
);
