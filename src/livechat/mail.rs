//! Mail for livechat (offline messages to the team, transcripts to visitors) through the
//! SMTP server named in the settings (`SMTP_Host`, …), with lettre.

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use super::settings::LivechatSettings;
use super::{LivechatError, LivechatResult};

/// A mail to send: built from settings before it leaves the async threads.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub reply_to: Option<String>,
}

struct Smtp {
    host: String,
    port: u16,
    username: String,
    password: String,
    security: String,
    from: String,
}

fn smtp(settings: &LivechatSettings) -> LivechatResult<Smtp> {
    let host = settings.text("SMTP_Host");
    if host.trim().is_empty() {
        return Err(LivechatError::coded(
            "error-smtp-not-configured",
            "SMTP is not configured",
        ));
    }
    Ok(Smtp {
        host,
        port: settings.int("SMTP_Port").clamp(1, 65535) as u16,
        username: settings.text("SMTP_Username"),
        password: settings.text("SMTP_Password"),
        security: settings.text("SMTP_Security"),
        from: settings.text("From_Email"),
    })
}

/// Whether an SMTP server is configured.
pub fn configured(settings: &LivechatSettings) -> bool {
    smtp(settings).is_ok()
}

fn mailbox(addr: &str, what: &str) -> LivechatResult<Mailbox> {
    addr.parse()
        .map_err(|_| LivechatError::invalid(format!("{what} is not a valid email address")))
}

/// Sends one mail; blocks on the network off the async threads, at most 30 s.
pub async fn send(settings: &LivechatSettings, mail: Mail) -> LivechatResult<()> {
    let cfg = smtp(settings)?;
    let mut builder = Message::builder()
        .from(mailbox(&cfg.from, "From_Email")?)
        .to(mailbox(&mail.to, "email")?)
        .subject(mail.subject)
        .header(ContentType::TEXT_PLAIN);
    if let Some(r) = &mail.reply_to {
        builder = builder.reply_to(mailbox(r, "email")?);
    }
    let message = builder
        .body(mail.body)
        .map_err(|e| LivechatError::Internal(format!("cannot build mail: {e}")))?;
    let result = tokio::task::spawn_blocking(move || {
        let tls = |host: &str| {
            TlsParameters::new(host.to_string()).map_err(|e| format!("TLS setup failed: {e}"))
        };
        let transport = SmtpTransport::builder_dangerous(cfg.host.as_str())
            .port(cfg.port)
            .timeout(Some(std::time::Duration::from_secs(30)));
        let transport = match cfg.security.as_str() {
            "tls" => transport.tls(Tls::Wrapper(tls(&cfg.host)?)),
            "starttls" => transport.tls(Tls::Required(tls(&cfg.host)?)),
            _ => transport.tls(Tls::None),
        };
        let transport = if cfg.username.is_empty() {
            transport
        } else {
            transport.credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()))
        };
        transport
            .build()
            .send(&message)
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    })
    .await
    .map_err(|e| LivechatError::Internal(format!("mail task failed: {e}")))?;
    result.map_err(|e| {
        tracing::warn!(error = %e, "livechat mail not sent");
        LivechatError::coded("error-email-send-failed", e)
    })
}
