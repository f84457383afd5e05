/**
 * The local runner behind the Step Functions stand-in (local/aws): each execution StartExecution
 * creates runs here, and StopExecution aborts it and resolves only once its Task calls in flight
 * have returned, as on AWS. Used wherever a test or benchmark drives whole executions through the
 * stand-in's API (recovery by the event rule, the sweep).
 */
import type { Execution, ExecutionOutcome } from '../aws/index.js';
import { type RunOptions, type RunResult, runExecution, type TaskFn } from './index.js';

export interface StandInRunner {
  /** A Task hook for the execution of this name (set before starting it). */
  hooks: Map<string, (state: string, fn: TaskFn) => TaskFn>;
  /** The runs, by execution ARN. */
  runs: Map<string, Promise<RunResult>>;
  /** For startAwsStandIn's `onExecution` and `onStop`. */
  onExecution: (execution: Execution) => Promise<ExecutionOutcome>;
  onStop: (execution: Execution) => Promise<void>;
}

export function standInRunner(
  opts: Omit<RunOptions, 'input' | 'executionName' | 'signal' | 'wrapTask'>,
): StandInRunner {
  const hooks = new Map<string, (state: string, fn: TaskFn) => TaskFn>();
  const runs = new Map<string, Promise<RunResult>>();
  const controllers = new Map<string, AbortController>();
  return {
    hooks,
    runs,
    onExecution: (execution) => {
      const controller = new AbortController();
      controllers.set(execution.executionArn, controller);
      const hook = hooks.get(execution.name);
      const run = runExecution({
        ...opts,
        input: JSON.parse(execution.input),
        executionName: execution.name,
        signal: controller.signal,
        ...(hook ? { wrapTask: hook } : {}),
      });
      runs.set(execution.executionArn, run);
      return run.then(
        (r): ExecutionOutcome => ({
          status: r.status,
          ...(r.output !== undefined ? { output: JSON.stringify(r.output) } : {}),
          ...(r.error ? { error: r.error, cause: r.cause } : {}),
        }),
      );
    },
    onStop: async (execution) => {
      controllers.get(execution.executionArn)?.abort();
      await runs.get(execution.executionArn);
    },
  };
}
