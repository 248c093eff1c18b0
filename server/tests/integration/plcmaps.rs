//! Real PLC maps have holes and ends, and real PLCs can be slow: a merged read
//! refused for addresses the PLC lacks is split and read around them, only the tag
//! the PLC really refuses reads bad (with why), an empty reply isolates one block,
//! and scans slower than their period show as late with the rate achieved.

use std::sync::atomic::Ordering;
use std::time::Duration;

use app::line::{LinkState, Quality, Value};

use crate::actions::until;
use crate::common::{Line, free_port, plant, spawn_pymodbus_with, start_line_with};
use crate::testplc::{Map, TestPlc};

/// u16 tags `a`..`e` at `addresses` of one holding table, one 100 ms group.
fn map_plant(port: u16, unit: u8, addresses: &[u16], timeout_ms: u64) -> String {
    let mut text = format!(
        "[[devices]]\nid = \"P\"\nhost = \"127.0.0.1\"\nport = {port}\nunit_id = {unit}\n\
         timeout_ms = {timeout_ms}\nscan_groups = [{{ name = \"fast\", period_ms = 100 }}]\n"
    );
    for (i, a) in addresses.iter().enumerate() {
        let name = char::from(b'a' + u8::try_from(i).expect("few tags"));
        text.push_str(&format!(
            "[[devices.tags]]\nname = \"{name}\"\ntable = \"holding\"\naddress = {a}\ntype = \"u16\"\nscan_group = \"fast\"\n"
        ));
    }
    text
}

/// The tag's latest value and quality.
fn reading(line: &Line, tag: &str) -> (Option<f64>, Quality) {
    let t = line.plant.tag_named("P", tag).expect("tag");
    let l = line.bus.tag(t.id).expect("reading");
    (l.value.and_then(|v| v.as_f64()), l.quality)
}

