// The message composer: Enter sends, Shift+Enter inserts a newline, the box
// grows with its content, and typing notifications are throttled. Up in an
// empty box and Escape are offered to the chat view (edit the last message,
// cancel a reply). Typing `@` offers the room's members to mention
// (mention-complete.js). Files come from the paperclip's picker, from a
// drop on the chat (`addFiles`) or from pasting an image; they upload at once
// into the tray above the box (upload-tray.js), and a message may then be
// files alone. Send waits until every upload has finished.

import { h, icon } from '../dom.js';
import { createMentionCompletion } from './mention-complete.js';
import { UploadTray } from './upload-tray.js';

const MAX_BODY = 4000;
const TYPING_EVERY_MS = 3000;
const MAX_HEIGHT_PX = 200;

/**
 * @param label     the field's label and placeholder, e.g. "Message #general"
 * @param onSend    (body, attachments) => void; `attachments` are the uploaded Attachment objects
 * @param onTyping  () => void, at most every few seconds while typing
 * @param keys      { onArrowUpEmpty, onEscape }: () => boolean, true when the key was used;
 *                  mentionable: () => usernames offered after `@` (the room's other members);
 *                  upload: (file, name, onProgress) => { done, abort } (api.uploadAttachment for the room);
 *                  attachments: false where files cannot be sent (end-to-end encrypted rooms)
 * @returns { el, focus(), setDisabled(reason|null), addFiles(files), destroy() }
 */
export function createComposer(
  label,
  onSend,
  onTyping,
  { onArrowUpEmpty = () => false, onEscape = () => false, mentionable = () => [], upload, attachments = true } = {},
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
  const attach = h(
    'button',
    { class: 'icon-btn attach-btn', type: 'button', 'aria-label': 'Attach files', title: 'Attach files', hidden: !attachments },
    icon('paperclip'),
  );
  const picker = h('input', { class: 'attach-input', type: 'file', multiple: true, hidden: true, tabindex: '-1' });
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
  const tray = new UploadTray(upload, { onChange: () => update(), onRemoved: () => input.focus() });

  let lastTyping = 0;
  const autosize = () => {
    // CSSOM writes are allowed under the CSP (only style attributes in markup are not).
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, MAX_HEIGHT_PX)}px`;
  };
  /** Something to send: text, or finished uploads; never while a file is still on its way. */
  const sendable = () =>
    !input.disabled && !tray.busy && (input.value.trim() !== '' || tray.attachments.length > 0);
  const update = () => {
    const length = input.value.length;
    send.disabled = !sendable();
    send.title = tray.busy ? 'Waiting for uploads to finish' : 'Send (Enter)';
    counter.hidden = length < MAX_BODY - 500;
    counter.textContent = ` · ${MAX_BODY - length} characters left`;
    autosize();
  };
  const submit = () => {
    const body = input.value;
    if (!sendable()) return;
    onSend(body.trim() === '' ? '' : body, tray.take());
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
  attach.addEventListener('click', () => picker.click());
  picker.addEventListener('change', () => {
    tray.add(picker.files);
    picker.value = ''; // the same file can be chosen again
    input.focus();
  });
  // A pasted screenshot or copied image becomes an attachment. Text wins when there is
  // some: an office app copies cells or a paragraph as text plus a picture of them.
  input.addEventListener('paste', (event) => {
    const data = event.clipboardData;
    if (!attachments || !data || data.files.length === 0 || data.getData('text/plain') !== '' || input.disabled) return;
    event.preventDefault();
    tray.add(data.files);
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
    tray.el,
    h('div', { class: 'composer-box' }, attach, input, send, picker),
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
      if (reason) tray.clear();
      attach.disabled = Boolean(reason);
      input.disabled = Boolean(reason);
      input.placeholder = reason ?? label;
      form.classList.toggle('disabled', Boolean(reason));
      update();
    },
    /** Uploads dropped files as for the paperclip; false when the composer is disabled. */
    addFiles(files) {
      if (input.disabled || !attachments) return false;
      tray.add(files);
      input.focus();
      return true;
    },
    /** Cancels uploads under way (the room is being left). */
    destroy: () => tray.clear(),
  };
}

function hasModifier(event) {
  return event.shiftKey || event.altKey || event.ctrlKey || event.metaKey || event.isComposing;
}
