// Messages the user sent that the server has not acknowledged yet.
//
// Each send carries a random nonce. The server stores a nonce once per user
// and acknowledges by echoing it on the sender's copy of the message, so a
// send can be retried after a dropped connection without ever creating a
// duplicate. Pending messages show greyed out until acknowledged; their
// attachments (already uploaded, sent by id) are listed by name.

import { h, icon } from '../dom.js';

/** A random nonce. crypto.randomUUID needs a secure context; getRandomValues works on plain-HTTP LAN hosts too. */
export function newNonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

const ERROR_TEXT = {
  rate_limited: 'You are sending messages too fast.',
  too_large: 'This message is too long.',
  bad_request: 'The server refused this message.',
  no_room_key: 'This browser does not have the room key yet.',
  not_found: 'This room no longer exists.',
  reply_not_found: 'The message it replies to is not in this room.',
};
/** A `not_found` about an attached file rather than the room ("attachment not found"). */
const FILE_GONE = 'An attached file is gone (sent already, or kept unsent for too long).';

export class Outbox {
  /** nonce -> { body, replyTo, attachments, state: 'waiting' | 'sent' | 'failed', row, status } */
  #items = new Map();
  #transmit;

  /**
   * @param container element the pending rows are rendered into
   * @param transmit  (nonce, body, replyTo, attachmentIds) => boolean: hands the send to the socket,
   *                  false when not connected
   */
  constructor(container, transmit) {
    this.container = container;
    this.#transmit = transmit;
  }

  get size() {
    return this.#items.size;
  }

  has(nonce) {
    return this.#items.has(nonce);
  }

  /**
   * Queues a message (an answer to `replyTo`, a message id, if given; with
   * the uploaded `attachments`) and tries to send it right away.
   */
  add(body, replyTo, attachments = []) {
    const nonce = newNonce();
    const status = h('span', { class: 'pending-status' });
    const files = attachments.length
      ? h(
          'ul',
          { class: 'pending-files', 'aria-label': 'Attached files' },
          attachments.map((a) => h('li', { class: 'pending-file' }, icon('file'), a.name)),
        )
      : null;
    const row = h(
      'div',
      { class: 'msg pending', dataset: { nonce } },
      body === '' ? null : h('div', { class: 'msg-body' }, body),
      files,
      h('div', { class: 'pending-meta' }, status),
    );
    this.container.append(row);
    const ids = attachments.map((a) => a.id);
    this.#items.set(nonce, { body, replyTo, attachments: ids, state: 'waiting', row, status });
    this.#send(nonce);
    return nonce;
  }

  /** The server acknowledged `nonce`: the real message replaces the pending row. */
  ack(nonce) {
    const item = this.#items.get(nonce);
    if (!item) return;
    item.row.remove();
    this.#items.delete(nonce);
  }

  /** The server refused `nonce`. */
  fail(nonce, code, message) {
    const item = this.#items.get(nonce);
    if (!item) return;
    item.state = 'failed';
    item.row.classList.add('failed');
    const retry = h('button', { class: 'link-btn', type: 'button' }, 'Retry');
    const discard = h('button', { class: 'link-btn', type: 'button' }, 'Discard');
    retry.addEventListener('click', () => this.#send(nonce));
    discard.addEventListener('click', () => {
      item.row.remove();
      this.#items.delete(nonce);
    });
    const fileGone = code === 'not_found' && /\battachment\b/i.test(message ?? '');
    const reason = `Not sent: ${fileGone ? FILE_GONE : (ERROR_TEXT[code] ?? message ?? 'unknown error')} `;
    // Retrying cannot help once the room or the file is gone.
    if (code === 'not_found') item.status.replaceChildren(reason, discard);
    else item.status.replaceChildren(reason, retry, ' · ', discard);
  }

  /**
   * (Re)sends everything not yet acknowledged, e.g. after the room was
   * (re)joined. Already-sent items go again: the nonce makes that safe.
   */
  flush() {
    for (const [nonce, item] of this.#items) if (item.state !== 'failed') this.#send(nonce);
  }

  /** (Re)sends one item now, e.g. once its encrypted payload is ready. */
  resend(nonce) {
    if (this.#items.get(nonce)?.state !== 'failed') this.#send(nonce);
  }

  /** Nothing can be sent any more (the room is gone): every pending send fails. */
  failAll(code) {
    for (const nonce of [...this.#items.keys()]) this.fail(nonce, code);
  }

  /** The connection dropped: unacknowledged sends wait for the next join. */
  markDisconnected() {
    for (const item of this.#items.values()) {
      if (item.state === 'failed') continue;
      item.state = 'waiting';
      item.status.textContent = 'Waiting for connection…';
    }
  }

  #send(nonce) {
    const item = this.#items.get(nonce);
    if (!item) return;
    item.row.classList.remove('failed');
    if (this.#transmit(nonce, item.body, item.replyTo, item.attachments)) {
      item.state = 'sent';
      item.status.textContent = 'Sending…';
    } else {
      item.state = 'waiting';
      item.status.textContent = 'Waiting for connection…';
    }
  }
}
