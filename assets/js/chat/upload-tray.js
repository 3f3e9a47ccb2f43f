// The files attached to the message being written, shown above the composer.
//
// Each file starts uploading the moment it is chosen (picker, drop or paste),
// with a progress bar and a cancel button; a finished one becomes a chip with
// its name, size and, for an image, the server's thumbnail, and a remove
// button. The message then carries the ids of the finished uploads. A failed
// upload stays as a chip that says why (the server's words) until removed.
// Names are always text: a file may be called anything.

import { h, icon } from '../dom.js';
import { formatSize } from '../format.js';
import { thumbnailUrl } from './attachments.js';

/** As many attachments as the server takes on one message. */
export const MAX_ATTACHMENTS = 10;

/** Said when a refusal comes without the server's own words (e.g. from a proxy in front of it). */
const ERROR_TEXT = {
  too_large: 'This file is too large.',
  quota_exceeded: 'You have used up your storage for attachments.',
  insufficient_storage: 'The server is out of disk space.',
  rate_limited: 'Too many uploads at once.',
  not_found: 'You can no longer post in this room.',
};

export class UploadTray {
  /** In the order chosen: { file, name, state: 'uploading' | 'done' | 'failed', attachment, abort, el, ... } */
  #items = [];
  #upload;
  #onChange;
  #onRemoved;

  /**
   * @param upload    (file, name, onProgress) => { done: Promise<Attachment>, abort() }
   * @param onChange  () => void, whenever what could be sent changes
   * @param onRemoved () => void, after the person removed a chip (focus goes back to the text)
   */
  constructor(upload, { onChange = () => {}, onRemoved = () => {} } = {}) {
    this.#upload = upload;
    this.#onChange = onChange;
    this.#onRemoved = onRemoved;
    this.list = h('ul', { class: 'upload-list', 'aria-label': 'Attached files' });
    this.note = h('p', { class: 'upload-note', hidden: true });
    // Progress, completion and refusals are announced here, once each.
    this.status = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
    this.el = h('div', { class: 'upload-tray', hidden: true }, this.list, this.note, this.status);
  }

  /** True while a file is still uploading: the message waits for it. */
  get busy() {
    return this.#items.some((item) => item.state === 'uploading');
  }

  /** The finished uploads, in the order chosen. */
  get attachments() {
    return this.#items.filter((item) => item.state === 'done').map((item) => item.attachment);
  }

  /**
   * Starts uploading `files` (a FileList or an array); beyond the ten a message
   * can carry, the rest are left out with a note saying so.
   */
  add(files) {
    const chosen = [...files];
    if (chosen.length === 0) return;
    const room = MAX_ATTACHMENTS - this.#items.filter((item) => item.state !== 'failed').length;
    const taken = chosen.slice(0, Math.max(0, room));
    const left = chosen.length - taken.length;
    this.#setNote(
      left > 0
        ? `A message can carry up to ${MAX_ATTACHMENTS} files: ${left === 1 ? '1 file was' : `${left} files were`} not added.`
        : null,
    );
    for (const file of taken) this.#start(file);
    this.#render();
  }

  /** Hands over the finished uploads for sending and empties the tray. */
  take() {
    const attachments = this.attachments;
    this.clear();
    return attachments;
  }

  /** Cancels every upload under way and removes every chip. */
  clear() {
    for (const item of this.#items) if (item.state === 'uploading') item.abort();
    this.#items = [];
    this.#setNote(null);
    this.#render();
  }

  #start(file) {
    const name = file.name || pastedName(file);
    const item = { file, name, state: 'uploading', attachment: null, abort: () => {} };
    item.progress = h('progress', { class: 'upload-progress', max: file.size || 1, value: 0, 'aria-label': `Uploading ${name}` });
    item.meta = h('span', { class: 'upload-meta' }, `0 of ${formatSize(file.size)}`);
    item.preview = h('span', { class: 'upload-preview', 'aria-hidden': 'true' }, icon('file'));
    item.button = h('button', { class: 'icon-btn upload-remove', type: 'button' }, icon('close'));
    item.button.addEventListener('click', () => this.#remove(item));
    item.el = h(
      'li',
      { class: 'upload', dataset: { state: 'uploading' } },
      item.preview,
      h('span', { class: 'upload-info' }, h('span', { class: 'upload-name', title: name }, name), item.meta, item.progress),
      item.button,
    );
    this.#items.push(item);
    this.#label(item);

    const { done, abort } = this.#upload(file, name, (sent, total) => {
      if (item.state !== 'uploading') return;
      item.progress.max = total || 1;
      item.progress.value = sent;
      item.meta.textContent = `${formatSize(sent)} of ${formatSize(total)}`;
    });
    item.abort = abort;
    done.then(
      (attachment) => {
        if (item.state !== 'uploading') return;
        item.state = 'done';
        item.attachment = attachment;
        item.meta.textContent = formatSize(attachment.size ?? file.size);
        item.progress.remove();
        const thumbnail = thumbnailUrl(attachment);
        if (thumbnail) {
          item.preview.replaceChildren(h('img', { src: thumbnail, alt: '', decoding: 'async' }));
          item.preview.classList.add('has-thumbnail');
        }
        this.#say(`${name} is attached.`);
        this.#settle(item);
      },
      (error) => {
        if (item.state !== 'uploading' || error.code === 'aborted') return;
        item.state = 'failed';
        const text = describeError(error);
        item.meta.textContent = `Not uploaded: ${text}`;
        item.progress.remove();
        item.preview.replaceChildren(icon('alert'));
        this.#say(`${name} was not uploaded: ${text}`);
        this.#settle(item);
      },
    );
  }

  /** An upload ended: its chip shows how, and the composer re-checks what can be sent. */
  #settle(item) {
    item.el.dataset.state = item.state;
    this.#label(item);
    this.#onChange();
  }

  #label(item) {
    const label = item.state === 'uploading' ? `Cancel upload of ${item.name}` : `Remove ${item.name}`;
    item.button.setAttribute('aria-label', label);
    item.button.title = item.state === 'uploading' ? 'Cancel upload' : 'Remove';
  }

  #remove(item) {
    if (item.state === 'uploading') {
      item.state = 'cancelled';
      item.abort();
      this.#say(`Upload of ${item.name} cancelled.`);
    }
    this.#items = this.#items.filter((other) => other !== item);
    this.#setNote(null);
    this.#render();
    this.#onRemoved();
  }

  #render() {
    this.list.replaceChildren(...this.#items.map((item) => item.el));
    this.el.hidden = this.#items.length === 0 && this.note.hidden;
    this.#onChange();
  }

  #setNote(text) {
    this.note.textContent = text ?? '';
    this.note.hidden = !text;
    if (text) this.#say(text);
    this.el.hidden = this.#items.length === 0 && !text;
  }

  #say(text) {
    this.status.textContent = text;
  }
}

/** Why an upload failed: the server's message (it names the limit), else what its code means. */
function describeError(error) {
  if (error.status === 413 && !ERROR_TEXT[error.code]) return ERROR_TEXT.too_large;
  return error.message || ERROR_TEXT[error.code] || 'Unknown error.';
}

/** A name for a pasted image, which has none: "pasted-image.png". */
function pastedName(file) {
  const ext = /^image\/(png|jpeg|gif|webp)$/.exec(file.type)?.[1];
  return `pasted-image.${ext === 'jpeg' ? 'jpg' : (ext ?? 'bin')}`;
}
