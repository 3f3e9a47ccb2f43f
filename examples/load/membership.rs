//! Who holds which connection of the fan-out mesh (`mesh.rs`) and which rooms it joins.
//!
//! Two models, both with exactly N members in each of R rooms:
//!
//! - *a connection per membership* (the default, and what every number recorded before
//!   `--rooms-per-user` was taken with): R x N connections, connection m of room r is user
//!   m % U and joins only room r, so with U <= N a user holds a connection per room it is in;
//! - *shared connections* (`--rooms-per-user K`): U = R x N / K users, each a member of K
//!   distinct rooms through ONE connection joined to all K, as real clients do. Memberships
//!   are dealt member-major: membership i is (room i mod R, member i / R) and user u holds
//!   memberships uK .. uK+K-1; K consecutive values mod R are distinct when K <= R, so no user
//!   is in a room twice and every room gets members 0 .. N-1.

/// One membership: member `member` (0-based; the first S of a room send) of room `room`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub room: usize,
    pub member: usize,
}

/// One WebSocket connection: the user it authenticates as and the rooms it joins, in order.
#[derive(Debug)]
pub struct Conn {
    pub user: usize,
    pub slots: Vec<Slot>,
}

/// A connection per (room, member); `users` registered users (at least 1).
pub fn per_membership(rooms: usize, members: usize, users: usize) -> Vec<Conn> {
    let users = users.max(1);
    (0..rooms * members)
        .map(|c| {
            let (room, member) = (c / members, c % members);
            Conn {
                user: member % users,
                slots: vec![Slot { room, member }],
            }
        })
        .collect()
}

/// Users needed for `rooms` x `members` memberships at `per_user` rooms each, or why the shape
/// does not work.
pub fn shared_users(rooms: usize, members: usize, per_user: usize) -> anyhow::Result<usize> {
    anyhow::ensure!(
        per_user >= 1 && per_user <= rooms,
        "--rooms-per-user must be from 1 to --rooms ({rooms}): a user is in a room at most once"
    );
    let memberships = rooms * members;
    anyhow::ensure!(
        memberships % per_user == 0,
        "--rooms x --members ({memberships}) must be a multiple of --rooms-per-user ({per_user}), \
         so every user is in exactly that many rooms"
    );
    Ok(memberships / per_user)
}

/// One connection per user, user u joined to its `per_user` rooms (see the module doc).
pub fn shared(rooms: usize, members: usize, per_user: usize) -> anyhow::Result<Vec<Conn>> {
    let users = shared_users(rooms, members, per_user)?;
    Ok((0..users)
        .map(|user| Conn {
            user,
            slots: (user * per_user..(user + 1) * per_user)
                .map(|i| Slot {
                    room: i % rooms,
                    member: i / rooms,
                })
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every room has members 0..N exactly once, and no user is in a room twice.
    fn check(rooms: usize, members: usize, conns: &[Conn]) {
        let mut seen = vec![vec![false; members]; rooms];
        for conn in conns {
            let mut own: Vec<usize> = conn.slots.iter().map(|s| s.room).collect();
            own.sort_unstable();
            own.dedup();
            assert_eq!(
                own.len(),
                conn.slots.len(),
                "user {} twice in a room",
                conn.user
            );
            for slot in &conn.slots {
                assert!(!seen[slot.room][slot.member], "{slot:?} twice");
                seen[slot.room][slot.member] = true;
            }
        }
        assert!(seen.iter().flatten().all(|&s| s));
    }

    #[test]
    fn shared_meshes_are_complete_and_distinct() {
        for (rooms, members, per_user) in [(4, 10, 2), (100, 100, 10), (3, 5, 3), (7, 4, 2)] {
            let conns = shared(rooms, members, per_user).expect("valid shape");
            assert_eq!(conns.len(), rooms * members / per_user);
            assert!(conns.iter().all(|c| c.slots.len() == per_user));
            check(rooms, members, &conns);
        }
    }

    #[test]
    fn the_default_is_a_connection_per_membership() {
        let conns = per_membership(2, 5, 3);
        assert_eq!(conns.len(), 10);
        assert_eq!(conns[7].user, 2 % 3);
        assert_eq!(conns[7].slots, vec![Slot { room: 1, member: 2 }]);
        check(2, 5, &conns);
    }

    #[test]
    fn impossible_shapes_are_refused() {
        assert!(shared_users(4, 10, 5).is_err());
        assert!(shared_users(4, 10, 0).is_err());
        assert!(shared_users(3, 5, 2).is_err());
    }
}
