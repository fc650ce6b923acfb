//! Command-line interface (clap): what each subcommand takes. `main.rs` dispatches.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{ServeOptions, DEFAULT_DATA_DIR};

#[derive(Debug, Parser)]
#[command(
    name = "rtbox",
    version,
    about = "Self-hosted realtime appliance: WebSocket channels with durable history, triggers and livechat — one binary, one SQLite file.",
    after_help = "Settings come from flags, then RTBOX_* environment variables, then rtbox.toml in the data dir (or --config FILE), then defaults."
)]
pub struct Cli {
    /// Directory holding rtbox.db and the optional rtbox.toml
    #[arg(long, global = true, env = "RTBOX_DATA_DIR", value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Settings file to read instead of DATA_DIR/rtbox.toml (it must exist), e.g. /etc/rtbox/rtbox.toml
    #[arg(long, global = true, env = "RTBOX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
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
        /// Where to write the copy: a new file, or a directory (existing, ending in /, or
        /// with --keep; created if needed) where the copy is named rtbox-YYYYMMDD-HHMMSS-mmm.db
        file: PathBuf,
        /// With a directory: keep only the N newest rtbox-*.db backups there, deleting older ones
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
    },
    /// Put a backup in place as the database (the server must be stopped); the old file is kept aside
    Restore {
        /// The backup file (checked with PRAGMA integrity_check before anything is touched)
        file: PathBuf,
    },
    /// Check the data dir, database, settings, public URL and open-file limit; exit 1 on problems
    Doctor(ServeOptions),
    /// Ask the running server's /healthz (exit 0 when healthy); for container health checks
    Healthcheck {
        /// URL to probe [default: http://BIND/healthz from the settings, 127.0.0.1 for 0.0.0.0]
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Give up after this many seconds
        #[arg(long, default_value_t = 5, value_name = "SECONDS")]
        timeout: u64,
        #[command(flatten)]
        settings: ServeOptions,
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
