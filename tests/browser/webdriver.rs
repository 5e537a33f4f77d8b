//! Just enough of a W3C WebDriver client to drive Debian's headless
//! Chromium through chromedriver on 127.0.0.1: open pages, find elements,
//! click, type, accept confirms, run a script, take screenshots.
//!
//! Kept rather than `fantoccini` or `thirtyfour`: twelve blocking calls
//! over a `TcpStream` and `serde_json`, where either crate would add an
//! async HTTP client stack (and a few dozen crates) to a two-core build,
//! and neither starts or stops chromedriver, which this must do anyway.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium, quit (with its driver) on drop.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

/// The flags every test browser runs with: no sandbox (containers), no
/// GPU, no first-run wizard, no background network traffic.
const FLAGS: [&str; 6] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--window-size=1400,1000",
];

fn program(name: &str, candidates: &[&str]) -> String {
    candidates
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| p.to_string())
        .unwrap_or_else(|| {
            panic!("{name} is missing (make test installs Debian's chromium and chromium-driver)")
        })
}

/// How many times a session is tried, each with a new chromedriver: a
/// driver or its browser that dies while starting (two cores, a dozen
/// browsers at once) must not fail a test about a page.
const START_TRIES: usize = 3;

impl Browser {
    /// Starts chromedriver and a browser session.
    pub fn start() -> Browser {
        let mut failures = Vec::new();
        for _ in 0..START_TRIES {
            match Browser::try_start() {
                Ok(browser) => return browser,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("no browser session: {}", failures.join("; "))
    }

    fn try_start() -> Result<Browser, String> {
        let driver_path = program("chromedriver", &["/usr/bin/chromedriver"]);
        let chromium = program("chromium", &["/usr/bin/chromium"]);
        // Port 0: chromedriver binds a free port itself and says which, so
        // no other process can take it between a choice and the bind.
        let mut driver = Command::new(driver_path)
            .arg("--port=0")
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("chromedriver does not start: {e}"))?;
        let stdout = driver.stdout.take().expect("a piped stdout");
        let mut browser = Browser {
            driver,
            port: 0,
            session: String::new(),
        };
        browser.port = listening_port(stdout)?;
        let created = browser.try_request(
            "POST",
            "/session",
            Some(json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": FLAGS},
            }}})),
        )?;
        browser.session = created["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session: {created}"))?
            .to_string();
        Ok(browser)
    }

    /// One WebDriver command; its `value`, or a panic naming the error.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self.request(method, path, body);
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        if let Some(error) = value.get("error") {
            panic!("WebDriver {method} {path}: {error}: {}", value["message"]);
        }
        value
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_request(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    fn try_request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| format!("chromedriver: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| format!("a timeout: {e}"))?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("a request: {e}"))?;
        let body = read_answer(&mut stream).map_err(|e| format!("an answer: {e}"))?;
        serde_json::from_str(&body).map_err(|e| format!("not JSON ({e}): {body}"))
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(json!({ "url": url })),
        );
    }

    /// The current address.
    pub fn url(&self) -> String {
        self.call("GET", &self.session_path("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The elements matching a CSS selector.
    pub fn all(&self, css: &str) -> Vec<String> {
        let found = self.call(
            "POST",
            &self.session_path("/elements"),
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`; panics if there is none.
    pub fn one(&self, css: &str) -> String {
        self.all(css)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element `{css}` on {}", self.url()))
    }

    /// The visible text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let element = self.one(css);
        self.call(
            "GET",
            &self.session_path(&format!("/element/{element}/text")),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Clicks the first element matching `css`.
    pub fn click(&self, css: &str) {
        let element = self.one(css);
        self.call(
            "POST",
            &self.session_path(&format!("/element/{element}/click")),
            Some(json!({})),
        );
    }

    /// Replaces the value of the input matching `css`.
    pub fn fill(&self, css: &str, text: &str) {
        let element = self.one(css);
        self.call(
            "POST",
            &self.session_path(&format!("/element/{element}/clear")),
            Some(json!({})),
        );
        self.call(
            "POST",
            &self.session_path(&format!("/element/{element}/value")),
            Some(json!({ "text": text })),
        );
    }

    /// The text of an open confirm dialog, which is then accepted.
    pub fn accept_confirm(&self) -> String {
        let text = self.call("GET", &self.session_path("/alert/text"), None);
        self.call("POST", &self.session_path("/alert/accept"), Some(json!({})));
        text.as_str().unwrap_or_default().to_string()
    }

    /// Runs `script` (a function body) in the page; its return value.
    pub fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Waits until the page has an element matching `css`, at most `limit`.
    pub fn wait_for(&self, css: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if !self.all(css).is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        !self.all(css).is_empty()
    }

    /// Waits until the text of the first element matching `css` contains
    /// `part` (a page may still be loading or refreshing), at most `limit`.
    pub fn wait_for_text(&self, css: &str, part: &str, limit: Duration) -> bool {
        updraft_e2e::eventually(limit, || {
            !self.all(css).is_empty() && self.text(css).contains(part)
        })
    }

    /// Waits until the address contains `part` (a click's navigation may
    /// still be under way when the click returns), at most `limit`.
    pub fn wait_for_url(&self, part: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.url().contains(part) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.url().contains(part)
    }

    /// Saves a PNG of the window.
    pub fn screenshot(&self, path: &Path) {
        let encoded = self.call("GET", &self.session_path("/screenshot"), None);
        let png = base64_decode(encoded.as_str().unwrap_or_default());
        std::fs::write(path, png).expect("the screenshot is written");
    }

    /// Resizes the window (for a screenshot of a whole page).
    pub fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.session_path("/window/rect"),
            Some(json!({ "width": width, "height": height })),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.request("DELETE", &format!("/session/{}", self.session), None)
            }));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// How long chromedriver may take to say it listens.
const LISTEN_LIMIT: Duration = Duration::from_secs(20);

/// The port chromedriver says it listens on, read on a thread that then
/// drains its stdout (so a driver that writes more never blocks on a full
/// pipe); at most [`LISTEN_LIMIT`].
fn listening_port(stdout: ChildStdout) -> Result<u16, String> {
    const SAYS: &str = "started successfully on port ";
    let (said, port) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match lines.read_line(&mut line) {
                Ok(0) => return said.send(Err("chromedriver ended before it listened".into())),
                Err(e) => return said.send(Err(format!("chromedriver's output: {e}"))),
                Ok(_) => {}
            }
            if let Some(at) = line.find(SAYS) {
                let port = line[at + SAYS.len()..]
                    .trim()
                    .trim_end_matches('.')
                    .parse()
                    .map_err(|_| format!("chromedriver said: {line}"));
                let _ = said.send(port);
                let _ = std::io::copy(&mut lines, &mut std::io::sink());
                return Ok(());
            }
        }
    });
    port.recv_timeout(LISTEN_LIMIT)
        .map_err(|_| format!("chromedriver did not say its port within {LISTEN_LIMIT:?}"))?
}

/// The body of one HTTP answer: chromedriver keeps the connection open,
/// so the body ends where its length says.
fn read_answer(stream: &mut TcpStream) -> std::io::Result<String> {
    let closed = || std::io::Error::other("chromedriver closed the connection mid-answer");
    let mut raw = Vec::new();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut byte)?;
        if n == 0 {
            return Err(closed());
        }
        raw.extend_from_slice(&byte[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(length) => {
            while raw.len() < head_end + length {
                let n = stream.read(&mut byte)?;
                if n == 0 {
                    return Err(closed());
                }
                raw.extend_from_slice(&byte[..n]);
            }
            Ok(String::from_utf8_lossy(&raw[head_end..head_end + length]).into_owned())
        }
        None => {
            stream.read_to_end(&mut raw)?;
            Ok(dechunk(&String::from_utf8_lossy(&raw[head_end..])))
        }
    }
}

/// The body of a chunked HTTP answer.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// Standard base64, as WebDriver encodes screenshots.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut bits = 0u32;
    let mut count = 0;
    for sextet in text.bytes().filter_map(value) {
        bits = (bits << 6) | u32::from(sextet);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[test]
fn base64_decodes_what_it_should() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("YWI="), b"ab");
    assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
}
