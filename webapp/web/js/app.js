// The app's entry point: reads /config.json, completes a sign-in at
// /callback, and routes paths to views. What is offered depends on the roles
// in the access token; the services check every call again whatever the page
// shows.

import { Api } from './api.js';
import { completeSignIn, currentUser, signIn, signOut } from './auth.js';
import { h, replace } from './dom.js';
import { refusal } from './ui.js';
import { applicationView } from './views/application.js';
import { desk } from './views/desk.js';
import { myLoans } from './views/my.js';
import { stats } from './views/stats.js';
import { timeTravel } from './views/timetravel.js';

const ROUTES = [
  { path: /^\/my$/, view: myLoans, roles: ['applicant'], nav: 'My loans', href: '/my' },
  { path: /^\/desk$/, view: desk, roles: ['loan_officer', 'ops'], nav: 'Review desk', href: '/desk' },
  { path: /^\/time-travel$/, view: timeTravel, roles: ['applicant', 'loan_officer', 'ops'], nav: 'Time travel', href: '/time-travel' },
  { path: /^\/stats$/, view: stats, roles: ['analyst', 'ops'], nav: 'Statistics', href: '/stats' },
  { path: /^\/applications\/([0-9a-fA-F-]{36})$/, view: applicationView, roles: ['applicant', 'loan_officer', 'ops'] },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const announcer = document.getElementById('announcer');

let config;
let cleanups = [];
let firstRender = true;

function announce(text) {
  // Cleared first so that the same message twice is read twice.
  announcer.textContent = '';
  setTimeout(() => { announcer.textContent = text; }, 50);
}

function navigate(to, { replaceState = false } = {}) {
  if (replaceState) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  render();
}

function homeFor(user) {
  return ROUTES.find((r) => r.nav && user.has(...r.roles))?.href ?? '/';
}

function renderChrome(user) {
  const here = location.pathname;
  replace(nav, user
    ? h('ul', null, ROUTES.filter((r) => r.nav && user.has(...r.roles)).map((r) => h('li', null,
      h('a', { href: r.href, 'data-link': true, 'aria-current': here === r.href ? 'page' : null }, r.nav))))
    : null);
  replace(who, user
    ? [h('span', { class: 'user' }, h('span', { class: 'visually-hidden' }, 'Signed in as '), h('strong', null, user.name),
      ' ', h('span', { class: 'roles' }, `(${user.roles.join(', ') || 'no roles'})`)),
    h('button', { type: 'button', class: 'link-button', onclick: () => signOut(config) }, 'Sign out')]
    : null);
}

function signedOutPage(message) {
  const returnTo = location.pathname === '/' ? '/' : location.pathname + location.search;
  return [
    h('h1', null, 'Loan applications'),
    message ? h('p', { class: 'notice', role: 'status' }, message) : null,
    h('p', null, 'Request a loan and follow it, review applications, or look at the numbers: sign in to see what your roles allow.'),
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', onclick: () => signIn(config, returnTo).catch(showFatal) }, 'Sign in')),
    h('p', { class: 'muted small' }, 'Development users: ada, bo (applicants), lena (loan officer), max (officer and applicant), omar (ops), ana (analyst); the password is the user name.'),
  ];
}

function showFatal(err) {
  replace(main, h('h1', null, 'Something went wrong'), refusal({ reason: err.reason, message: err.message }));
}

async function render() {
  for (const fn of cleanups) fn();
  cleanups = [];
  const path = location.pathname;
  const query = new URLSearchParams(location.search);

  if (path === '/callback') {
    replace(main, h('h1', null, 'Signing in…'));
    try {
      const next = await completeSignIn(config, query);
      const user = currentUser();
      navigate(next === '/' && user ? homeFor(user) : next, { replaceState: true });
    } catch (err) {
      history.replaceState(null, '', '/'); // drop the code from the address bar
      renderChrome(null);
      replace(main, ...signedOutPage(err.message));
    }
    return;
  }

  const user = currentUser();
  renderChrome(user);
  if (!user) {
    replace(main, ...signedOutPage(path === '/' ? '' : 'Please sign in to continue.'));
    return;
  }
  if (path === '/') {
    navigate(homeFor(user), { replaceState: true });
    return;
  }
  const route = ROUTES.find((r) => r.path.test(path));
  if (!route) {
    replace(main, h('h1', null, 'Not found'), h('p', null, 'There is no such page. ', h('a', { href: '/', 'data-link': true }, 'Go to the start')));
  } else if (!user.has(...route.roles)) {
    replace(main, h('h1', null, 'Not for your roles'),
      h('p', null, `This page is for: ${route.roles.join(', ')}. You are signed in as ${user.name} (${user.roles.join(', ') || 'no roles'}).`));
  } else {
    const api = new Api(config, () => currentUser()?.token, () => {
      // The token expired or was refused: forget it, and offer to sign in again.
      sessionStorage.removeItem('loans.session');
      renderChrome(null);
      replace(main, ...signedOutPage('Your session has ended. Please sign in again.'));
    });
    const ctx = {
      main, user, api, query, navigate, announce,
      params: path.match(route.path).slice(1),
      onCleanup: (fn) => cleanups.push(fn),
    };
    try {
      await route.view(ctx);
    } catch (err) {
      showFatal(err);
    }
  }
  if (!firstRender) {
    // Move focus to the new page's heading so keyboard and screen-reader
    // users start there, as after a full page load.
    const heading = main.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
    }
  }
  firstRender = false;
}

// Links marked data-link navigate inside the app, without a page load.
document.addEventListener('click', (event) => {
  const link = event.target.closest?.('a[data-link]');
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', render);

async function start() {
  try {
    const res = await fetch('/config.json', { cache: 'no-store' });
    if (!res.ok) throw new Error(`/config.json answered ${res.status}`);
    config = await res.json();
  } catch (err) {
    showFatal(new Error(`The app's configuration cannot be read: ${err.message}`));
    return;
  }
  await render();
}

start();
