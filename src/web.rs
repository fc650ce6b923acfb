//! Files embedded in the binary: the admin UI under `/admin/`.

use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", get_or_head().to(root))
        .route("/admin", get_or_head().to(index))
        .route("/admin/{path:.*}", get_or_head().to(admin));
}

/// GET, and HEAD answered like it (the HTTP layer leaves the body out), as monitors
/// and link checkers expect.
fn get_or_head() -> actix_web::Route {
    use actix_web::guard;
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

async fn root() -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", "/admin/"))
        .finish()
}

fn serve(path: &str) -> HttpResponse {
    match Assets::get(path) {
        Some(file) => HttpResponse::Ok()
            .content_type(file.metadata.mimetype())
            .insert_header(("Cache-Control", "no-cache"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(file.data.into_owned()),
        None => HttpResponse::NotFound().json(serde_json::json!({"detail": "Not found."})),
    }
}

async fn index() -> HttpResponse {
    serve("admin/index.html")
}

async fn admin(req: HttpRequest) -> HttpResponse {
    let path = req.match_info().query("path");
    if path.is_empty() || path.ends_with('/') {
        return serve("admin/index.html");
    }
    if path.contains("..") {
        return HttpResponse::NotFound().finish();
    }
    serve(&format!("admin/{path}"))
}
