// Time travel: an application as it stood at a chosen moment (the as-of
// query replays its history up to then), beside its timeline, whose entries
// each take you to the moment right after them.

import { h, replace } from '../dom.js';
import { formatTime, shortId, toLocalInput } from '../format.js';
import { facts, field, loading, refusal, timeline } from '../ui.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function timeTravel(ctx) {
  const { main, api } = ctx;
  const id = (ctx.query.get('id') ?? '').trim();
  // `at` keeps the full precision of a timeline entry's time; the input
  // shows it to the second.
  const at = ctx.query.get('at') ?? '';
  const idField = field({ label: 'Application ID', name: 'id', hint: 'The UUID shown on the application\'s page.', attrs: { value: id, autocomplete: 'off', spellcheck: 'false', required: true } });
  const atField = field({ label: 'Moment (your local time)', name: 'at', type: 'datetime-local', attrs: { step: '1', required: true, value: at ? toLocalInput(new Date(at)) : toLocalInput(new Date()) } });
  const form = h('form', {
    class: 'filters', novalidate: true, 'aria-label': 'Application and moment',
    onsubmit: (event) => {
      event.preventDefault();
      idField.setError(null);
      atField.setError(null);
      const wantedId = idField.input.value.trim();
      if (!UUID.test(wantedId)) {
        idField.setError({ reason: '', message: 'Enter the application\'s full ID (a UUID).' });
        idField.input.focus();
        return;
      }
      const local = atField.input.value;
      const moment = local ? new Date(local) : null;
      if (!moment || Number.isNaN(moment.getTime())) {
        atField.setError({ reason: '', message: 'Choose a date and a time.' });
        atField.input.focus();
        return;
      }
      // The entry's exact time when the input still shows it, else the input's.
      const exact = at && toLocalInput(new Date(at)) === local ? at : moment.toISOString();
      ctx.navigate(`/time-travel?id=${wantedId}&at=${encodeURIComponent(exact)}`);
    },
  }, idField.el, atField.el, h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Show')));

  const thenBox = h('section', { class: 'card', 'aria-labelledby': 'then-heading' });
  const timelineBox = h('section', { class: 'card', 'aria-labelledby': 'tt-timeline-heading' });
  replace(main,
    h('h1', null, 'Time travel'),
    h('section', { class: 'card' }, h('p', { class: 'muted' }, 'See an application exactly as it stood at any moment, rebuilt from its events.'), form),
    h('div', { class: 'columns' }, thenBox, timelineBox));
  if (!UUID.test(id)) {
    thenBox.hidden = true;
    timelineBox.hidden = true;
    return;
  }
  const moment = at || new Date().toISOString();
  replace(thenBox, h('h2', { id: 'then-heading' }, 'As it stood at ', h('time', { datetime: moment }, formatTime(moment))), loading());
  replace(timelineBox, h('h2', { id: 'tt-timeline-heading' }, 'Timeline of ', h('span', { class: 'mono' }, shortId(id))), loading());

  const [then, entries] = await Promise.allSettled([api.asOf(id, moment), api.history(id)]);
  const thenHeading = h('h2', { id: 'then-heading' }, 'As it stood at ', h('time', { datetime: moment }, formatTime(moment)));
  if (then.status === 'fulfilled') {
    replace(thenBox, thenHeading, h('div', { class: 'as-of' }, facts(then.value)),
      h('p', null, h('a', { href: `/applications/${id}`, 'data-link': true }, 'Open the application as it is now')));
  } else if (then.reason?.status === 404 && entries.status === 'fulfilled') {
    replace(thenBox, thenHeading, h('p', { class: 'notice', role: 'status' }, 'It had not been requested yet at that moment.'));
  } else {
    replace(thenBox, thenHeading, refusal(then.reason));
  }
  const timelineHeading = h('h2', { id: 'tt-timeline-heading' }, 'Timeline of ', h('span', { class: 'mono' }, shortId(id)));
  if (entries.status === 'fulfilled') {
    replace(timelineBox, timelineHeading, timeline(entries.value, {
      pickLabel: 'Travel to right after this',
      onPick: (e) => ctx.navigate(`/time-travel?id=${id}&at=${encodeURIComponent(e.occurredAt)}`),
    }));
  } else {
    replace(timelineBox, timelineHeading, refusal(entries.reason));
  }
}
