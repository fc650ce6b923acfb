//! rtbox: a self-hosted realtime appliance — one binary, one SQLite file.
//!
//! `main.rs` is the CLI; `server.rs` is the one composition root. Everything else is a
//! room of its own: storage (`store`), identity (`auth`), channels and delivery
//! (`channels`, `realtime`), server-side scripts (`triggers`), HTTP handlers (`api`).

pub mod api;
pub mod auth;
pub mod channels;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod error;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod livechat;
pub mod observability;
pub mod ops;
pub mod realtime;
pub mod server;
pub mod stats;
pub mod store;
pub mod threads;
pub mod triggers;
pub mod web;