async fn all_good(line: &Line, tags: &[&str]) {
    until("every tag good", Duration::from_secs(20), async || {
        tags.iter().all(|t| reading(line, t).1 == Quality::Good)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_read_across_holes_is_split_and_only_a_refused_tag_reads_bad() {
    // Registers 3..6 and 12 do not exist; the tags at 0, 2, 6 and 8 merge with
    // the one at 12 into a single read of 0..13 (max_gap 8).
    let regs: Vec<(u16, u16)> = (0..14).map(|a| (a, 100 + a)).collect();
    let map = Map {
        holes: vec![3..6, 12..13],
        ..Map::default()
    };
    let plc = TestPlc::with_map(&regs, map).await;
    let settings = plant(&map_plant(plc.addr.port(), 1, &[0, 2, 6, 8, 12], 500));
    let (line, _rx) = start_line_with(settings.plant, &[], 81).await;
    all_good(&line, &["a", "b", "c", "d"]).await;
    for (tag, a) in [("a", 0), ("b", 2), ("c", 6), ("d", 8)] {
        assert_eq!(
            reading(&line, tag),
            (Some(100.0 + f64::from(a)), Quality::Good)
        );
    }
    assert_eq!(reading(&line, "e").1, Quality::Bad);
    let device = line.plant.devices[0].id;
    let link = line.bus.link(device).expect("link");
    assert_eq!(link.state, LinkState::Online);
    assert_eq!(link.refused.len(), 1, "{:?}", link.refused);
    assert_eq!(link.refused[0].tag, "e");
    assert_eq!(
        link.refused[0].reason,
        "exception 02 illegal data address at holding register 12 (40013)"
    );
    // The plan is learned once: from then on a scan is four reads (0..3, 6, 8 and
    // the refused tag alone), not a refused merged read and a split each time.
    let before = (plc.reads(), line.stats[0].scans.load(Ordering::Relaxed));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = (plc.reads(), line.stats[0].scans.load(Ordering::Relaxed));
    let (reads, scans) = (after.0 - before.0, after.1 - before.1);
    assert!(scans >= 5, "{scans} scans");
    assert!(
        reads <= 4 * scans as usize + 4,
        "{reads} reads for {scans} scans: the split is not remembered"
    );
    line.stop().await;
    plc.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_reply_past_the_map_isolates_its_block_and_the_rest_reads_on() {
    let regs: Vec<(u16, u16)> = (0..16).map(|a| (a, 7 * a)).collect();
    let map = Map {
        empty_from: Some(10),
        ..Map::default()
    };
    let plc = TestPlc::with_map(&regs, map).await;
    let settings = plant(&map_plant(plc.addr.port(), 1, &[1, 4, 9, 12], 500));
    let (line, _rx) = start_line_with(settings.plant, &[], 82).await;
    all_good(&line, &["a", "b", "c"]).await;
    assert_eq!(reading(&line, "c"), (Some(63.0), Quality::Good));
    assert_eq!(reading(&line, "d").1, Quality::Bad);
    let link = line.bus.link(line.plant.devices[0].id).expect("link");
    assert_eq!(link.state, LinkState::Online, "the device stays live");
    assert_eq!(link.refused.len(), 1);
    assert_eq!(
        link.refused[0].reason,
        "the PLC answered 0 of the 1 values asked at holding register 12 (40013)"
    );
    assert_eq!(
        line.stats[0].connects.load(Ordering::Relaxed),
        1,
        "no reconnection"
    );
    line.stop().await;
    plc.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_slower_than_the_scan_show_as_late_scans_and_the_rate_achieved() {
    let map = Map {
        delay: Duration::from_millis(400),
        ..Map::default()
    };
    let plc = TestPlc::with_map(&[(0, 5)], map).await;
    let settings = plant(&map_plant(plc.addr.port(), 1, &[0], 500));
    let (line, _rx) = start_line_with(settings.plant, &[], 83).await;
    let device = line.plant.devices[0].id;
    until(
        "a scan rate published",
        Duration::from_secs(20),
        async || line.bus.link(device).is_some_and(|l| !l.scans.is_empty()),
    )
    .await;
    let link = line.bus.link(device).expect("link");
    assert_eq!(link.state, LinkState::Online);
    let rate = &link.scans[0];
    assert_eq!(rate.group, "fast");
    assert_eq!(rate.target_per_s, 10.0);
    assert!(
        rate.achieved_per_s > 0.0 && rate.achieved_per_s <= 3.0,
        "about 2.5 scans/s: {rate:?}"
    );
    assert!(rate.late > 0, "{rate:?}");
    assert!(line.stats[0].late.load(Ordering::Relaxed) > 0);
    assert_eq!(
        line.bus
            .tag(line.plant.tag_named("P", "a").expect("tag").id)
            .and_then(|l| l.value),
        Some(Value::Number(5.0))
    );
    line.stop().await;
    plc.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymodbus_with_a_sparse_map_reads_every_tag_it_has() {
    // pymodbus' sparse block has registers 0-1 and 5-6: one merged read of 0..7
    // is refused with exception 02; split, every tag reads.
    let port = free_port();
    let mut child = spawn_pymodbus_with(port, 5, &["holes"]);
    let settings = plant(&map_plant(port, 5, &[0, 1, 5, 6], 1000));
    let (line, _rx) = start_line_with(settings.plant, &[], 84).await;
    all_good(&line, &["a", "b", "c", "d"]).await;
    let values: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .map(|t| reading(&line, t).0)
        .collect();
    assert_eq!(values, [Some(11.0), Some(22.0), Some(66.0), Some(77.0)]);
    assert!(
        line.stats[0].refused_reads.load(Ordering::Relaxed) >= 1,
        "the hole was met"
    );
    let link = line.bus.link(line.plant.devices[0].id).expect("link");
    assert!(link.refused.is_empty(), "{:?}", link.refused);
    line.stop().await;
    let _ = child.kill().await;
}
