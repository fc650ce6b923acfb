//! The hot channel routes without the router's regular expressions. Channel names may
//! contain `/`, so `…/channels/{name:.+}/publish` and its siblings are regex patterns,
//! and matching them (twice: routing, then the metrics' route lookup) was ~6 % of a
//! REST publish. Here the trailing words pick the route, exactly as those greedy
//! patterns do: the name is everything before the suffix. The patterns stay registered,
//! so a method the fast path does not serve falls through to the router unchanged.

use std::borrow::Cow;
use std::sync::LazyLock;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, HttpMessage, HttpResponse, Responder};

/// A route under `…/channels` chosen by the path's last words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suffix {
    Publish,
    Events,
    HistoryItem,
    History,
    Poll,
    Presence,
}

impl Suffix {
    /// The route's pattern under the scope, as mounted with actix.
    pub const fn pattern(self) -> &'static str {
        match self {
            Suffix::Publish => "/{name:.+}/publish",
            Suffix::Events => "/{name:.+}/events",
            Suffix::HistoryItem => "/{name:.+}/history/{id:\\d+}",
            Suffix::History => "/{name:.+}/history",
            Suffix::Poll => "/{name:.+}/poll",
            Suffix::Presence => "/{name:.+}/presence",
        }
    }

    pub fn method(self) -> Method {
        match self {
            Suffix::Publish | Suffix::Events => Method::POST,
            _ => Method::GET,
        }
    }

    pub const ALL: [Suffix; 6] = [
        Suffix::Publish,
        Suffix::Events,
        Suffix::HistoryItem,
        Suffix::History,
        Suffix::Poll,
        Suffix::Presence,
    ];
}

/// A path under the scope (`/NAME/publish`, `/NAME/history/ID`, …) split into its route,
/// the raw (still percent-encoded) name and the message id, if one of the suffix routes
/// matches it.
pub fn split(rest: &str) -> Option<(Suffix, &str, Option<&str>)> {
    let rest = rest.strip_prefix('/')?;
    let words = [
        ("/publish", Suffix::Publish),
        ("/events", Suffix::Events),
        ("/history", Suffix::History),
        ("/poll", Suffix::Poll),
        ("/presence", Suffix::Presence),
    ];
    for (word, suffix) in words {
        if let Some(name) = rest.strip_suffix(word) {
            return (!name.is_empty()).then_some((suffix, name, None));
        }
    }
    let (head, id) = rest.rsplit_once('/')?;
    let name = head.strip_suffix("/history")?;
    let digits = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    (digits && !name.is_empty()).then_some((Suffix::HistoryItem, name, Some(id)))
}

/// The full pattern a fast-path request is counted under in metrics (what the router's
/// `match_pattern` would have said).
#[derive(Debug, Clone, Copy)]
pub struct MatchedRoute(pub &'static str);

/// `prefix + /channels + pattern` for every prefix and suffix, made once.
fn full_pattern(prefix: &str, suffix: Suffix) -> &'static str {
    static PATTERNS: LazyLock<Vec<(String, Suffix, &'static str)>> = LazyLock::new(|| {
        super::channels::PREFIXES
            .iter()
            .flat_map(|prefix| {
                Suffix::ALL.iter().map(move |s| {
                    let full = format!("{prefix}{}{}", super::channels::SCOPE, s.pattern());
                    let full: &'static str = Box::leak(full.into_boxed_str());
                    (prefix.to_string(), *s, full)
                })
            })
            .collect()
    });
    PATTERNS
        .iter()
        .find(|(p, s, _)| p == prefix && *s == suffix)
        .map_or("unmatched", |(_, _, full)| full)
}

/// Serves one request with `handler` the way actix's own handler service does: extract
/// the arguments, call, turn the result into a response.
pub async fn serve<F, Args>(handler: F, req: ServiceRequest) -> ServiceResponse<BoxBody>
where
    F: Handler<Args>,
    Args: FromRequest,
    F::Output: Responder,
{
    let (req, mut payload) = req.into_parts();
    let res = match Args::from_request(&req, &mut payload).await {
        Ok(args) => handler
            .call(args)
            .await
            .respond_to(&req)
            .map_into_boxed_body(),
        Err(e) => HttpResponse::from_error(e.into()),
    };
    ServiceResponse::new(req, res)
}

/// What the scope's fast path found for a request, if it takes it.
pub fn take(req: &mut ServiceRequest, prefix: &str) -> Option<Suffix> {
    let (suffix, name, id) = split(req.match_info().unprocessed())?;
    if *req.method() != suffix.method() {
        return None;
    }
    let (name, id) = (name.to_string(), id.map(str::to_string));
    let info = req.match_info_mut();
    info.add_static("name", Cow::Owned(name));
    if let Some(id) = id {
        info.add_static("id", Cow::Owned(id));
    }
    req.extensions_mut()
        .insert(MatchedRoute(full_pattern(prefix, suffix)));
    Some(suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_words_pick_the_route_like_the_greedy_patterns() {
        assert_eq!(
            split("/news/publish"),
            Some((Suffix::Publish, "news", None))
        );
        assert_eq!(split("/a/b/publish"), Some((Suffix::Publish, "a/b", None)));
        assert_eq!(
            split("/a/publish/publish"),
            Some((Suffix::Publish, "a/publish", None))
        );
        assert_eq!(split("/a/events"), Some((Suffix::Events, "a", None)));
        assert_eq!(split("/a/history"), Some((Suffix::History, "a", None)));
        assert_eq!(
            split("/a/history/12"),
            Some((Suffix::HistoryItem, "a", Some("12")))
        );
        assert_eq!(
            split("/a/history/5/history/6"),
            Some((Suffix::HistoryItem, "a/history/5", Some("6")))
        );
        assert_eq!(split("/a/poll"), Some((Suffix::Poll, "a", None)));
        assert_eq!(split("/a/presence"), Some((Suffix::Presence, "a", None)));
        // What the patterns do not match either.
        assert_eq!(split("/publish"), None);
        assert_eq!(split("//publish"), None);
        assert_eq!(split("///publish"), Some((Suffix::Publish, "/", None)));
        assert_eq!(split("/a/history/x1"), None);
        assert_eq!(split("/a/history/"), None);
        assert_eq!(split("/history/1"), None);
        assert_eq!(split("/a"), None);
        assert_eq!(split(""), None);
        assert_eq!(split("/a/publishx"), None);
    }

    #[test]
    fn split_agrees_with_the_registered_patterns() {
        use actix_web::dev::{Path, ResourceDef};
        let paths = [
            "/news/publish",
            "/a/b/publish",
            "/a/publish/publish",
            "/a/events",
            "/a/history",
            "/a/history/12",
            "/a/history/5/history/6",
            "/a%2Fb/poll",
            "/x/presence",
            "/publish",
            "/a/history/x1",
            "/a/history/",
            "/a",
            "/a/publishx",
            "/%2e%2e/publish",
            "//publish",
            "///publish",
            "//history",
        ];
        for path in paths {
            let by_pattern = Suffix::ALL.iter().find_map(|s| {
                let def = ResourceDef::new(s.pattern());
                let mut p = Path::new(path);
                def.capture_match_info(&mut p).then(|| {
                    (
                        *s,
                        p.get("name").map(str::to_string),
                        p.get("id").map(str::to_string),
                    )
                })
            });
            let by_split =
                split(path).map(|(s, n, id)| (s, Some(n.to_string()), id.map(str::to_string)));
            assert_eq!(by_split, by_pattern, "{path}");
        }
    }
}
