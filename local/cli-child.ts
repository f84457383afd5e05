/**
 * `npm run local` as a child process, for the tests and the benchmark that interrupt it: one Node
 * process (no npx wrapper in between), so SIGINT and SIGKILL reach the runner itself, with its
 * output as lines and a way to wait for one. It runs local/run.ts through tsx, or, when many
 * children are needed, a bundle of it built once with esbuild (`bundleLocalCli`): the same code,
 * without compiling TypeScript in every child.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Bundles local/run.ts (ESM, Node 22, a require shim as the functions have) into
 * `dist/local-cli-<pid>/run.mjs`: two levels below the root like the source, so the paths it
 * resolves from its own location (the ASL, the samples) still point into the repository. Returns
 * the file; remove its directory when done.
 */
export async function bundleLocalCli(): Promise<string> {
  const outfile = join(ROOT, 'dist', `local-cli-${process.pid}`, 'run.mjs');
  await build({
    absWorkingDir: ROOT,
    entryPoints: ['local/run.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    outfile,
    mainFields: ['module', 'main'],
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    logLevel: 'silent',
  });
  return outfile;
}

export interface LocalChild {
  process: ChildProcess;
  /** Every line written to stdout or stderr so far. */
  lines: string[];
  /** Resolves with the exit code (null when killed by a signal). */
  exit: Promise<number | null>;
  /** Resolves with the first line (already written or to come) matching `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  output(): string;
}

export function spawnLocal(args: string[], env: NodeJS.ProcessEnv = {}, bundle?: string): LocalChild {
  const entry = bundle ? [bundle] : ['--import', 'tsx', 'local/run.ts'];
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  const onLine = (line: string) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.re.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffer += chunk;
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        onLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf('\n');
      }
    });
    stream.on('end', () => {
      if (buffer) onLine(buffer);
    });
  }
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    process: child,
    lines,
    exit,
    output: () => lines.join('\n'),
    waitFor(re, timeoutMs = 60_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no line matching ${re} within ${timeoutMs} ms:\n${lines.join('\n')}`)),
          timeoutMs,
        );
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exit.then(() => {
          clearTimeout(timer);
          if (waiters.some((w) => w.re === re))
            reject(new Error(`exited before a line matching ${re}:\n${lines.join('\n')}`));
        });
      });
    },
  };
}
