// One application: its facts, what the signed-in user may do with it now,
// and its timeline, followed live until it reaches a final status.

import { h, replace } from '../dom.js';
import { FINAL_STATUSES, shortId, statusLabel } from '../format.js';
import { facts, field, loading, refusal, timeline } from '../ui.js';

// How often an open application is read again while it may still change.
const FOLLOW_INTERVAL_MS = 2000;

export async function applicationView(ctx) {
  const { main, api, user } = ctx;
  const id = ctx.params[0];
  // The command that brought us here, if any: read what it wrote (the query
  // waits until the read model has caught up with that position).
  let consistencyToken = ctx.query.get('ct') || undefined;
  const factsBox = h('div', { class: 'facts-box' }, loading());
  const actionsBox = h('section', { class: 'card actions-card', 'aria-labelledby': 'actions-heading' });
  const outcome = h('div', { class: 'outcome', tabindex: '-1' });
  const timelineBox = h('div', null, loading());
  replace(main,
    h('h1', null, 'Application ', h('span', { class: 'mono' }, shortId(id))),
    h('p', { class: 'muted small' }, 'ID ', h('code', { class: 'app-id' }, id), ' · ',
      h('a', { href: `/time-travel?id=${id}`, 'data-link': true }, 'See it at an earlier moment (time travel)')),
    h('div', { class: 'columns' },
      h('div', null,
        h('section', { class: 'card', 'aria-labelledby': 'now-heading' }, h('h2', { id: 'now-heading' }, 'Now'), factsBox),
        actionsBox),
      h('section', { class: 'card', 'aria-labelledby': 'timeline-heading' },
        h('h2', { id: 'timeline-heading' }, 'Timeline'), timelineBox)));

  let lastStatus;
  let lastHistoryLength = -1;
  let timer;
  let stopped = false;
  ctx.onCleanup(() => {
    stopped = true;
    clearTimeout(timer);
  });

  // afterAct: the read right after this page's own command, whose outcome
  // stays shown; a change someone else made clears it, as it no longer
  // describes the application.
  async function refresh({ afterAct = false } = {}) {
    const token = consistencyToken;
    consistencyToken = undefined; // once caught up, later reads need not wait
    let app;
    let entries;
    try {
      [app, entries] = await Promise.all([api.get(id, token), api.history(id, token)]);
    } catch (err) {
      if (stopped) return;
      if (lastStatus === undefined) {
        replace(factsBox, refusal(err, { title: 'The application cannot be shown.' }));
        replace(timelineBox);
        actionsBox.hidden = true;
        return;
      }
      follow(); // a passing failure while following: try again
      return;
    }
    if (stopped) return;
    if (lastStatus !== undefined && lastStatus !== app.status) {
      ctx.announce(`Status changed to ${statusLabel(app.status)}.`);
    }
    const statusChanged = lastStatus !== app.status;
    lastStatus = app.status;
    replace(factsBox, facts(app));
    if (entries.length !== lastHistoryLength) {
      lastHistoryLength = entries.length;
      replace(timelineBox, timeline(entries, {
        onPick: (e) => ctx.navigate(`/time-travel?id=${id}&at=${encodeURIComponent(e.occurredAt)}`),
      }));
    }
    if (statusChanged && !afterAct) outcome.replaceChildren();
    if (statusChanged) renderActions(app);
    follow();
  }

  function follow() {
    clearTimeout(timer);
    if (!stopped && !FINAL_STATUSES.has(lastStatus)) timer = setTimeout(refresh, FOLLOW_INTERVAL_MS);
  }

  // After a command: show what happened, then read its own write.
  async function act(button, run, done) {
    outcome.replaceChildren();
    const buttons = actionsBox.querySelectorAll('button');
    for (const b of buttons) b.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      const result = await run();
      consistencyToken = result.commitPosition;
      outcome.replaceChildren(h('p', { class: 'success', role: 'status' }, done));
      ctx.announce(done);
      clearTimeout(timer);
      await refresh({ afterAct: true });
      return true;
    } catch (err) {
      outcome.replaceChildren(refusal(err, { title: 'Refused.' }));
      outcome.focus();
      return false;
    } finally {
      button.removeAttribute('aria-busy');
      for (const b of buttons) b.disabled = false;
    }
  }

  function renderActions(app) {
    const own = app.applicant === user.subject;
    const parts = [];
    const status = app.status;
    if (user.has('applicant') && own && status === 'LOAN_STATUS_PENDING_SUBMISSION') {
      const submit = h('button', { type: 'button', class: 'primary', onclick: () => act(submit, () => api.submit(id), 'Submitted for review.') },
        'Submit for review');
      parts.push(h('p', null, 'Check the amount and duration, then submit the request for review.'), h('div', { class: 'actions' }, submit));
    }
    if (user.has('applicant') && own && status === 'LOAN_STATUS_PENDING_SIGNATURE') {
      const reason = field({ label: 'Reason for rejecting (optional)', name: 'reject-reason', multiline: true, attrs: { rows: 2, maxlength: 1000 } });
      const sign = h('button', { type: 'button', class: 'primary', onclick: () => act(sign, () => api.signContract(id), 'Contract signed.') }, 'Sign contract');
      const reject = h('button', { type: 'button', class: 'danger', onclick: () => act(reject, () => api.rejectContract(id, reason.input.value.trim()), 'Contract rejected.') },
        'Reject contract');
      parts.push(h('p', null, 'Your loan was approved. Sign the contract to take it, or reject it.'), h('div', { class: 'actions' }, sign), reason.el, h('div', { class: 'actions' }, reject));
    }
    if (user.has('loan_officer') && status === 'LOAN_STATUS_PENDING_REVIEW') {
      const reason = field({
        label: 'Reason for denying', name: 'deny-reason', multiline: true, hint: 'Required to deny; the applicant sees it.',
        attrs: { rows: 3, maxlength: 1000 },
      });
      const approve = h('button', { type: 'button', class: 'primary', onclick: () => act(approve, () => api.approve(id), 'Loan approved.') }, 'Approve');
      const deny = h('button', {
        type: 'button', class: 'danger',
        onclick: async () => {
          reason.setError(null);
          const text = reason.input.value.trim();
          if (!text) {
            reason.setError({ reason: 'DENIAL_REASON_REQUIRED', message: '' });
            reason.input.focus();
            return;
          }
          await act(deny, () => api.deny(id, text), 'Loan denied.');
        },
      }, 'Deny');
      if (own) {
        parts.push(h('p', { class: 'notice' }, 'This is your own application: under the four-eyes rule another loan officer must decide it.'));
      }
      parts.push(h('div', { class: 'actions' }, approve), reason.el, h('div', { class: 'actions' }, deny));
    }
    if (status === 'LOAN_STATUS_SUBMITTED') parts.push(h('p', { class: 'muted' }, 'Submitted: a review is being opened…'));
    if (status === 'LOAN_STATUS_APPROVED') parts.push(h('p', { class: 'muted' }, 'Approved: the contract is being prepared…'));
    if (status === 'LOAN_STATUS_PENDING_REVIEW' && !user.has('loan_officer')) parts.push(h('p', { class: 'muted' }, 'Waiting for a loan officer to decide.'));
    if (FINAL_STATUSES.has(status)) parts.push(h('p', { class: 'muted' }, `This application is ${statusLabel(status).toLowerCase()}: nothing more can happen to it.`));
    actionsBox.hidden = false;
    replace(actionsBox, h('h2', { id: 'actions-heading' }, 'What you can do'), outcome, ...parts);
  }

  await refresh();
}
