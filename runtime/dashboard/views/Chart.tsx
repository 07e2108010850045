/** A small live chart (uPlot): the last minutes of a few series, redrawn on every frame. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  /** a CSS custom property holding the colour, e.g. --ok */
  color: string;
  values: Array<number | null>;
  format(n: number | null): string;
}

interface Props {
  title: string;
  t: number[];
  series: ChartSeries[];
  version: number;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

function options(width: number, series: ChartSeries[]): uPlot.Options {
  const grid = cssVar('--grid');
  const axis = cssVar('--muted');
  const font = '11px system-ui, sans-serif';
  return {
    width,
    height: 120,
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
        incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600],
        values: (_u, splits) => splits.map(clock),
      },
      {
        stroke: axis,
        font,
        grid: { stroke: grid, width: 1 },
        ticks: { show: false },
        size: 56,
        space: 30,
        values: (_u, splits) => splits.map((v) => series[0]!.format(v)),
      },
    ],
    series: [
      { value: (_u: uPlot, v: number | null) => (v === null ? '' : clock(v)) },
      ...series.map((s) => ({
        label: s.label,
        stroke: cssVar(s.color),
        width: 1.5,
        fill: `${cssVar(s.color)}1f`,
        points: { show: false },
        value: (_u: uPlot, v: number | null) => s.format(v),
      })),
    ],
  };
}

/** 14:05:30: the x axis of a chart a few minutes wide. */
function clock(seconds: number): string {
  const d = new Date(seconds * 1000);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function Chart({ title, t, series, version }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  const data = (): uPlot.AlignedData => [t, ...series.map((s) => s.values)] as uPlot.AlignedData;

  useEffect(() => {
    const el = box.current!;
    const make = () => {
      plot.current?.destroy();
      plot.current = new uPlot(options(Math.max(200, el.clientWidth), series), data(), el);
    };
    make();
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height: 120 }));
    resize.observe(el);
    const scheme = matchMedia('(prefers-color-scheme: dark)');
    scheme.addEventListener('change', make);
    return () => {
      resize.disconnect();
      scheme.removeEventListener('change', make);
      plot.current?.destroy();
      plot.current = null;
    };
  }, [series.length]);

  useEffect(() => {
    plot.current?.setData(data());
  }, [version]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-box" role="img" aria-label={`${title}, last ${Math.round((t.length || 0) / 60)} minutes`} />
    </figure>
  );
}
