//! The composition root: opens the database, builds the services, mounts the routes,
//! serves (see `http`), and shuts down gracefully (close WebSockets with 1012, drain
//! HTTP, flush writes).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Condition, ErrorHandlers};
use actix_web::{web, App};
use anyhow::Context;

use crate::api;
use crate::api::upgrade::Upgrades;
use crate::auth::AuthService;
use crate::channels::ChannelService;
use crate::cluster;
use crate::config::Settings;
use crate::observability;
use crate::store::Db;
use crate::triggers::TriggerService;

mod http;

pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    let metrics = observability::metrics_handle();
    let db = Db::open(&settings.db_path, settings.sync)
        .with_context(|| format!("cannot open database {}", settings.db_path.display()))?;
    // Scheduled backups (`--backup-dir`) run until this function returns.
    let _backups = match &settings.backup {
        Some(schedule) => Some(crate::ops::backup::BackupScheduler::start(
            settings.db_path.clone(),
            schedule.clone(),
        )?),
        None => None,
    };
    let auth = web::Data::new(AuthService::start(db.clone(), &settings).await?);

    let listener = std::net::TcpListener::bind(settings.bind)
        .with_context(|| format!("cannot listen on {}", settings.bind))?;
    let bound = listener.local_addr()?;
    if settings.bind.port() == 0 && !settings.public_url_explicit {
        settings.public_url = format!("http://{bound}");
    }
    settings.bind = bound;
    let settings = Arc::new(settings);

    let triggers = TriggerService::start(db.clone(), settings.clone()).await?;
    // A cluster node (`--cluster`): Redis carries committed messages, presence and
    // private messages between nodes; an edge forwards what needs the database.
    let cluster = match &settings.cluster {
        Some(c) => Some(cluster::Node::new(c, &settings.public_url)?),
        None => None,
    };
    let channels = match &cluster {
        Some(node) => {
            ChannelService::start_with_fanout(
                db.clone(),
                settings.clone(),
                triggers.clone(),
                |hub| node.fanout(hub),
            )
            .await?
        }
        None => ChannelService::start(db.clone(), settings.clone(), triggers.clone()).await?,
    };
    channels.spawn_background();
    if let Some(node) = &cluster {
        node.install_livechat(&channels);
    }
    let livechat =
        crate::livechat::LivechatService::start(db.clone(), channels.clone(), settings.clone())
            .await?;
    if let Some(node) = &cluster {
        node.start(&channels, &auth.clone().into_inner(), &livechat)
            .await?;
    }
    let is_edge = cluster.as_ref().is_some_and(|n| n.is_edge());

    // An edge's own database holds nothing of the cluster's: its admins live on the primary.
    if !is_edge {
        if let Some(token) = auth.issue_setup_token_if_needed().await? {
            println!(
            "No admin user yet. Create the first one within {} minutes at:\n  {}/admin/#/setup?token={token}\n(or run `rtbox admin create EMAIL`)",
            settings.setup_token_ttl.as_secs() / 60,
            settings.public_url
        );
        }
    }

    let body_limit = api::json_body_limit(settings.max_payload_bytes);
    let data_settings = web::Data::from(settings.clone());
    let data_db = web::Data::new(db.clone());
    let data_triggers = web::Data::from(triggers.clone());
    let data_channels = web::Data::from(channels.clone());
    let data_metrics = web::Data::new(metrics);
    let publish_limits = web::Data::new(api::ratelimit::PublishLimits::new(&settings));
    let sampler = web::Data::new(crate::stats::Sampler::new());
    sampler.clone().into_inner().spawn();
    let data_livechat = web::Data::from(livechat.clone());
    let auth_for_app = auth.clone();
    let cluster_for_app = cluster.clone();
    let limits_housekeeping = publish_limits.clone();
    let app = move || {
        App::new()
            .app_data(data_settings.clone())
            .app_data(data_db.clone())
            .app_data(auth_for_app.clone())
            .app_data(data_triggers.clone())
            .app_data(data_channels.clone())
            .app_data(data_metrics.clone())
            .app_data(publish_limits.clone())
            .app_data(sampler.clone())
            .app_data(data_livechat.clone())
            .app_data(api::json_config(body_limit))
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(api::query_config())
            .app_data(api::path_config())
            .wrap(
                ErrorHandlers::new()
                    .handler(StatusCode::METHOD_NOT_ALLOWED, api::method_not_allowed_json),
            )
            .wrap(Condition::new(
                cluster_for_app.is_some(),
                from_fn(cluster::cluster_requests),
            ))
            .wrap(from_fn(observability::track_requests))
            .wrap(from_fn(api::trim_trailing_slash))
            .configure(|cfg| {
                if let Some(node) = &cluster_for_app {
                    node.configure(cfg);
                }
            })
            .configure(api::configure)
            .configure(crate::web::configure)
            .default_service(web::to(api::not_found))
    };
    let upgrades = Upgrades {
        svc: channels.clone(),
        auth: auth.clone().into_inner(),
    };
    let server = http::serve(
        listener,
        app,
        upgrades,
        settings.workers,
        settings.shutdown_timeout.as_secs(),
    )?;

    // Install the signal handlers before announcing readiness, so a SIGTERM that
    // arrives right after the "listening" line is a graceful shutdown, not a kill.
    let signals = ShutdownSignals::install();
    println!("rtbox listening on http://{bound}");
    tracing::info!(%bound, db = %settings.db_path.display(), "rtbox started");

    let handle = server.handle();
    let shutdown_channels = channels.clone();
    let shutdown_cluster = cluster.clone();
    actix_web::rt::spawn(async move {
        signals.recv().await;
        tracing::info!("shutting down: closing WebSockets (1012), draining requests");
        shutdown_channels.shutdown().await;
        if let Some(node) = &shutdown_cluster {
            node.leave().await;
        }
        handle.stop(true).await;
    });
    // Periodic housekeeping of in-memory limits.
    let auth_housekeeping = auth.clone();
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            auth_housekeeping.housekeeping();
            limits_housekeeping.forget_idle();
            livechat.housekeeping();
        }
    });

    server.await?;
    db.close();
    tracing::info!("rtbox stopped");
    Ok(())
}

/// SIGTERM and SIGINT, registered eagerly (the default action, exit, is replaced at once).
struct ShutdownSignals {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl ShutdownSignals {
    fn install() -> ShutdownSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let unix = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Some((term, int)),
                _ => None,
            };
            ShutdownSignals { unix }
        }
        #[cfg(not(unix))]
        {
            ShutdownSignals {}
        }
    }

    async fn recv(self) {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = self.unix {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
