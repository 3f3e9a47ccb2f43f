// The REST client. The session lives in the HttpOnly `confab_session` cookie,
// so the UI never sees or stores a token: every call simply sends cookies.

/** An error answer from the server (`{"error":{"code","message"}}`) or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    /** Seconds from a 429's Retry-After header, or null. */
    this.retryAfter = retryAfter;
  }
}

let onUnauthorized = () => {};

/** Registers the handler called when a call that needs a session gets 401 (session expired or logged out elsewhere). */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

async function request(method, path, body, { expect401 = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    // Non-JSON body (e.g. a proxy error page): handled below by status.
  }
  if (!res.ok) {
    const err = data?.error ?? {};
    const retryAfter = Number.parseInt(res.headers.get('Retry-After') ?? '', 10);
    const apiError = new ApiError(
      res.status,
      err.code ?? `http_${res.status}`,
      err.message ?? res.statusText,
      Number.isFinite(retryAfter) ? retryAfter : null,
    );
    if (res.status === 401 && !expect401) onUnauthorized(apiError);
    throw apiError;
  }
  return data;
}

const enc = encodeURIComponent;

export const api = {
  /** The signed-in user, or null when there is no valid session. */
  async me() {
    try {
      return (await request('GET', '/api/auth/me', undefined, { expect401: true })).user;
    } catch (e) {
      if (e.status === 401) return null;
      throw e;
    }
  },
  register: (username, password) =>
    request('POST', '/api/auth/register', { username, password }, { expect401: true }),
  login: (username, password) => request('POST', '/api/auth/login', { username, password }, { expect401: true }),
  logout: () => request('POST', '/api/auth/logout', undefined, { expect401: true }),

  listRooms: async () => (await request('GET', '/api/rooms')).rooms,
  createRoom: (name) => request('POST', '/api/rooms', { name }),
  getRoom: (id) => request('GET', `/api/rooms/${enc(id)}`),
  deleteRoom: (id) => request('DELETE', `/api/rooms/${enc(id)}`),

  /** Messages oldest first; `before`/`after` are message ids, no cursor means the newest `limit`. */
  async messages(roomId, { before, after, limit } = {}) {
    const q = new URLSearchParams();
    if (before) q.set('before', before);
    if (after) q.set('after', after);
    if (limit) q.set('limit', String(limit));
    const qs = q.toString();
    return (await request('GET', `/api/rooms/${enc(roomId)}/messages${qs ? `?${qs}` : ''}`)).messages;
  },
};
