//! The HTTP server, assembled the way `actix_web::HttpServer` does it (same timeouts,
//! one App per worker), plus an upgrade hook: WebSocket upgrades leave the HTTP
//! dispatcher and run on the raw socket (`api::upgrade`).

use std::fmt;
use std::net::TcpListener;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::{HttpService, KeepAlive, Request, Response};
use actix_server::Server;
use actix_service::{
    fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt,
};
use actix_web::dev::AppConfig;

use crate::api::upgrade::{self, Upgrades};

/// `HttpServer`'s defaults, which the server used before it had an upgrade hook.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` with `workers` workers. Signals are left to the caller,
/// which stops the server through its handle.
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    app: F,
    upgrades: Upgrades,
    workers: usize,
    shutdown_timeout_secs: u64,
) -> std::io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as actix_service::Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let builder = Server::build();
    let shutdown = builder.graceful_shutdown_signal();
    Ok(builder
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(shutdown_timeout_secs)
        .listen("rtbox-http", listener, move || {
            let shutdown = shutdown.clone();
            let upgrades = upgrades.clone();
            let app = app()
                .into_factory()
                .map_err(|err| err.into().error_response());
            HttpService::build()
                .graceful_shutdown_signal(move || {
                    let signal = shutdown.clone();
                    async move { signal.notified().await }
                })
                .keep_alive(KeepAlive::default())
                .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
                .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
                .h1_allow_half_closed(true)
                .local_addr(addr)
                .upgrade(fn_service(move |(req, framed)| {
                    upgrade::handle(req, framed, upgrades.clone())
                }))
                .finish(map_config(app, |_| AppConfig::default()))
                .tcp()
        })?
        .run())
}
