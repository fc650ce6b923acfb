//! Channel settings rows.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::StoreResult;
use crate::channels::model::{Channel, ChannelType, HistoryPolicy, Permission};
use crate::store::StoreError;

const COLUMNS: &str =
    "name, description, type, custom_publish, other_permissions, group_permissions, \
    presence, private_messaging, history_persist, history_max_messages, history_max_age_seconds, \
    created_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<Channel> {
    let bad = |i: usize, v: String| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unexpected value {v:?}").into(),
        )
    };
    let ty: String = r.get(2)?;
    let other: String = r.get(4)?;
    let group: String = r.get(5)?;
    Ok(Channel {
        name: r.get(0)?,
        description: r.get(1)?,
        channel_type: ChannelType::parse(&ty).ok_or_else(|| bad(2, ty.clone()))?,
        custom_publish: r.get(3)?,
        other_permissions: Permission::parse(&other).ok_or_else(|| bad(4, other.clone()))?,
        group_permissions: Permission::parse(&group).ok_or_else(|| bad(5, group.clone()))?,
        presence: r.get(6)?,
        private_messaging: r.get(7)?,
        history: HistoryPolicy {
            persist: r.get(8)?,
            max_messages: r.get(9)?,
            max_age_seconds: r.get(10)?,
        },
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

pub fn all(conn: &Connection) -> StoreResult<Vec<Channel>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM channels ORDER BY name"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, name: &str) -> StoreResult<Option<Channel>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM channels WHERE name = ?1"),
            [name],
            from_row,
        )
        .optional()?)
}

pub fn insert(conn: &Connection, c: &Channel) -> StoreResult<()> {
    conn.execute(
        &format!("INSERT INTO channels({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
        params![
            c.name,
            c.description,
            c.channel_type.as_str(),
            c.custom_publish,
            c.other_permissions.as_str(),
            c.group_permissions.as_str(),
            c.presence,
            c.private_messaging,
            c.history.persist,
            c.history.max_messages,
            c.history.max_age_seconds,
            c.created_at,
            c.updated_at
        ],
    )
    .map_err(|e| StoreError::from_sqlite_unique(e, "Channel with this name already exists."))?;
    Ok(())
}

pub fn update(conn: &Connection, c: &Channel) -> StoreResult<()> {
    let n = conn.execute(
        "UPDATE channels SET description = ?2, custom_publish = ?3, other_permissions = ?4,
           group_permissions = ?5, presence = ?6, private_messaging = ?7, history_persist = ?8,
           history_max_messages = ?9, history_max_age_seconds = ?10, updated_at = ?11
         WHERE name = ?1",
        params![
            c.name,
            c.description,
            c.custom_publish,
            c.other_permissions.as_str(),
            c.group_permissions.as_str(),
            c.presence,
            c.private_messaging,
            c.history.persist,
            c.history.max_messages,
            c.history.max_age_seconds,
            c.updated_at
        ],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub fn delete(conn: &Connection, name: &str) -> StoreResult<()> {
    match conn.execute("DELETE FROM channels WHERE name = ?1", [name])? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}
