// Browser journeys through the loans web app against the real processes.
// Run by webapp/e2e_test.go (which starts the system) as
//
//   BASE_URL=http://127.0.0.1:5173 SCREENSHOT_DIR=/tmp/shots node journeys.mjs
//
// playwright-core drives the system's Chromium (CHROMIUM, default
// /usr/bin/chromium); no browser is downloaded. Every wait is Playwright's
// own (auto-waiting actions, waitFor/waitForURL with a timeout); nothing
// sleeps for a fixed time. Exit status 0 when every journey passed.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE_URL = (process.env.BASE_URL ?? 'http://127.0.0.1:5173').replace(/\/$/, '');
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR ?? 'screenshots';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
// The process managers move an application on asynchronously (submitted →
// pending review, approved → pending signature): allow them time on a busy
// two-core machine.
const ASYNC_TIMEOUT = 30_000;
const TIMEOUT = 15_000;

mkdirSync(SCREENSHOT_DIR, { recursive: true });
const config = await (await fetch(`${BASE_URL}/config.json`)).json();
const allowedOrigins = new Set([BASE_URL, config.commandUrl, config.queryUrl, config.issuerUrl].map((u) => new URL(u).origin));

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  // The flags Debian's Chromium needs here: without the networking ones it
  // keeps dialling out and is refused. Playwright gives it a fresh profile
  // (--user-data-dir) of its own per launch.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const problems = []; // console errors, CSP violations, requests leaving the system
const screenshots = [];
let failed = 0;
let shot = 0;

async function newUserPage(name, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  page.on('console', (msg) => {
    // A refused call is logged by the browser as a failed resource load: the
    // app shows those itself, and the journeys check that it does.
    if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of (4\d\d)/.test(msg.text())) {
      problems.push(`${name}: console error: ${msg.text()}`);
    }
  });
  page.on('pageerror', (err) => problems.push(`${name}: page error: ${err.message}`));
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (!['data:', 'blob:'].includes(url.protocol) && !allowedOrigins.has(url.origin)) {
      problems.push(`${name}: request beyond the system: ${req.url()}`);
    }
  });
  return page;
}

async function screenshot(page, name, what) {
  shot += 1;
  const file = join(SCREENSHOT_DIR, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  screenshots.push(file);
  console.log(`# screenshot ${file}: ${what}`);
}

async function journey(name, page, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`not ok - ${name}\n  ${String(err.stack ?? err).split('\n').join('\n  ')}`);
    if (page) {
      await screenshot(page, `FAILED-${name.replace(/\W+/g, '-')}`, `the page when "${name}" failed (${page.url()})`).catch(() => {});
    }
  }
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function signIn(page, user) {
  await page.goto(`${BASE_URL}/`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The development identity provider's login page.
  await page.waitForURL((url) => url.origin === new URL(config.issuerUrl).origin);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(user);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => url.origin === BASE_URL && url.pathname !== '/callback');
  await page.locator('#who').getByText(user, { exact: true }).waitFor();
}

const statusNow = (page, key) => page.locator(`.facts [data-status="${key}"]`);

// Requests a loan through the form and submits it; returns its ID once it
// awaits review.
async function requestAndSubmit(page, amount, duration) {
  await page.getByLabel('Amount').fill(String(amount));
  await page.getByLabel('Duration (months)').fill(String(duration));
  await page.getByRole('button', { name: 'Request loan' }).click();
  await page.waitForURL(/\/applications\/[0-9a-f-]{36}/);
  await statusNow(page, 'pending_submission').waitFor();
  const id = new URL(page.url()).pathname.split('/').pop();
  await page.getByRole('button', { name: 'Submit for review' }).click();
  await statusNow(page, 'pending_review').waitFor({ timeout: ASYNC_TIMEOUT });
  return id;
}

// ---- the journeys ----

const ada = await newUserPage('ada');
let adaLoan;

