//! The HTTP client the SDK's clients send through (`connect::http_client`),
//! against servers that misbehave: one that never answers, one that hangs
//! up, and none at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::operation::list_queues::ListQueuesError;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// The longest any of these tests may take.
const BOUND: Duration = Duration::from_secs(20);

fn config(port: u16, retries: RetryConfig) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .http_client(updraft_aws::connect::own_http_client())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "key", "secret", None, None, "test",
        )))
        .timeout_config(
            TimeoutConfig::builder()
                .read_timeout(Duration::from_millis(300))
                .build(),
        )
        .retry_config(retries)
        .build()
}

/// A server that counts the connections it accepts and reads each one's
/// request, then hangs up (`hang_up`) or holds it without an answer.
async fn server(hang_up: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                if !hang_up {
                    // Holds the connection open, answering nothing.
                    tokio::time::sleep(BOUND).await;
                }
            });
        }
    });
    (port, accepted)
}

/// What listing queues at `port` fails with, within [`BOUND`].
async fn list_queues_error(
    port: u16,
    retries: RetryConfig,
) -> SdkError<ListQueuesError, HttpResponse> {
    let sqs = aws_sdk_sqs::Client::new(&config(port, retries));
    tokio::time::timeout(BOUND, sqs.list_queues().send())
        .await
        .expect("the request outlived its bound")
        .unwrap_err()
}

#[tokio::test]
async fn an_answer_that_never_comes_ends_at_the_read_timeout() {
    let (port, _) = server(false).await;
    let started = std::time::Instant::now();
    let err = list_queues_error(port, RetryConfig::disabled()).await;
    let SdkError::DispatchFailure(failure) = &err else {
        panic!("not a dispatch failure: {err:?}");
    };
    assert!(failure.is_timeout(), "{failure:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_connection_closed_before_its_answer_is_tried_again() {
    let (port, accepted) = server(true).await;
    let retries = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1));
    let err = list_queues_error(port, retries).await;
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "one connection per try");
}

#[tokio::test]
async fn a_refused_connection_is_an_io_failure() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = list_queues_error(port, RetryConfig::disabled()).await;
    let SdkError::DispatchFailure(failure) = &err else {
        panic!("not a dispatch failure: {err:?}");
    };
    assert!(failure.is_io(), "{failure:?}");
}
