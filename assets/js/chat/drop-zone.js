// Files dragged over the chat: an overlay says where they will go, and a drop
// hands them to the composer to upload.
//
// While the chat is open, a file dropped anywhere else on the page is
// swallowed instead of the browser's default (opening the file in place of
// the app, losing what was being written).

import { h, icon } from '../dom.js';

/** True when the drag carries files (not text or a link dragged from the page). */
function carriesFiles(event) {
  return Array.from(event.dataTransfer?.types ?? []).includes('Files');
}

/**
 * @param target  the element that takes drops (the chat); the overlay is appended to `overlayIn`
 * @param opts.label    () => the overlay's line, e.g. "Drop files to share them in #general"
 * @param opts.enabled  () => boolean: false when nothing can be posted (the room is gone)
 * @param opts.onFiles  (files) => void
 * @returns { el: the overlay, destroy() }
 */
export function createDropZone(target, { label, enabled = () => true, onFiles }) {
  const text = h('p', { class: 'drop-zone-text' });
  const el = h(
    'div',
    { class: 'drop-zone', hidden: true, 'aria-hidden': 'true' },
    h('div', { class: 'drop-zone-inner' }, h('span', { class: 'drop-zone-icon' }, icon('upload')), text),
  );
  // dragenter and dragleave fire for every child crossed: count them to know when the drag left.
  let depth = 0;
  const show = (on) => {
    if (on) text.textContent = label();
    el.hidden = !on;
  };

  const onEnter = (event) => {
    if (!carriesFiles(event) || !enabled()) return;
    event.preventDefault();
    depth += 1;
    show(true);
  };
  const onOver = (event) => {
    if (!carriesFiles(event) || !enabled()) return;
    event.preventDefault(); // without it the browser refuses the drop
    event.dataTransfer.dropEffect = 'copy';
  };
  const onLeave = (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) show(false);
  };
  const onDrop = (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    show(false);
    if (enabled() && event.dataTransfer.files.length > 0) onFiles(event.dataTransfer.files);
  };
  // Anywhere the chat did not take the files (sidebar, top bar, a dialog, a room that is gone):
  // no drop, and no navigating to the file.
  const onWindowDrag = (event) => {
    if (!carriesFiles(event) || event.defaultPrevented) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'none';
  };

  target.addEventListener('dragenter', onEnter);
  target.addEventListener('dragover', onOver);
  target.addEventListener('dragleave', onLeave);
  target.addEventListener('drop', onDrop);
  window.addEventListener('dragover', onWindowDrag);
  window.addEventListener('drop', onWindowDrag);

  return {
    el,
    destroy() {
      target.removeEventListener('dragenter', onEnter);
      target.removeEventListener('dragover', onOver);
      target.removeEventListener('dragleave', onLeave);
      target.removeEventListener('drop', onDrop);
      window.removeEventListener('dragover', onWindowDrag);
      window.removeEventListener('drop', onWindowDrag);
    },
  };
}