await journey('applicant: sign in, a refused amount shown at its field, request, submit, see pending review', ada, async () => {
  await signIn(ada, 'ada');
  check(new URL(ada.url()).pathname === '/my', `ada lands on ${ada.url()}, want /my`);
  // Keyboard: the first Tab reaches the skip link.
  await ada.keyboard.press('Tab');
  check(await ada.evaluate(() => document.activeElement?.textContent) === 'Skip to content', 'the first Tab does not reach the skip link');
  await screenshot(ada, 'applicant-my-loans', 'ada (applicant) signed in: the request form and her applications');

  await ada.getByLabel('Amount').fill('100');
  await ada.getByLabel('Duration (months)').fill('24');
  await ada.getByRole('button', { name: 'Request loan' }).click();
  const amountField = ada.locator('.field').filter({ has: ada.getByLabel('Amount') });
  await amountField.locator('.field-error[data-reason="AMOUNT_IS_TOO_LOW"]').waitFor();
  check(await ada.getByLabel('Amount').getAttribute('aria-invalid') === 'true', 'the amount field is not marked invalid');
  check(await ada.getByLabel('Amount').evaluate((el) => el === document.activeElement), 'focus is not on the refused field');
  check(await ada.locator('.form-summary .refusal').count() === 0, 'the amount refusal went to the summary, not the field');
  await screenshot(ada, 'applicant-amount-refused', 'the API\'s AMOUNT_IS_TOO_LOW refusal of 100 shown next to the amount field');

  adaLoan = await requestAndSubmit(ada, 1200, 24);
  await ada.locator('.timeline-entry[data-event-type="LoanReviewIssued"]').waitFor();
  await screenshot(ada, 'applicant-pending-review', 'ada\'s application of 1200 submitted and awaiting review, with its timeline');
});

const lena = await newUserPage('lena');
await journey('loan officer: the desk lists it, its timeline says who did what, approve', lena, async () => {
  check(adaLoan, 'no application from the applicant\'s journey');
  await signIn(lena, 'lena');
  check(new URL(lena.url()).pathname === '/desk', `lena lands on ${lena.url()}, want /desk`);
  check(await lena.getByLabel('Status').inputValue() === 'pending_review', 'the desk does not filter on pending review by default');
  const row = lena.locator(`tr[data-id="${adaLoan}"]`);
  await row.waitFor();
  // Filters: an amount range that leaves it out, then one that keeps it.
  await lena.getByLabel('Minimum amount').fill('5000');
  await lena.getByRole('button', { name: 'Apply filters' }).click();
  await lena.getByText('No applications match these filters.').waitFor();
  await lena.getByLabel('Minimum amount').fill('1000');
  await lena.getByLabel('Maximum amount').fill('1500');
  await lena.getByRole('button', { name: 'Apply filters' }).click();
  await row.waitFor();
  await screenshot(lena, 'officer-desk', 'lena\'s review desk filtered to pending review, 1000 to 1500: ada\'s application');

  await row.getByRole('link').click();
  await lena.waitForURL(`**/applications/${adaLoan}`);
  const requested = lena.locator('.timeline-entry[data-event-type="LoanRequested"]');
  await requested.locator('.actor', { hasText: 'ada' }).waitFor();
  await requested.locator('time').waitFor();
  // Deny needs a reason: refused before anything is sent.
  await lena.getByRole('button', { name: 'Deny' }).click();
  await lena.locator('.field-error[data-reason="DENIAL_REASON_REQUIRED"]').waitFor();
  await lena.getByRole('button', { name: 'Approve' }).click();
  await lena.getByText('Loan approved.', { exact: true }).first().waitFor();
  await statusNow(lena, 'pending_signature').waitFor({ timeout: ASYNC_TIMEOUT });
  await lena.locator('.timeline-entry[data-event-type="LoanApproved"] .actor', { hasText: 'lena' }).waitFor();
  await screenshot(lena, 'officer-approved', 'lena approved it: pending signature, the timeline shows who did what and when');
});

const max = await newUserPage('max');
await journey('four eyes: max cannot approve his own application (SELF_APPROVAL shown)', max, async () => {
  await signIn(max, 'max');
  await max.goto(`${BASE_URL}/my`);
  await requestAndSubmit(max, 2000, 12);
  await max.getByText('This is your own application').waitFor();
  await max.getByRole('button', { name: 'Approve' }).click();
  const refused = max.locator('.refusal[data-reason="SELF_APPROVAL"]');
  await refused.waitFor();
  check(/four-eyes/.test(await refused.textContent()), 'the SELF_APPROVAL refusal does not say why in plain words');
  check(await statusNow(max, 'pending_review').count() === 1, 'the refused approval changed the status');
  await screenshot(max, 'officer-self-approval-refused', 'max (officer and applicant) approving his own loan: the four-eyes refusal');
});

