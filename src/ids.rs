//! Typed identifiers, so a room id can never be passed where a message id is meant.

use std::fmt;
use std::str::FromStr;

/// An id that is a ULID: ids sort by creation time and reveal nothing else.
macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(ulid::Ulid);

        impl $name {
            /// A new id stamped with `now_ms` and 80 random bits from the OS.
            pub fn generate(now_ms: u64) -> Self {
                let mut random = [0u8; 16];
                getrandom_fill(&mut random);
                Self(ulid::Ulid::from_parts(now_ms, u128::from_be_bytes(random)))
            }

            pub fn to_bytes(self) -> [u8; 16] {
                self.0.to_bytes()
            }

            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(ulid::Ulid::from_bytes(bytes))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ulid::DecodeError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                ulid::Ulid::from_string(text).map(Self)
            }
        }
    };
}

ulid_id!(
    /// A room's id.
    RoomId
);

ulid_id!(
    /// An attachment's id (a file uploaded to a room).
    AttachmentId
);

/// A message's id: its sequence number within its room, written as 16 hex digits so that
/// string order is send order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for MessageId {
    type Err = InvalidMessageId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidMessageId);
        }
        u64::from_str_radix(text, 16)
            .map(MessageId)
            .map_err(|_| InvalidMessageId)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a message id is 16 hexadecimal digits")]
pub struct InvalidMessageId;

/// Fills `buf` from the operating system's CSPRNG.
pub fn getrandom_fill(buf: &mut [u8]) {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    OsRng.fill_bytes(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_sort_as_strings_in_sequence_order() {
        let ids: Vec<String> = [1u64, 9, 10, 255, 4096, u64::MAX]
            .iter()
            .map(|&n| MessageId(n).to_string())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert_eq!(
            "00000000000000ff".parse::<MessageId>().expect("parse"),
            MessageId(255)
        );
        assert!("ff".parse::<MessageId>().is_err());
        assert!("zz000000000000ff".parse::<MessageId>().is_err());
    }

    #[test]
    fn room_ids_round_trip_through_text_and_bytes() {
        let id = RoomId::generate(1_700_000_000_000);
        assert_eq!(id.to_string().parse::<RoomId>().expect("parse"), id);
        assert_eq!(RoomId::from_bytes(id.to_bytes()), id);
        assert_ne!(RoomId::generate(1), RoomId::generate(1));
        assert!("not-a-room".parse::<RoomId>().is_err());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Numbers anywhere in `u64`, and often small or near the top, where most digits are
        /// equal and only the last ones decide the order.
        fn seq() -> impl Strategy<Value = u64> {
            prop_oneof![any::<u64>(), 0..4096u64, (u64::MAX - 4096)..=u64::MAX]
        }

        proptest! {
            #[test]
            fn message_id_order_is_string_order(a in seq(), b in seq()) {
                let (id_a, id_b) = (MessageId(a), MessageId(b));
                prop_assert_eq!(id_a.cmp(&id_b), id_a.to_string().cmp(&id_b.to_string()));
                prop_assert_eq!(id_a < id_b, a < b);
            }

            #[test]
            fn message_ids_round_trip_through_text(n in seq()) {
                let text = MessageId(n).to_string();
                prop_assert_eq!(text.len(), 16);
                prop_assert_eq!(text.parse::<MessageId>().expect("parse"), MessageId(n));
                prop_assert_eq!(
                    text.to_ascii_uppercase().parse::<MessageId>().expect("parse"),
                    MessageId(n)
                );
            }

            #[test]
            fn message_id_parse_never_panics(text in any::<String>()) {
                if let Ok(id) = text.parse::<MessageId>() {
                    prop_assert_eq!(id.to_string(), text.to_ascii_lowercase());
                }
            }

            #[test]
            fn message_id_parse_accepts_exactly_16_hex_digits(
                text in "[0-9a-fA-F+ -]{14,18}|[0-9a-fA-F]{16}"
            ) {
                let valid = text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit());
                prop_assert_eq!(text.parse::<MessageId>().is_ok(), valid);
            }

            #[test]
            fn room_ids_round_trip_and_sort_as_strings(a in any::<[u8; 16]>(), b in any::<[u8; 16]>()) {
                let (id_a, id_b) = (RoomId::from_bytes(a), RoomId::from_bytes(b));
                prop_assert_eq!(id_a.to_string().parse::<RoomId>().expect("parse"), id_a);
                prop_assert_eq!(id_a.to_bytes(), a);
                prop_assert_eq!(id_a.cmp(&id_b), id_a.to_string().cmp(&id_b.to_string()));
                prop_assert_eq!(id_a.cmp(&id_b), a.cmp(&b));
            }

            #[test]
            fn room_id_parse_never_panics(
                text in prop_oneof![any::<String>(), "[0-9A-Za-z]{25,27}"]
            ) {
                let _ = text.parse::<RoomId>();
            }
        }
    }
}
