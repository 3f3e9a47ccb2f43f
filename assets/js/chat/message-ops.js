// What the reader can do to the messages of a room: edit, delete and react
// (WebSocket frames), who may do which, and how a refusal reads.
//
// The UI changes only when the server's new state comes back
// (`message_updated`), never optimistically: every subscriber sees changes in
// the server's one order, and a refused change leaves nothing to undo. An edit
// carries a nonce so a refusal can reopen the right editor; deletions and
// reactions need none (a toast says what went wrong).

import { confirmDialog } from '../dialog.js';
import { toast } from '../toast.js';
import { newNonce } from './outbox.js';

const ERROR_TEXT = {
  forbidden: 'You are not allowed to change that message.',
  deleted: 'That message was deleted.',
  not_found: 'That message does not exist any more.',
  invalid_emoji: 'That is not a single emoji.',
  too_many_reactions: 'A message can have at most 20 different reactions.',
  invalid_body: 'A message cannot be empty.',
  invalid_message: 'A message cannot be empty.',
  too_large: 'This message is too long.',
  rate_limited: 'You are doing that too fast. Wait a moment and try again.',
  encrypted_room: 'This room is end-to-end encrypted: that cannot be done here.',
  invalid_ciphertext: 'The encrypted message was refused as malformed.',
};
const NOT_CONNECTED = 'Not connected: try again when the connection is back.';

/** The text of a refused frame for a toast. */
export function describeError(frame) {
  return ERROR_TEXT[frame.code] ?? frame.message ?? `Server error: ${frame.code}`;
}

/**
 * @param opts.socket     the ChatSocket
 * @param opts.roomId
 * @param opts.user       the signed-in user ({ username, is_admin })
 * @param opts.role       () => the reader's role in the room ('owner' | 'member' | undefined)
 * @param opts.isJoined   () => boolean: frames for the room can be sent
 * @param opts.rowOf      (id) => the MessageRow of a loaded message
 * @param opts.picker     the EmojiPicker
 * @param opts.onReply    (message) => void
 * @param opts.e2e        in an end-to-end encrypted room: { seal(text) => Promise<{ ciphertext, iv,
 *                        key_version, mentions }>, token(message, emoji) => Promise<reaction token> }
 */
export function createMessageOps({ socket, roomId, user, role, isJoined, rowOf, picker, onReply, e2e = null }) {
  const me = user.username;
  /** nonce -> id of the message whose edit is on its way */
  const pendingEdits = new Map();

  const send = (frame) => {
    if (isJoined() && socket.send(frame)) return true;
    toast(NOT_CONNECTED, 'error');
    return false;
  };
  const react = async (message, emoji, on) => {
    // Encrypted rooms react with keyed tokens, never the emoji itself.
    let sent = emoji;
    if (e2e) {
      try {
        sent = await e2e.token(message, emoji);
      } catch (error) {
        toast(error.message, 'error');
        return false;
      }
    }
    return send({ type: 'react', room: roomId, message: message.id, emoji: sent, on });
  };
  /** Sends an encrypted edit once sealed; the row's editor hears of a failure. */
  const sendSealedEdit = async (message, body, nonce) => {
    let sealed;
    try {
      sealed = await e2e.seal(body);
    } catch (error) {
      rowOf(message.id)?.editFailed(error.message);
      return;
    }
    // The server takes no `mentions` with an edit (an edit keeps the message's mentions).
    const { mentions: _mentions, ...fields } = sealed;
    if (!isJoined() || !socket.send({ type: 'edit', room: roomId, message: message.id, ...fields, nonce })) {
      rowOf(message.id)?.editFailed(NOT_CONNECTED);
      return;
    }
    pendingEdits.set(nonce, message.id);
  };

  return {
    // A webhook's message has its creator as author, but it is the webhook's words;
    // an encrypted message this browser cannot read cannot be edited from it.
    canEdit: (m) => !m.deleted && !m.webhook && m.author === me && (!m.e2e || m.e2e === 'ok'),
    canDelete: (m) => !m.deleted && (m.author === me || role() === 'owner' || Boolean(user.is_admin)),
    reply: (m) => onReply(m),
    react,
    pickReaction(message, anchor) {
      picker.open(anchor, (emoji) => react(message, emoji, true));
    },

    /** Sends an edit; false when it could not be sent. */
    edit(message, body) {
      const nonce = newNonce();
      // The editor shows its own "not connected" line: no toast.
      if (!isJoined()) return false;
      if (e2e) {
        sendSealedEdit(message, body, nonce);
        return true;
      }
      if (!socket.send({ type: 'edit', room: roomId, message: message.id, body, nonce })) return false;
      pendingEdits.set(nonce, message.id);
      return true;
    },

    async remove(message) {
      const own = message.author === me;
      const ok = await confirmDialog({
        title: 'Delete this message?',
        text: own
          ? 'It is removed for everyone, with its reactions. This cannot be undone.'
          : `This deletes ${message.author}’s message for everyone, with its reactions. This cannot be undone.`,
        confirm: 'Delete',
        danger: true,
      });
      if (ok) send({ type: 'delete', room: roomId, message: message.id });
    },

    /** A `message_updated` was shown: when it answers an edit of ours (its nonce), that editor closes. */
    settled(frame) {
      const id = frame.nonce && pendingEdits.get(frame.nonce);
      if (!id) return;
      pendingEdits.delete(frame.nonce);
      rowOf(id)?.editSaved();
    },

    /** An error frame: true when it answered one of these changes (and was shown). */
    refused(frame) {
      const id = frame.nonce && pendingEdits.get(frame.nonce);
      if (id) {
        pendingEdits.delete(frame.nonce);
        rowOf(id)?.editFailed(`Not saved: ${describeError(frame)}`);
        toast(describeError(frame), 'error');
        return true;
      }
      // `not_found` may be about the room itself: the chat view decides.
      if (frame.code in ERROR_TEXT && frame.code !== 'not_found') {
        toast(describeError(frame), 'error');
        return true;
      }
      return false;
    },

    /** The connection dropped: an edit without an answer may be lost; its editor reopens. */
    connectionLost() {
      const text = 'Connection lost before it was saved: press Enter to try again.';
      for (const id of pendingEdits.values()) rowOf(id)?.editFailed(text);
      pendingEdits.clear();
    },
  };
}