await journey('loan officer: the desk pages through every application', lena, async () => {
  // Two applications (ada's and max's), one a page.
  await lena.goto(`${BASE_URL}/desk?status=any&size=1`);
  const rows = lena.locator('table.applications tbody tr');
  await lena.getByText('Page 1: 1 application, more on the next page.').waitFor();
  const first = await rows.first().getAttribute('data-id');
  await lena.getByRole('button', { name: 'Next page' }).click();
  await lena.getByText('Page 2: 1 application.').waitFor();
  const second = await rows.first().getAttribute('data-id');
  check(first !== second, 'page 2 repeats page 1');
  check(await lena.getByRole('button', { name: 'Next page' }).isDisabled(), 'a next page after the last');
  await lena.getByRole('button', { name: 'Previous page' }).click();
  await lena.locator(`table.applications tbody tr[data-id="${first}"]`).waitFor();
});

await journey('applicant: follows the status to pending signature and signs', ada, async () => {
  // ada's page still shows her application: it follows the status by itself.
  await statusNow(ada, 'pending_signature').waitFor({ timeout: ASYNC_TIMEOUT });
  await ada.locator('#announcer', { hasText: 'Status changed to' }).waitFor();
  await ada.getByRole('button', { name: 'Sign contract' }).click();
  await statusNow(ada, 'signed').waitFor();
  await ada.locator('.timeline-entry[data-event-type="ContractSigned"]').waitFor();
  await screenshot(ada, 'applicant-signed', 'ada signed the contract: the whole timeline');
});

await journey('time travel: the application as it stood at an earlier moment, beside its timeline', ada, async () => {
  await ada.locator('.timeline-entry[data-event-type="LoanRequested"]').getByRole('button').click();
  await ada.waitForURL(/\/time-travel\?/);
  await ada.locator('.as-of [data-status="pending_submission"]').waitFor();
  await ada.locator('.timeline-entry[data-event-type="ContractSigned"]').waitFor();
  await screenshot(ada, 'time-travel', 'ada\'s application as it stood right after it was requested (pending submission), beside its timeline');
  // The moment right after the approval, from the timeline beside it.
  await ada.locator('.timeline-entry[data-event-type="LoanApproved"]').getByRole('button').click();
  await ada.locator('.as-of [data-status="approved"]').waitFor();
});

await journey('loan officer: denies with a reason; the applicant reads it, and nothing more can happen', lena, async () => {
  await ada.goto(`${BASE_URL}/my`);
  const denied = await requestAndSubmit(ada, 900, 6);
  await lena.goto(`${BASE_URL}/applications/${denied}`);
  await lena.getByLabel('Reason for denying').fill('The repayments would exceed a third of the declared income.');
  await lena.getByRole('button', { name: 'Deny' }).click();
  await lena.getByText('Loan denied.', { exact: true }).first().waitFor();
  await statusNow(lena, 'denied').waitFor({ timeout: ASYNC_TIMEOUT });
  await lena.locator('.timeline-entry[data-event-type="LoanDenied"] .actor', { hasText: 'lena' }).waitFor();
  // ada's page follows the status by itself and shows the officer's reason.
  await statusNow(ada, 'denied').waitFor({ timeout: ASYNC_TIMEOUT });
  await ada.getByText('The repayments would exceed a third of the declared income.').first().waitFor();
  await ada.getByText('nothing more can happen to it').waitFor();
  check(await ada.getByText('Submitted for review.').count() === 0, 'ada\'s page still says "Submitted for review." after lena denied it');
  check(await ada.getByRole('button', { name: 'Sign contract' }).count() === 0, 'a denied application offers to sign');
  await screenshot(ada, 'applicant-denied', 'ada\'s application of 900 denied by lena: the reason beside the status, the timeline');
});

await journey('applicant: rejects the contract with a reason', ada, async () => {
  await ada.goto(`${BASE_URL}/my`);
  const rejected = await requestAndSubmit(ada, 25000, 60);
  await lena.goto(`${BASE_URL}/applications/${rejected}`);
  await lena.getByRole('button', { name: 'Approve' }).click();
  await lena.getByText('Loan approved.', { exact: true }).first().waitFor();
  await statusNow(ada, 'pending_signature').waitFor({ timeout: ASYNC_TIMEOUT });
  await ada.getByLabel('Reason for rejecting (optional)').fill('I found a lower rate elsewhere.');
  await ada.getByRole('button', { name: 'Reject contract' }).click();
  await ada.getByText('Contract rejected.', { exact: true }).first().waitFor();
  await statusNow(ada, 'rejected').waitFor({ timeout: ASYNC_TIMEOUT });
  await ada.locator('.timeline-entry[data-event-type="ContractRejected"] .actor', { hasText: 'ada' }).waitFor();
  await ada.getByText('I found a lower rate elsewhere.').first().waitFor();
  await screenshot(ada, 'applicant-rejected', 'ada rejected the contract of her approved 25000 loan: the reason and the timeline');
});

