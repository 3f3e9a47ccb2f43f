// Keyboard access to search: `/` (when not typing somewhere) and Ctrl+K
// (Cmd+K on a Mac) go to the search field from anywhere in the app, and the
// arrow keys move through the results.

const IS_MAC = /mac|iphone|ipad/i.test(navigator.userAgentData?.platform ?? navigator.platform ?? '');

/** How the shortcut is written on this platform, for hints. */
export const SHORTCUT_TEXT = IS_MAC ? '/ or ⌘K' : '/ or Ctrl+K';

/**
 * Calls `focusSearch` on `/` and Ctrl/Cmd+K.
 * @returns a function that removes the listener
 */
export function listenForShortcut(focusSearch) {
  const onKey = (event) => {
    if (event.defaultPrevented || event.isComposing || event.altKey) return;
    const modifier = IS_MAC ? event.metaKey : event.ctrlKey;
    const other = IS_MAC ? event.ctrlKey : event.metaKey;
    // Ctrl+K works while typing too: that is what it is for.
    const commandK = modifier && !other && !event.shiftKey && event.key.toLowerCase() === 'k';
    // `/` is text in a field; Shift is allowed, as some layouts need it for `/`.
    const slash = event.key === '/' && !event.ctrlKey && !event.metaKey && !isTyping(event.target);
    if (!commandK && !slash) return;
    // A modal dialog keeps the keyboard: the page behind it is inert.
    if (document.querySelector('dialog[open]')) return;
    event.preventDefault();
    focusSearch();
  };
  document.addEventListener('keydown', onKey);
  return () => document.removeEventListener('keydown', onKey);
}

/** Whether a key pressed on `target` is typing text. */
function isTyping(target) {
  return (
    target instanceof Element &&
    target.closest('input, textarea, select, [contenteditable]:not([contenteditable="false"])') !== null
  );
}

/**
 * The element the arrow keys move to from `current` in `items` (Up from the
 * first one goes back to `field`), or null when the key is not theirs.
 */
export function arrowTarget(key, items, current, field) {
  const at = items.indexOf(current);
  if (key === 'ArrowDown') return items[Math.min(at + 1, items.length - 1)] ?? null;
  if (key === 'ArrowUp') return at <= 0 ? field : items[at - 1];
  if (key === 'Home') return items[0] ?? null;
  if (key === 'End') return items.at(-1) ?? null;
  return null;
}
