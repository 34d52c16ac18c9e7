// Applicant: request a loan, and the list of one's own applications.

import { h, replace } from '../dom.js';
import { formatAmount, formatTime, shortId } from '../format.js';
import { field, loading, refusal, statusBadge } from '../ui.js';

// Which field each refusal belongs next to; the others go in the summary.
const FIELD_OF = {
  AMOUNT_IS_TOO_LOW: 'amount',
  AMOUNT_IS_TOO_HIGH: 'amount',
  DURATION_IS_TOO_LOW: 'duration',
  DURATION_IS_TOO_HIGH: 'duration',
};

export async function myLoans(ctx) {
  const { main, api } = ctx;
  const amount = field({
    label: 'Amount', name: 'amount', type: 'number', hint: 'In whole currency units.',
    attrs: { inputmode: 'numeric', step: '1', required: true, autocomplete: 'off' },
  });
  const duration = field({
    label: 'Duration (months)', name: 'duration', type: 'number', hint: 'How many months to pay it back over.',
    attrs: { inputmode: 'numeric', step: '1', required: true, autocomplete: 'off', value: '24' },
  });
  const fields = { amount, duration };
  const summary = h('div', { class: 'form-summary', tabindex: '-1' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Request loan');
  // The limits are the API's to enforce (they are configurable there), so the
  // form does not second-guess them: novalidate, and every refusal is the API's.
  const form = h('form', { novalidate: true, 'aria-labelledby': 'request-heading', onsubmit: onSubmit },
    summary, amount.el, duration.el, h('div', { class: 'actions' }, button));
  const listSection = h('section', { 'aria-labelledby': 'mine-heading' }, h('h2', { id: 'mine-heading' }, 'My applications'), loading());

  replace(main,
    h('h1', null, 'My loans'),
    h('div', { class: 'columns' },
      h('section', { class: 'card', 'aria-labelledby': 'request-heading' },
        h('h2', { id: 'request-heading' }, 'Request a loan'),
        h('p', { class: 'muted' }, 'You can check the request before submitting it for review.'),
        form),
      listSection));

  async function onSubmit(event) {
    event.preventDefault();
    for (const f of Object.values(fields)) f.setError(null);
    summary.replaceChildren();
    const wanted = { amount: amount.input.value.trim(), duration: duration.input.value.trim() };
    let bad = false;
    for (const [name, value] of Object.entries(wanted)) {
      if (!/^\d+$/.test(value)) {
        fields[name].setError({ reason: '', message: 'Enter a whole number.' });
        bad = true;
      }
    }
    if (bad) {
      form.querySelector('[aria-invalid="true"]')?.focus();
      return;
    }
    button.disabled = true;
    button.textContent = 'Requesting…';
    const id = crypto.randomUUID();
    try {
      const result = await api.requestLoan({ loanApplicationUuid: id, amount: wanted.amount, duration: Number(wanted.duration) });
      ctx.announce('Loan requested.');
      ctx.navigate(`/applications/${id}?ct=${encodeURIComponent(result.commitPosition ?? '')}`);
    } catch (err) {
      const name = FIELD_OF[err.reason];
      if (name) {
        fields[name].setError(err);
        fields[name].input.focus();
      } else {
        summary.replaceChildren(refusal(err, { title: 'The loan could not be requested.' }));
        summary.focus();
      }
    } finally {
      button.disabled = false;
      button.textContent = 'Request loan';
    }
  }

  try {
    const { items } = await api.list({ pageSize: 50, order: 'LOAN_APPLICATION_ORDER_REQUESTED_AT_DESC' });
    replace(listSection, h('h2', { id: 'mine-heading' }, 'My applications'),
      items.length ? applicationsTable(items, { caption: 'Your applications, newest first', showApplicant: false })
        : h('p', { class: 'muted' }, 'You have no applications yet.'));
  } catch (err) {
    replace(listSection, h('h2', { id: 'mine-heading' }, 'My applications'), refusal(err));
  }
}

/** A table of applications linking to each one. */
export function applicationsTable(items, { caption, showApplicant = true }) {
  return h('div', { class: 'table-scroll' },
    h('table', { class: 'data applications' },
      h('caption', null, caption),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Application'),
        showApplicant ? h('th', { scope: 'col' }, 'Applicant') : null,
        h('th', { scope: 'col', class: 'num' }, 'Amount'),
        h('th', { scope: 'col', class: 'num' }, 'Months'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Requested'))),
      h('tbody', null, items.map((a) => h('tr', { dataset: { id: a.loanApplicationUuid } },
        h('th', { scope: 'row' }, h('a', {
          href: `/applications/${a.loanApplicationUuid}`, 'data-link': true, class: 'mono',
          'aria-label': `Application ${shortId(a.loanApplicationUuid)}`,
        }, shortId(a.loanApplicationUuid))),
        showApplicant ? h('td', null, a.applicant || '—') : null,
        h('td', { class: 'num' }, formatAmount(a.amount)),
        h('td', { class: 'num' }, a.duration ?? '—'),
        h('td', null, statusBadge(a.status)),
        h('td', null, formatTime(a.requestedAt)))))));
}
