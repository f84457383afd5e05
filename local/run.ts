/**
 * `npm run local -- --kubeconfig <file> --namespace <ns> --ops-request <name>`
 * `npm run local -- --kubeconfig <file> --input '{"namespace":"demo","database":"sample-pxc","tls":{...}}'`
 *
 * Runs the state machine locally (aws-local-stepfunctions, handlers in-process) against any
 * cluster reachable through a kubeconfig — the simulator included (`npm run sim` writes one).
 * Prints live progress; exits 0 when the OpsRequest ends Successful, 1 when it ends Failed (or
 * the input is refused), printing the reason.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { parseArgs } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { kubeFromKubeconfig } from '../functions/kube/client.js';
import { KINDS } from '../functions/kube/types.js';
import { EXECUTION_LABEL, labelSafe } from '../functions/model/names.js';
import type { PerconaXtraDBOpsRequest } from '../functions/model/types.js';
import { runExecution } from './runner/index.js';
import { progressPrinter } from './runner/progress.js';

const USAGE = `usage: npm run local -- [--kubeconfig <file>] (--namespace <ns> --ops-request <name> | --input <json|@file>)
                        [--wait-scale <factor>] [--verbose]`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      'ops-request': { type: 'string' },
      input: { type: 'string' },
      'wait-scale': { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const kubeconfig =
    values.kubeconfig ?? process.env.KUBECONFIG?.split(':')[0] ?? `${homedir()}/.kube/config`;
  let input: unknown;
  if (values.input) {
    const text = values.input.startsWith('@') ? readFileSync(values.input.slice(1), 'utf8') : values.input;
    input = JSON.parse(text);
  } else if (values.namespace && values['ops-request']) {
    input = { namespace: values.namespace, opsRequest: values['ops-request'] };
  } else {
    console.error(USAGE);
    return 1;
  }
  const kube = kubeFromKubeconfig(kubeconfig);
  const logger = new Logger({
    serviceName: 'pxc-tls-ops-local',
    logLevel: values.verbose ? 'INFO' : 'ERROR',
  });
  const waitScale = values['wait-scale'] ? Number(values['wait-scale']) : undefined;
  console.log(`running reconfigure-tls locally against ${kubeconfig}`);

  const executionName = `local-${randomUUID()}`;
  const result = await runExecution({
    kube,
    input,
    logger,
    waitScale,
    executionName,
    onProgress: progressPrinter(''),
  });

  const out = (result.output ?? {}) as {
    namespace?: string;
    opsRequest?: string;
    skip?: boolean;
    reason?: string;
  };
  const ns = out.namespace ?? (input as { namespace?: string }).namespace;
  let name = out.opsRequest ?? (input as { opsRequest?: string }).opsRequest;
  if (!name && ns) {
    // Console input: the request Validate created carries this execution's label.
    const created = await kube.list<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, ns, {
      labelSelector: `${EXECUTION_LABEL}=${labelSafe(executionName)}`,
    });
    name = created.items[0]?.metadata.name;
  }
  const ops =
    ns && name
      ? await kube.get<PerconaXtraDBOpsRequest>(KINDS.PerconaXtraDBOpsRequest, { namespace: ns, name })
      : undefined;
  const phase = ops?.status?.phase;
  const reason =
    ops?.status?.conditions?.find((c) => c.type === (phase === 'Failed' ? 'Failed' : 'Successful'))
      ?.message ??
    out.reason ??
    result.cause;
  console.log(
    `\nexecution ${result.status} in ${(result.durationMs / 1000).toFixed(1)}s, ${result.transitions} state transitions` +
      (name ? `; PerconaXtraDBOpsRequest ${ns}/${name}: ${phase ?? 'unknown'}` : ''),
  );
  if (out.skip) console.log(`nothing done: ${out.reason}`);
  if (reason) console.log(`reason: ${reason}`);
  if (result.status === 'FAILED' && !reason) console.log(`error: ${result.error}: ${result.cause}`);
  return phase === 'Successful' ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
