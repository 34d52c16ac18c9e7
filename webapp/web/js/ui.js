// Pieces the views share: form fields with their errors, refusals in plain
// words, status badges and the timeline.

import { h, uid } from './dom.js';
import { eventLabel, formatTime, statusKey, statusLabel } from './format.js';

// The API's reasons in plain words. The API's own message is shown beside
// them, and the reason itself for whoever reports a problem.
const REASONS = {
  AMOUNT_IS_TOO_LOW: 'The amount is below the minimum the lender offers.',
  AMOUNT_IS_TOO_HIGH: 'The amount is above the maximum the lender offers.',
  DURATION_IS_TOO_LOW: 'The duration is shorter than the minimum.',
  DURATION_IS_TOO_HIGH: 'The duration is longer than the maximum.',
  SELF_APPROVAL: 'You applied for this loan yourself, so you cannot decide it: another loan officer must (four-eyes rule).',
  DENIAL_REASON_REQUIRED: 'Say why the loan is denied.',
  REASON_TOO_LONG: 'The reason is too long (at most 1000 characters).',
  ROLE_REQUIRED: 'Your roles do not allow this.',
  APPLICANT_IS_NOT_CALLER: 'You can only apply in your own name.',
  LOAN_APPLICATION_NOT_FOUND: 'No such application (or not one you may see).',
  LOAN_REQUEST_NOT_FOUND: 'No such application (or not one you may see).',
  LOAN_REQUEST_ALREADY_SUBMITTED: 'This application was already submitted.',
  LOAN_ALREADY_DECIDED: 'This application was already decided.',
  LOAN_REVIEW_NOT_FOUND: 'This application is not awaiting review yet.',
  LOAN_CONTRACT_NOT_FOUND: 'There is no contract to sign yet.',
  CONTRACT_ALREADY_CONCLUDED: 'The contract was already signed or rejected.',
  TOKEN_EXPIRED: 'Your session has expired. Please sign in again.',
  TOKEN_INVALID: 'Your session is not valid any more. Please sign in again.',
  TOKEN_MISSING: 'Please sign in.',
  IDENTITY_PROVIDER_UNAVAILABLE: 'The identity provider cannot be reached right now; try again shortly.',
  CONSISTENCY_TIMEOUT: 'The latest change is still on its way; try again in a moment.',
  SERVICE_UNREACHABLE: 'The service cannot be reached.',
};

export function explain(err) {
  const plain = REASONS[err?.reason];
  const detail = err?.message && err.message !== plain ? err.message : '';
  return { plain: plain || detail || 'Something went wrong.', detail: plain ? detail : '' };
}

/** A refusal in plain words, its API message and its reason code. */
export function refusal(err, { title } = {}) {
  const { plain, detail } = explain(err);
  return h('div', { class: 'refusal', role: 'alert', dataset: { reason: err?.reason ?? '' } },
    title ? h('p', { class: 'refusal-title' }, title) : null,
    h('p', null, plain),
    detail ? h('p', { class: 'muted' }, detail) : null,
    err?.reason ? h('p', { class: 'muted small' }, 'Reason: ', h('code', null, err.reason)) : null);
}

/**
 * A labelled input with a hint and a slot for its error, wired with
 * aria-describedby; setError marks it invalid and says why next to it.
 */
export function field({ label, name, type = 'text', hint, attrs = {}, multiline = false }) {
  const id = uid(name);
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = `${id}-error`;
  const input = h(multiline ? 'textarea' : 'input', {
    id, name, ...(multiline ? {} : { type }), 'aria-describedby': [hintId, errorId].filter(Boolean).join(' '), ...attrs,
  });
  const error = h('p', { id: errorId, class: 'field-error', hidden: true });
  const wrapper = h('div', { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { id: hintId, class: 'hint' }, hint) : null,
    input,
    error);
  return {
    el: wrapper,
    input,
    setError(err) {
      if (!err) {
        error.hidden = true;
        error.replaceChildren();
        input.removeAttribute('aria-invalid');
        return;
      }
      const { plain, detail } = explain(err);
      error.replaceChildren(plain, detail ? h('span', { class: 'muted' }, ` ${detail}`) : '',
        err.reason ? h('span', { class: 'small' }, ' (', h('code', null, err.reason), ')') : '');
      error.dataset.reason = err.reason ?? '';
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
    },
  };
}

export function statusBadge(status) {
  return h('span', { class: ['badge', `badge-${statusKey(status)}`], dataset: { status: statusKey(status) } },
    statusLabel(status));
}

export function time(ts) {
  return ts ? h('time', { datetime: ts }, formatTime(ts)) : '—';
}

/**
 * An application's history: what happened, who did it, when, and the status
 * it left. onPick(entry), when given, adds a button per entry (time travel).
 */
export function timeline(entries, { onPick, pickLabel = 'Show as it stood then' } = {}) {
  if (!entries.length) return h('p', { class: 'muted' }, 'No events yet.');
  return h('ol', { class: 'timeline', 'aria-label': 'Timeline' },
    entries.map((e) => h('li', { class: 'timeline-entry', dataset: { eventType: e.eventType ?? '' } },
      h('p', { class: 'timeline-what' }, h('strong', null, eventLabel(e.eventType)), ' ', statusBadge(e.statusAfter)),
      h('p', { class: 'timeline-meta' },
        'by ', h('span', { class: 'actor' }, e.actor || 'unknown'), ', ', time(e.occurredAt)),
      onPick ? h('button', { type: 'button', class: 'link-button', onclick: () => onPick(e) },
        pickLabel, h('span', { class: 'visually-hidden' }, `: after “${eventLabel(e.eventType)}”`)) : null)));
}

/** A definition list of an application's facts. */
export function facts(app) {
  const rows = [
    ['Status', statusBadge(app.status)],
    ['Amount', h('span', { class: 'amount' }, Number(app.amount ?? 0).toLocaleString())],
    ['Duration', `${app.duration ?? '—'} months`],
    ['Applicant', app.applicant || '—'],
    ['Requested', time(app.requestedAt)],
    ['Submitted', time(app.submittedAt)],
    ['Decided', time(app.decidedAt)],
    ['Concluded', time(app.concludedAt)],
  ];
  if (app.denialReason) rows.push(['Denial reason', app.denialReason]);
  if (app.rejectionReason) rows.push(['Rejection reason', app.rejectionReason]);
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'muted', 'aria-busy': 'true' }, text);
}
