/**
 * The host side of the real-server mode (galera.ts): running a client program, free ports, the
 * watchdog that kills a server when its Node process is gone, cleaning up after a simulator that
 * died, and writing a Secret volume the way the kubelet's atomic writer does.
 */
import { execFile } from 'node:child_process';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import type { ExecResult } from './shell.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export function run(
  file: string,
  args: string[],
  o: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { env: o.env ?? process.env, timeout: o.timeoutMs ?? 30_000, maxBuffer: 16 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = (err as NodeJS.ErrnoException | null)?.code;
        if (code === 'ENOENT')
          resolve({
            stdout: '',
            stderr: `exec: "${file}": executable file not found in $PATH`,
            exitCode: -1,
          });
        else
          resolve({
            stdout: String(stdout ?? ''),
            stderr: String(stderr ?? ''),
            exitCode: err ? (typeof code === 'number' ? code : (child.exitCode ?? 1)) : 0,
          });
      },
    );
    if (o.input !== undefined) child.stdin?.end(o.input);
    else child.stdin?.end();
  });
}

/** `SHOW ... ` rows (`-N -B`) into a map. */
export function rows(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) out[line.slice(0, tab)] = line.slice(tab + 1);
  }
  return out;
}

export const WATCHDOG = `# Runs a server and kills it when the Node process that started it is gone.
parent=$1; shift
"$@" &
m=$!
echo "$m"
trap 'kill -TERM "$m" 2>/dev/null' TERM INT
while kill -0 "$m" 2>/dev/null; do
  if ! kill -0 "$parent" 2>/dev/null; then kill -KILL "$m" 2>/dev/null; break; fi
  sleep 0.5 & wait $!
done
wait "$m"
`;

/**
 * Directories of simulators whose process died without cleaning up (killed -9, crashed): their
 * servers are gone already (the watchdog), the files are removed here.
 */
export function removeOrphans(parent: string): void {
  for (const e of readdirSync(parent)) {
    if (!e.startsWith('pxc-galera-')) continue;
    try {
      // One being set up right now has no owner.pid yet.
      if (Date.now() - statSync(join(parent, e)).mtimeMs < 60_000) continue;
      const pid = Number(readFileSync(join(parent, e, 'owner.pid'), 'utf8'));
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') continue;
      rmSync(join(parent, e), { recursive: true, force: true });
    }
  }
}

/**
 * Writes `files` into volume directory `dir` as the kubelet's atomic writer does: a new
 * `..<timestamp>` directory, `..data` switched to it by one rename, one symlink per file through
 * `..data`, the previous directory removed.
 */
export function writeAtomically(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const stamp = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').replace('Z', '')}.${process.hrtime.bigint() % 1_000_000n}`;
  const fresh = join(dir, stamp);
  mkdirSync(fresh, { mode: 0o755 });
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(fresh, name)), { recursive: true });
    writeFileSync(join(fresh, name), content, { mode: 0o644 });
  }
  const link = join(dir, '..data');
  const previous = readdirSync(dir).filter(
    (e) => e.startsWith('..') && e !== '..data' && e !== stamp && e !== '..data_tmp',
  );
  rmSync(join(dir, '..data_tmp'), { force: true });
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), link);
  for (const name of Object.keys(files)) {
    const top = name.split('/')[0]!;
    try {
      symlinkSync(join('..data', top), join(dir, top));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  for (const e of readdirSync(dir)) {
    if (e.startsWith('..')) continue;
    if (!Object.keys(files).some((n) => n.split('/')[0] === e)) rmSync(join(dir, e), { force: true });
  }
  for (const old of previous) rmSync(join(dir, old), { recursive: true, force: true });
}
