//! Dashboard users: email, name, argon2id hash, roles.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use super::{now_rfc3339, StoreResult};
use crate::store::StoreError;

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    pub password_hash: String,
}

impl User {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

const COLUMNS: &str = "id, email, name, roles, active, created_at, updated_at, password_hash";

fn from_row(r: &Row) -> rusqlite::Result<User> {
    let roles: String = r.get(3)?;
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        roles: serde_json::from_str(&roles).unwrap_or_default(),
        active: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
        password_hash: r.get(7)?,
    })
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub roles: &'a [String],
}

pub fn insert(conn: &Connection, new: &NewUser) -> StoreResult<User> {
    let now = now_rfc3339();
    let roles = serde_json::to_string(new.roles).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO users(email, name, password_hash, roles, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![new.email, new.name, new.password_hash, roles, now],
    )
    .map_err(|e| StoreError::from_sqlite_unique(e, "A user with this email already exists."))?;
    get(conn, conn.last_insert_rowid())?.ok_or(StoreError::NotFound)
}

pub fn get(conn: &Connection, id: i64) -> StoreResult<Option<User>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

pub fn by_email(conn: &Connection, email: &str) -> StoreResult<Option<User>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE email = ?1"),
            [email],
            from_row,
        )
        .optional()?)
}

/// Users ordered by id, `limit` from `offset`.
pub fn list(conn: &Connection, offset: i64, limit: i64) -> StoreResult<Vec<User>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM users ORDER BY id LIMIT ?1 OFFSET ?2"
    ))?;
    let rows = stmt.query_map([limit, offset], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn count_admins(conn: &Connection) -> StoreResult<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM users, json_each(users.roles)
         WHERE json_each.value = 'admin' AND users.active = 1",
        [],
        |r| r.get(0),
    )?)
}

#[derive(Default)]
pub struct UserChanges {
    pub email: Option<String>,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub roles: Option<Vec<String>>,
    pub active: Option<bool>,
}

pub fn update(conn: &Connection, id: i64, ch: &UserChanges) -> StoreResult<User> {
    let now = now_rfc3339();
    let roles = ch
        .roles
        .as_ref()
        .map(|r| serde_json::to_string(r).unwrap_or_else(|_| "[]".into()));
    let changed = conn
        .execute(
            "UPDATE users SET
               email = coalesce(?2, email),
               name = coalesce(?3, name),
               password_hash = coalesce(?4, password_hash),
               roles = coalesce(?5, roles),
               active = coalesce(?6, active),
               updated_at = ?7
             WHERE id = ?1",
            params![
                id,
                ch.email,
                ch.name,
                ch.password_hash,
                roles,
                ch.active,
                now
            ],
        )
        .map_err(|e| StoreError::from_sqlite_unique(e, "A user with this email already exists."))?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    get(conn, id)?.ok_or(StoreError::NotFound)
}

pub fn delete(conn: &Connection, id: i64) -> StoreResult<()> {
    match conn.execute("DELETE FROM users WHERE id = ?1", [id])? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}
