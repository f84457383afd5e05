/**
 * Small statistics and the figure table shared by every benchmark.
 * A figure is a median of repeated runs with min and max, printed beside its target.
 */

export interface Figure {
  /** Group shown as a table section, e.g. "Rotation overhead". */
  group: string;
  name: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  runs: number;
  /** Human-readable target, e.g. "≤ 1.15". */
  target?: string;
  /** Whether the median meets the target; undefined when there is no target. */
  met?: boolean;
  note?: string;
}

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export const median = (values: number[]): number => quantile(values, 0.5);

export function figure(
  group: string,
  name: string,
  unit: string,
  values: number[],
  opts: { target?: string; max?: number; min?: number; note?: string; stat?: 'median' | 'p95' } = {},
): Figure {
  const value = opts.stat === 'p95' ? quantile(values, 0.95) : median(values);
  let met: boolean | undefined;
  if (opts.max !== undefined) met = value <= opts.max;
  if (opts.min !== undefined) met = (met ?? true) && value >= opts.min;
  return {
    group,
    name,
    unit,
    median: value,
    min: Math.min(...values),
    max: Math.max(...values),
    runs: values.length,
    ...(opts.target ? { target: opts.target } : {}),
    ...(met !== undefined ? { met } : {}),
    ...(opts.note ? { note: opts.note } : {}),
  };
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toFixed(3);
}

export function renderTable(figures: Figure[]): string {
  const rows = figures.map((f) => [
    f.group,
    f.name,
    `${fmt(f.median)} ${f.unit}`.trim(),
    f.runs > 1 ? `${fmt(f.min)}…${fmt(f.max)}` : '',
    String(f.runs),
    f.target ?? '',
    f.met === undefined ? '' : f.met ? 'ok' : 'MISS',
  ]);
  const header = ['group', 'figure', 'median', 'min…max', 'runs', 'target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
