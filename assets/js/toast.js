// Short-lived notices for things that need no action ("Room deleted", send errors
// that have no pending message to attach to).

import { h } from './dom.js';

const SHOW_FOR_MS = 5000;
let region = null;

function ensureRegion() {
  if (!region || !region.isConnected) {
    region = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(region);
  }
  return region;
}

/** Shows `text` for a few seconds. `kind`: 'info' | 'error'. */
export function toast(text, kind = 'info') {
  const el = h('div', { class: `toast toast-${kind}` }, text);
  ensureRegion().append(el);
  setTimeout(() => {
    el.classList.add('leaving');
    setTimeout(() => el.remove(), 300);
  }, SHOW_FOR_MS);
}
