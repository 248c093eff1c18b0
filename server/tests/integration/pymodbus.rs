//! Interoperability: acquisition reads an independent Modbus implementation
//! (pymodbus) with a non-default word order.

use std::time::Duration;

use app::line::{LinkState, Quality, Value};
use cellguard::bus::BusEvent;

use crate::common::{Runner, free_port, plant, run_device, spawn_pymodbus, wait_link};

const PLANT: &str = r#"
[[devices]]
id = "PY"
host = "127.0.0.1"
port = 1
unit_id = 5
word_order = "CDAB"
address_base = "modicon"
timeout_ms = 1000
scan_groups = [{ name = "g", period_ms = 100 }]
[[devices.tags]]
name = "speed"
table = "holding"
address = 40001
type = "f32"
scan_group = "g"
[[devices.tags]]
name = "temperature"
table = "holding"
address = 40003
type = "i16"
scale = 0.1
scan_group = "g"
[[devices.tags]]
name = "counter"
table = "holding"
address = 40004
type = "u32"
scan_group = "g"
[[devices.tags]]
name = "offset"
table = "holding"
address = 40006
type = "f64"
scan_group = "g"
[[devices.tags]]
name = "voltage"
table = "holding"
address = 40010
type = "f32"
word_order = "DCBA"
scan_group = "g"
[[devices.tags]]
name = "state"
table = "holding"
address = 40012
type = "u16"
scan_group = "g"
states = { "6" = "Execute" }
[[devices.tags]]
name = "lot"
table = "holding"
address = 40013
type = "string"
length = 3
scan_group = "g"
[[devices.tags]]
name = "soc"
table = "input"
address = 30001
type = "f32"
scan_group = "g"
[[devices.tags]]
name = "door"
table = "coil"
address = 1
type = "bit"
scan_group = "g"
[[devices.tags]]
name = "estop"
table = "discrete"
address = 10002
type = "bit"
scan_group = "g"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquisition_reads_pymodbus_in_cdab_order() {
    let port = free_port();
    let mut child = spawn_pymodbus(port, 5);

    let plant = plant(PLANT).plant;
    let Runner {
        mut rx,
        shutdown,
        task,
        ..
    } = run_device(&plant, port);
    assert!(
        wait_link(
            &mut rx,
            plant.devices[0].id,
            LinkState::Online,
            Duration::from_secs(30)
        )
        .await,
        "pymodbus did not come up (is pymodbus installed? `pip install pymodbus`)"
    );
    // Wait for a scan with every tag good.
    let readings = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(BusEvent::Scan(b)) = rx.recv().await
                && b.readings.len() == plant.devices[0].tags.len()
                && b.readings.iter().all(|r| r.quality == Quality::Good)
            {
                return b;
            }
        }
    })
    .await
    .expect("a good scan from pymodbus");
    let get = |name: &str| {
        let id = plant.devices[0].tag(name).expect("tag").id;
        readings
            .readings
            .iter()
            .find(|r| r.tag == id)
            .and_then(|r| r.value.clone())
            .expect("value")
    };
    assert_eq!(get("speed"), Value::Number(1500.5));
    match get("temperature") {
        Value::Number(t) => assert!((t - -123.4).abs() < 1e-9, "{t}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(get("counter"), Value::Number(123456.0));
    assert_eq!(get("offset"), Value::Number(-12.25));
    match get("voltage") {
        Value::Number(v) => assert!((v - 3.9).abs() < 1e-6, "{v}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(get("state"), Value::Text("Execute".into()));
    assert_eq!(get("lot"), Value::Text("LOT1".into()));
    assert_eq!(get("soc"), Value::Number(98.5));
    assert_eq!(get("door"), Value::Bool(true));
    assert_eq!(get("estop"), Value::Bool(true));

    shutdown.cancel();
    task.await.expect("runner ends");
    let _ = child.kill().await;
}
