//! The `rtbox` command: parses the CLI and dispatches. All behaviour lives in the library.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::Parser;

use rtbox::auth::password;
use rtbox::cli::{AdminCommand, Cli, Command};
use rtbox::config::{self, SyncMode};
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
            let file = config::load_file_layer(&cli.data_dir)?;
            let settings = opts.merged_with(file).resolve(cli.data_dir.clone())?;
            rtbox::observability::init_logging(&settings.log, settings.log_format);
            actix_web::rt::System::new().block_on(rtbox::server::run(settings))
        }
        Command::Migrate => {
            let db = Db::open(&db_path, SyncMode::Normal)?;
            let version = db.read_blocking(migrate::current_version)?;
            db.close();
            println!("schema version {version} ({})", db_path.display());
            Ok(())
        }
        Command::Backup { file } => {
            let check = store::backup(&db_path, &file)?;
            if check != "ok" {
                anyhow::bail!(
                    "backup written to {} but integrity_check says: {check}",
                    file.display()
                );
            }
            println!("backup written to {} (integrity_check: ok)", file.display());
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
