//! Livechat rows: visitors, visits and pages, rooms, inquiries, agent status, settings,
//! livechat triggers and their runs, offline messages. A room's messages are channel
//! messages of `livechat/{rid}` (see `store::messages`); nothing here stores chat text.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::StoreResult;
use crate::error::StoreError;

fn json_col(r: &Row, i: usize) -> rusqlite::Result<Value> {
    let s: String = r.get(i)?;
    Ok(serde_json::from_str(&s).unwrap_or(Value::Null))
}

// ---- visitors ------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct VisitorRow {
    pub id: String,
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub department: Option<String>,
    pub custom_fields: Value,
    pub registered: bool,
    pub created_at: String,
    pub updated_at: String,
}

const VISITOR_COLS: &str =
    "id, username, name, email, phone, department, custom_fields, registered, created_at, updated_at";

fn visitor_row(r: &Row) -> rusqlite::Result<VisitorRow> {
    Ok(VisitorRow {
        id: r.get(0)?,
        username: r.get(1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        phone: r.get(4)?,
        department: r.get(5)?,
        custom_fields: json_col(r, 6)?,
        registered: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

pub fn visitor_by_token(conn: &Connection, token_hash: &str) -> StoreResult<Option<VisitorRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {VISITOR_COLS} FROM livechat_visitors WHERE token_hash = ?1"),
            [token_hash],
            visitor_row,
        )
        .optional()?)
}

pub fn visitor(conn: &Connection, id: &str) -> StoreResult<Option<VisitorRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {VISITOR_COLS} FROM livechat_visitors WHERE id = ?1"),
            [id],
            visitor_row,
        )
        .optional()?)
}

/// Inserts or replaces the visitor (matched by token hash).
pub fn upsert_visitor(conn: &Connection, token_hash: &str, v: &VisitorRow) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO livechat_visitors(id, token_hash, username, name, email, phone, department,
            custom_fields, registered, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, email = excluded.email,
            phone = excluded.phone, department = excluded.department,
            custom_fields = excluded.custom_fields, registered = excluded.registered,
            updated_at = excluded.updated_at",
        params![
            v.id,
            token_hash,
            v.username,
            v.name,
            v.email,
            v.phone,
            v.department,
            v.custom_fields.to_string(),
            v.registered,
            v.created_at,
            v.updated_at
        ],
    )
    .map_err(|e| StoreError::from_sqlite_unique(e, "visitor token already used"))?;
    Ok(())
}

pub fn count_visitors(conn: &Connection) -> StoreResult<i64> {
    Ok(conn.query_row("SELECT count(*) FROM livechat_visitors", [], |r| r.get(0))?)
}

/// Erases a visitor: visits, pages, rooms, inquiries, trigger runs go with it (cascade).
/// Returns the ids of its rooms, whose channels the caller erases.
pub fn delete_visitor(conn: &Connection, id: &str) -> StoreResult<Vec<String>> {
    let rooms = room_ids_of_visitor(conn, id)?;
    conn.execute("DELETE FROM livechat_visitors WHERE id = ?1", [id])?;
    Ok(rooms)
}

pub fn room_ids_of_visitor(conn: &Connection, visitor_id: &str) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare("SELECT id FROM livechat_rooms WHERE visitor_id = ?1")?;
    let rows = stmt.query_map([visitor_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- visits --------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct VisitRow {
    pub id: String,
    pub visitor_id: String,
    pub started_ms: i64,
    pub last_event_ms: i64,
    pub referrer: Option<String>,
    pub chat_opened: bool,
}

#[derive(Debug, Clone)]
pub struct PageRow {
    pub href: String,
    pub title: String,
    pub at_ms: i64,
}

fn visit_row(r: &Row) -> rusqlite::Result<VisitRow> {
    Ok(VisitRow {
        id: r.get(0)?,
        visitor_id: r.get(1)?,
        started_ms: r.get(2)?,
        last_event_ms: r.get(3)?,
        referrer: r.get(4)?,
        chat_opened: r.get(5)?,
    })
}

pub fn last_visit(conn: &Connection, visitor_id: &str) -> StoreResult<Option<VisitRow>> {
    Ok(conn
        .query_row(
            "SELECT id, visitor_id, started_ms, last_event_ms, referrer, chat_opened
             FROM livechat_visits WHERE visitor_id = ?1 ORDER BY started_ms DESC LIMIT 1",
            [visitor_id],
            visit_row,
        )
        .optional()?)
}

pub fn count_visits(conn: &Connection, visitor_id: &str) -> StoreResult<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM livechat_visits WHERE visitor_id = ?1",
        [visitor_id],
        |r| r.get(0),
    )?)
}

