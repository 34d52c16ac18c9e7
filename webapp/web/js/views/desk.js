// Loan officer's desk: the applications awaiting review, with filters and
// paging. The filters live in the URL (?status=…&min=…&max=…) so a desk view
// can be bookmarked and the back button works.

import { h, replace } from '../dom.js';
import { STATUSES, statusKey } from '../format.js';
import { field, loading, refusal } from '../ui.js';
import { applicationsTable } from './my.js';

const PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 100; // the query service's own cap

export async function desk(ctx) {
  const { main, api } = ctx;
  const q = ctx.query;
  // ?size=N changes the page size (links and tests); the form keeps it.
  const pageSize = Math.min(MAX_PAGE_SIZE, Math.max(1, Number.parseInt(q.get('size') ?? '', 10) || PAGE_SIZE));
  const statusParam = q.has('status') ? q.get('status') : 'pending_review';
  const statusId = 'desk-status';
  const statusSelect = h('select', { id: statusId, name: 'status' },
    h('option', { value: 'any' }, 'Any status'),
    Object.entries(STATUSES).map(([value, label]) => h('option', { value: statusKey(value) }, label)));
  statusSelect.value = statusParam;
  const min = field({ label: 'Minimum amount', name: 'min', type: 'number', attrs: { inputmode: 'numeric', min: '0', step: '1', value: q.get('min') ?? '' } });
  const max = field({ label: 'Maximum amount', name: 'max', type: 'number', attrs: { inputmode: 'numeric', min: '0', step: '1', value: q.get('max') ?? '' } });
  const form = h('form', {
    class: 'filters', 'aria-label': 'Filters',
    onsubmit: (event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      params.set('status', statusSelect.value);
      if (min.input.value) params.set('min', min.input.value);
      if (max.input.value) params.set('max', max.input.value);
      if (pageSize !== PAGE_SIZE) params.set('size', String(pageSize));
      ctx.navigate(`/desk?${params}`);
    },
  },
  h('div', { class: 'field' }, h('label', { for: statusId }, 'Status'), statusSelect),
  min.el, max.el,
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Apply filters')));
  const results = h('div', { class: 'results' }, loading());
  const count = h('p', { class: 'muted', role: 'status' });
  replace(main,
    h('h1', null, 'Review desk'),
    h('section', { class: 'card', 'aria-labelledby': 'filters-heading' }, h('h2', { id: 'filters-heading', class: 'visually-hidden' }, 'Filters'), form),
    h('section', { 'aria-labelledby': 'results-heading' }, h('h2', { id: 'results-heading' }, 'Applications'), count, results));

  // Tokens of the pages seen so far: tokens[n] opens page n+1 ('' the first).
  const tokens = [''];
  let page = 0;

  async function show() {
    replace(results, loading());
    const statusFilter = statusSelect.value === 'any' ? undefined : `LOAN_STATUS_${statusSelect.value.toUpperCase()}`;
    try {
      const { items, nextPageToken } = await api.list({
        statuses: statusFilter, minAmount: q.get('min') ?? undefined, maxAmount: q.get('max') ?? undefined,
        pageSize, pageToken: tokens[page] || undefined, order: 'LOAN_APPLICATION_ORDER_REQUESTED_AT_ASC',
      });
      tokens[page + 1] = nextPageToken;
      const prev = h('button', { type: 'button', disabled: page === 0, onclick: () => { page -= 1; show(); } }, 'Previous page');
      const next = h('button', { type: 'button', disabled: !nextPageToken, onclick: () => { page += 1; show(); } }, 'Next page');
      count.textContent = items.length
        ? `Page ${page + 1}: ${items.length} application${items.length === 1 ? '' : 's'}${nextPageToken ? ', more on the next page' : ''}.`
        : 'No applications match these filters.';
      replace(results,
        items.length ? applicationsTable(items, { caption: `Applications, oldest request first (page ${page + 1})` }) : null,
        h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, next));
    } catch (err) {
      count.textContent = '';
      replace(results, refusal(err, { title: 'The applications cannot be listed.' }));
    }
  }
  await show();
}
