// Picking people by username: a combobox that suggests users as you type
// (GET /api/users, prefix match), and a row of removable chips for the picked
// ones. Used by the new-conversation dialogs and the members panel.
//
// Keyboard: ArrowDown/ArrowUp move through the suggestions, Enter picks the
// highlighted one (or, with none highlighted, the name as typed: the server
// says if it does not exist), Escape closes the suggestions.

import { api } from './api.js';
import { avatar, h, icon } from './dom.js';

const SUGGEST_LIMIT = 8;
const DEBOUNCE_MS = 120;

/**
 * @param opts.id           id of the text field (pair it with a <label for>)
 * @param opts.placeholder
 * @param opts.exclude      () => Set of usernames not to suggest (already picked, members, yourself)
 * @param opts.onPick       (username) => void | Promise; called with a trimmed, lower-cased name
 * @returns { el, input, focus(), clear(), takeTyped() }
 */
export function createUserPicker({ id, placeholder = 'Type a username', exclude = () => new Set(), onPick }) {
  const listId = `${id}-suggestions`;
  const input = h('input', {
    id,
    type: 'text',
    class: 'picker-input',
    autocomplete: 'off',
    autocapitalize: 'none',
    spellcheck: 'false',
    maxlength: 32,
    placeholder,
    role: 'combobox',
    'aria-autocomplete': 'list',
    'aria-expanded': 'false',
    'aria-controls': listId,
  });
  const list = h('ul', { id: listId, class: 'picker-list', role: 'listbox', 'aria-label': 'Suggested people', hidden: true });
  const el = h('div', { class: 'picker' }, input, list);

  let options = [];
  let active = -1;
  let seq = 0;
  let timer = 0;

  const close = () => {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  };

  const render = () => {
    list.replaceChildren(
      ...options.map((name, i) => {
        const option = h(
          'li',
          { id: `${id}-option-${i}`, class: 'picker-option', role: 'option', 'aria-selected': String(i === active) },
          avatar(name, 'avatar-sm'),
          h('span', {}, name),
        );
        // Keep the focus in the field while clicking a suggestion.
        option.addEventListener('mousedown', (event) => event.preventDefault());
        option.addEventListener('click', () => pick(name));
        return option;
      }),
    );
    const open = options.length > 0 && document.activeElement === input;
    list.hidden = !open;
    input.setAttribute('aria-expanded', String(open));
    if (open && active >= 0) input.setAttribute('aria-activedescendant', `${id}-option-${active}`);
    else input.removeAttribute('aria-activedescendant');
  };

  const suggest = async () => {
    const q = input.value.trim().toLowerCase();
    const mine = ++seq;
    let names;
    try {
      names = await api.users(q, Math.min(50, SUGGEST_LIMIT + exclude().size));
    } catch {
      names = [];
    }
    if (mine !== seq) return; // a newer keystroke's answer wins
    const skip = exclude();
    options = names.filter((name) => !skip.has(name)).slice(0, SUGGEST_LIMIT);
    active = options.length && q ? 0 : -1;
    render();
  };

  const pick = async (name) => {
    const username = name.trim().toLowerCase();
    if (!username) return;
    input.value = '';
    options = [];
    close();
    await onPick(username);
  };

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(suggest, DEBOUNCE_MS);
  });
  input.addEventListener('focus', suggest);
  input.addEventListener('blur', () => {
    clearTimeout(timer);
    close();
  });
  input.addEventListener('keydown', (event) => {
    const open = !list.hidden;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (!options.length) return;
      const step = event.key === 'ArrowDown' ? 1 : -1;
      active = (active + step + options.length) % options.length;
      render();
    } else if (event.key === 'Enter') {
      event.preventDefault();
      if (open && active >= 0) pick(options[active]);
      else if (input.value.trim()) pick(input.value);
    } else if (event.key === 'Escape' && open) {
      // Close the suggestions, not the dialog around the field.
      event.preventDefault();
      event.stopPropagation();
      close();
    }
  });

  return {
    el,
    input,
    focus: () => input.focus(),
    clear() {
      input.value = '';
      options = [];
      close();
    },
    /** The name typed but not yet picked (empties the field). */
    takeTyped() {
      const typed = input.value.trim().toLowerCase();
      input.value = '';
      close();
      return typed;
    },
  };
}

/**
 * The picked people as removable chips.
 * @returns { el, names, add(name), has(name), clear() }; dispatches `change`
 */
export class UserChips extends EventTarget {
  #names = [];

  constructor(label = 'Picked people') {
    super();
    this.el = h('ul', { class: 'chips', 'aria-label': label });
    this.#render();
  }

  get names() {
    return [...this.#names];
  }

  has(name) {
    return this.#names.includes(name);
  }

  add(name) {
    if (this.has(name)) return;
    this.#names.push(name);
    this.#render();
  }

  clear() {
    this.#names = [];
    this.#render();
  }

  #remove(name) {
    this.#names = this.#names.filter((n) => n !== name);
    this.#render();
  }

  #render() {
    this.el.hidden = this.#names.length === 0;
    this.el.replaceChildren(
      ...this.#names.map((name) => {
        const remove = h(
          'button',
          { class: 'chip-remove', type: 'button', 'aria-label': `Remove ${name}`, title: `Remove ${name}` },
          icon('close'),
        );
        remove.addEventListener('click', () => this.#remove(name));
        return h('li', { class: 'chip' }, avatar(name, 'avatar-xs'), h('span', { class: 'chip-name' }, name), remove);
      }),
    );
    this.dispatchEvent(new CustomEvent('change'));
  }
}