pub fn insert_visit(conn: &Connection, v: &VisitRow) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO livechat_visits(id, visitor_id, started_ms, last_event_ms, referrer, chat_opened)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            v.id,
            v.visitor_id,
            v.started_ms,
            v.last_event_ms,
            v.referrer,
            v.chat_opened
        ],
    )?;
    Ok(())
}

pub fn touch_visit(conn: &Connection, id: &str, at_ms: i64, chat_opened: bool) -> StoreResult<()> {
    conn.execute(
        "UPDATE livechat_visits SET last_event_ms = max(last_event_ms, ?2),
            chat_opened = chat_opened OR ?3 WHERE id = ?1",
        params![id, at_ms, chat_opened],
    )?;
    Ok(())
}

pub fn insert_page(conn: &Connection, visit_id: &str, page: &PageRow) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO livechat_pages(visit_id, href, title, at_ms) VALUES (?1, ?2, ?3, ?4)",
        params![visit_id, page.href, page.title, page.at_ms],
    )?;
    Ok(())
}

pub fn pages(conn: &Connection, visit_id: &str, limit: i64) -> StoreResult<Vec<PageRow>> {
    let mut stmt = conn.prepare(
        "SELECT href, title, at_ms FROM livechat_pages WHERE visit_id = ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![visit_id, limit], |r| {
        Ok(PageRow {
            href: r.get(0)?,
            title: r.get(1)?,
            at_ms: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every page of every visit of a visitor, oldest first: (page, visit id).
pub fn pages_of_visitor(
    conn: &Connection,
    visitor_id: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<(Vec<PageRow>, i64)> {
    let total: i64 = conn.query_row(
        "SELECT count(*) FROM livechat_pages p JOIN livechat_visits v ON v.id = p.visit_id
         WHERE v.visitor_id = ?1",
        [visitor_id],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(
        "SELECT p.href, p.title, p.at_ms FROM livechat_pages p
         JOIN livechat_visits v ON v.id = p.visit_id
         WHERE v.visitor_id = ?1 ORDER BY p.at_ms DESC, p.id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let rows = stmt.query_map(params![visitor_id, limit, offset], |r| {
        Ok(PageRow {
            href: r.get(0)?,
            title: r.get(1)?,
            at_ms: r.get(2)?,
        })
    })?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

// ---- rooms ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct RoomRow {
    pub id: String,
    pub visitor_id: String,
    pub status: String,
    pub agent_id: Option<i64>,
    pub served_at: Option<String>,
    pub reserved_agent_id: Option<i64>,
    pub source: String,
    pub msgs: i64,
    pub last_message_at: Option<String>,
    pub waiting_response: bool,
    pub agent_replied: bool,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub closer: Option<String>,
    pub closed_by: Option<Value>,
    pub close_comment: Option<String>,
}

const ROOM_COLS: &str =
    "id, visitor_id, status, agent_id, served_at, reserved_agent_id, source, msgs,
    last_message_at, waiting_response, agent_replied, created_at, updated_at, closed_at, closer,
    closed_by, close_comment";

fn room_row(r: &Row) -> rusqlite::Result<RoomRow> {
    let closed_by: Option<String> = r.get(15)?;
    Ok(RoomRow {
        id: r.get(0)?,
        visitor_id: r.get(1)?,
        status: r.get(2)?,
        agent_id: r.get(3)?,
        served_at: r.get(4)?,
        reserved_agent_id: r.get(5)?,
        source: r.get(6)?,
        msgs: r.get(7)?,
        last_message_at: r.get(8)?,
        waiting_response: r.get(9)?,
        agent_replied: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        closed_at: r.get(13)?,
        closer: r.get(14)?,
        closed_by: closed_by.and_then(|s| serde_json::from_str(&s).ok()),
        close_comment: r.get(16)?,
    })
}

pub fn room(conn: &Connection, id: &str) -> StoreResult<Option<RoomRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {ROOM_COLS} FROM livechat_rooms WHERE id = ?1"),
            [id],
            room_row,
        )
        .optional()?)
}

/// The visitor's room that is not closed, if any (newest).
pub fn open_room_of_visitor(conn: &Connection, visitor_id: &str) -> StoreResult<Option<RoomRow>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {ROOM_COLS} FROM livechat_rooms WHERE visitor_id = ?1 AND status != 'closed'
                 ORDER BY created_at DESC LIMIT 1"
            ),
            [visitor_id],
            room_row,
        )
        .optional()?)
}

