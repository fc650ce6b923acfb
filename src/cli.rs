//! Command-line interface (clap): what each subcommand takes. `main.rs` dispatches.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{ServeOptions, DEFAULT_DATA_DIR};

#[derive(Debug, Parser)]
#[command(
    name = "rtbox",
    version,
    about = "Self-hosted realtime appliance: WebSocket channels with durable history, triggers and livechat — one binary, one SQLite file.",
    after_help = "Settings come from flags, then RTBOX_* environment variables, then rtbox.toml in the data dir, then defaults."
)]
pub struct Cli {
    /// Directory holding rtbox.db and the optional rtbox.toml
    #[arg(long, global = true, env = "RTBOX_DATA_DIR", value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

// `Serve` carries every setting; the enum is parsed once, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server
    Serve(ServeOptions),
    /// Manage dashboard users from the shell (works on the same database, even while serving)
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Consistent online copy of the database (SQLite backup API), safe while the server runs
    Backup {
        /// Where to write the copy (must not exist)
        file: PathBuf,
    },
    /// Apply pending migrations and print the schema version
    Migrate,
    /// Print version and build information
    Version,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin user
    Create {
        email: String,
        /// Read the password from the first line of standard input instead of prompting
        #[arg(long)]
        password_stdin: bool,
        /// Display name
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Set a new password for a user and sign out their sessions
    ResetPassword {
        email: String,
        /// Read the password from the first line of standard input instead of prompting
        #[arg(long)]
        password_stdin: bool,
    },
}
