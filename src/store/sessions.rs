//! Dashboard sessions: only the sha256 of the bearer token is stored.

use rusqlite::{params, Connection, OptionalExtension};

use super::{now_rfc3339, StoreResult};

pub fn insert(
    conn: &Connection,
    user_id: i64,
    token_hash: &str,
    expires_at: i64,
) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO sessions(user_id, token_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![user_id, token_hash, now_rfc3339(), expires_at],
    )?;
    Ok(())
}

/// The user id of a live (unexpired) session.
pub fn lookup(conn: &Connection, token_hash: &str, now: i64) -> StoreResult<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT user_id FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
            params![token_hash, now],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn delete(conn: &Connection, token_hash: &str) -> StoreResult<bool> {
    Ok(conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])? > 0)
}

/// Revokes every session of a user, optionally keeping one.
pub fn delete_for_user(
    conn: &Connection,
    user_id: i64,
    keep_hash: Option<&str>,
) -> StoreResult<usize> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE user_id = ?1 AND token_hash IS NOT ?2",
        params![user_id, keep_hash],
    )?)
}

pub fn delete_expired(conn: &Connection, now: i64) -> StoreResult<usize> {
    Ok(conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?)
}
