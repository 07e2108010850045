/** A small live chart (uPlot): the last minutes of a few series, redrawn on every frame while on screen. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { axisLabels, clock } from '../format';

export interface ChartSeries {
  label: string;
  /** a CSS custom property holding the colour, e.g. --ok */
  color: string;
  values: Array<number | null>;
  format(n: number | null): string;
}

interface Props {
  title: string;
  /** what the values are: sets the axis labels, and whole steps for counts */
  unit: 'ms' | 'rate' | 'count';
  t: number[];
  series: ChartSeries[];
  version: number;
}

const HEIGHT = 120;
/** 1, 2, 5, 10, 20, 50, …: a count axis never has a tick at 0.5 */
const WHOLE_STEPS = Array.from({ length: 24 }, (_, i) => [1, 2, 5][i % 3]! * 10 ** Math.floor(i / 3));

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

/** The newest value of a series: what the legend shows while the pointer is not on the chart. */
function latest(values: ArrayLike<number | null | undefined> | undefined): number | null {
  if (!values) return null;
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

function options(width: number, unit: Props['unit'], series: ChartSeries[]): uPlot.Options {
  const grid = cssVar('--grid');
  const axis = cssVar('--muted');
  const font = '11px system-ui, sans-serif';
  return {
    width,
    height: HEIGHT,
    cursor: { y: false, points: { size: 6 } },
    legend: { show: true, live: true },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] } },
    axes: [
      {
        stroke: axis,
        font,
        grid: { stroke: grid, width: 1 },
        ticks: { show: false },
        size: 22,
        space: 70,
        incrs: [1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 300, 600],
        values: (_u, splits) => splits.map((s) => clock(s * 1000)),
      },
      {
        stroke: axis,
        font,
        grid: { stroke: grid, width: 1 },
        ticks: { show: false },
        size: 56,
        space: 30,
        ...(unit === 'count' ? { incrs: WHOLE_STEPS } : {}),
        values: (_u, splits) => axisLabels(splits, unit),
      },
    ],
    series: [
      { value: (_u: uPlot, v: number | null) => (v === null ? '' : clock(v * 1000)) },
      ...series.map((s) => ({
        label: s.label,
        stroke: cssVar(s.color),
        width: 1.5,
        fill: `${cssVar(s.color)}1f`,
        points: { show: false },
        // Under the pointer, the value there; otherwise the newest one (never a row of dashes).
        value: (u: uPlot, v: number | null, index: number, at: number | null) => s.format(at === null ? latest(u.data[index]) : v),
      })),
    ],
  };
}

/** "the last 45 seconds", "the last 5 minutes": what a chart spans, for its text alternative. */
function span(t: number[]): string {
  const seconds = t.length > 1 ? Math.round(t[t.length - 1]! - t[0]!) : 0;
  if (seconds < 90) return `the last ${seconds} second${seconds === 1 ? '' : 's'}`;
  return `the last ${Math.round(seconds / 60)} minutes`;
}

export function Chart({ title, unit, t, series, version }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // Off screen (30 functions, 90 charts), a chart skips its redraws and catches up when scrolled to.
  const onScreen = useRef(true);
  const stale = useRef(false);

  // The newest props, for the observers set up once below.
  const current = useRef({ t, series });
  current.current = { t, series };
  const data = (): uPlot.AlignedData => [current.current.t, ...current.current.series.map((s) => s.values)] as uPlot.AlignedData;

  useEffect(() => {
    const el = box.current!;
    const width = () => Math.max(100, el.clientWidth);
    const make = () => {
      plot.current?.destroy();
      plot.current = new uPlot(options(width(), unit, series), data(), el);
    };
    make();
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: width(), height: HEIGHT }));
    resize.observe(el);
    const seen = new IntersectionObserver(([entry]) => {
      onScreen.current = entry?.isIntersecting ?? true;
      if (onScreen.current && stale.current) {
        stale.current = false;
        plot.current?.setData(data());
      }
    });
    seen.observe(el);
    const scheme = matchMedia('(prefers-color-scheme: dark)');
    scheme.addEventListener('change', make);
    return () => {
      resize.disconnect();
      seen.disconnect();
      scheme.removeEventListener('change', make);
      plot.current?.destroy();
      plot.current = null;
    };
  }, [series.length, unit]);

  useEffect(() => {
    if (onScreen.current) plot.current?.setData(data());
    else stale.current = true;
  }, [version]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div
        ref={box}
        class="chart-box"
        role="img"
        aria-label={`${title}, ${span(t)}: ${series.map((s) => `${s.label} ${s.format(latest(s.values))}`).join(', ')}`}
      />
    </figure>
  );
}
