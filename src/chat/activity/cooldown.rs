//! When a room's `room_activity` notice goes out: the pacing rule, apart from the notices.
//!
//! A room is announced at most once per `COOLDOWN`. A message that comes at least `COOLDOWN`
//! after the room's previous notice is announced at once, so in a busy room the notice goes
//! out beside the message that caused it and a connection that gets both writes them together.
//! A message that comes sooner waits; if no later message takes its place within `COOLDOWN`, it
//! is announced then. So every message is reflected in a notice at most `COOLDOWN` after it
//! came, and only the newest state of a burst is sent.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::ids::RoomId;

/// At most one notice per room (and so per connection and room) this often.
pub const COOLDOWN: Duration = Duration::from_millis(250);

/// A room announced less than `COOLDOWN` ago, or with a message still waiting.
struct Recent<T> {
    announced_at: Instant,
    /// The newest message since that notice, and when it came.
    waiting: Option<(T, Instant)>,
}

/// The pacing state of every room heard from in the last `COOLDOWN`.
pub(in crate::chat) struct Cooldowns<T> {
    rooms: HashMap<RoomId, Recent<T>>,
    /// When to look at a room again, in time order: every entry is `COOLDOWN` after the moment
    /// it was pushed, and those moments only move forward. An entry made stale by a later one
    /// for the same room is passed over.
    checks: VecDeque<(Instant, RoomId)>,
}

impl<T> Default for Cooldowns<T> {
    fn default() -> Self {
        Self {
            rooms: HashMap::new(),
            checks: VecDeque::new(),
        }
    }
}

impl<T> Cooldowns<T> {
    /// A new message in `room` at `now`: given back when it is to be announced now, kept when
    /// it has to wait.
    pub fn arrived(&mut self, room: RoomId, message: T, now: Instant) -> Option<T> {
        self.checks.push_back((now + COOLDOWN, room));
        match self.rooms.get_mut(&room) {
            Some(recent) if now.saturating_duration_since(recent.announced_at) < COOLDOWN => {
                recent.waiting = Some((message, now));
                None
            }
            _ => {
                self.rooms.insert(
                    room,
                    Recent {
                        announced_at: now,
                        waiting: None,
                    },
                );
                Some(message)
            }
        }
    }

    /// When `due` next has something to do.
    pub fn next_check(&self) -> Option<Instant> {
        self.checks.front().map(|(at, _)| *at)
    }

    /// The waiting messages no later one took the place of within `COOLDOWN`, to announce now;
    /// rooms quiet for a whole `COOLDOWN` are forgotten, so their next message goes out at once.
    pub fn due(&mut self, now: Instant) -> Vec<T> {
        let mut due = Vec::new();
        while let Some(&(at, room)) = self.checks.front() {
            if at > now {
                break;
            }
            self.checks.pop_front();
            let Some(recent) = self.rooms.get_mut(&room) else {
                continue;
            };
            match recent.waiting.take() {
                Some((message, came)) if now.saturating_duration_since(came) >= COOLDOWN => {
                    recent.announced_at = now;
                    self.checks.push_back((now + COOLDOWN, room));
                    due.push(message);
                }
                // A later check, pushed when it came, will announce it.
                Some(waiting) => recent.waiting = Some(waiting),
                None if now.saturating_duration_since(recent.announced_at) >= COOLDOWN => {
                    self.rooms.remove(&room);
                }
                None => {}
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Plays `arrivals` (time in ms, room index, message) through the pacing, checking at every
    /// arrival and every check time; returns (time in ms, room index, message) announced.
    fn play(arrivals: &[(u64, usize, u32)]) -> Vec<(u64, usize, u32)> {
        let start = Instant::now();
        let rooms: Vec<RoomId> = (0..4).map(|_| RoomId::generate(1)).collect();
        let room_index = |room: RoomId| rooms.iter().position(|r| *r == room).expect("room");
        let mut paced = Cooldowns::default();
        let mut announced = Vec::new();
        let mut next = 0;
        loop {
            let arrival = arrivals.get(next).map(|&(at, _, _)| start + ms(at));
            let check = paced.next_check();
            let now = match (arrival, check) {
                (None, None) => break,
                (Some(a), Some(c)) if c < a => c,
                (Some(a), _) => a,
                (None, Some(c)) => c,
            };
            let at_ms = (now - start).as_millis() as u64;
            for (room, message) in paced.due(now) {
                announced.push((at_ms, room_index(room), message));
            }
            if arrival == Some(now) {
                let (_, room, message) = arrivals[next];
                next += 1;
                if let Some((room, message)) =
                    paced.arrived(rooms[room], (rooms[room], message), now)
                {
                    announced.push((at_ms, room_index(room), message));
                }
            }
        }
        announced
    }

    #[test]
    fn a_quiet_rooms_message_is_announced_at_once() {
        assert_eq!(
            play(&[(0, 0, 1), (1000, 0, 2), (1000, 1, 3)]),
            vec![(0, 0, 1), (1000, 0, 2), (1000, 1, 3)]
        );
    }

    #[test]
    fn a_burst_is_announced_once_more_with_its_newest_message_a_cooldown_after_it() {
        assert_eq!(
            play(&[
                (0, 0, 1),
                (10, 0, 2),
                (20, 0, 3),
                (30, 0, 4),
                (400, 0, 5),
                (900, 0, 6)
            ]),
            vec![(0, 0, 1), (280, 0, 4), (650, 0, 5), (900, 0, 6)],
        );
    }

    #[test]
    fn a_steady_stream_is_announced_beside_its_messages_never_on_a_timer() {
        let arrivals: Vec<(u64, usize, u32)> = (0..30).map(|n| (n * 100, 0, n as u32)).collect();
        let announced = play(&arrivals);
        // Every third message, at the moment it came; the last one waits its cooldown.
        let mut expected: Vec<(u64, usize, u32)> =
            (0..10).map(|n| (n * 300, 0, n as u32 * 3)).collect();
        expected.push((2900 + 250, 0, 29));
        assert_eq!(announced, expected);
    }

    #[test]
    fn no_room_is_announced_twice_within_a_cooldown_and_every_message_within_one() {
        // Three rooms with irregular traffic.
        let mut arrivals = Vec::new();
        let mut at = 0;
        for n in 0..300u32 {
            at += [7, 130, 45, 260, 3, 90][n as usize % 6];
            arrivals.push((at, n as usize % 3, n));
        }
        let announced = play(&arrivals);
        for room in 0..3 {
            let times: Vec<u64> = announced
                .iter()
                .filter(|a| a.1 == room)
                .map(|a| a.0)
                .collect();
            assert!(times.windows(2).all(|w| w[1] - w[0] >= 250), "{times:?}");
            for &(came, _, message) in arrivals.iter().filter(|a| a.1 == room) {
                let covered = announced
                    .iter()
                    .any(|&(t, r, m)| r == room && m >= message && t >= came && t <= came + 250);
                assert!(covered, "message {message} at {came} ms: {announced:?}");
            }
        }
    }
}
