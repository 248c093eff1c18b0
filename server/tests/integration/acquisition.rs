//! Acquisition against the line simulator over real TCP.

use std::sync::atomic::Ordering;
use std::time::Duration;

use app::line::{LinkState, Quality, Value};
use cellguard::bus::BusEvent;
use cellguard::modbus::codec::Raw;
use cellguard::sim::restart_device;

use crate::common::{start_line, tag_id, wait_link, wait_value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquisition_sees_a_value_written_into_the_simulator() {
    let (line, mut rx) = start_line(1).await;
    let sp = tag_id(&line.plant, 0, "speed_setpoint");
    let first = wait_value(&mut rx, sp, Duration::from_secs(10), |_| true).await;
    assert_eq!(
        first,
        Some(Value::Number(1000.0)),
        "the simulator starts at the nominal setpoint"
    );

    // A register changes in the PLC: acquisition must see the new value.
    line.simulators[0].sim.bank.lock().expect("bank").put(
        &line.devices[0],
        sp.index(),
        &Raw::Number(777.0),
    );
    let seen = wait_value(&mut rx, sp, Duration::from_secs(10), |v| {
        *v == Value::Number(777.0)
    })
    .await;
    assert_eq!(seen, Some(Value::Number(777.0)));

    // States arrive by name, mapped through each device's own numbering.
    let state = tag_id(&line.plant, 2, "state");
    let s = wait_value(&mut rx, state, Duration::from_secs(10), |_| true).await;
    assert!(
        matches!(s, Some(Value::Text(ref n)) if cellguard::plant::PACKML_STATES.contains(&n.as_str())),
        "{s:?}"
    );
    line.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_device_is_comm_lost_quickly_while_the_others_keep_scanning_and_it_reconnects() {
    let (line, mut rx) = start_line(2).await;
    for d in line.plant.devices.iter().map(|d| d.id) {
        if line.bus.link(d).map(|l| l.state) != Some(LinkState::Online) {
            assert!(
                wait_link(&mut rx, d, LinkState::Online, Duration::from_secs(10)).await,
                "device {d:?} online"
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The PLC goes away.
    let timeout = line.plant.devices[0].timeout;
    let cas = line.plant.devices[0].id;
    let mut rx = line.bus.subscribe();
    let scans = |d: usize| line.stats[d].scans.load(Ordering::Relaxed);
    let missed = |d: usize| line.stats[d].missed.load(Ordering::Relaxed);
    let before: Vec<(u64, u64)> = (0..3).map(|d| (scans(d), missed(d))).collect();
    line.simulators[0].stop.cancel();
    // Watch the stream: the tags are marked comm-lost, then the link, within twice the timeout.
    let tags = line.plant.devices[0].tags.len();
    let (marked, lost) = tokio::time::timeout(timeout * 2, async {
        let mut marked = false;
        loop {
            match rx.recv().await {
                Ok(BusEvent::Scan(b)) if b.device == cas => {
                    marked = b.readings.len() == tags
                        && b.readings.iter().all(|r| r.quality == Quality::CommLost);
                }
                Ok(BusEvent::Link { device, link })
                    if device == cas && link.state == LinkState::CommLost =>
                {
                    return (marked, true);
                }
                _ => {}
            }
        }
    })
    .await
    .unwrap_or((false, false));
    assert!(
        lost,
        "CAS_01 must be marked comm-lost within twice its timeout"
    );
    assert!(
        marked,
        "every CAS_01 tag must carry the comm-lost quality before the link says so"
    );

    // Meanwhile the others keep their scan rate.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (d, &(scans_before, missed_before)) in before.iter().enumerate().skip(1) {
        let scanned = scans(d) - scans_before;
        // fast group at 100 ms (+ slow at 1 s): about 20 scans in 2 s
        assert!(
            scanned >= 15,
            "device {d} scanned only {scanned} times while CAS_01 was down"
        );
        assert_eq!(
            missed(d) - missed_before,
            0,
            "device {d} missed scans while CAS_01 was down"
        );
        assert_eq!(
            line.bus.link(line.plant.devices[d].id).map(|l| l.state),
            Some(LinkState::Online)
        );
    }

    // The PLC comes back on the same address: acquisition reconnects by itself.
    let back = restart_device(&line.simulators[0], &line.tasks, &line.shutdown)
        .await
        .expect("restart");
    assert!(
        wait_link(&mut rx, cas, LinkState::Online, Duration::from_secs(15)).await,
        "CAS_01 must reconnect after it returns"
    );
    let speed = tag_id(&line.plant, 0, "speed");
    assert!(
        wait_value(&mut rx, speed, Duration::from_secs(5), |_| true)
            .await
            .is_some()
    );
    back.stop.cancel();
    line.stop().await;
}
