/** The results as a table (stdout, bench/results.md) and as JSON (bench/results.json). */
import { round, summarize, type Summary } from './stats';

export interface Row {
  what: string;
  unit: string;
  figure: Summary;
  baseline: { label: string; unit: string; value: Summary } | null;
  /** figure / baseline, per run, summarised */
  ratio: Summary | null;
  target: string;
  met: boolean;
  note?: string;
}

/** `target` null: a row reported for context, with no goal of its own. */
export function ratioRow(what: string, unit: string, figures: number[], label: string, baselines: number[], target: number | null, note?: string): Row {
  const ratios = figures.map((f, i) => f / baselines[i]!);
  const ratio = summarize(ratios);
  return {
    what,
    unit,
    figure: summarize(figures),
    baseline: { label, unit, value: summarize(baselines) },
    ratio,
    target: target === null ? 'report' : `ratio ≥ ${target}`,
    met: target === null ? true : ratio.median >= target,
    ...(note ? { note } : {}),
  };
}

const fmt = (n: number, digits = 0) => round(n, digits).toLocaleString('en-US');
const spread = (s: Summary, digits = 0) => (s.runs.length > 1 ? ` (${fmt(s.min, digits)}–${fmt(s.max, digits)})` : '');
const digitsFor = (s: Summary) => (Math.abs(s.median) < 10 ? 2 : 0);

export function formatTable(rows: Record<string, Row>): string {
  const head = ['row', 'what', 'Warren, median (min–max)', 'baseline, median (min–max)', 'ratio (min–max)', 'target', 'met'];
  const body = Object.entries(rows).map(([key, r]) => [
    key,
    r.what,
    `${fmt(r.figure.median, digitsFor(r.figure))}${spread(r.figure, digitsFor(r.figure))} ${r.unit}`,
    r.baseline
      ? `${r.baseline.label}: ${fmt(r.baseline.value.median, digitsFor(r.baseline.value))}${spread(r.baseline.value, digitsFor(r.baseline.value))} ${r.baseline.unit}`
      : '—',
    r.ratio ? `${fmt(r.ratio.median, 2)}${spread(r.ratio, 2)}` : '—',
    r.target,
    r.met ? 'yes' : 'NO',
  ]);
  const lines = [head, head.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`);
  return lines.join('\n');
}

export function toJson(rows: Record<string, Row>): Record<string, unknown> {
  const s = (x: Summary) => ({ median: round(x.median, 3), min: round(x.min, 3), max: round(x.max, 3), runs: x.runs.map((v) => round(v, 3)) });
  return Object.fromEntries(
    Object.entries(rows).map(([key, r]) => [
      key,
      {
        what: r.what,
        figure: { unit: r.unit, ...s(r.figure) },
        baseline: r.baseline ? { label: r.baseline.label, unit: r.baseline.unit, ...s(r.baseline.value) } : null,
        ratio: r.ratio ? s(r.ratio) : null,
        target: r.target,
        met: r.met,
        ...(r.note ? { note: r.note } : {}),
      },
    ]),
  );
}
