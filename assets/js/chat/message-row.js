// One message in the history: the quoted line of the message it answers, its
// rendered text (or the tombstone of a deleted one, or the editor while it is
// being edited), an "(edited)" marker, its attachments (attachments.js), the
// reaction chips and the actions toolbar.
//
// A row is updated in place when a newer state of its message arrives, part by
// part: an open editor, a focused chip or toolbar button survive an update
// that does not concern them.

import { h, icon } from '../dom.js';
import { formatCompactTime, formatFull, parseDate } from '../format.js';
import { mentionsUser } from '../rooms-store.js';
import { renderAttachments } from './attachments.js';
import { createActionBar } from './message-actions.js';
import { MessageEditor } from './message-editor.js';
import { excerpt, renderBody } from './message-html.js';
import { ReactionBar } from './reactions.js';
import { compareSeq, stateOf } from './replay-cursor.js';

const FLASH_MS = 2000;
const QUOTE_CHARS = 90;

/**
 * The name a message is shown under: the webhook's for a message posted
 * through one (`webhook: { id, name }`; `author` is then whoever added the
 * webhook), else its author's.
 */
export function shownAuthor(message) {
  return message.webhook ? message.webhook.name : message.author;
}

/**
 * What a row needs from the list and the chat view:
 * @typedef {object} RowContext
 * @property {string} me
 * @property {(id: string) => object | undefined} lookup   a loaded message by id
 * @property {(id: string) => void} onQuote                the quoted line was clicked
 * @property {(m: object) => boolean} canEdit
 * @property {(m: object) => boolean} canDelete
 * @property {(m: object) => void} reply
 * @property {(m: object, emoji: string, on: boolean) => void} react
 * @property {(m: object, anchor: Element) => void} pickReaction
 * @property {(m: object, body: string) => boolean} edit   false when it could not be sent
 * @property {(m: object) => void} remove
 * @property {() => void} onEditClosed                     the editor closed while focused
 */

export class MessageRow {
  #ctx;
  #continues = false;
  #editor = null;
  #lead;
  #quote;
  #content;
  #mentionHint;
  #reactions;
  #actions = null;
  #contentKey = null;
  #actionsKey = null;
  #flashTimer = 0;

