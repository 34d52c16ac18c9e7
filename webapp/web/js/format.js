// How values of the API are shown.

const money = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const number = new Intl.NumberFormat();
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

// The API's enum names (protobuf JSON) and how people read them.
export const STATUSES = {
  LOAN_STATUS_PENDING_SUBMISSION: 'Pending submission',
  LOAN_STATUS_SUBMITTED: 'Submitted',
  LOAN_STATUS_PENDING_REVIEW: 'Pending review',
  LOAN_STATUS_APPROVED: 'Approved',
  LOAN_STATUS_DENIED: 'Denied',
  LOAN_STATUS_PENDING_SIGNATURE: 'Pending signature',
  LOAN_STATUS_SIGNED: 'Signed',
  LOAN_STATUS_REJECTED: 'Rejected',
};

// Statuses no one will move on from.
export const FINAL_STATUSES = new Set(['LOAN_STATUS_DENIED', 'LOAN_STATUS_SIGNED', 'LOAN_STATUS_REJECTED']);

/** pending_review for LOAN_STATUS_PENDING_REVIEW: the short name used in data attributes and URLs. */
export function statusKey(status) {
  return (status ?? 'LOAN_STATUS_UNSPECIFIED').replace(/^LOAN_STATUS_/, '').toLowerCase();
}

export function statusLabel(status) {
  return STATUSES[status] ?? 'Unknown';
}

export function formatAmount(amount) {
  return amount === undefined || amount === null ? '—' : money.format(Number(amount));
}

export function formatNumber(n) {
  return number.format(Number(n ?? 0));
}

export function formatTime(ts) {
  return ts ? dateTime.format(new Date(ts)) : '—';
}

/** LoanRequestSubmitted → "Loan request submitted". */
export function eventLabel(type) {
  const words = String(type ?? '').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function shortId(uuid) {
  return String(uuid ?? '').slice(0, 8);
}

/** The value of an <input type="datetime-local" step="1"> for a moment, in local time. */
export function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A UTC day "2026-11-25" n days from today. */
export function utcDay(offsetDays = 0) {
  const d = new Date(Date.now() + offsetDays * 86_400_000);
  return d.toISOString().slice(0, 10);
}
