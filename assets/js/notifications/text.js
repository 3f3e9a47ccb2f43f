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
    body: excerpt(message, BODY_CHARS),
    tag: roomTag(message.room),
    data: { room: message.room, message: message.id },
  };
}
