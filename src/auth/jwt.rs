//! Client tokens: JWT HS256 signed with the instance's client-token secret.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientClaims {
    /// The end user's id in the customer's app (a number is accepted and kept as text).
    #[serde(deserialize_with = "string_or_number")]
    pub sub: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Channel names or `prefix*` patterns the token may join; absent means any channel
    /// whose permissions admit client-token holders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    /// Shown to others in presence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Value>,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if !s.is_empty() => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(serde::de::Error::custom(
            "sub must be a non-empty string or a number",
        )),
    }
}

impl ClientClaims {
    pub fn allows_channel(&self, channel: &str) -> bool {
        match &self.channels {
            None => true,
            Some(list) => list.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => channel.starts_with(&prefix.to_ascii_lowercase()),
                None => p.eq_ignore_ascii_case(channel),
            }),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("invalid token signature")]
    BadSignature,
    #[error("malformed token: {0}")]
    Malformed(String),
}

pub fn verify(token: &str, secret: &[u8]) -> Result<ClientClaims, TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    decode::<ClientClaims>(token, &DecodingKey::from_secret(secret), &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
            _ => TokenError::Malformed(e.to_string()),
        })
}

pub fn sign(claims: &ClientClaims, secret: &[u8]) -> Result<String, String> {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> ClientClaims {
        ClientClaims {
            sub: "u1".into(),
            exp,
            iat: None,
            channels: Some(vec!["chat/*".into(), "news".into()]),
            info: None,
        }
    }

    #[test]
    fn round_trip_expiry_and_signature() {
        let now = chrono::Utc::now().timestamp();
        let t = sign(&claims(now + 60), b"secret-a").unwrap();
        assert_eq!(verify(&t, b"secret-a").unwrap().sub, "u1");
        assert_eq!(verify(&t, b"secret-b"), Err(TokenError::BadSignature));
        let old = sign(&claims(now - 10), b"secret-a").unwrap();
        assert_eq!(verify(&old, b"secret-a"), Err(TokenError::Expired));
        assert!(matches!(
            verify("garbage", b"x"),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn channel_patterns() {
        let c = claims(0);
        assert!(c.allows_channel("chat/42"));
        assert!(c.allows_channel("news"));
        assert!(!c.allows_channel("newsroom"));
        assert!(!c.allows_channel("other"));
    }
}
