//! Who is signed in, kept in a cookie the browser holds and the dashboard
//! signed (HMAC-SHA256, the `cookie` crate's signed jar): any instance of
//! the function that knows the key reads it, and none needs a store. The
//! action token of a session is derived from it with the same key, so a
//! form made by one instance is accepted by another.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, CookieJar, Key, SameSite};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "updraft_session";
/// How long a sign-in lasts.
pub const SESSION_SECONDS: i64 = 12 * 3600;

/// What a signed-in person may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees every page but rendered environment values; acts on nothing.
    Viewer,
    /// Sees everything and acts.
    Operator,
}

impl Role {
    /// An operator if `groups` (the issuer's group claim) holds
    /// `operators`, else a viewer.
    pub fn of(groups: &[String], operators: &str) -> Role {
        match groups.iter().any(|g| g == operators) {
            true => Role::Operator,
            false => Role::Viewer,
        }
    }
}

/// A signed-in person, as their session cookie says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// The issuer's subject.
    pub sub: String,
    /// Their name, as the issuer gives it.
    pub name: String,
    /// Their e-mail address.
    pub email: String,
    /// What they may do.
    pub role: Role,
    /// This sign-in, random: what the action token is derived from.
    pub session: String,
    /// When the sign-in ends (Unix seconds).
    pub expires: i64,
}

impl Person {
    /// How the audit and `triggered_by` name them: `Name <email>`.
    pub fn by(&self) -> String {
        match (self.name.is_empty(), self.email.is_empty()) {
            (false, false) => format!("{} <{}>", self.name, self.email),
            (true, false) => self.email.clone(),
            _ => self.sub.clone(),
        }
    }
}

/// The key sessions are signed with.
#[derive(Clone)]
pub struct SessionKey {
    cookies: Key,
    tokens: Vec<u8>,
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// A key from `secret`, which must be at least 64 bytes (the stack
    /// keeps one of 64 random bytes).
    pub fn new(secret: &[u8]) -> Result<SessionKey, String> {
        let cookies = Key::try_from(secret)
            .map_err(|_| format!("a session key is at least 64 bytes, not {}", secret.len()))?;
        Ok(SessionKey {
            cookies,
            tokens: secret.to_vec(),
        })
    }

    /// The `Set-Cookie` value that signs `person` in, for `secure` (HTTPS)
    /// pages.
    pub fn seal(&self, person: &Person, secure: bool) -> String {
        let value = serde_json::to_string(person).unwrap_or_default();
        self.seal_value(SESSION_COOKIE, &value, SESSION_SECONDS, secure)
    }

    /// The person a session cookie's value signs in, if this key signed it
    /// and it has not ended by `now` (Unix seconds).
    pub fn open(&self, value: &str, now: i64) -> Option<Person> {
        let verified = self.open_value(SESSION_COOKIE, value)?;
        let person: Person = serde_json::from_str(&verified).ok()?;
        (person.expires > now).then_some(person)
    }

    /// The action token of a session: what its forms carry, derived so
    /// that every instance of the dashboard computes the same one.
    pub fn action_token(&self, session: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.tokens).expect("HMAC takes any key");
        mac.update(b"updraft action token\0");
        mac.update(session.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Signs any short value into a cookie of `name` (the sign-in's
    /// state, kept while the issuer asks who the person is).
    pub fn seal_value(&self, name: &str, value: &str, seconds: i64, secure: bool) -> String {
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.cookies)
            .add(Cookie::new(name.to_string(), value.to_string()));
        let mut sealed = jar
            .get(name)
            .cloned()
            .unwrap_or_else(|| Cookie::new(name.to_string(), ""));
        sealed.set_http_only(true);
        sealed.set_secure(secure);
        sealed.set_same_site(SameSite::Lax);
        sealed.set_path("/");
        sealed.set_max_age(cookie::time::Duration::seconds(seconds));
        sealed.to_string()
    }

    /// A value [`SessionKey::seal_value`] signed, if this key signed it.
    pub fn open_value(&self, name: &str, value: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(name.to_string(), value.to_string()));
        jar.signed(&self.cookies)
            .get(name)
            .map(|c| c.value().to_string())
    }
}

/// The `Set-Cookie` value that removes cookie `name`.
pub fn removal(name: &str) -> String {
    let mut gone = Cookie::new(name.to_string(), "");
    gone.set_path("/");
    gone.set_max_age(cookie::time::Duration::ZERO);
    gone.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(session: &str, expires: i64) -> Person {
        Person {
            sub: "u-1".into(),
            name: "Ana Lima".into(),
            email: "ana@example.com".into(),
            role: Role::Operator,
            session: session.into(),
            expires,
        }
    }

    /// The cookie's value from a `Set-Cookie` line.
    fn value(set_cookie: &str) -> String {
        Cookie::parse(set_cookie.to_string())
            .unwrap()
            .value()
            .to_string()
    }

    #[test]
    fn a_sealed_session_opens_with_its_key_only_and_until_it_ends() {
        let key = SessionKey::new(&[7; 64]).unwrap();
        let line = key.seal(&person("s1", 2_000), true);
        assert!(
            line.contains("HttpOnly") && line.contains("Secure") && line.contains("SameSite=Lax"),
            "{line}"
        );
        let sealed = value(&line);
        assert_eq!(key.open(&sealed, 1_000), Some(person("s1", 2_000)));
        assert_eq!(key.open(&sealed, 2_000), None, "ended");
        let other = SessionKey::new(&[8; 64]).unwrap();
        assert_eq!(other.open(&sealed, 1_000), None, "another key's");
        // Changing what it says (an operator instead of a viewer, another
        // person) breaks the signature.
        let forged = sealed.replacen("Ana", "Bob", 1);
        assert_eq!(key.open(&forged, 1_000), None);
        assert!(
            SessionKey::new(&[1; 32])
                .unwrap_err()
                .contains("at least 64 bytes")
        );
    }

    #[test]
    fn action_tokens_are_the_same_for_a_session_on_every_instance_and_differ_between_sessions() {
        let one = SessionKey::new(&[7; 64]).unwrap();
        let another_instance = SessionKey::new(&[7; 64]).unwrap();
        assert_eq!(one.action_token("s1"), another_instance.action_token("s1"));
        assert_ne!(one.action_token("s1"), one.action_token("s2"));
        assert_ne!(
            one.action_token("s1"),
            SessionKey::new(&[8; 64]).unwrap().action_token("s1")
        );
    }

    #[test]
    fn the_operators_group_makes_an_operator() {
        let groups = ["data".to_string(), "operators".to_string()];
        assert_eq!(Role::of(&groups, "operators"), Role::Operator);
        assert_eq!(Role::of(&groups[..1], "operators"), Role::Viewer);
        assert_eq!(person("s", 0).by(), "Ana Lima <ana@example.com>");
    }
}
