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

/**
 * `fixed + perUnit × x` through the first and last points (x ascending): how a count grows with
 * pod restarts, from executions at two sizes. Throws when the x values do not differ.
 */
export function fitLine(points: Array<[x: number, y: number]>): { fixed: number; perUnit: number } {
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  const [x0, y0] = sorted[0] ?? [Number.NaN, Number.NaN];
  const [x1, y1] = sorted.at(-1) ?? [Number.NaN, Number.NaN];
  if (!(x1 > x0)) throw new Error('fitLine: need two different x values');
  const perUnit = (y1 - y0) / (x1 - x0);
  return { fixed: y0 - perUnit * x0, perUnit };
}

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

export function renderTable(figures: Figure[], opts: { notes?: boolean } = {}): string {
  const rows = figures.map((f, i) => [
    i > 0 && figures[i - 1]!.group === f.group ? '' : f.group,
    f.name,
    `${fmt(f.median)} ${f.unit}`.trim(),
    f.runs > 1 ? `${fmt(f.min)}…${fmt(f.max)}` : '',
    String(f.runs),
    f.target ?? '',
    f.met === undefined ? '' : f.met ? 'ok' : 'MISS',
    ...(opts.notes ? [f.note ?? ''] : []),
  ]);
  const header = [
    'group',
    'figure',
    'median',
    'min…max',
    'runs',
    'target',
    '',
    ...(opts.notes ? ['note'] : []),
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
