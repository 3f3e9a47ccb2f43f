// The image viewer: an image attachment at full size over the chat, with its
// name, size and a download button.
//
// A modal <dialog>: the browser traps focus inside it and closes it on
// Escape; a click on the dark surround closes it too. Focus starts on the
// close button and goes back to the preview that opened it.

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import { formatSize } from '../format.js';

let opened = 0;

/**
 * Shows `attachment` (an image the server serves inline) full size.
 * @param opener the element to give focus back to when the viewer closes
 */
export function openImageViewer(attachment, opener = null) {
  opened += 1;
  const titleId = `viewer-title-${opened}`;
  const close = h(
    'button',
    { class: 'icon-btn viewer-close', type: 'button', 'aria-label': 'Close image', title: 'Close (Esc)', autofocus: true },
    icon('close'),
  );
  const download = h(
    'a',
    {
      class: 'btn btn-small viewer-download',
      href: api.attachmentDownloadUrl(attachment.id),
      download: attachment.name || true,
    },
    icon('download'),
    'Download',
  );
  const { width, height } = attachment;
  const sized = Number.isFinite(width) && Number.isFinite(height) && width > 0 && height > 0;
  const img = h('img', {
    class: 'viewer-img',
    src: api.attachmentUrl(attachment.id),
    alt: attachment.name,
    width: sized ? width : null,
    height: sized ? height : null,
  });
  const stage = h('div', { class: 'viewer-stage' }, img);
  const dialog = h(
    'dialog',
    { class: 'viewer', 'aria-labelledby': titleId },
    h(
      'header',
      { class: 'viewer-bar' },
      h(
        'div',
        { class: 'viewer-caption' },
        h('h2', { class: 'viewer-title', id: titleId }, attachment.name),
        h('span', { class: 'viewer-size' }, formatSize(attachment.size)),
      ),
      download,
      close,
    ),
    stage,
  );

  close.addEventListener('click', () => dialog.close());
  // The surround: the dialog itself (its backdrop reports as it) and the empty stage around the image.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog || event.target === stage) dialog.close();
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener?.isConnected) opener.focus({ preventScroll: true });
  });
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
  return dialog;
}
