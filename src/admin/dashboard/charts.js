// Small charts of a service over the last five minutes, one point a second,
// drawn by uPlot (served from node_modules at /dashboard/vendor/).
import uPlot from './vendor/uPlot.esm.js';
import { fmtBytes, fmtNumber } from './format.js';

export const WINDOW_S = 300;

/** A rolling series: times (s) and one value per time. */
export class Series {
  constructor() {
    this.t = [];
    this.v = [];
  }
  push(t, v) {
    this.t.push(t);
    this.v.push(v);
    while (this.t.length > 0 && this.t[0] < t - WINDOW_S) {
      this.t.shift();
      this.v.shift();
    }
  }
}

const hms = (t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false });

export function chart(el, { label, stroke, fill, bytes }) {
  const fmt = bytes ? (v) => `${fmtBytes(v)}/s` : (v) => fmtNumber(v);
  const opts = {
    width: 340,
    height: 110,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [
      { stroke: '#8a94a6', grid: { stroke: '#2a3140', width: 1 }, ticks: { show: false }, size: 24, font: '10px system-ui', values: (_u, ticks) => ticks.map(hms) },
      { stroke: '#8a94a6', grid: { stroke: '#2a3140', width: 1 }, ticks: { show: false }, size: 56, font: '10px system-ui', values: (_u, ticks) => ticks.map(fmt) },
    ],
    series: [{}, { label, stroke, fill, width: 1.5, points: { show: false } }],
  };
  const plot = new uPlot(opts, [[], []], el);
  return {
    update(series) {
      plot.setData([series.t, series.v]);
    },
  };
}
