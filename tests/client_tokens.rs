//! Client tokens: JWT HS256 signed with the instance secret; rtbox mints them for a
//! backend holding an API key; rotating the secret invalidates earlier tokens.

mod common;
use common::*;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

fn verify(token: &str, secret: &str) -> Result<Value, ErrorKind> {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 0;
    v.set_required_spec_claims(&["exp", "sub"]);
    decode::<Value>(token, &DecodingKey::from_secret(secret.as_bytes()), &v)
        .map(|d| d.claims)
        .map_err(|e| e.into_kind())
}

fn rotate(s: &Server, admin: &str) -> String {
    let body = s
        .post("/api/v1/client-secret/rotate")
        .bearer_auth(admin)
        .call()
        .expect(200);
    body["secret"].as_str().expect("secret").to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn a_backend_mints_a_token_that_verifies_with_the_instance_secret() {
    let s = Server::start();
    let admin = s.admin_token();
    let secret = rotate(&s, &admin);
    let key = s.create_key(&admin, "app backend", "publish");

    let body = s
        .post("/api/v1/tokens")
        .header("X-API-KEY", &key.key)
        .json(&json!({"sub": "user-7", "channels": ["Chat/*", "news"], "info": {"name": "Ann"}, "ttl_seconds": 120}))
        .call()
        .expect(201);
    let token = body["token"].as_str().unwrap();
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(decode_header(token).unwrap().alg, Algorithm::HS256);

    let claims = verify(token, &secret).expect("valid token");
    assert_eq!(claims["sub"], "user-7");
    assert_eq!(claims["channels"], json!(["chat/*", "news"]));
    assert_eq!(claims["info"], json!({"name": "Ann"}));
    let exp = claims["exp"].as_i64().unwrap();
    assert!((now() + 115..=now() + 125).contains(&exp), "exp {exp}");

    // Numbers are accepted as subjects; the default lifetime is an hour.
    let t = s.mint_client_token(&key.key, json!({"sub": 42}));
    let claims = verify(&t, &secret).unwrap();
    assert_eq!(claims["sub"], "42");
    assert!(claims.get("channels").is_none());
    let exp = claims["exp"].as_i64().unwrap();
    assert!((now() + 3590..=now() + 3610).contains(&exp), "exp {exp}");
}

#[test]
fn tampered_tokens_and_wrong_secrets_do_not_verify() {
    let s = Server::start();
    let admin = s.admin_token();
    let secret = rotate(&s, &admin);
    let key = s.create_key(&admin, "app", "publish");
    let token = s.mint_client_token(&key.key, json!({"sub": "u1"}));

    assert_eq!(
        verify(&token, "some other secret"),
        Err(ErrorKind::InvalidSignature)
    );
    // Change the payload, keep the signature.
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"sub": "admin", "exp": now() + 3600}).to_string());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(verify(&forged, &secret), Err(ErrorKind::InvalidSignature));
}

#[test]
fn tokens_expire() {
    let s = Server::start();
    let admin = s.admin_token();
    let secret = rotate(&s, &admin);
    let key = s.create_key(&admin, "app", "publish");
    let token = s.mint_client_token(&key.key, json!({"sub": "u1", "ttl_seconds": 1}));
    assert!(verify(&token, &secret).is_ok());
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(verify(&token, &secret), Err(ErrorKind::ExpiredSignature));
}

#[test]
fn rotating_the_secret_invalidates_earlier_tokens() {
    let mut s = Server::start();
    let admin = s.admin_token();
    let key = s.create_key(&admin, "app", "publish");
    let first_secret = rotate(&s, &admin);
    let old = s.mint_client_token(&key.key, json!({"sub": "u1"}));
    assert!(verify(&old, &first_secret).is_ok());

    let second_secret = rotate(&s, &admin);
    assert_ne!(first_secret, second_secret);
    assert!(second_secret.len() >= 32);
    let new = s.mint_client_token(&key.key, json!({"sub": "u1"}));
    assert_eq!(
        verify(&old, &second_secret),
        Err(ErrorKind::InvalidSignature)
    );
    assert!(verify(&new, &second_secret).is_ok());
    assert_eq!(
        verify(&new, &first_secret),
        Err(ErrorKind::InvalidSignature)
    );

    // The secret is durable: after a restart tokens are still signed with it.
    s.restart();
    let after = s.mint_client_token(&key.key, json!({"sub": "u1"}));
    assert!(verify(&after, &second_secret).is_ok());
}

#[test]
fn mint_requests_are_validated() {
    let s = Server::start();
    let admin = s.admin_token();
    let key = s.create_key(&admin, "app", "publish");
    let mint = |body: Value| {
        s.post("/api/v1/tokens")
            .header("X-API-KEY", &key.key)
            .json(&body)
            .call()
    };

    for (body, field) in [
        (json!({"sub": ""}), "sub"),
        (json!({"sub": ["a"]}), "sub"),
        (json!({"sub": "u", "ttl_seconds": 0}), "ttl_seconds"),
        (
            json!({"sub": "u", "ttl_seconds": 99_999_999}),
            "ttl_seconds",
        ),
        (json!({"sub": "u", "info": "text"}), "info"),
        (json!({"sub": "u", "channels": [""]}), "channels"),
    ] {
        let r = mint(body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.json[field].is_string(), "{body}: {}", r.text);
    }
    let r = mint(json!({}));
    assert_eq!(r.json, json!({"sub": "This field is required."}));
    let r = mint(json!({"sub": "u", "channels": "chat"}));
    assert_eq!(r.status, 400, "{}", r.text);
    let r = mint(json!({"sub": "u", "role": "admin"}));
    assert_eq!(r.status, 400, "unknown fields are refused: {}", r.text);
}
