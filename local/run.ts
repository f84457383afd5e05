/**
 * `npm run local -- [options]`: runs the state machine locally (aws-local-stepfunctions, handlers
 * in-process) against any cluster reachable through a kubeconfig — the simulator included
 * (`npm run sim` writes one). Says which cluster it will act on before acting, prints what
 * happens and why it waits, and ends with one verdict and its exit code (see USAGE).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { parseArgs } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeFromKubeconfig } from '../functions/kube/client.js';
import { KINDS } from '../functions/kube/types.js';
import { EXECUTION_LABEL, labelSafe } from '../functions/model/names.js';
import { plainReason } from '../functions/model/reasons.js';
import type { PerconaXtraDBOpsRequest } from '../functions/model/types.js';
import { causeMessage } from '../functions/steps/common.js';
import { dryRun } from './dry-run.js';
import { EXIT } from './exit-codes.js';
import { runExecution } from './runner/index.js';
import { progressPrinter } from './runner/progress.js';

export const USAGE = `usage: npm run local -- [--kubeconfig <file>] [--context <name>]
                        (--namespace <ns> --ops-request <name> | --input <json|@file>)
                        [--dry-run] [--wait-scale <factor>] [--verbose]

Runs the reconfigure-tls state machine on this machine, its Lambda handlers in-process,
against the cluster of a kubeconfig (the simulator's, from \`npm run sim\`, or a real one).

  --kubeconfig <file>    kubeconfig to use; default $KUBECONFIG (first path), else ~/.kube/config
  --context <name>       context of that kubeconfig; default its current-context
  -n, --namespace <ns>   namespace of the PerconaXtraDBOpsRequest to run (with --ops-request)
  --ops-request <name>   an existing PerconaXtraDBOpsRequest (kubectl apply -f k8s/samples/...)
  --input <json|@file>   a console input instead, e.g. @events/console/rotate.json: Validate
                         creates the OpsRequest first ({"namespace","database","tls",...})
  --dry-run              print the plan (action, passes, Secrets to write, pods to restart in
                         order) and change nothing: only reads reach the cluster
  --wait-scale <factor>  multiply the state machine's Wait states (e.g. 0.1); default 1
  --verbose              also print the functions' JSON logs
  -h, --help             this text

Before acting it prints the kubeconfig, context and API server it will use.

Exit codes:
  ${EXIT.succeeded}  succeeded: the OpsRequest is Successful (also when there was nothing to change)
  ${EXIT.failed}  failed: the change was rolled back, the database resumed, the OpsRequest is Failed
  ${EXIT.refused}  refused, nothing changed: invalid request or input, missing database, issuer,
     namespace or kubeconfig (a --dry-run that would be refused too)
  ${EXIT.nothingToDo}  nothing to do: the request is already finished or another execution has claimed it
  ${EXIT.rollbackIncomplete}  failed and the rollback did not complete: the previous state is kept in the
     backup Secret named in the reason`;

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
    } else {
      console.error(`Say which request to run: --namespace and --ops-request, or --input.\n\n${USAGE}`);
      return EXIT.refused;
    }
  } catch (err) {
    console.error(`--input ${values.input}: ${(err as Error).message}`);
    return EXIT.refused;
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
    return plan.verdict === 'refused'
      ? EXIT.refused
      : plan.verdict === 'nothing'
        ? EXIT.nothingToDo
        : EXIT.succeeded;
  }

  const logger = new Logger({
    serviceName: 'pxc-tls-ops-local',
    logLevel: values.verbose ? 'INFO' : 'ERROR',
  });
  const waitScale = values['wait-scale'] ? Number(values['wait-scale']) : undefined;
  const executionName = `local-${randomUUID()}`;
  console.log(`execution ${executionName}\n`);
  const printer = progressPrinter('');
  const result = await runExecution({ kube, input, logger, waitScale, executionName, onProgress: printer });
  printer.stop();

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
      'wait-scale': { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
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
      | { error?: { Error?: string; Cause?: unknown } }
      | undefined
  )?.error;
  const firstReason = caught ? plainReason(caught.Error ?? 'Error', causeMessage(caught.Cause)) : undefined;
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
