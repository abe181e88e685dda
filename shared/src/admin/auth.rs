//! The local stack's admin token: `Authorization: Bearer <HOOKGATE_ADMIN_TOKEN>` for the API, a
//! cookie holding the same token for the web page. Compared in constant time. (On AWS the API
//! Gateway route is `AWS_IAM`-authorized instead.)

use subtle::ConstantTimeEq;

use super::AdminError;

/// The environment variable holding the token.
pub const TOKEN_ENV: &str = "HOOKGATE_ADMIN_TOKEN";
/// The web page's session cookie (HttpOnly, SameSite=Strict).
pub const COOKIE: &str = "hookgate_admin";
/// Shortest token accepted from the environment.
pub const MIN_TOKEN_LEN: usize = 16;

/// A fresh random token (`hga_` + 32 base32 characters, 160 bits).
pub fn generate_token() -> String {
    let bytes: [u8; 20] = rand::random();
    format!(
        "hga_{}",
        data_encoding::BASE32_NOPAD
            .encode(&bytes)
            .to_ascii_lowercase()
    )
}

/// The configured token, or why it cannot be used.
pub fn token_from(value: Option<String>) -> Result<Option<String>, String> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.len() < MIN_TOKEN_LEN || v.chars().any(|c| c.is_whitespace() || c == ';') => {
            Err(format!(
                "{TOKEN_ENV} must be at least {MIN_TOKEN_LEN} characters without spaces or `;`"
            ))
        }
        Some(v) => Ok(Some(v)),
    }
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Checks an `Authorization` header value against the token.
pub fn check_bearer(expected: &str, authorization: Option<&str>) -> Result<(), AdminError> {
    let presented = authorization
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        Some(t) if same(expected, t) => Ok(()),
        _ => Err(AdminError::Unauthorized),
    }
}

/// Checks a `Cookie` header value for the page's session cookie.
pub fn check_cookie(expected: &str, cookie_header: Option<&str>) -> bool {
    cookie_header.is_some_and(|h| {
        h.split(';').any(|kv| {
            kv.trim()
                .split_once('=')
                .is_some_and(|(k, v)| k == COOKIE && same(expected, v))
        })
    })
}

/// The `Set-Cookie` value that signs the page in.
pub fn session_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_cookie_checks() {
        let t = generate_token();
        assert!(t.starts_with("hga_") && t.len() == 36);
        assert!(check_bearer(&t, Some(&format!("Bearer {t}"))).is_ok());
        assert!(check_bearer(&t, Some(&format!("Bearer {t}x"))).is_err());
        assert!(check_bearer(&t, Some(&t)).is_err());
        assert!(check_bearer(&t, None).is_err());
        assert!(check_cookie(&t, Some(&format!("a=b; {COOKIE}={t}"))));
        assert!(!check_cookie(&t, Some(&format!("{COOKIE}=nope"))));
        assert!(!check_cookie(&t, None));
        assert_eq!(token_from(Some(String::new())), Ok(None));
        assert!(token_from(Some("short".into())).is_err());
        assert_eq!(
            token_from(Some("a-long-enough-token".into())),
            Ok(Some("a-long-enough-token".into()))
        );
    }
}
