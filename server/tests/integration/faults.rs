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
    WrongTransaction,
    /// Answers this many requests on each connection, then closes it.
    CloseAfter(usize),
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
    let mut answered = 0;
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
            Misbehaviour::WrongTransaction => {
                let mut r = reply(&req, unit, &[0x44BB, 0x9000]);
                let tid = u16::from_be_bytes([r[0], r[1]]).wrapping_add(1);
                r[..2].copy_from_slice(&tid.to_be_bytes());
                r
            }
            Misbehaviour::CloseAfter(n) => {
                if answered == n {
                    return;
                }
                answered += 1;
                reply(&req, unit, &[0x44BB, 0x9000])
            }
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

/// Waits (at most `limit`) for the device's link to go comm-lost; returns it.
async fn lost(
    rx: &mut tokio::sync::broadcast::Receiver<BusEvent>,
    limit: Duration,
) -> Option<app::line::Link> {
    tokio::time::timeout(limit, async {
        loop {
            match rx.recv().await {
                Ok(BusEvent::Link { link, .. }) if link.state == LinkState::CommLost => {
                    return Some(link);
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

async fn assert_handled(how: Misbehaviour, what: &str, says: &str) {
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
    let link = lost(&mut rx, Duration::from_millis(2 * 300))
        .await
        .unwrap_or_else(|| panic!("{what}: marked comm-lost within twice the timeout"));
    let error = link.error.unwrap_or_default();
    assert!(
        error.contains(says),
        "{what}: the link says {error:?}, not {says:?}"
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
    assert_handled(
        Misbehaviour::NeverAnswer,
        "never answers",
        "no answer within 300 ms",
    )
    .await;
}

#[tokio::test]
async fn a_plc_that_closes_mid_reply_is_handled() {
    assert_handled(
        Misbehaviour::CloseMidReply,
        "closes mid-reply",
        "the PLC closed the connection",
    )
    .await;
}

#[tokio::test]
async fn a_reply_from_the_wrong_unit_is_rejected() {
    assert_handled(
        Misbehaviour::WrongUnit,
        "wrong unit id",
        "reply from unit 8, expected 7",
    )
    .await;
}

#[tokio::test]
async fn a_reply_for_another_transaction_is_rejected_and_named() {
    assert_handled(
        Misbehaviour::WrongTransaction,
        "wrong transaction id",
        "reply for transaction",
    )
    .await;
}

#[tokio::test]
async fn a_short_reply_reads_its_tag_bad_with_why_and_the_device_stays_online() {
    let plant = plant(PLANT).plant;
    let port = fake_plc(Misbehaviour::ShortReply).await;
    let Runner {
        mut rx,
        stats,
        shutdown,
        task,
    } = run_device(&plant, port);
    let device = plant.devices[0].id;
    assert!(
        wait_link(&mut rx, device, LinkState::Online, Duration::from_secs(5)).await,
        "the device is online: the reply was well formed"
    );
    let link = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(BusEvent::Link { link, .. }) = rx.recv().await
                && !link.refused.is_empty()
            {
                return link;
            }
        }
    })
    .await
    .expect("the refused tag is published");
    assert_eq!(link.refused[0].tag, "speed");
    assert_eq!(
        link.refused[0].reason,
        "the PLC answered 1 of the 2 values asked at holding register 0 (40001)"
    );
    assert_eq!(stats.connects.load(Ordering::Relaxed), 1, "no reconnection");
    shutdown.cancel();
    task.await.expect("runner ends cleanly");
}

#[tokio::test]
async fn a_plc_that_closes_after_some_requests_is_read_again_within_the_reconnect_cap() {
    let plant = plant(&PLANT.replace(
        "connect_timeout_ms = 300",
        "connect_timeout_ms = 300\nreconnect_max_ms = 1000",
    ));
    let plant = plant.plant;
    let port = fake_plc(Misbehaviour::CloseAfter(20)).await;
    let Runner {
        mut rx,
        stats,
        shutdown,
        task,
    } = run_device(&plant, port);
    let device = plant.devices[0].id;
    for round in 0..3 {
        assert!(
            wait_link(&mut rx, device, LinkState::Online, Duration::from_secs(5)).await,
            "round {round}: online"
        );
        let link = lost(&mut rx, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("round {round}: the close is noticed"));
        assert_eq!(
            link.error.as_deref(),
            Some("the PLC closed the connection"),
            "round {round}"
        );
    }
    assert!(stats.connects.load(Ordering::Relaxed) >= 3);
    assert!(
        stats.failures_by_kind[1].load(Ordering::Relaxed) >= 3,
        "counted as closed"
    );
    shutdown.cancel();
    task.await.expect("runner ends cleanly");
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
    let link = lost(&mut rx, Duration::from_secs(2))
        .await
        .expect("comm lost");
    let error = link.error.unwrap_or_default();
    assert!(
        error.starts_with("connection refused by 127.0.0.1:"),
        "{error}"
    );
    shutdown.cancel();
    task.await.expect("runner ends cleanly");
}
