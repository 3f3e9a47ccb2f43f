// What a notification about a new message says, in this tab: worded like the
// service worker's push notifications (sw.js, a classic script that cannot
// import this module), so a message reads the same whichever way it arrives,
// and tagged the same way, so the two replace each other instead of piling up.

import { excerpt } from '../chat/message-html.js';

/** As many characters of the text as a push payload carries. */
const BODY_CHARS = 100;

/** The tag of a room's notifications: a newer message replaces the older one. */
export function roomTag(roomId) {
  return `room:${roomId}`;
}

/**
 * The notification for a new message.
 * @param room      the room from the rooms store, or undefined when it is not listed yet
 * @param message   the Message object
 * @param mentioned whether it mentions the reader (by name or `@room`)
 * @returns { title, body, tag, data: { room, message } }
 */
export function messageNotification(room, message, mentioned) {
  const sender = message.webhook?.name ?? message.author;
  let title;
  if (room?.kind === 'direct' || !room?.name) title = mentioned ? `${sender} mentioned you` : sender;
  else title = mentioned ? `${sender} mentioned you in #${room.name}` : `${sender} in #${room.name}`;
  return {
    title,
    body: encryptedRoom(room, message) ? nothingOfTheContent(room) : excerpt(message, BODY_CHARS),
    tag: roomTag(message.room),
    data: { room: message.room, message: message.id },
  };
}

/** An end-to-end encrypted room's message: its content is not for notifications, even decrypted. */
function encryptedRoom(room, message) {
  return Boolean(room?.encrypted) || typeof message.ciphertext === 'string';
}

/** What a notification of an encrypted room says instead of the text, as its pushes do. */
function nothingOfTheContent(room) {
  return room?.kind === 'direct' || !room?.name ? 'New message in a direct conversation' : `New message in ${room.name}`;
}
