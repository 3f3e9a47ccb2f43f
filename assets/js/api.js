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
    const apiError = errorAnswer(res.status, res.statusText, data, res.headers.get('Retry-After'));
    if (res.status === 401 && !expect401) onUnauthorized(apiError);
    throw apiError;
  }
  return data;
}

/** The ApiError for a failed answer: its JSON error body, else the status line. */
function errorAnswer(status, statusText, data, retryAfterHeader) {
  const err = data?.error ?? {};
  const retryAfter = Number.parseInt(retryAfterHeader ?? '', 10);
  return new ApiError(
    status,
    err.code ?? `http_${status}`,
    err.message ?? (statusText || `The server answered ${status}.`),
    Number.isFinite(retryAfter) ? retryAfter : null,
  );
}

/**
 * Uploads one file to a room as an attachment of a message still to be sent.
 *
 * XMLHttpRequest rather than fetch: only it reports upload progress, and its
 * `abort()` cancels a transfer under way. The file goes as the raw body; the
 * server detects its type from the bytes, `Content-Type` is only a hint.
 *
 * @param onProgress (sentBytes, totalBytes) => void, while the body is sent
 * @returns { done: Promise<Attachment>, abort() }; a cancelled upload rejects with code `aborted`
 */
function uploadAttachment(roomId, file, name, onProgress = () => {}) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open('POST', `/api/rooms/${enc(roomId)}/attachments?${new URLSearchParams({ name })}`);
    xhr.withCredentials = true;
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.upload.addEventListener('progress', (event) => {
      onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    });
    xhr.addEventListener('load', () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        // Non-JSON body (e.g. a proxy's 413 page): handled below by status.
      }
      if (xhr.status === 201 && data?.id) {
        resolve(data);
        return;
      }
      const apiError = errorAnswer(xhr.status, xhr.statusText, data, xhr.getResponseHeader('Retry-After'));
      if (xhr.status === 401) onUnauthorized(apiError);
      reject(apiError);
    });
    xhr.addEventListener('error', () =>
      reject(new ApiError(0, 'network', 'The upload failed: cannot reach the server, or it closed the connection.')),
    );
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'Upload cancelled.')));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
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

  /** Public rooms plus the private and direct rooms the caller belongs to (`is_member` says which are theirs). */
  listRooms: async () => (await request('GET', '/api/rooms')).rooms,
  /**
   * @param kind      'public' | 'private' (direct rooms are made with `openDm`)
   * @param encrypted end-to-end encrypted (private rooms only; docs/encrypted-rooms.md)
   */
  createRoom: (name, { kind = 'public', topic, encrypted = false } = {}) =>
    request('POST', '/api/rooms', { name, kind, ...(topic && { topic }), ...(encrypted && { encrypted }) }),
  getRoom: (id) => request('GET', `/api/rooms/${enc(id)}`),
  deleteRoom: (id) => request('DELETE', `/api/rooms/${enc(id)}`),
  joinRoom: (id) => request('POST', `/api/rooms/${enc(id)}/join`),
  leaveRoom: (id) => request('POST', `/api/rooms/${enc(id)}/leave`),

  /** Moves the caller's read marker in a room forward to `messageId` (the WebSocket `read` frame does the same). */
  markRead: (roomId, messageId) => request('PUT', `/api/rooms/${enc(roomId)}/read`, { message: messageId }),
  /** @param level 'all' | 'mentions' | 'none': which new messages of the room concern the caller */
  setNotifications: (roomId, level) => request('PUT', `/api/rooms/${enc(roomId)}/notifications`, { level }),

  /** Members oldest first: `[{ username, role, joined_at }]`. */
  members: async (roomId) => (await request('GET', `/api/rooms/${enc(roomId)}/members`)).members,
  addMember: (roomId, username) => request('PUT', `/api/rooms/${enc(roomId)}/members/${enc(username)}`),
  removeMember: (roomId, username) => request('DELETE', `/api/rooms/${enc(roomId)}/members/${enc(username)}`),

  /** A new invite; its `url` is shown only in this answer (the server keeps a hash). */
  createInvite: (roomId) => request('POST', `/api/rooms/${enc(roomId)}/invites`, {}),
  acceptInvite: (code) => request('POST', `/api/invites/${enc(code)}/accept`),

  /**
   * The direct room with exactly these people (and the caller), created on first use; an
   * end-to-end encrypted one is a room of its own beside the plain one.
   */
  openDm: (usernames, { encrypted = false } = {}) =>
    request('POST', '/api/dms', encrypted ? { users: usernames, encrypted } : { users: usernames }),

  // End-to-end encryption keys (docs/encrypted-rooms.md). The server only stores and relays them.
  /** The caller's identity key (`OwnKey`), or null when they have none yet (404 `no_key`). */
  async myKey() {
    try {
      return await request('GET', '/api/keys/me');
    } catch (e) {
      if (e.status === 404) return null;
      throw e;
    }
  },
  /** Stores the caller's identity key: `{ public_key, wrapped_private_key, kdf }`. */
  putMyKey: (key) => request('PUT', '/api/keys/me', key),
  /** A user's public key (`{ username, public_key, fingerprint, created_at }`), or null when they have none. */
  async publicKey(username) {
    try {
      return await request('GET', `/api/keys/${enc(username)}`);
    } catch (e) {
      if (e.status === 404) return null;
      throw e;
    }
  },
  /** The caller's wrapped keys of a room: `{ key_version, keys, missing, without_key }`. */
  roomKeys: (roomId) => request('GET', `/api/rooms/${enc(roomId)}/keys/me`),
  /** Stores wrapped copies of one room key version: `keys` = `[{ username, wrapped_key, iv }]`. */
  putRoomKeys: (roomId, keyVersion, keys) =>
    request('PUT', `/api/rooms/${enc(roomId)}/keys`, { key_version: keyVersion, keys }),

  /** Your personal access tokens, oldest first, without secrets. */
  listTokens: async () => (await request('GET', '/api/tokens')).tokens,
  /**
   * A new personal access token: `{ token, secret }`. The secret is in this answer only.
   * @param expiresIn seconds, or null for a token that never expires
   */
  createToken: (name, scopes, expiresIn) =>
    request('POST', '/api/tokens', expiresIn ? { name, scopes, expires_in: expiresIn } : { name, scopes }),
  revokeToken: (id) => request('DELETE', `/api/tokens/${enc(id)}`),
  /** Every bot account on the server: `[{ username, owner, created_at, is_bot }]`. */
  listBots: async () => (await request('GET', '/api/bots')).bots,

  /** A room's incoming webhooks, oldest first, without their secret URLs. */
  listIncomingWebhooks: async (roomId) =>
    (await request('GET', `/api/rooms/${enc(roomId)}/webhooks/incoming`)).webhooks,
  /** A new incoming webhook; its `url` (which holds the secret) is in this answer only. */
  createIncomingWebhook: (roomId, name) => request('POST', `/api/rooms/${enc(roomId)}/webhooks/incoming`, { name }),
  deleteIncomingWebhook: (roomId, id) => request('DELETE', `/api/rooms/${enc(roomId)}/webhooks/incoming/${enc(id)}`),
  /** A room's outgoing webhooks, oldest first, without their signing secrets. */
  listOutgoingWebhooks: async (roomId) =>
    (await request('GET', `/api/rooms/${enc(roomId)}/webhooks/outgoing`)).webhooks,
  /**
   * A new outgoing webhook for new messages; its signing `secret` is in this answer only.
   * @param triggerWords only messages with one of these are sent; empty: every message
   */
  createOutgoingWebhook: (roomId, url, triggerWords) =>
    request(
      'POST',
      `/api/rooms/${enc(roomId)}/webhooks/outgoing`,
      triggerWords.length ? { url, events: ['message'], trigger_words: triggerWords } : { url, events: ['message'] },
    ),
  deleteOutgoingWebhook: (roomId, id) => request('DELETE', `/api/rooms/${enc(roomId)}/webhooks/outgoing/${enc(id)}`),
  /** An outgoing webhook's recent deliveries, newest first. */
  webhookDeliveries: async (roomId, id) =>
    (await request('GET', `/api/rooms/${enc(roomId)}/webhooks/outgoing/${enc(id)}/deliveries`)).deliveries,

  /** The server's VAPID key for `pushManager.subscribe`: `{ public_key }` (base64url). 503 `push_disabled` when push is off. */
  pushKey: () => request('GET', '/api/push/key'),
  /**
   * Registers this browser's push subscription for the caller (a known endpoint gets its keys refreshed).
   * @param subscription `{ endpoint, keys: { p256dh, auth } }`, as in `PushSubscription.toJSON()`
   */
  addPushSubscription: (subscription) => request('POST', '/api/push/subscriptions', subscription),
  removePushSubscription: (endpoint) => request('DELETE', '/api/push/subscriptions', { endpoint }),
  /** The caller's push subscriptions: `[{ endpoint, created_at }]`. */
  pushSubscriptions: async () => (await request('GET', '/api/push/subscriptions')).subscriptions,

  /** Usernames starting with `q`, alphabetical. */
  async users(q, limit = 8) {
    const qs = new URLSearchParams({ q, limit: String(limit) });
    return (await request('GET', `/api/users?${qs}`)).users.map((u) => u.username);
  },

  uploadAttachment,
  /** Where an attachment is served (inline only for PNG, JPEG, GIF and WebP; any other type downloads). */
  attachmentUrl: (id) => `/api/attachments/${enc(id)}`,
  /** The same file, always as a download. */
  attachmentDownloadUrl: (id) => `/api/attachments/${enc(id)}?download=true`,

  /**
   * Messages oldest first; `before`/`after` are message ids, `around` a message
   * id whose page is centred on it; no cursor means the newest `limit`.
   */
  async messages(roomId, { before, after, around, limit } = {}) {
    const q = new URLSearchParams();
    if (before) q.set('before', before);
    if (after) q.set('after', after);
    if (around) q.set('around', around);
    if (limit) q.set('limit', String(limit));
    const qs = q.toString();
    return (await request('GET', `/api/rooms/${enc(roomId)}/messages${qs ? `?${qs}` : ''}`)).messages;
  },

  /**
   * Full-text search over the rooms the caller may read, newest first:
   * `{ hits: [{ message, room, snippet }], next_cursor?, truncated? }`.
   * @param params { q, room?, author?, before?, after?, limit?, cursor? }; empty ones are left out
   */
  search(params) {
    const q = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value) q.set(key, String(value));
    return request('GET', `/api/search?${q}`);
  },
};
