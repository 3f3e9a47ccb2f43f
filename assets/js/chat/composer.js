// The message composer: Enter sends, Shift+Enter inserts a newline, the box
// grows with its content, and typing notifications are throttled. Up in an
// empty box and Escape are offered to the chat view (edit the last message,
// cancel a reply). Typing `@` offers the room's members to mention
// (mention-complete.js).

import { h, icon } from '../dom.js';
import { createMentionCompletion } from './mention-complete.js';

const MAX_BODY = 4000;
const TYPING_EVERY_MS = 3000;
const MAX_HEIGHT_PX = 200;

/**
 * @param label     the field's label and placeholder, e.g. "Message #general"
 * @param onSend    (body) => void
 * @param onTyping  () => void, at most every few seconds while typing
 * @param keys      { onArrowUpEmpty, onEscape }: () => boolean, true when the key was used;
 *                  mentionable: () => usernames offered after `@` (the room's other members)
 * @returns { el, focus(), setDisabled(reason|null) }
 */
export function createComposer(
  label,
  onSend,
  onTyping,
  { onArrowUpEmpty = () => false, onEscape = () => false, mentionable = () => [] } = {},
) {
  const input = h('textarea', {
    id: 'composer-input',
    class: 'composer-input',
    rows: 1,
    maxlength: MAX_BODY,
    placeholder: label,
    'aria-label': label,
    enterkeyhint: 'send',
  });
  const send = h(
    'button',
    { class: 'send-btn', type: 'submit', 'aria-label': 'Send message', title: 'Send (Enter)', disabled: true },
    icon('send'),
  );
  const counter = h('span', { class: 'composer-counter', hidden: true });
  const hint = h(
    'p',
    { class: 'composer-hint', id: 'composer-hint' },
    h('kbd', {}, 'Enter'),
    ' to send · ',
    h('kbd', {}, 'Shift'),
    ' + ',
    h('kbd', {}, 'Enter'),
    ' for a new line',
    counter,
  );
  input.setAttribute('aria-describedby', 'composer-hint');
  const mentions = createMentionCompletion(input, mentionable);

  let lastTyping = 0;
  const autosize = () => {
    // CSSOM writes are allowed under the CSP (only style attributes in markup are not).
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, MAX_HEIGHT_PX)}px`;
  };
  const update = () => {
    const length = input.value.length;
    send.disabled = input.disabled || input.value.trim() === '';
    counter.hidden = length < MAX_BODY - 500;
    counter.textContent = ` · ${MAX_BODY - length} characters left`;
    autosize();
  };
  const submit = () => {
    const body = input.value;
    if (input.disabled || body.trim() === '') return;
    onSend(body);
    input.value = '';
    lastTyping = 0;
    update();
    input.focus();
  };

  input.addEventListener('input', () => {
    update();
    mentions.onInput();
    const now = Date.now();
    if (input.value.trim() !== '' && now - lastTyping > TYPING_EVERY_MS) {
      lastTyping = now;
      onTyping();
    }
  });
  input.addEventListener('keydown', (event) => {
    if (mentions.onKeyDown(event)) {
      event.preventDefault();
      return;
    }
    // isComposing: Enter confirms an IME candidate and must not send.
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    } else if (event.key === 'Escape' && !event.isComposing) {
      if (onEscape()) event.preventDefault();
    } else if (event.key === 'ArrowUp' && input.value === '' && !hasModifier(event)) {
      if (onArrowUpEmpty()) event.preventDefault();
    }
  });

  const form = h(
    'form',
    { class: 'composer', 'aria-label': 'Send a message' },
    mentions.el,
    h('div', { class: 'composer-box' }, input, send),
    hint,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });

  return {
    el: form,
    focus: () => input.focus(),
    /** Disables the composer with a reason shown as placeholder; null re-enables it. */
    setDisabled(reason) {
      mentions.close();
      input.disabled = Boolean(reason);
      input.placeholder = reason ?? label;
      form.classList.toggle('disabled', Boolean(reason));
      update();
    },
  };
}

function hasModifier(event) {
  return event.shiftKey || event.altKey || event.ctrlKey || event.metaKey || event.isComposing;
}
