//! A local stand-in for the Lambda Runtime API (the HTTP interface a
//! `provided.al2023` bootstrap polls), so the built function binaries run
//! as Lambda runs them: GET `.../invocation/next` hands out one event, POST
//! `.../response` or `.../error` brings the answer back. 127.0.0.1 only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// What the function answered.
#[derive(Debug)]
pub enum Answer {
    /// `.../response`: the handler's result.
    Response(Value),
    /// `.../error` or `init/error`: what went wrong.
    Error(String),
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request { method, path, body })
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += "\r\n";
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// Serves one connection until it closes. The first `next` gets the event;
/// a later one is held open (as the real API holds it until an event comes)
/// until the process is stopped.
fn serve(stream: TcpStream, event: Arc<Mutex<Option<Value>>>, answers: Sender<Answer>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let path = request.path.as_str();
        if request.method == "GET" && path.ends_with("/invocation/next") {
            let Some(event) = event.lock().unwrap().take() else {
                return;
            };
            let headers = [
                ("Lambda-Runtime-Aws-Request-Id", "req-1".to_string()),
                ("Lambda-Runtime-Deadline-Ms", "4102444800000".to_string()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:updraft".to_string(),
                ),
                ("Content-Type", "application/json".to_string()),
            ];
            respond(
                &mut writer,
                "200 OK",
                &headers,
                event.to_string().as_bytes(),
            );
            continue;
        }
        let text = String::from_utf8_lossy(&request.body).into_owned();
        let answer = if path.ends_with("/response") {
            Answer::Response(serde_json::from_str(&text).unwrap_or(Value::String(text)))
        } else {
            Answer::Error(text)
        };
        respond(&mut writer, "202 Accepted", &[], b"{}");
        let _ = answers.send(answer);
    }
}

/// Runs a function binary with `env` for one invocation with `event`, and
/// returns its answer; the process is killed after, whatever happened.
pub fn invoke(binary: &Path, env: &[(String, String)], event: Value) -> Answer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().expect("its address").port();
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let event = Arc::new(Mutex::new(Some(event)));
    let (answers, answered): (Sender<Answer>, Receiver<Answer>) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let server = std::thread::spawn(move || {
        while !stopped.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
                    let (event, answers) = (event.clone(), answers.clone());
                    std::thread::spawn(move || serve(stream, event, answers));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    let mut child = Command::new(binary)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "updraft-test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let answer = answered.recv_timeout(Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    let _ = server.join();
    answer.unwrap_or_else(|_| panic!("{} did not answer within 60 s", binary.display()))
}
