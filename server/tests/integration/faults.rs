//! Misbehaving PLCs, played by raw TCP servers: acquisition must mark them comm-lost,
//! keep running and never panic.

use std::sync::atomic::Ordering;
use std::time::Duration;

use app::line::LinkState;
use cellguard::bus::BusEvent;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{Runner, free_port, plant, run_device, wait_link};

const PLANT: &str = r#"
[[devices]]
id = "BAD"
host = "127.0.0.1"
port = 1
unit_id = 7
timeout_ms = 300
connect_timeout_ms = 300
scan_groups = [{ name = "g", period_ms = 100 }]
[[devices.tags]]
name = "speed"
table = "holding"
address = 0
type = "f32"
scan_group = "g"
"#;

/// How the fake PLC answers a request (the 12-byte read request it received).
#[derive(Clone, Copy)]
enum Misbehaviour {
    NeverAnswer,
    CloseMidReply,
    ShortReply,
    WrongUnit,
}

fn reply(req: &[u8], unit: u8, regs: &[u16]) -> Vec<u8> {
    let mut pdu = vec![0x03, (regs.len() * 2) as u8];
    for r in regs {
        pdu.extend_from_slice(&r.to_be_bytes());
    }
    let mut out = vec![req[0], req[1], 0, 0];
    out.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    out.push(unit);
    out.extend(pdu);
    out
}

async fn serve_one(mut s: TcpStream, how: Misbehaviour) {
    let mut req = [0u8; 12];
    loop {
        if s.read_exact(&mut req).await.is_err() {
            return;
        }
        let unit = req[6];
        let out = match how {
            Misbehaviour::NeverAnswer => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Misbehaviour::CloseMidReply => {
                let full = reply(&req, unit, &[0x44BB, 0x9000]);
                let _ = s.write_all(&full[..full.len() / 2]).await;
                return;
            }
            Misbehaviour::ShortReply => reply(&req, unit, &[0x44BB]),
            Misbehaviour::WrongUnit => reply(&req, unit.wrapping_add(1), &[0x44BB, 0x9000]),
        };
        if s.write_all(&out).await.is_err() {
            return;
        }
    }
}

async fn fake_plc(how: Misbehaviour) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve_one(s, how));
        }
    });
    port
}

async fn assert_handled(how: Misbehaviour, what: &str) {
    let plant = plant(PLANT).plant;
    let port = fake_plc(how).await;
    let Runner {
        mut rx,
        stats,
        shutdown,
        task,
    } = run_device(&plant, port);
    let connects = || stats.connects.load(Ordering::Relaxed);
    tokio::time::timeout(Duration::from_secs(5), async {
        while connects() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: never connected"));
    assert!(
        wait_link(
            &mut rx,
            plant.devices[0].id,
            LinkState::CommLost,
            Duration::from_millis(2 * 300)
        )
        .await,
        "{what}: marked comm-lost within twice the timeout"
    );
    // It keeps trying, with back-off: a few more connections, not a tight loop.
    let first = connects();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let more = connects() - first;
    assert!(more >= 1, "{what}: never reconnected");
    assert!(
        more <= 8,
        "{what}: {more} reconnections in 2.5 s is a tight loop, not a back-off"
    );
    // A PLC that never completes a scan is never shown online.
    while let Ok(ev) = rx.try_recv() {
        if let BusEvent::Link { link, .. } = ev {
            assert_ne!(
                link.state,
                LinkState::Online,
                "{what}: shown online without a good scan"
            );
        }
    }
    assert!(
        !task.is_finished(),
        "{what}: the runner must still be running"
    );
    shutdown.cancel();
    task.await
        .unwrap_or_else(|e| panic!("{what}: runner panicked: {e}"));
    assert_eq!(
        stats.scans.load(Ordering::Relaxed),
        0,
        "{what}: no scan counted as good"
    );
}

#[tokio::test]
async fn a_plc_that_never_answers_is_dropped_after_the_timeout() {
    assert_handled(Misbehaviour::NeverAnswer, "never answers").await;
}

#[tokio::test]
async fn a_plc_that_closes_mid_reply_is_handled() {
    assert_handled(Misbehaviour::CloseMidReply, "closes mid-reply").await;
}

#[tokio::test]
async fn a_short_reply_is_rejected() {
    assert_handled(Misbehaviour::ShortReply, "short reply").await;
}

#[tokio::test]
async fn a_reply_from_the_wrong_unit_is_rejected() {
    assert_handled(Misbehaviour::WrongUnit, "wrong unit id").await;
}

#[tokio::test]
async fn an_unreachable_plc_is_comm_lost_not_a_crash() {
    let plant = plant(PLANT).plant;
    let Runner {
        mut rx,
        shutdown,
        task,
        ..
    } = run_device(&plant, free_port());
    assert!(
        wait_link(
            &mut rx,
            plant.devices[0].id,
            LinkState::CommLost,
            Duration::from_secs(2)
        )
        .await
    );
    shutdown.cancel();
    task.await.expect("runner ends cleanly");
}
