/**
 * Live progress lines for the demo and `npm run local`: state, pass, pod k of n, elapsed.
 */
import type { Progress } from './index.js';

const QUIET = new Set([
  'Claimed?',
  'Pod ready?',
  'Restored pod ready?',
  'Another pass?',
  'Pod restarted',
  'Restored pod ready',
]);

export function formatProgress(p: Progress, label = ''): string | undefined {
  if (QUIET.has(p.state) || p.type === 'Map') return undefined;
  const t = `${(p.elapsedMs / 1000).toFixed(1).padStart(6)}s`;
  const pass =
    p.pass && p.pass.total > 1
      ? ` pass ${p.pass.index + 1}/${p.pass.total}${p.pass.kind ? ` (${p.pass.kind})` : ''}`
      : '';
  const pod = p.pod ? `  pod ${p.pod.index + 1}/${p.pod.total} ${p.pod.name}` : '';
  return `  ${t}  ${label ? `${label.padEnd(14)} ` : ''}${p.state}${pod}${p.state === 'Change certificates' ? pass : ''}`;
}

/** A progress printer that collapses repeated "Check pod"/"Wait for pod" lines of one pod. */
export function progressPrinter(
  label: string,
  write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
) {
  let last = '';
  return (p: Progress) => {
    const key = `${p.state}/${p.pod?.name ?? ''}`;
    if (
      (p.state === 'Check pod' ||
        p.state === 'Wait for pod' ||
        p.state === 'Check restored pod' ||
        p.state === 'Wait for restored pod') &&
      key === last
    )
      return;
    if (p.state !== 'Wait for pod' && p.state !== 'Wait for restored pod') last = key;
    const line = formatProgress(p, label);
    if (line) write(line);
  };
}
