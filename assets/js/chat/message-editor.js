// Editing a message in place: its source text in a textarea where the text
// was. Enter saves, Shift+Enter adds a line, Escape cancels. After Enter the
// editor waits ("Saving…") until the server's new state of the message
// arrives (the row then closes it) or the edit is refused (it reopens, the
// text kept).

import { h } from '../dom.js';

const MAX_BODY = 4000;
const MAX_HEIGHT_PX = 240;

export class MessageEditor {
  #input;
  #status;
  #saving = null;
  #onSave;
  #onCancel;

  /**
   * @param body     the current source text
   * @param onSave   (newBody) => boolean: false when it could not be sent (it stays open)
   * @param onCancel () => void
   */
  constructor(body, { onSave, onCancel }) {
    this.#onSave = onSave;
    this.#onCancel = onCancel;
    this.#input = h('textarea', {
      class: 'msg-edit-input',
      rows: 1,
      maxlength: MAX_BODY,
      'aria-label': 'Edit message',
      enterkeyhint: 'done',
    });
    this.#input.value = body;
    this.#status = h('span', { class: 'msg-edit-status', role: 'status' });
    const save = h('button', { class: 'link-btn', type: 'button' }, 'Save');
    const cancel = h('button', { class: 'link-btn', type: 'button' }, 'Cancel');
    save.addEventListener('click', () => this.#save());
    cancel.addEventListener('click', () => this.#onCancel());
    this.el = h(
      'div',
      { class: 'msg-editor' },
      this.#input,
      h(
        'p',
        { class: 'msg-edit-hint' },
        h('kbd', {}, 'Enter'),
        ' ',
        save,
        ' · ',
        h('kbd', {}, 'Esc'),
        ' ',
        cancel,
        this.#status,
      ),
    );
    this.#input.addEventListener('input', () => this.#autosize());
    this.#input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.#save();
      } else if (event.key === 'Escape') {
        event.preventDefault();
        event.stopPropagation();
        this.#onCancel();
      }
    });
  }

  /** The text sent and not yet confirmed, or null. */
  get saving() {
    return this.#saving;
  }

  get hasFocus() {
    return this.el.contains(document.activeElement);
  }

  focus() {
    this.#autosize();
    this.#input.focus();
    const end = this.#input.value.length;
    this.#input.setSelectionRange(end, end);
  }

  /** The edit was refused or lost: editable again, with `text` saying why. */
  failed(text) {
    this.#saving = null;
    this.#input.readOnly = false;
    this.el.classList.remove('saving');
    this.#status.textContent = text ? ` · ${text}` : '';
  }

  #save() {
    if (this.#saving !== null) return;
    const body = this.#input.value;
    if (body.trim() === '') {
      this.#status.textContent = ' · A message cannot be empty: delete it instead.';
      return;
    }
    this.#saving = body;
    this.#input.readOnly = true;
    this.el.classList.add('saving');
    this.#status.textContent = ' · Saving…';
    if (!this.#onSave(body)) this.failed('Not connected: try again when the connection is back.');
  }

  #autosize() {
    // CSSOM writes are allowed under the CSP (only style attributes in markup are not).
    this.#input.style.height = 'auto';
    this.#input.style.height = `${Math.min(this.#input.scrollHeight, MAX_HEIGHT_PX)}px`;
  }
}
