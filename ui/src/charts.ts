// Live time-series charts on uPlot: one chart per unit, incoming and outgoing lines, optional
// horizontal threshold lines (drawn in a draw hook, so they need no extra series).
import uPlot from './vendor/uPlot.esm.js';
import { fmtRate, h } from './dom.js';

export interface ChartSpec {
  readonly title: string;
  readonly unit: string;
  readonly series: readonly { label: string; color: string }[];
  /** Keep at most this many seconds of points (0 = keep everything given). */
  readonly windowS?: number;
  readonly thresholds?: readonly { label: string; value: number }[];
}

export class RateChart {
  readonly el: HTMLElement;
  private readonly plot: uPlot;
  private data: number[][];
  private readonly ro: ResizeObserver;

  constructor(private readonly spec: ChartSpec) {
    const box = h('div', { class: 'chart-plot' });
    this.el = h('figure', { class: 'chart' }, h('figcaption', {}, spec.title), box);
    this.data = [[], ...spec.series.map(() => [])];
    const thresholds = spec.thresholds ?? [];
    this.plot = new uPlot(
      {
        width: 600,
        height: 220,
        series: [
          {},
          ...spec.series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 1.5,
            value: (_u: uPlot, v: number | null) => fmtRate(v, spec.unit),
          })),
        ],
        axes: [
          { stroke: '#9aa4b2', grid: { stroke: '#2a3140' } },
          {
            stroke: '#9aa4b2',
            grid: { stroke: '#2a3140' },
            size: 90,
            values: (_u: uPlot, vals: number[]) => vals.map((v) => fmtRate(v, spec.unit)),
          },
        ],
        scales: {
          x: { time: true },
          y: {
            range: (_u: uPlot, _min: number, max: number) => [
              0,
              Math.max(max, ...thresholds.map((t) => t.value * 1.1), 1),
            ],
          },
        },
        hooks: {
          draw: [
            (u: uPlot) => {
              const ctx = u.ctx;
              for (const t of thresholds) {
                const y = u.valToPos(t.value, 'y', true);
                ctx.save();
                ctx.strokeStyle = '#ff6b6b';
                ctx.setLineDash([6, 4]);
                ctx.beginPath();
                ctx.moveTo(u.bbox.left, y);
                ctx.lineTo(u.bbox.left + u.bbox.width, y);
                ctx.stroke();
                ctx.fillStyle = '#ff6b6b';
                ctx.font = `${Math.round(12 * devicePixelRatio)}px sans-serif`;
                ctx.textAlign = 'right';
                ctx.fillText(
                  `${t.label} ${fmtRate(t.value, spec.unit)}`,
                  u.bbox.left + u.bbox.width - 4,
                  y - 4,
                );
                ctx.restore();
              }
            },
          ],
        },
      },
      this.data as uPlot.AlignedData,
      box,
    );
    this.ro = new ResizeObserver(() =>
      this.plot.setSize({ width: Math.max(280, box.clientWidth), height: 220 }),
    );
    this.ro.observe(box);
  }

  set(t: readonly number[], values: readonly (readonly number[])[]): void {
    this.data = [[...t], ...values.map((v) => [...v])];
    this.plot.setData(this.data as uPlot.AlignedData);
  }

  push(t: number, values: readonly number[]): void {
    const last = this.data[0]!.at(-1);
    if (last !== undefined && t <= last) return;
    this.data[0]!.push(t);
    for (const [i, v] of values.entries()) this.data[i + 1]!.push(v);
    const w = this.spec.windowS ?? 0;
    if (w > 0) {
      const cut = this.data[0]!.findIndex((x) => x >= t - w);
      if (cut > 0) for (const col of this.data) col.splice(0, cut);
    }
    this.plot.setData(this.data as uPlot.AlignedData);
  }

  destroy(): void {
    this.ro.disconnect();
    this.plot.destroy();
  }
}

export const IN_OUT = [
  { label: 'incoming', color: '#4dabf7' },
  { label: 'outgoing', color: '#ffd43b' },
] as const;