pub fn last_room_of_visitor(conn: &Connection, visitor_id: &str) -> StoreResult<Option<RoomRow>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {ROOM_COLS} FROM livechat_rooms WHERE visitor_id = ?1
                 ORDER BY created_at DESC LIMIT 1"
            ),
            [visitor_id],
            room_row,
        )
        .optional()?)
}

pub fn insert_room(conn: &Connection, r: &RoomRow) -> StoreResult<()> {
    conn.execute(
        &format!(
            "INSERT INTO livechat_rooms({ROOM_COLS}) VALUES
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        ),
        params![
            r.id,
            r.visitor_id,
            r.status,
            r.agent_id,
            r.served_at,
            r.reserved_agent_id,
            r.source,
            r.msgs,
            r.last_message_at,
            r.waiting_response,
            r.agent_replied,
            r.created_at,
            r.updated_at,
            r.closed_at,
            r.closer,
            r.closed_by.as_ref().map(|v| v.to_string()),
            r.close_comment
        ],
    )?;
    Ok(())
}

/// Writes back every mutable column of a room.
pub fn update_room(conn: &Connection, r: &RoomRow) -> StoreResult<()> {
    let n = conn.execute(
        "UPDATE livechat_rooms SET status = ?2, agent_id = ?3, served_at = ?4,
            reserved_agent_id = ?5, msgs = ?6, last_message_at = ?7, waiting_response = ?8,
            agent_replied = ?9, updated_at = ?10, closed_at = ?11, closer = ?12, closed_by = ?13,
            close_comment = ?14
         WHERE id = ?1",
        params![
            r.id,
            r.status,
            r.agent_id,
            r.served_at,
            r.reserved_agent_id,
            r.msgs,
            r.last_message_at,
            r.waiting_response,
            r.agent_replied,
            r.updated_at,
            r.closed_at,
            r.closer,
            r.closed_by.as_ref().map(|v| v.to_string()),
            r.close_comment
        ],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// (room id, visitor id, serving agent, status).
pub type RoomAccessRow = (String, String, Option<i64>, String);

/// Every room (for the in-memory membership index).
pub fn room_index(conn: &Connection) -> StoreResult<Vec<RoomAccessRow>> {
    let mut stmt = conn.prepare("SELECT id, visitor_id, agent_id, status FROM livechat_rooms")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub struct RoomFilter {
    pub agents: Vec<i64>,
    pub open: Option<bool>,
    pub status: Option<String>,
    pub visitor_name: Option<String>,
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    pub closed_from: Option<String>,
    pub closed_to: Option<String>,
    pub descending: bool,
    pub offset: i64,
    pub limit: i64,
}

/// A page of rooms and the total that match.
pub fn rooms(conn: &Connection, f: &RoomFilter) -> StoreResult<(Vec<RoomRow>, i64)> {
    let mut sql = String::from(
        " FROM livechat_rooms r JOIN livechat_visitors v ON v.id = r.visitor_id WHERE 1=1",
    );
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    if !f.agents.is_empty() {
        let marks: Vec<String> = f
            .agents
            .iter()
            .map(|a| {
                args.push(Box::new(*a));
                format!("?{}", args.len())
            })
            .collect();
        sql.push_str(&format!(" AND r.agent_id IN ({})", marks.join(",")));
    }
    match f.open {
        Some(true) => sql.push_str(" AND r.status != 'closed'"),
        Some(false) => sql.push_str(" AND r.status = 'closed'"),
        None => {}
    }
    let mut push = |clause: &str, v: String, args: &mut Vec<Box<dyn rusqlite::ToSql>>| {
        args.push(Box::new(v));
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(s) = &f.status {
        push(" AND r.status = ?", s.clone(), &mut args);
    }
    if let Some(n) = &f.visitor_name {
        push(
            " AND (coalesce(v.name, '') || ' ' || v.username) LIKE ? ESCAPE '\\'",
            format!(
                "%{}%",
                n.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            ),
            &mut args,
        );
    }
    if let Some(t) = &f.created_from {
        push(" AND r.created_at >= ?", t.clone(), &mut args);
    }
    if let Some(t) = &f.created_to {
        push(" AND r.created_at <= ?", t.clone(), &mut args);
    }
    if let Some(t) = &f.closed_from {
        push(" AND r.closed_at >= ?", t.clone(), &mut args);
    }
    if let Some(t) = &f.closed_to {
        push(" AND r.closed_at <= ?", t.clone(), &mut args);
    }
    let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|a| a.as_ref()).collect();
    let total: i64 = conn.query_row(&format!("SELECT count(*){sql}"), refs.as_slice(), |r| {
        r.get(0)
    })?;
    let cols: String = ROOM_COLS
        .split(',')
        .map(|c| format!("r.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let order = if f.descending { "DESC" } else { "ASC" };
    let mut stmt = conn.prepare(&format!(
        "SELECT {cols}{sql} ORDER BY r.created_at {order}, r.id {order} LIMIT {} OFFSET {}",
        f.limit, f.offset
    ))?;
    let rows = stmt.query_map(refs.as_slice(), room_row)?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// Open (served) chats per agent.
pub fn open_chats_by_agent(conn: &Connection) -> StoreResult<Vec<(i64, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT agent_id, count(*) FROM livechat_rooms WHERE status = 'open' AND agent_id IS NOT NULL
         GROUP BY agent_id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An agent's open rooms.
pub fn open_rooms_of_agent(conn: &Connection, agent_id: i64) -> StoreResult<Vec<RoomRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ROOM_COLS} FROM livechat_rooms WHERE agent_id = ?1 AND status = 'open' ORDER BY created_at"
    ))?;
    let rows = stmt.query_map([agent_id], room_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// (queued, open) for dashboards: rooms waiting in the queue, and rooms not closed
/// (pending, queued or open).
pub fn counts(conn: &Connection) -> StoreResult<(i64, i64)> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(status = 'queued'), 0), coalesce(sum(status != 'closed'), 0)
         FROM livechat_rooms",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

pub fn count_rooms_by_status(conn: &Connection) -> StoreResult<Vec<(String, i64)>> {
    let mut stmt = conn.prepare("SELECT status, count(*) FROM livechat_rooms GROUP BY status")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- inquiries -----------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct InquiryRow {
    pub id: String,
    pub room_id: String,
    pub status: String,
    pub message: String,
    pub queued_at: String,
    pub taken_at: Option<String>,
    pub agent_id: Option<i64>,
    pub updated_at: String,
}

const INQ_COLS: &str = "id, room_id, status, message, queued_at, taken_at, agent_id, updated_at";

fn inquiry_row(r: &Row) -> rusqlite::Result<InquiryRow> {
    Ok(InquiryRow {
        id: r.get(0)?,
        room_id: r.get(1)?,
        status: r.get(2)?,
        message: r.get(3)?,
        queued_at: r.get(4)?,
        taken_at: r.get(5)?,
        agent_id: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

pub fn inquiry(conn: &Connection, id: &str) -> StoreResult<Option<InquiryRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {INQ_COLS} FROM livechat_inquiries WHERE id = ?1"),
            [id],
            inquiry_row,
        )
        .optional()?)
}

pub fn inquiry_of_room(conn: &Connection, room_id: &str) -> StoreResult<Option<InquiryRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {INQ_COLS} FROM livechat_inquiries WHERE room_id = ?1"),
            [room_id],
            inquiry_row,
        )
        .optional()?)
}

/// Inserts or replaces the room's inquiry.
pub fn put_inquiry(conn: &Connection, q: &InquiryRow) -> StoreResult<()> {
    conn.execute(
        &format!(
            "INSERT INTO livechat_inquiries({INQ_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(room_id) DO UPDATE SET status = excluded.status, message = excluded.message,
               queued_at = excluded.queued_at, taken_at = excluded.taken_at,
               agent_id = excluded.agent_id, updated_at = excluded.updated_at"
        ),
        params![
            q.id,
            q.room_id,
            q.status,
            q.message,
            q.queued_at,
            q.taken_at,
            q.agent_id,
            q.updated_at
        ],
    )?;
    Ok(())
}

pub fn inquiries(
    conn: &Connection,
    status: &str,
    offset: i64,
    limit: i64,
) -> StoreResult<(Vec<InquiryRow>, i64)> {
    let total: i64 = conn.query_row(
        "SELECT count(*) FROM livechat_inquiries WHERE status = ?1",
        [status],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {INQ_COLS} FROM livechat_inquiries WHERE status = ?1
         ORDER BY queued_at, id LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = stmt.query_map(params![status, limit, offset], inquiry_row)?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

// ---- agents --------------------------------------------------------------------------

pub fn agent_status(conn: &Connection, user_id: i64) -> StoreResult<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT status FROM livechat_agent_status WHERE user_id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn set_agent_status(
    conn: &Connection,
    user_id: i64,
    status: &str,
    at: &str,
) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO livechat_agent_status(user_id, status, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(user_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
        params![user_id, status, at],
    )?;
    Ok(())
}

/// Ids of users with the role, in id order, with their livechat status.
pub fn users_with_role(conn: &Connection, role: &str) -> StoreResult<Vec<(i64, String)>> {
    let mut stmt = conn.prepare(
        "SELECT u.id, coalesce(s.status, 'offline') FROM users u
         LEFT JOIN livechat_agent_status s ON s.user_id = u.id
         WHERE u.active = 1 AND EXISTS (SELECT 1 FROM json_each(u.roles) WHERE json_each.value = ?1)
         ORDER BY u.id",
    )?;
    let rows = stmt.query_map([role], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- settings ------------------------------------------------------------------------

pub fn settings(conn: &Connection) -> StoreResult<Vec<(String, Value)>> {
    let mut stmt = conn.prepare("SELECT id, value FROM livechat_settings")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, json_col(r, 1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn set_setting(conn: &Connection, id: &str, value: &Value) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO livechat_settings(id, value) VALUES (?1, ?2)
         ON CONFLICT(id) DO UPDATE SET value = excluded.value",
        params![id, value.to_string()],
    )?;
    Ok(())
}

// ---- triggers ------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct TriggerRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub run_once: bool,
    pub conditions: Value,
    pub actions: Value,
    pub created_at: String,
    pub updated_at: String,
}

const TRIGGER_COLS: &str =
    "id, name, description, enabled, run_once, conditions, actions, created_at, updated_at";

fn trigger_row(r: &Row) -> rusqlite::Result<TriggerRow> {
    Ok(TriggerRow {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        enabled: r.get(3)?,
        run_once: r.get(4)?,
        conditions: json_col(r, 5)?,
        actions: json_col(r, 6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

pub fn triggers(conn: &Connection) -> StoreResult<Vec<TriggerRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {TRIGGER_COLS} FROM livechat_triggers ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([], trigger_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn put_trigger(conn: &Connection, t: &TriggerRow) -> StoreResult<()> {
    conn.execute(
        &format!(
            "INSERT INTO livechat_triggers({TRIGGER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, description = excluded.description,
               enabled = excluded.enabled, run_once = excluded.run_once,
               conditions = excluded.conditions, actions = excluded.actions,
               updated_at = excluded.updated_at"
        ),
        params![
            t.id,
            t.name,
            t.description,
            t.enabled,
            t.run_once,
            t.conditions.to_string(),
            t.actions.to_string(),
            t.created_at,
            t.updated_at
        ],
    )?;
    Ok(())
}

pub fn delete_trigger(conn: &Connection, id: &str) -> StoreResult<bool> {
    conn.execute(
        "DELETE FROM livechat_trigger_runs WHERE trigger_id = ?1",
        [id],
    )?;
    Ok(conn.execute("DELETE FROM livechat_triggers WHERE id = ?1", [id])? > 0)
}

/// Records a firing; false when this (trigger, visitor, visit) already fired.
pub fn record_trigger_run(
    conn: &Connection,
    trigger_id: &str,
    visitor_id: &str,
    visit_id: &str,
    at: &str,
) -> StoreResult<bool> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO livechat_trigger_runs(trigger_id, visitor_id, visit_id, fired_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![trigger_id, visitor_id, visit_id, at],
    )?;
    Ok(n > 0)
}

/// The (trigger, visit) pairs that already fired for a visitor (visit '' = runOnce).
pub fn trigger_runs_of_visitor(
    conn: &Connection,
    visitor_id: &str,
) -> StoreResult<Vec<(String, String)>> {
    let mut stmt = conn
        .prepare("SELECT trigger_id, visit_id FROM livechat_trigger_runs WHERE visitor_id = ?1")?;
    let rows = stmt.query_map([visitor_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---- offline messages ----------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct OfflineRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub message: String,
    pub department: Option<String>,
    pub host: Option<String>,
    pub created_at: String,
    pub handled: bool,
    pub handled_by: Option<i64>,
    pub handled_at: Option<String>,
    pub mailed: bool,
}

const OFFLINE_COLS: &str =
    "id, name, email, message, department, host, created_at, handled, handled_by, handled_at, mailed";

fn offline_row(r: &Row) -> rusqlite::Result<OfflineRow> {
    Ok(OfflineRow {
        id: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        message: r.get(3)?,
        department: r.get(4)?,
        host: r.get(5)?,
        created_at: r.get(6)?,
        handled: r.get(7)?,
        handled_by: r.get(8)?,
        handled_at: r.get(9)?,
        mailed: r.get(10)?,
    })
}

pub fn insert_offline(conn: &Connection, m: &OfflineRow) -> StoreResult<()> {
    conn.execute(
        &format!(
            "INSERT INTO livechat_offline_messages({OFFLINE_COLS}) VALUES
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            m.id,
            m.name,
            m.email,
            m.message,
            m.department,
            m.host,
            m.created_at,
            m.handled,
            m.handled_by,
            m.handled_at,
            m.mailed
        ],
    )?;
    Ok(())
}

pub fn offline(conn: &Connection, id: &str) -> StoreResult<Option<OfflineRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {OFFLINE_COLS} FROM livechat_offline_messages WHERE id = ?1"),
            [id],
            offline_row,
        )
        .optional()?)
}

pub fn offline_list(
    conn: &Connection,
    handled: Option<bool>,
    offset: i64,
    limit: i64,
) -> StoreResult<(Vec<OfflineRow>, i64)> {
    let filter = match handled {
        Some(true) => " WHERE handled = 1",
        Some(false) => " WHERE handled = 0",
        None => "",
    };
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM livechat_offline_messages{filter}"),
        [],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {OFFLINE_COLS} FROM livechat_offline_messages{filter}
         ORDER BY created_at DESC, id LIMIT ?1 OFFSET ?2"
    ))?;
    let rows = stmt.query_map(params![limit, offset], offline_row)?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

pub fn mark_offline(
    conn: &Connection,
    id: &str,
    handled: bool,
    by: Option<i64>,
    at: Option<&str>,
) -> StoreResult<bool> {
    Ok(conn.execute(
        "UPDATE livechat_offline_messages SET handled = ?2, handled_by = ?3, handled_at = ?4 WHERE id = ?1",
        params![id, handled, by, at],
    )? > 0)
}

pub fn mark_offline_mailed(conn: &Connection, id: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE livechat_offline_messages SET mailed = 1 WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

// ---- room messages (read-only view of the room channels) ----------------------------

/// A room channel's chat messages, newest first: (channel id, payload, created_at).
/// `older_than` / `newer_than` compare the payload timestamps (`ts`).
pub fn room_messages(
    conn: &Connection,
    channel: &str,
    older_than: Option<&str>,
    newer_than: Option<&str>,
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<(i64, Value)>> {
    let mut stmt = conn.prepare(
        "SELECT id, payload FROM messages WHERE channel = ?1 AND kind = 'message'
           AND (?2 IS NULL OR json_extract(payload, '$.ts') < ?2)
           AND (?3 IS NULL OR json_extract(payload, '$.ts') > ?3)
         ORDER BY id DESC LIMIT ?4 OFFSET ?5",
    )?;
    let rows = stmt.query_map(
        params![channel, older_than, newer_than, limit, offset],
        |r| Ok((r.get(0)?, json_col(r, 1)?)),
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The room message a client sent with its own `_id`, if stored already (retries).
pub fn room_message_by_id(
    conn: &Connection,
    channel: &str,
    id: &str,
) -> StoreResult<Option<(i64, Value)>> {
    Ok(conn
        .query_row(
            "SELECT id, payload FROM messages WHERE channel = ?1 AND kind = 'message'
               AND json_extract(payload, '$._id') = ?2 LIMIT 1",
            params![channel, id],
            |r| Ok((r.get(0)?, json_col(r, 1)?)),
        )
        .optional()?)
}
