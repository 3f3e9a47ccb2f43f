// Completing `@name` in the composer: typing `@` and the start of a name (an
// `@` at the start or after a character that cannot be in a username, as the
// server reads mentions) offers the room's members whose names start so, and
// `@room` for everyone, in a small listbox above the box.
//
// Keyboard: ArrowDown/ArrowUp move, Enter or Tab pick, Escape closes. The
// text field keeps its textbox role and points at the highlighted option
// with aria-activedescendant; a polite status says how many there are.

import { avatar, h } from '../dom.js';

const MAX_OPTIONS = 8;
/** The `@partial` right before the caret, as the server would read it. */
const TOKEN = /(?:^|[^A-Za-z0-9_.\-@])@([A-Za-z0-9_.-]*)$/;
const EVERYONE = 'room';

/**
 * @param input      the composer's textarea
 * @param candidates () => usernames that can be mentioned (the room's members, not the reader)
 * @returns { el, onInput(), onKeyDown(event) -> boolean (true: the key was used), close() }
 */
export function createMentionCompletion(input, candidates) {
  const listId = 'mention-suggestions';
  const list = h('ul', { id: listId, class: 'mention-list', role: 'listbox', 'aria-label': 'Mention someone', hidden: true });
  const status = h('span', { class: 'sr-only', role: 'status' });
  const el = h('div', { class: 'mention-complete' }, list, status);

  let options = [];
  let active = 0;
  /** Where the `@` of the token being completed is. */
  let start = -1;

  const close = () => {
    if (list.hidden && options.length === 0) return;
    list.hidden = true;
    options = [];
    start = -1;
    status.textContent = '';
    input.removeAttribute('aria-activedescendant');
    input.removeAttribute('aria-controls');
  };

  const render = () => {
    list.replaceChildren(
      ...options.map((name, i) => {
        const option = h(
          'li',
          { id: `${listId}-${i}`, class: 'picker-option mention-option', role: 'option', 'aria-selected': String(i === active) },
          name === EVERYONE ? h('span', { class: 'mention-all', 'aria-hidden': 'true' }, '@') : avatar(name, 'avatar-xs'),
          h('span', {}, name === EVERYONE ? '@room' : name),
          name === EVERYONE ? h('span', { class: 'mention-note' }, 'everyone in the room') : null,
        );
        // mousedown, not click: the text field keeps focus and its caret.
        option.addEventListener('mousedown', (event) => {
          event.preventDefault();
          pick(i);
        });
        return option;
      }),
    );
    list.hidden = false;
    input.setAttribute('aria-controls', listId);
    input.setAttribute('aria-activedescendant', `${listId}-${active}`);
    list.children[active]?.scrollIntoView({ block: 'nearest' });
  };

  const pick = (i) => {
    const name = options[i];
    if (name === undefined || start < 0) return;
    const caret = input.selectionStart;
    const before = input.value.slice(0, start);
    const after = input.value.slice(caret);
    const inserted = `@${name}${after.startsWith(' ') ? '' : ' '}`;
    input.value = before + inserted + after;
    const at = before.length + inserted.length + (after.startsWith(' ') ? 1 : 0);
    input.setSelectionRange(at, at);
    close();
    // Let the composer resize, count and enable its send button.
    input.dispatchEvent(new Event('input', { bubbles: true }));
  };

  const onInput = () => {
    if (input.selectionStart !== input.selectionEnd) {
      close();
      return;
    }
    const match = TOKEN.exec(input.value.slice(0, input.selectionStart));
    if (!match) {
      close();
      return;
    }
    const typed = match[1].toLowerCase();
    const names = [...new Set(candidates())].filter((name) => name.toLowerCase().startsWith(typed)).sort();
    if (EVERYONE.startsWith(typed)) names.push(EVERYONE);
    if (names.length === 0 || (names.length === 1 && names[0].toLowerCase() === typed)) {
      // Nothing to offer, or the only match is already typed out.
      close();
      return;
    }
    const previous = options[active];
    options = names.slice(0, MAX_OPTIONS);
    active = Math.max(0, options.indexOf(previous));
    start = input.selectionStart - match[1].length - 1;
    status.textContent = options.length === 1 ? '1 suggestion' : `${options.length} suggestions`;
    render();
  };

  const onKeyDown = (event) => {
    if (list.hidden || options.length === 0 || event.isComposing) return false;
    switch (event.key) {
      case 'ArrowDown':
        active = (active + 1) % options.length;
        render();
        return true;
      case 'ArrowUp':
        active = (active - 1 + options.length) % options.length;
        render();
        return true;
      case 'Enter':
      case 'Tab':
        if (event.shiftKey) return false;
        pick(active);
        return true;
      case 'Escape':
        close();
        return true;
      case 'ArrowLeft':
      case 'ArrowRight':
      case 'Home':
      case 'End':
        // The caret leaves the name being completed.
        close();
        return false;
      default:
        return false;
    }
  };

  input.addEventListener('blur', close);
  input.addEventListener('click', onInput);
  return { el, onInput, onKeyDown, close };
}
