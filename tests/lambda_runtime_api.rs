//! A local stand-in for the Lambda Runtime API (the HTTP interface a
//! `provided.al2023` bootstrap polls), so the built function binaries run
//! as Lambda runs them: GET `.../invocation/next` hands out one event, POST
//! `.../response` or `.../error` brings the answer back. 127.0.0.1 only.

use std::collections::VecDeque;
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

/// Serves one connection until it closes. Each `next` gets the next event;
/// once they are all handed out, the connection is closed and the process
/// stopped.
fn serve(stream: TcpStream, events: Arc<Mutex<VecDeque<Value>>>, answers: Sender<Answer>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let path = request.path.as_str();
        if request.method == "GET" && path.ends_with("/invocation/next") {
            let Some(event) = events.lock().unwrap().pop_front() else {
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
    let (answer, _) = invoke_many(binary, env, vec![event]).remove(0);
    answer
}

/// Runs a function binary with `env` for invocations with `events` in
/// turn, as one instance serves them (the first cold, the rest warm), and
/// returns each answer with the time it took: from the process's start for
/// the first, from the previous answer for the others.
pub fn invoke_many(
    binary: &Path,
    env: &[(String, String)],
    events: Vec<Value>,
) -> Vec<(Answer, Duration)> {
    let count = events.len();
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().expect("its address").port();
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let event = Arc::new(Mutex::new(VecDeque::from(events)));
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
    let started = std::time::Instant::now();
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
    let mut got = Vec::with_capacity(count);
    let mut last = started;
    for _ in 0..count {
        let Ok(answer) = answered.recv_timeout(Duration::from_secs(60)) else {
            break;
        };
        got.push((answer, last.elapsed()));
        last = std::time::Instant::now();
    }
    let _ = child.kill();
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    let _ = server.join();
    assert!(
        got.len() == count,
        "{} did not answer within 60 s",
        binary.display()
    );
    got
}
