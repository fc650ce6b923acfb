//! API keys: only the sha256 of the key is stored, with a short prefix for recognition.

use rusqlite::{params, Connection, Row};
use serde::Serialize;

use super::{now_rfc3339, StoreResult};
use crate::store::StoreError;

#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub prefix: String,
    pub created_at: String,
    #[serde(skip)]
    pub key_hash: String,
}

fn from_row(r: &Row) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        prefix: r.get(3)?,
        created_at: r.get(4)?,
        key_hash: r.get(5)?,
    })
}

pub fn insert(
    conn: &Connection,
    name: &str,
    role: &str,
    key_hash: &str,
    prefix: &str,
) -> StoreResult<ApiKeyRecord> {
    let now = now_rfc3339();
    conn.execute(
        "INSERT INTO api_keys(name, role, key_hash, key_prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, role, key_hash, prefix, now],
    )?;
    Ok(ApiKeyRecord {
        id: conn.last_insert_rowid(),
        name: name.to_string(),
        role: role.to_string(),
        prefix: prefix.to_string(),
        created_at: now,
        key_hash: key_hash.to_string(),
    })
}

pub fn list(conn: &Connection) -> StoreResult<Vec<ApiKeyRecord>> {
    let mut stmt = conn.prepare(
        "SELECT id, name, role, key_prefix, created_at, key_hash FROM api_keys ORDER BY id",
    )?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete(conn: &Connection, id: i64) -> StoreResult<()> {
    match conn.execute("DELETE FROM api_keys WHERE id = ?1", [id])? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}