  /** @param {RowContext} ctx */
  constructor(message, ctx) {
    this.message = message;
    this.#ctx = ctx;
    this.#lead = h('span', { class: 'msg-lead' });
    this.#quote = h('span', { class: 'msg-quote-slot' });
    this.#content = h('div', { class: 'msg-content' });
    this.#mentionHint = h('span', { class: 'sr-only' });
    this.#reactions = new ReactionBar(
      ctx.me,
      (emoji, on) => ctx.react(this.message, emoji, on),
      (anchor) => ctx.pickReaction(this.message, anchor),
    );
    this.el = h(
      'div',
      { class: 'msg', dataset: { id: message.id } },
      this.#lead,
      this.#mentionHint,
      this.#quote,
      this.#content,
      this.#reactions.el,
    );
    this.#render();
  }

  get isEditing() {
    return this.#editor !== null;
  }

  /** Follow-up rows (same author, shortly after) show a compact time in the gutter instead of a header. */
  setContinues(continues) {
    if (continues === this.#continues && this.#lead.childNodes.length === (continues ? 2 : 0)) return;
    this.#continues = continues;
    this.el.classList.toggle('msg-cont', continues);
    const sentAt = parseDate(this.message.sent_at);
    this.#lead.replaceChildren(
      ...(continues
        ? [
            h(
              'time',
              { class: 'msg-gutter-time', datetime: this.message.sent_at, title: formatFull(sentAt) },
              formatCompactTime(sentAt),
            ),
            h('span', { class: 'sr-only' }, `${shownAuthor(this.message)}: `),
          ]
        : []),
    );
  }

  /** A newer state of this message. Returns false when `message` is older than the one shown. */
  update(message) {
    if (compareSeq(stateOf(message), stateOf(this.message)) < 0) return false;
    this.message = message;
    if (this.#editor && (message.deleted || message.body === this.#editor.saving)) this.#closeEditor();
    this.#render();
    return true;
  }

  /** Re-renders what depends on other messages or on permissions (the quote, the toolbar). */
  refresh() {
    this.#renderQuote();
    this.#renderActions();
  }

  /** Opens the editor (own, not deleted messages only); returns whether it is open. */
  startEdit() {
    if (this.message.deleted || !this.#ctx.canEdit(this.message)) return false;
    if (!this.#editor) {
      this.#editor = new MessageEditor(this.message.body, {
        onSave: (body) => {
          if (body === this.message.body) {
            this.#closeEditor();
            return true;
          }
          return this.#ctx.edit(this.message, body);
        },
        onCancel: () => this.#closeEditor(),
      });
      this.el.classList.add('editing');
      this.#contentKey = null;
      this.#renderContent();
    }
    this.el.scrollIntoView({ block: 'nearest' });
    this.#editor.focus();
    return true;
  }

  /** The server confirmed the edit sent from this row (its new state is already shown). */
  editSaved() {
    if (this.#editor?.saving !== null && this.#editor) this.#closeEditor();
  }

  /** The edit sent from this row was refused or lost; `text` says why. */
  editFailed(text) {
    this.#editor?.failed(text);
  }

  /** Draws the eye to this row for a moment (after jumping to it from a quote). */
  flash() {
    clearTimeout(this.#flashTimer);
    this.el.classList.remove('msg-flash');
    void this.el.offsetWidth; // restart the animation
    this.el.classList.add('msg-flash');
    this.#flashTimer = setTimeout(() => this.el.classList.remove('msg-flash'), FLASH_MS);
  }

  #closeEditor() {
    const hadFocus = this.#editor?.hasFocus;
    this.#editor = null;
    this.el.classList.remove('editing');
    this.#contentKey = null;
    this.#renderContent();
    if (hadFocus) this.#ctx.onEditClosed();
  }

  #render() {
    this.el.classList.toggle('msg-deleted', Boolean(this.message.deleted));
    // Someone else calling the reader by name or with @room stands out.
    const mentioned = !this.message.deleted && this.message.author !== this.#ctx.me && mentionsUser(this.message, this.#ctx.me);
    this.el.classList.toggle('msg-mention', mentioned);
    this.#mentionHint.textContent = mentioned ? 'Mentions you: ' : '';
    this.#renderQuote();
    this.#renderContent();
    this.#reactions.set(this.message.deleted ? [] : this.message.reactions);
    this.#renderActions();
  }

  #renderContent() {
    const m = this.message;
    if (this.#editor) {
      // The files stay in view under the editor: editing changes the text only.
      if (this.#editor.el.parentNode !== this.#content) {
        const files = renderAttachments(m.attachments);
        this.#content.replaceChildren(...(files ? [this.#editor.el, files] : [this.#editor.el]));
      }
      return;
    }
    const key = JSON.stringify([m.deleted, m.html, m.body, m.e2e, m.edited_at, (m.attachments ?? []).map((a) => a.id)]);
    if (key === this.#contentKey) return;
    this.#contentKey = key;
    if (m.deleted) {
      this.#content.replaceChildren(h('p', { class: 'msg-tombstone' }, icon('trash'), 'message deleted'));
      return;
    }
    const files = renderAttachments(m.attachments);
    const body = h('div', { class: 'msg-body md' }, renderBody(m));
    if (files && !body.hasChildNodes() && !m.edited_at) {
      // Files alone: no empty paragraph above them.
      this.#content.replaceChildren(files);
      return;
    }
    if (m.edited_at) {
      const editedAt = parseDate(m.edited_at);
      const title = `Edited ${formatFull(editedAt)}`;
      const marker = h('time', { class: 'msg-edited', datetime: m.edited_at, title }, '(edited)');
      // Inline after the last paragraph's text, not on a line of its own.
      const last = body.lastElementChild;
      (last?.tagName === 'P' && last === body.lastChild ? last : body).append(' ', marker);
    }
    this.#content.replaceChildren(...(files ? [body, files] : [body]));
  }

  #renderQuote() {
    const id = this.message.reply_to;
    if (!id || this.message.deleted) {
      this.#quote.replaceChildren();
      return;
    }
    const original = this.#ctx.lookup(id);
    let parts;
    if (!original) parts = [h('span', { class: 'msg-quote-text' }, 'a message further up')];
    else if (original.deleted) parts = [h('span', { class: 'msg-quote-text msg-quote-gone' }, 'a deleted message')];
    else {
      parts = [
        h('span', { class: 'msg-quote-author' }, shownAuthor(original)),
        h('span', { class: 'sr-only' }, ': '),
        h('span', { class: 'msg-quote-text' }, excerpt(original, QUOTE_CHARS)),
      ];
    }
    const quote = h(
      'button',
      { class: 'msg-quote', type: 'button', title: 'Show the message this replies to', dataset: { replyTo: id } },
      icon('reply'),
      h('span', { class: 'sr-only' }, 'In reply to '),
      parts,
    );
    quote.addEventListener('click', () => this.#ctx.onQuote(id));
    this.#quote.replaceChildren(quote);
  }

  #renderActions() {
    const m = this.message;
    const canEdit = !m.deleted && this.#ctx.canEdit(m);
    const canDelete = !m.deleted && this.#ctx.canDelete(m);
    const key = `${Boolean(m.deleted)}|${canEdit}|${canDelete}`;
    if (key === this.#actionsKey) return;
    this.#actionsKey = key;
    const bar = m.deleted
      ? null
      : createActionBar(m.author, {
          reply: () => this.#ctx.reply(this.message),
          react: (anchor) => this.#ctx.pickReaction(this.message, anchor),
          edit: canEdit ? () => this.startEdit() : null,
          remove: canDelete ? () => this.#ctx.remove(this.message) : null,
        });
    if (this.#actions && bar) this.#actions.replaceWith(bar);
    else if (bar) this.el.append(bar);
    else this.#actions?.remove();
    this.#actions = bar;
  }
}
