//! The `rtbox` command: parses the CLI and dispatches. All behaviour lives in the library.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::Parser;

use rtbox::auth::password;
use rtbox::cli::{AdminCommand, Cli, Command};
use rtbox::config::{self, SyncMode};
use rtbox::ops;
use rtbox::store::{self, migrate, users, Db};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let db_path = cli.data_dir.join(config::DB_FILE);
    match cli.command {
        Command::Serve(opts) => {
            let file = config::load_config_layer(cli.config.as_deref(), &cli.data_dir)?;
            let settings = opts.merged_with(file).resolve(cli.data_dir.clone())?;
            rtbox::observability::init_logging(&settings.log, settings.log_format);
            // Held until exit: `restore` and a second `serve` see that the database is in use.
            let _lock = ops::lock::DataDirLock::acquire(&settings.data_dir, "rtbox serve")?;
            match ops::limits::raise_nofile() {
                Ok(limit) => tracing::debug!(limit, "open-file limit"),
                Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
            }
            actix_web::rt::System::new().block_on(rtbox::server::run(settings))
        }
        Command::Restore { file } => {
            let done = ops::restore::restore(&cli.data_dir, &file)?;
            if let Some(previous) = &done.previous {
                println!("previous database moved to {}", previous.display());
            }
            println!(
                "restored {} as {} (schema version {}; `rtbox serve` migrates it to {} at start)",
                file.display(),
                done.db.display(),
                done.schema_version,
                migrate::latest_version()
            );
            Ok(())
        }
        Command::Doctor(opts) => {
            let findings = ops::doctor::run(&cli.data_dir, cli.config.as_deref(), opts);
            for f in &findings {
                let tag = match f.status {
                    ops::doctor::Status::Ok => "ok  ",
                    ops::doctor::Status::Warn => "WARN",
                    ops::doctor::Status::Fail => "FAIL",
                };
                println!("{tag}  {}: {}", f.topic, f.message);
                if let Some(fix) = &f.fix {
                    println!("      fix: {fix}");
                }
            }
            let (fails, warns) = ops::doctor::tally(&findings);
            println!("doctor: {fails} problem(s), {warns} warning(s)");
            if fails > 0 {
                return Err(anyhow::anyhow!(
                    "{fails} problem(s) found; see the fixes above"
                ));
            }
            Ok(())
        }
        Command::Healthcheck {
            url,
            timeout,
            settings,
        } => {
            let url = match url {
                Some(url) => url,
                None => {
                    let file = config::load_config_layer(cli.config.as_deref(), &cli.data_dir)?;
                    let resolved = settings.merged_with(file).resolve(cli.data_dir.clone())?;
                    ops::health::local_url(&resolved)
                }
            };
            let body = ops::health::probe(&url, std::time::Duration::from_secs(timeout.max(1)))
                .map_err(anyhow::Error::msg)?;
            println!("healthy: {}", body.trim());
            Ok(())
        }
        Command::Migrate => {
            let db = Db::open(&db_path, SyncMode::Normal)?;
            let version = db.read_blocking(migrate::current_version)?;
            db.close();
            println!("schema version {version} ({})", db_path.display());
            Ok(())
        }
        Command::Backup { file, keep } => {
            let dir_mode = file.is_dir()
                || (!file.exists()
                    && (keep.is_some() || file.as_os_str().to_string_lossy().ends_with('/')));
            if dir_mode {
                let done = ops::backup::backup_into_dir(&db_path, &file, keep)?;
                println!(
                    "backup written to {} (integrity_check: ok)",
                    done.file.display()
                );
                for old in &done.removed {
                    println!("deleted old backup {}", old.display());
                }
                return Ok(());
            }
            if keep.is_some() {
                anyhow::bail!(
                    "--keep rotates backups in a directory; {} is a file",
                    file.display()
                );
            }
            let written = ops::backup::backup_to_file(&db_path, &file)?;
            println!(
                "backup written to {} (integrity_check: ok)",
                written.display()
            );
            Ok(())
        }
        Command::Version => {
            println!(
                "rtbox {} (commit {}, {} build for {}, schema version {})",
                env!("CARGO_PKG_VERSION"),
                env!("RTBOX_GIT_COMMIT"),
                env!("RTBOX_PROFILE"),
                env!("RTBOX_TARGET"),
                migrate::latest_version()
            );
            Ok(())
        }
        Command::Admin { command } => admin(command, &db_path),
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let pw = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat password: ")?;
        if first != second {
            anyhow::bail!("the passwords do not match");
        }
        first
    } else {
        anyhow::bail!(
            "no terminal to prompt for a password on; pass --password-stdin and pipe it in"
        );
    };
    password::check_strength(&pw).map_err(|m| anyhow::anyhow!("password: {m}"))?;
    Ok(pw)
}

fn admin(command: AdminCommand, db_path: &std::path::Path) -> anyhow::Result<()> {
    match command {
        AdminCommand::Create {
            email,
            password_stdin,
            name,
        } => {
            let email = email.trim().to_ascii_lowercase();
            if !email.contains('@') {
                anyhow::bail!("{email:?} is not an email address");
            }
            let pw = read_password(password_stdin)?;
            let phc = password::hash(&pw).map_err(anyhow::Error::msg)?;
            let db = Db::open(db_path, SyncMode::Normal)?;
            let e = email.clone();
            let created = db.write_blocking(move |c| {
                users::insert(
                    c,
                    &users::NewUser {
                        email: &e,
                        name: &name,
                        password_hash: &phc,
                        roles: &["admin".to_string()],
                    },
                )
            });
            db.close();
            match created {
                Ok(user) => println!("admin {} created (id {})", user.email, user.id),
                Err(rtbox::store::StoreError::Conflict(_)) => {
                    anyhow::bail!("a user with email {email} already exists; use `rtbox admin reset-password {email}`")
                }
                Err(e) => return Err(e.into()),
            }
            Ok(())
        }
        AdminCommand::ResetPassword {
            email,
            password_stdin,
        } => {
            let email = email.trim().to_ascii_lowercase();
            let db = Db::open(db_path, SyncMode::Normal)?;
            let e = email.clone();
            let Some(user) = db.read_blocking(move |c| users::by_email(c, &e))? else {
                db.close();
                anyhow::bail!("no user with email {email}");
            };
            let pw = read_password(password_stdin)?;
            let phc = password::hash(&pw).map_err(anyhow::Error::msg)?;
            let id = user.id;
            let result = db.write_blocking(move |c| {
                users::update(
                    c,
                    id,
                    &users::UserChanges {
                        password_hash: Some(phc),
                        ..Default::default()
                    },
                )?;
                store::sessions::delete_for_user(c, id, None)
            });
            db.close();
            let revoked = result?;
            println!("password of {email} changed; {revoked} session(s) signed out");
            Ok(())
        }
    }
}
