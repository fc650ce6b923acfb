//! Syncano v1.1 path aliases: `/v1.1/instances/{instance}/channels/…` (any instance
//! name) serve the same handlers as `/api/v1/channels/…`.

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    super::channels::routes(cfg, super::channels::SYNCANO_PREFIX);
}
