//! A consumer woken on demand drains the queue: every visible message
//! settled, and when its time runs out the queue nudged so that another
//! consumer takes the rest. The tick nudges the queue too, for messages a
//! consumer that died left.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use updraft_engine::ports::{Delivery, PortResult, TaskMessage, TaskQueue};
use updraft_engine::testing::World;
use updraft_engine::usecase::{Drained, RunRequest};
use updraft_engine::{Engine, Settings};

const FAN_OUT: &str = "dag: d\ntasks:\n  - id: a\n    command: [x]\n  - id: b\n    command: [x]\n  - id: c\n    command: [x]\n";

/// The world's queue, counting how often it is nudged.
struct Nudged {
    inner: Arc<dyn TaskQueue>,
    nudges: AtomicUsize,
}

#[async_trait]
impl TaskQueue for Nudged {
    async fn send(&self, message: &TaskMessage, delay: Duration) -> PortResult<()> {
        self.inner.send(message, delay).await
    }
    async fn receive(&self, max: usize) -> PortResult<Vec<Delivery>> {
        self.inner.receive(max).await
    }
    async fn ack(&self, delivery: &Delivery) -> PortResult<()> {
        self.inner.ack(delivery).await
    }
    async fn extend(&self, delivery: &Delivery, by: Duration) -> PortResult<()> {
        self.inner.extend(delivery, by).await
    }
    async fn nudge(&self) -> PortResult<()> {
        self.nudges.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A world whose engine reaches its queue through [`Nudged`].
fn nudged_world() -> (World, Engine, Arc<Nudged>) {
    let world = World::new(FAN_OUT, None, Settings::default());
    let queue = Arc::new(Nudged {
        inner: world.queue.clone(),
        nudges: AtomicUsize::new(0),
    });
    let mut ports = world.engine.ports().clone();
    ports.queue = queue.clone();
    (world, Engine::new(ports), queue)
}

#[tokio::test]
async fn a_drain_settles_every_visible_message_and_stops_when_none_is_left() {
    let (world, engine, queue) = nudged_world();
    engine.trigger("d", RunRequest::by("tester")).await.unwrap();
    let drained = engine.drain().await.unwrap();
    assert_eq!(
        drained,
        Drained {
            received: 3,
            out_of_time: false
        }
    );
    assert_eq!(world.launcher.starts(), 3);
    assert!(world.next_message().await.is_none(), "all acknowledged");
    assert_eq!(queue.nudges.load(Ordering::Relaxed), 0);
    assert_eq!(engine.drain().await.unwrap(), Drained::default());
}

#[tokio::test]
async fn a_drain_out_of_time_leaves_the_messages_and_nudges_the_queue() {
    let (world, engine, queue) = nudged_world();
    engine.trigger("d", RunRequest::by("tester")).await.unwrap();
    engine.set_deadline(Some(Instant::now()));
    let drained = engine.drain().await.unwrap();
    assert_eq!(
        drained,
        Drained {
            received: 0,
            out_of_time: true
        }
    );
    assert_eq!(world.launcher.starts(), 0);
    assert_eq!(queue.nudges.load(Ordering::Relaxed), 1);
    engine.set_deadline(None);
    assert_eq!(engine.drain().await.unwrap().received, 3, "still queued");
}

#[tokio::test]
async fn a_tick_nudges_the_queue_once() {
    let (_world, engine, queue) = nudged_world();
    engine.tick().await.unwrap();
    assert_eq!(queue.nudges.load(Ordering::Relaxed), 1);
}
