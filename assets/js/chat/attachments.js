// A message's attachments in the history: an image with a thumbnail shows as
// a preview that opens the image viewer; any other file is a chip (icon,
// name, size) that downloads it.
//
// The preview <img> has the image's width and height as attributes, scaled to
// fit the preview box by CSSOM, so its box has its final size before the
// thumbnail arrives: the history does not jump when it loads, and a view held
// at the newest message stays there. Names are text nodes: a file may be
// called anything, `<script>` included.

import { api } from '../api.js';
import { h, icon } from '../dom.js';
import { formatSize } from '../format.js';
import { openImageViewer } from './image-viewer.js';

/** The largest a preview is drawn, in CSS pixels (narrow screens shrink it further). */
const PREVIEW_MAX_W = 360;
const PREVIEW_MAX_H = 280;
/** The types the server serves inline; the viewer shows only these. */
const VIEWABLE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/**
 * The thumbnail's address when the server made one. Only a path on this
 * origin is used (the server sends `/api/attachments/{id}/thumbnail`).
 */
export function thumbnailUrl(attachment) {
  const url = attachment?.thumbnail;
  return typeof url === 'string' && url.startsWith('/') && !url.startsWith('//') ? url : null;
}

/** The attachments of a message as one element, or null when it has none. */
export function renderAttachments(attachments) {
  if (!Array.isArray(attachments) || attachments.length === 0) return null;
  return h(
    'ul',
    { class: 'msg-attachments', 'aria-label': attachments.length === 1 ? 'Attachment' : `${attachments.length} attachments` },
    attachments.map((attachment) => h('li', { class: 'msg-attachment' }, renderOne(attachment))),
  );
}

function renderOne(attachment) {
  const thumbnail = thumbnailUrl(attachment);
  if (thumbnail && VIEWABLE.has(attachment.content_type)) return imagePreview(attachment, thumbnail);
  return fileChip(attachment);
}

/** A link to the full image (so it also opens in a new tab) that opens the viewer on a plain click. */
function imagePreview(attachment, thumbnail) {
  const { width, height } = attachment;
  const sized = Number.isFinite(width) && Number.isFinite(height) && width > 0 && height > 0;
  const img = h('img', {
    class: 'att-thumb',
    src: thumbnail,
    alt: attachment.name,
    loading: 'lazy',
    decoding: 'async',
    width: sized ? width : null,
    height: sized ? height : null,
  });
  if (sized) {
    // The attributes give the aspect ratio; the width here gives the size (CSS caps it at the row's width).
    const scale = Math.min(1, PREVIEW_MAX_W / width, PREVIEW_MAX_H / height);
    img.style.width = `${Math.max(1, Math.round(width * scale))}px`;
  } else img.classList.add('att-thumb-unsized');
  const link = h(
    'a',
    {
      class: 'att-image',
      href: api.attachmentUrl(attachment.id),
      title: `${attachment.name} (${formatSize(attachment.size)})`,
      'aria-haspopup': 'dialog',
      dataset: { attachment: attachment.id },
    },
    img,
  );
  link.addEventListener('click', (event) => {
    // A new tab or window (middle click, Ctrl or Cmd) keeps the browser's own handling.
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    openImageViewer(attachment, link);
  });
  return link;
}

/** Any other file, or an image without a preview: downloading is the one thing to do with it. */
function fileChip(attachment) {
  return h(
    'a',
    {
      class: 'att-file',
      href: api.attachmentDownloadUrl(attachment.id),
      title: `Download ${attachment.name}`,
      download: attachment.name || true,
      dataset: { attachment: attachment.id },
    },
    h('span', { class: 'att-file-icon', 'aria-hidden': 'true' }, icon('file')),
    h(
      'span',
      { class: 'att-file-text' },
      h('span', { class: 'att-file-name' }, attachment.name),
      h('span', { class: 'sr-only' }, ', '),
      h('span', { class: 'att-file-size' }, formatSize(attachment.size)),
    ),
    h('span', { class: 'att-file-action', 'aria-hidden': 'true' }, icon('download')),
  );
}
