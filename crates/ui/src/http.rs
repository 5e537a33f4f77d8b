//! The request and response the router speaks: only what its pages need,
//! so any listener can translate to and from them.

/// One HTTP request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The path's segments, each decoded on its own (so an encoded `/`
    /// stays inside its segment).
    pub segments: Vec<String>,
    /// The query's pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// A posted form's pairs, decoded, in order.
    pub form: Vec<(String, String)>,
    /// Whether the browser said the request came from another site (an
    /// `Origin` header naming another scheme, host or port than the
    /// request's own `Host`).
    pub cross_origin: bool,
    /// The `Host` it was sent to.
    pub host: Option<String>,
    /// The cookies it carries (`Cookie`), by name.
    pub cookies: Vec<(String, String)>,
    /// The token of an `Authorization: Bearer` header (scripts signed in
    /// with the dashboard's issuer).
    pub bearer: Option<String>,
}

impl Request {
    /// A request for `target` (a path with an optional `?query`).
    pub fn new(method: &str, target: &str) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.to_string(),
            path: decode(path),
            segments: path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(decode)
                .collect(),
            query: form_pairs(query),
            form: Vec::new(),
            cross_origin: false,
            host: None,
            cookies: Vec::new(),
            bearer: None,
        }
    }

    /// Notes the request's `Cookie` and `Authorization` headers.
    pub fn with_credentials(
        mut self,
        cookie: Option<&str>,
        authorization: Option<&str>,
    ) -> Request {
        self.cookies = cookie
            .into_iter()
            .flat_map(|header| header.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                Some((name.to_string(), value.to_string()))
            })
            .collect();
        self.bearer = authorization
            .and_then(|a| {
                a.strip_prefix("Bearer ")
                    .or_else(|| a.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_string());
        self
    }

    /// The value of cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path and query it asked for: where to come back to.
    pub fn target(&self) -> String {
        match self.query.is_empty() {
            true => self.path.clone(),
            false => {
                let pairs: Vec<String> = self
                    .query
                    .iter()
                    .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                    .collect();
                format!("{}?{}", self.path, pairs.join("&"))
            }
        }
    }

    /// Notes the request's `Origin` (absent for most same-site requests)
    /// against its `Host`.
    pub fn with_origin(mut self, origin: Option<&str>, host: Option<&str>) -> Request {
        self.host = host.map(str::to_string);
        self.cross_origin = match origin {
            None => false,
            Some(origin) => {
                let site = origin
                    .strip_prefix("http://")
                    .or_else(|| origin.strip_prefix("https://"));
                site.is_none_or(|site| Some(site) != host)
            }
        };
        self
    }

    /// A `POST` of the form `form` (`a=1&b=2`) to `target`.
    pub fn post(target: &str, form: &str) -> Request {
        Request {
            form: form_pairs(form),
            ..Request::new("POST", target)
        }
    }

    /// A `GET` of `target`.
    pub fn get(target: &str) -> Request {
        Request::new("GET", target)
    }

    /// The first non-empty value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The first non-empty value of form field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of query parameter `name`, in order.
    pub fn params(&self, name: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl Request {
    /// The router's request from an HTTP request's head and body (a
    /// socket's, or a Lambda function URL event's).
    pub fn from_http(parts: &hyper::http::request::Parts, body: &[u8]) -> Request {
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let header =
            |name: hyper::header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let mut request = Request::new(parts.method.as_str(), target)
            .with_origin(header(hyper::header::ORIGIN), header(hyper::header::HOST))
            .with_credentials(
                header(hyper::header::COOKIE),
                header(hyper::header::AUTHORIZATION),
            );
        request.form = form_pairs(&String::from_utf8_lossy(body));
        request
    }
}

/// What every answer carries: no script but the dashboard's own file, no
/// framing by another site, no guessing of content types, no caching.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// One HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
    /// Where a redirect points.
    pub location: Option<String>,
    /// `Set-Cookie` values.
    pub cookies: Vec<String>,
}

impl Response {
    /// An HTML page.
    pub fn html(body: String) -> Response {
        Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body,
            location: None,
            cookies: Vec::new(),
        }
    }

    /// A JSON document (a shape of `updraft_engine::json`, or a value).
    pub fn json(value: &impl serde::Serialize) -> Response {
        Response {
            status: 200,
            content_type: "application/json",
            body: updraft_engine::json::to_value(value).to_string(),
            location: None,
            cookies: Vec::new(),
        }
    }

    /// A line of text with a status.
    pub fn text(status: u16, line: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{line}\n"),
            location: None,
            cookies: Vec::new(),
        }
    }

    /// `303 See Other` to `to`: where a browser goes after a POST.
    pub fn redirect(to: &str) -> Response {
        Response {
            status: 303,
            content_type: "text/plain; charset=utf-8",
            body: format!("see {to}\n"),
            location: Some(to.to_string()),
            cookies: Vec::new(),
        }
    }

    /// The same answer, setting cookies too.
    pub fn setting(mut self, cookies: Vec<String>) -> Response {
        self.cookies.extend(cookies);
        self
    }

    /// `302 Found` to `to`: where a browser goes to sign in, and back.
    pub fn found(to: &str) -> Response {
        Response {
            status: 302,
            ..Response::redirect(to)
        }
    }

    /// The HTTP response: status, type, redirect, cookies and the security
    /// headers every answer carries.
    pub fn into_http(self) -> hyper::Response<String> {
        use hyper::header::{self, HeaderValue};
        let mut out = hyper::Response::new(self.body);
        *out.status_mut() =
            hyper::StatusCode::from_u16(self.status).unwrap_or(hyper::StatusCode::OK);
        let headers = out.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        for cookie in self.cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.append(header::SET_COOKIE, value);
            }
        }
        for (name, value) in SECURITY_HEADERS {
            headers.insert(name, HeaderValue::from_static(value));
        }
        out
    }

    /// A file the dashboard ships (its script).
    pub fn asset(content_type: &'static str, body: &str) -> Response {
        Response {
            status: 200,
            content_type,
            body: body.to_string(),
            location: None,
            cookies: Vec::new(),
        }
    }
}

/// `application/x-www-form-urlencoded` pairs (a query string or a form).
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                decode(&key.replace('+', " ")),
                decode(&value.replace('+', " ")),
            )
        })
        .collect()
}

pub use updraft_core::links::{decode, encode};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_splits_into_a_decoded_path_and_query() {
        let request = Request::get("/dags%2Fx?q=daily+etl&tag=&tag=ml%3Ctest%3E&flag");
        assert_eq!(request.path, "/dags/x");
        assert_eq!(request.param("q"), Some("daily etl"));
        assert_eq!(
            request.param("tag"),
            Some("ml<test>"),
            "the first non-empty"
        );
        assert_eq!(request.param("flag"), None);
        assert_eq!(form_pairs("a=%zz"), [("a".to_string(), "%zz".to_string())]);
        let id = "scheduled__2026-11-21T02:00:00+09:00 a/b";
        let target = format!("/dags/etl/runs/{}", encode(id));
        assert_eq!(Request::get(&target).segments, ["dags", "etl", "runs", id]);
    }
}
