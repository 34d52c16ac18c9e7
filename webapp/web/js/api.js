// The loans API through its public REST bridges (gen/openapi/loans.swagger.json):
// protobuf JSON bodies in camelCase; errors are google.rpc.Status whose
// details carry a google.rpc.ErrorInfo with the stable reason.

/** A refusal or failure of the API, with its reason (AMOUNT_IS_TOO_LOW, SELF_APPROVAL, …). */
export class ApiError extends Error {
  constructor({ status = 0, code, reason = 'UNKNOWN', message, metadata = {} }) {
    super(message || reason);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.reason = reason;
    this.metadata = metadata;
  }
}

const ERROR_INFO = 'type.googleapis.com/google.rpc.ErrorInfo';

export function errorFromStatus(httpStatus, body) {
  const info = (body?.details ?? []).find((d) => d?.['@type'] === ERROR_INFO) ?? {};
  return new ApiError({
    status: httpStatus,
    code: body?.code,
    reason: info.reason || (httpStatus === 401 ? 'TOKEN_INVALID' : `HTTP_${httpStatus}`),
    message: body?.message || `The service answered ${httpStatus}.`,
    metadata: info.metadata ?? {},
  });
}

export class Api {
  /**
   * @param {{commandUrl: string, queryUrl: string}} config
   * @param {() => string | undefined} token the current access token
   * @param {(err: ApiError) => void} onUnauthenticated called on 401 (token expired or refused)
   */
  constructor(config, token, onUnauthenticated = () => {}) {
    this.config = config;
    this.token = token;
    this.onUnauthenticated = onUnauthenticated;
  }

  async call(base, method, path, { query, body } = {}) {
    const url = new URL(base.replace(/\/$/, '') + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      for (const v of [value].flat()) {
        if (v !== undefined && v !== null && v !== '') url.searchParams.append(key, String(v));
      }
    }
    const headers = { Accept: 'application/json' };
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError({
        reason: 'SERVICE_UNREACHABLE',
        message: `Cannot reach ${new URL(base).host}. Is the system running, and does it allow this page's origin (CORS)?`,
      });
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = errorFromStatus(res.status, data);
      if (res.status === 401) this.onUnauthenticated(err);
      throw err;
    }
    return data;
  }

  command(path, body) {
    return this.call(this.config.commandUrl, 'POST', path, { body }).then((r) => r.result ?? {});
  }

  query(path, query) {
    return this.call(this.config.queryUrl, 'GET', path, { query });
  }

  // ---- commands: each returns the CommandResult, whose commitPosition reads our own writes ----

  requestLoan({ loanApplicationUuid, amount, duration }) {
    return this.command('/v1/loan-applications', { loanApplicationUuid, amount: String(amount), duration });
  }

  submit(id) {
    return this.command(`/v1/loan-applications/${encodeURIComponent(id)}:submit`, {});
  }

  approve(id) {
    return this.command(`/v1/loan-applications/${encodeURIComponent(id)}:approve`, {});
  }

  deny(id, reason) {
    return this.command(`/v1/loan-applications/${encodeURIComponent(id)}:deny`, { reason });
  }

  signContract(id) {
    return this.command(`/v1/loan-applications/${encodeURIComponent(id)}:sign-contract`, {});
  }

  rejectContract(id, reason) {
    return this.command(`/v1/loan-applications/${encodeURIComponent(id)}:reject-contract`, { reason });
  }

  // ---- queries: a consistencyToken makes the query wait until the read model has caught up with it ----

  get(id, consistencyToken) {
    return this.query(`/v1/loan-applications/${encodeURIComponent(id)}`, { consistencyToken })
      .then((r) => r.loanApplication);
  }

  history(id, consistencyToken) {
    return this.query(`/v1/loan-applications/${encodeURIComponent(id)}/history`, { consistencyToken })
      .then((r) => r.entries ?? []);
  }

  asOf(id, at) {
    return this.query(`/v1/loan-applications/${encodeURIComponent(id)}/as-of`, { at })
      .then((r) => r.loanApplication);
  }

  list({ statuses, minAmount, maxAmount, pageSize, pageToken, order, consistencyToken } = {}) {
    return this.query('/v1/loan-applications', { statuses, minAmount, maxAmount, pageSize, pageToken, order, consistencyToken })
      .then((r) => ({ items: r.loanApplications ?? [], nextPageToken: r.nextPageToken ?? '' }));
  }

  statistics({ fromDay, toDay }) {
    return this.query('/v1/loan-statistics', { fromDay, toDay });
  }
}
