//! Random ids for livechat objects: 17 characters of `[a-z0-9]` (lowercase, because a
//! room id is part of a channel name and channel names are lowercase).

use rand::Rng;

pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..17)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A client-chosen id (`_id` of a message): 1–64 of `[A-Za-z0-9_-]`.
pub fn valid_client_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A visitor token as the widget makes it: 8–128 of `[A-Za-z0-9_.-]`.
pub fn valid_token(s: &str) -> bool {
    (8..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// A room id as we hand them out (anything else cannot name a room).
pub fn valid_room_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}
