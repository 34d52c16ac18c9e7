// Bar charts as inline SVG, with no chart library. Each chart is an image
// for assistive technology (role="img", a title and a description) and comes
// with the same numbers as a table (dataTable), so nothing is only in the
// picture. Colours come from CSS classes (series-0, series-1, …).

import { h, s, uid } from './dom.js';
import { formatNumber } from './format.js';

/** A "nice" upper bound for an axis: 1, 2, 2.5 or 5 times a power of ten, at least max. */
export function niceMax(max) {
  if (!(max > 0)) return 1;
  const pow = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * pow >= max) return m * pow;
  }
  return 10 * pow;
}

/** The tick values of an axis from 0 to top, count intervals. */
export function ticks(top, count = 4) {
  return Array.from({ length: count + 1 }, (_, i) => (top * i) / count);
}

function chartFrame({ title, description, width, height }, ...content) {
  const titleId = uid('chart-title');
  const descId = uid('chart-desc');
  return s('svg', {
    class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-labelledby': `${titleId} ${descId}`, preserveAspectRatio: 'xMidYMid meet',
  }, s('title', { id: titleId }, title), s('desc', { id: descId }, description), ...content);
}

/**
 * Horizontal bars, one per category: the funnel.
 * @param {{title: string, description: string, categories: string[], values: number[]}} opts
 */
export function horizontalBars({ title, description, categories, values }) {
  const labelWidth = 140;
  const barHeight = 26;
  const gap = 10;
  const width = 640;
  const plotWidth = width - labelWidth - 70;
  const height = categories.length * (barHeight + gap) + gap;
  const top = niceMax(Math.max(0, ...values));
  return chartFrame({ title, description, width, height },
    categories.map((name, i) => {
      const y = gap + i * (barHeight + gap);
      const w = Math.max(values[i] > 0 ? 2 : 0, (values[i] / top) * plotWidth);
      return s('g', { class: 'bar' },
        s('text', { x: labelWidth - 8, y: y + barHeight / 2, class: 'chart-label', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, name),
        s('rect', { x: labelWidth, y, width: w.toFixed(1), height: barHeight, class: 'series-0', rx: 3 }),
        s('text', { x: labelWidth + w + 6, y: y + barHeight / 2, class: 'chart-value', 'dominant-baseline': 'middle' }, formatNumber(values[i])));
    }));
}

/**
 * Vertical grouped bars, one group per category (a day), one bar per series.
 * @param {{title: string, description: string, categories: string[], series: {name: string, values: number[]}[]}} opts
 */
export function groupedBars({ title, description, categories, series }) {
  const width = 720;
  const height = 300;
  const margin = { top: 16, right: 12, bottom: 56, left: 72 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const top = niceMax(Math.max(0, ...series.flatMap((x) => x.values)));
  const groupW = plotW / Math.max(1, categories.length);
  const barW = Math.max(1, (groupW * 0.8) / series.length);
  const y = (v) => margin.top + plotH - (v / top) * plotH;
  // Label every day when there is room, else about ten of them.
  const every = Math.max(1, Math.ceil(categories.length / 10));
  return chartFrame({ title, description, width, height },
    ticks(top).map((t) => s('g', { class: 'tick' },
      s('line', { x1: margin.left, x2: width - margin.right, y1: y(t), y2: y(t), class: 'grid' }),
      s('text', { x: margin.left - 6, y: y(t), class: 'chart-axis', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, formatNumber(t)))),
    categories.map((cat, i) => {
      const gx = margin.left + i * groupW + groupW * 0.1;
      return s('g', { class: 'group' },
        series.map((ser, j) => {
          const v = ser.values[i] ?? 0;
          return s('rect', {
            x: (gx + j * barW).toFixed(1), y: y(v).toFixed(1), width: Math.max(0.5, barW - 1).toFixed(1),
            height: (margin.top + plotH - y(v)).toFixed(1), class: `series-${j}`,
          }, s('title', null, `${cat}, ${ser.name}: ${formatNumber(v)}`));
        }),
        i % every === 0
          ? s('text', {
            x: gx + (groupW * 0.8) / 2, y: height - margin.bottom + 14, class: 'chart-axis', 'text-anchor': 'end',
            transform: `rotate(-40 ${gx + (groupW * 0.8) / 2} ${height - margin.bottom + 14})`,
          }, cat.slice(5))
          : null);
    }),
    s('line', { x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0), class: 'axis' }));
}

/** A legend for series, as a list (readable without the chart). */
export function legend(names) {
  return h('ul', { class: 'legend' },
    names.map((name, i) => h('li', null, h('span', { class: ['swatch', `series-${i}`], 'aria-hidden': 'true' }), name)));
}

/** The numbers of a chart as a table. */
export function dataTable({ caption, columns, rows }) {
  return h('div', { class: 'table-scroll' },
    h('table', { class: 'data' },
      h('caption', null, caption),
      h('thead', null, h('tr', null, columns.map((c, i) => h('th', { scope: 'col', class: i ? 'num' : null }, c)))),
      h('tbody', null, rows.map((r) => h('tr', null,
        r.map((cell, i) => (i === 0 ? h('th', { scope: 'row' }, cell) : h('td', { class: 'num' }, formatNumber(cell)))))))));
}
