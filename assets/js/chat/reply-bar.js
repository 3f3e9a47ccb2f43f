// "Replying to ann: start of her message" above the composer, while a reply is
// being written. The next send carries `reply_to`; the close button or Escape
// in the composer cancels it.

import { h, icon } from '../dom.js';
import { excerpt } from './message-html.js';

/**
 * @param onCancel () => void, after the close button cleared the reply
 * @returns { el, replyTo, set(message), clear() }
 */
export function createReplyBar(onCancel) {
  const author = h('strong', { class: 'reply-bar-author' });
  const text = h('span', { class: 'reply-bar-text' });
  const close = h(
    'button',
    { class: 'icon-btn reply-bar-close', type: 'button', 'aria-label': 'Cancel reply', title: 'Cancel reply (Esc)' },
    icon('close'),
  );
  const el = h(
    'div',
    { class: 'reply-bar', role: 'status', hidden: true },
    icon('reply'),
    h('span', { class: 'reply-bar-label' }, 'Replying to ', author, h('span', { 'aria-hidden': 'true' }, ': '), text),
    close,
  );
  let target = null;

  const bar = {
    el,
    /** The id of the message being answered, or undefined. */
    get replyTo() {
      return target?.id;
    },
    set(message) {
      target = message;
      author.textContent = message.author;
      text.textContent = excerpt(message, 120);
      el.hidden = false;
    },
    clear() {
      target = null;
      el.hidden = true;
    },
  };
  close.addEventListener('click', () => {
    bar.clear();
    onCancel();
  });
  return bar;
}
