//! Durable channel history: one row per message, ids from a per-channel sequence that
//! never goes back (pruning does not free ids).

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::value::RawValue;

use super::StoreResult;
use crate::channels::message::{Author, Kind, Message};
use crate::store::StoreError;

/// The fields of a message before it has an id.
pub struct NewMessage<'a> {
    pub channel: &'a str,
    pub room: Option<&'a str>,
    pub author: &'a Author,
    pub created_at: &'a str,
    pub created_unix: i64,
    pub payload: &'a RawValue,
    pub kind: Kind,
}

pub fn insert(conn: &Connection, m: &NewMessage) -> StoreResult<i64> {
    let id = super::sequence::next_id(conn, m.channel)?;
    let author = serde_json::to_string(m.author).map_err(|e| StoreError::Other(e.to_string()))?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO messages(channel, id, room, author, created_at, created_unix, payload, kind)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    stmt.execute(params![
        m.channel,
        id,
        m.room,
        author,
        m.created_at,
        m.created_unix,
        m.payload.get(),
        m.kind.as_str()
    ])?;
    Ok(id)
}

fn from_row(r: &Row) -> rusqlite::Result<Message> {
    let conv = |i: usize, e: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    };
    let author: String = r.get(3)?;
    let payload: String = r.get(5)?;
    let kind: String = r.get(6)?;
    Ok(Message {
        channel: r.get(0)?,
        id: r.get(1)?,
        room: r.get(2)?,
        author: serde_json::from_str(&author).map_err(|e| conv(3, e.to_string()))?,
        created_at: r.get(4)?,
        payload: RawValue::from_string(payload).map_err(|e| conv(5, e.to_string()))?,
        kind: Kind::parse(&kind).ok_or_else(|| conv(6, kind.clone()))?,
        client: None,
    })
}

const COLUMNS: &str = "channel, id, room, author, created_at, payload, kind";

/// Which messages of a channel a history query wants.
pub struct HistoryQuery<'a> {
    pub channel: &'a str,
    pub room: Option<&'a str>,
    /// asc: ids greater than this; desc: ids smaller than this.
    pub cursor: Option<i64>,
    pub descending: bool,
    pub limit: i64,
}

pub fn history(conn: &Connection, q: &HistoryQuery) -> StoreResult<Vec<Arc<Message>>> {
    // Spelled out per case so SQLite walks the (channel, id) key as a range.
    let (cmp, order) = if q.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let cursor = if q.cursor.is_some() {
        format!("AND id {cmp} ?3")
    } else {
        "AND ?3 IS NULL".into()
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM messages
         WHERE channel = ?1 AND (?2 IS NULL OR room = ?2) {cursor}
         ORDER BY id {order} LIMIT ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![q.channel, q.room, q.cursor, q.limit], |r| {
        from_row(r).map(Arc::new)
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, channel: &str, id: i64) -> StoreResult<Option<Message>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM messages WHERE channel = ?1 AND id = ?2"),
            params![channel, id],
            from_row,
        )
        .optional()?)
}

/// Concrete channel names that have stored messages, optionally under a prefix.
pub fn channels_with_history(conn: &Connection, prefix: Option<&str>) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT channel FROM messages WHERE ?1 IS NULL OR substr(channel, 1, length(?1)) = ?1",
    )?;
    let rows = stmt.query_map([prefix], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Removes a concrete channel's history and its id sequence.
pub fn delete_channel(conn: &Connection, channel: &str) -> StoreResult<usize> {
    conn.execute("DELETE FROM channel_seq WHERE channel = ?1", [channel])?;
    super::sequence::forget_channel(channel);
    Ok(conn.execute("DELETE FROM messages WHERE channel = ?1", [channel])?)
}

/// Enforces a history policy on one concrete channel; returns rows removed.
pub fn prune(
    conn: &Connection,
    channel: &str,
    max_messages: i64,
    older_than_unix: Option<i64>,
) -> StoreResult<usize> {
    let mut removed = conn.execute(
        "DELETE FROM messages WHERE channel = ?1 AND id <= (
             SELECT id FROM messages WHERE channel = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        params![channel, max_messages.max(0)],
    )?;
    if let Some(cutoff) = older_than_unix {
        removed += conn.execute(
            "DELETE FROM messages WHERE channel = ?1 AND created_unix < ?2",
            params![channel, cutoff],
        )?;
    }
    Ok(removed)
}
