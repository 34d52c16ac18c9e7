// Analyst: the funnel and the daily amounts, as charts with their numbers
// in tables, from the statistics query.

import { h, replace } from '../dom.js';
import { formatNumber, utcDay } from '../format.js';
import { dataTable, groupedBars, horizontalBars, legend } from '../chart.js';
import { field, loading, refusal } from '../ui.js';

const FUNNEL_STEPS = [
  ['requested', 'Requested'],
  ['submitted', 'Submitted'],
  ['reviewIssued', 'Review issued'],
  ['approved', 'Approved'],
  ['denied', 'Denied'],
  ['contractIssued', 'Contract issued'],
  ['signed', 'Signed'],
  ['rejected', 'Rejected'],
];

const AMOUNT_SERIES = [
  ['requestedAmount', 'Requested'],
  ['approvedAmount', 'Approved'],
  ['signedAmount', 'Signed'],
];

export async function stats(ctx) {
  const { main, api } = ctx;
  const fromDay = ctx.query.get('from') || utcDay(-29);
  const toDay = ctx.query.get('to') || utcDay(0);
  const from = field({ label: 'From (UTC day)', name: 'from', type: 'date', attrs: { value: fromDay, required: true } });
  const to = field({ label: 'To (UTC day)', name: 'to', type: 'date', attrs: { value: toDay, required: true } });
  const form = h('form', {
    class: 'filters', 'aria-label': 'Days',
    onsubmit: (event) => {
      event.preventDefault();
      ctx.navigate(`/stats?from=${from.input.value}&to=${to.input.value}`);
    },
  }, from.el, to.el, h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show')));
  const body = h('div', null, loading());
  replace(main, h('h1', null, 'Statistics'), h('section', { class: 'card' }, form), body);

  let data;
  try {
    data = await api.statistics({ fromDay, toDay });
  } catch (err) {
    replace(body, refusal(err, { title: 'The statistics cannot be shown.' }));
    return;
  }
  const funnel = data.funnel ?? {};
  const funnelValues = FUNNEL_STEPS.map(([key]) => Number(funnel[key] ?? 0));
  const days = data.days ?? [];
  const dayNames = days.map((d) => d.day);
  const series = AMOUNT_SERIES.map(([key, name]) => ({ name, values: days.map((d) => Number(d[key] ?? 0)) }));
  const total = (values) => values.reduce((a, b) => a + b, 0);
  const avg = Number(data.averageDecisionSeconds ?? 0);

  replace(body,
    h('section', { class: 'card chart-card', 'aria-labelledby': 'funnel-heading', dataset: { chart: 'funnel' } },
      h('h2', { id: 'funnel-heading' }, 'Funnel (all time)'),
      horizontalBars({
        title: 'Funnel: applications that reached each step',
        description: FUNNEL_STEPS.map(([, label], i) => `${label}: ${formatNumber(funnelValues[i])}`).join('; '),
        categories: FUNNEL_STEPS.map(([, label]) => label),
        values: funnelValues,
      }),
      h('details', { class: 'chart-data' }, h('summary', null, 'Funnel as a table'),
        dataTable({ caption: 'Applications that reached each step', columns: ['Step', 'Applications'], rows: FUNNEL_STEPS.map(([, label], i) => [label, funnelValues[i]]) }))),
    h('section', { class: 'card chart-card', 'aria-labelledby': 'amounts-heading', dataset: { chart: 'daily-amounts' } },
      h('h2', { id: 'amounts-heading' }, `Daily amounts, ${fromDay} to ${toDay}`),
      h('p', { class: 'muted' }, avg > 0 ? `Average time from submission to decision: ${formatDuration(avg)}.` : 'No decisions in these days.'),
      legend(series.map((x) => x.name)),
      groupedBars({
        title: `Amounts requested, approved and signed per day from ${fromDay} to ${toDay}`,
        description: series.map((x) => `${x.name}: ${formatNumber(total(x.values))} in total`).join('; ') + ` over ${days.length} days.`,
        categories: dayNames,
        series,
      }),
      h('details', { class: 'chart-data' }, h('summary', null, 'Daily amounts as a table'),
        dataTable({
          caption: 'Amounts per UTC day',
          columns: ['Day', ...series.map((x) => x.name)],
          rows: days.map((d, i) => [d.day, ...series.map((x) => x.values[i])]),
        }))));
}

function formatDuration(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} seconds`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} minutes`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} hours`;
  return `${(seconds / 86_400).toFixed(1)} days`;
}