await journey('phone: the application page on a small screen', null, async () => {
  const phone = await newUserPage('ada-phone', { width: 390, height: 844 });
  await signIn(phone, 'ada');
  await phone.goto(`${BASE_URL}/applications/${adaLoan}`);
  await statusNow(phone, 'signed').waitFor();
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 0, `the page is ${overflow}px wider than the phone's screen`);
  await screenshot(phone, 'phone-application', 'ada\'s signed application on a 390px-wide phone screen');
  await phone.context().close();
});

const omar = await newUserPage('omar');
await journey('operations: omar reads the desk and an application awaiting review, and is offered no decision', omar, async () => {
  await signIn(omar, 'omar');
  check(new URL(omar.url()).pathname === '/desk', `omar lands on ${omar.url()}, want /desk`);
  // max's own application still awaits review (his approval was refused).
  const row = omar.locator('table.applications tbody tr').first();
  await row.waitFor();
  await row.getByRole('link').click();
  await omar.waitForURL(/\/applications\/[0-9a-f-]{36}/);
  await statusNow(omar, 'pending_review').waitFor();
  await omar.getByText('Waiting for a loan officer to decide.').waitFor();
  check(await omar.getByRole('button', { name: 'Approve' }).count() === 0, 'ops is offered to approve');
  check(await omar.getByRole('button', { name: 'Deny' }).count() === 0, 'ops is offered to deny');
  await omar.locator('.timeline-entry[data-event-type="LoanRequested"] .actor', { hasText: 'max' }).waitFor();
  await screenshot(omar, 'ops-application', 'omar (ops) reading an application awaiting review: its timeline, no decision offered');
});

const ana = await newUserPage('ana');
await journey('analyst: the funnel and the daily amounts as charts, with their tables', ana, async () => {
  await signIn(ana, 'ana');
  check(new URL(ana.url()).pathname === '/stats', `ana lands on ${ana.url()}, want /stats`);
  const funnel = ana.locator('[data-chart="funnel"]');
  const chart = funnel.locator('svg[role="img"]');
  await chart.waitFor();
  const label = await chart.evaluate((svg) => svg.getAttribute('aria-labelledby').split(' ')
    .map((id) => document.getElementById(id)?.textContent).join(' '));
  const requested = Number(/Requested: (\d+)/.exec(label)?.[1]);
  check(requested >= 4, `the funnel chart's text alternative does not count the four requests: ${label}`);
  check(await funnel.locator('rect').count() === 8, 'the funnel does not have a bar per step');
  await funnel.getByText('Funnel as a table').click();
  const requestedRow = funnel.getByRole('row', { name: /Requested/ });
  await requestedRow.waitFor();
  check(Number((await requestedRow.locator('td').textContent()).trim()) === requested, 'the funnel table and chart disagree');
  const daily = ana.locator('[data-chart="daily-amounts"]');
  await daily.locator('svg[role="img"]').waitFor();
  await daily.getByText('Daily amounts as a table').click();
  await daily.getByRole('table').waitFor();
  await screenshot(ana, 'analyst-statistics', 'ana (analyst): the funnel and daily amounts charts, their tables open');
});

await journey('roles: a page the token\'s roles do not allow is refused', ana, async () => {
  await ana.goto(`${BASE_URL}/desk`);
  await ana.getByRole('heading', { name: 'Not for your roles' }).waitFor();
  await screenshot(ana, 'analyst-desk-refused', 'ana (analyst) opening the review desk: refused for her roles');
});

await journey('sign out: the tokens are gone and the page offers to sign in', ana, async () => {
  await ana.getByRole('button', { name: 'Sign out' }).click();
  await ana.waitForURL(`${BASE_URL}/`);
  await ana.getByRole('button', { name: 'Sign in' }).waitFor();
  check(await ana.evaluate(() => sessionStorage.getItem('loans.session')) === null, 'the session is still stored');
});

await journey('no console errors, CSP violations or requests beyond the system', null, async () => {
  check(problems.length === 0, problems.join('\n'));
});

await browser.close();
console.log(`# ${screenshots.length} screenshots in ${SCREENSHOT_DIR}`);
console.log(failed ? `# FAILED: ${failed} journey(s)` : '# all journeys passed');
process.exit(failed ? 1 : 0);
