//! Modbus register decoding, as acquisition does it: raw registers (or bits) from
//! a PLC's reply → tag values, for any tag type, word order, bit, scale and offset.
//!
//! Two levels per input:
//! 1. the codec alone (`modbus::codec::decode` on arbitrary registers), with its
//!    contract: it fails only for a short slice or a bad bit index, and numbers
//!    survive `encode(decode(regs))` unchanged in every word order;
//! 2. a device built from arbitrary tag definitions, written as a plant file and
//!    loaded by `config::parse` (so only tags the loader accepts reach decoding, as
//!    in production), its reads planned by `acquisition::plan::plan` and each block's
//!    reply (full or cut short) decoded by `acquisition::decode::block_readings`.
#![no_main]

use std::fmt::Write as _;
use std::path::Path;

use app::line::{Quality, Value};
use cellguard::acquisition::decode::{Words, block_readings};
use cellguard::config;
use cellguard::modbus::codec::DataType;
use cellguard::modbus::{MAX_READ_BITS, MAX_READ_REGISTERS};
use cellguard::plant::{PACKML_STATES, Table};
use cellguard::modbus::codec::{self, Raw, WordOrder};
use cellguard::acquisition::plan::plan;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ty {
    U16,
    I16,
    U32,
    I32,
    F32,
    F64,
    Bit,
    String,
}

impl Ty {
    fn data_type(self) -> DataType {
        match self {
            Ty::U16 => DataType::U16,
            Ty::I16 => DataType::I16,
            Ty::U32 => DataType::U32,
            Ty::I32 => DataType::I32,
            Ty::F32 => DataType::F32,
            Ty::F64 => DataType::F64,
            Ty::Bit => DataType::Bit,
            Ty::String => DataType::String,
        }
    }
    fn toml(self) -> &'static str {
        match self {
            Ty::U16 => "u16",
            Ty::I16 => "i16",
            Ty::U32 => "u32",
            Ty::I32 => "i32",
            Ty::F32 => "f32",
            Ty::F64 => "f64",
            Ty::Bit => "bit",
            Ty::String => "string",
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Order {
    Abcd,
    Cdab,
    Badc,
    Dcba,
}

impl Order {
    fn word_order(self) -> WordOrder {
        match self {
            Order::Abcd => WordOrder::Abcd,
            Order::Cdab => WordOrder::Cdab,
            Order::Badc => WordOrder::Badc,
            Order::Dcba => WordOrder::Dcba,
        }
    }
    fn toml(self) -> &'static str {
        match self {
            Order::Abcd => "ABCD",
            Order::Cdab => "CDAB",
            Order::Badc => "BADC",
            Order::Dcba => "DCBA",
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum TableIn {
    Holding,
    Input,
    Coil,
    Discrete,
}

impl TableIn {
    fn toml(self) -> &'static str {
        match self {
            TableIn::Holding => "holding",
            TableIn::Input => "input",
            TableIn::Coil => "coil",
            TableIn::Discrete => "discrete",
        }
    }
}

/// One tag definition. Addresses are small (so tags meet and merge into one read)
/// unless `far` puts them at the top of the address space.
#[derive(Arbitrary, Debug)]
struct TagIn {
    table: TableIn,
    address: u8,
    far: bool,
    ty: Ty,
    length: u8,
    bit: Option<u8>,
    order: Option<Order>,
    scale: Option<f64>,
    offset: Option<f64>,
    /// Raw value → index into the PackML state names.
    states: Option<Vec<(i32, u8)>>,
    second_group: bool,
}

#[derive(Arbitrary, Debug)]
struct Input {
    // Level 1: the codec.
    regs: Vec<u16>,
    ty: Ty,
    order: Order,
    bit: Option<u8>,
    string_len: u16,
    // Level 2: a device and its replies.
    device_order: Order,
    max_gap: u8,
    tags: Vec<TagIn>,
    words: Vec<u16>,
    bits: Vec<bool>,
    /// Cut every reply to this many values (the "short reply" path).
    cut: Option<u8>,
}

/// A TOML float (TOML spells the non-finite ones `nan`, `inf`, `-inf`).
fn toml_f64(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{x:?}")
    }
}

fn codec_level(input: &Input) {
    let ty = input.ty.data_type();
    let order = input.order.word_order();
    let need = usize::from(ty.register_count(input.string_len));
    let decoded = codec::decode(&input.regs, ty, order, input.bit, input.string_len);
    let bad_bit = ty == DataType::Bit && input.bit.unwrap_or(0) > 15;
    assert_eq!(
        decoded.is_ok(),
        input.regs.len() >= need && !bad_bit,
        "decode fails only on a short slice or a bad bit: {decoded:?}"
    );
    let Ok(raw) = decoded else { return };
    match (&raw, ty) {
        (Raw::Number(n), DataType::U16 | DataType::I16 | DataType::U32 | DataType::I32) => {
            assert!(n.is_finite() && n.fract() == 0.0, "{n}");
            let back = codec::encode(&raw, ty, order, input.string_len);
            assert_eq!(back, input.regs[..need], "{ty:?} {order:?} round trip");
        }
        (Raw::Number(n), DataType::F32 | DataType::F64) => {
            if !n.is_nan() {
                let back = codec::encode(&raw, ty, order, input.string_len);
                assert_eq!(back, input.regs[..need], "{ty:?} {order:?} round trip");
            }
            // What acquisition does next: scaling must not panic whatever the value.
            let _ = codec::scale(*n, 0.1, -40.0);
        }
        (Raw::Bool(_), DataType::Bit) => {}
        (Raw::Text(t), DataType::String) => {
            assert!(t.len() <= need * 2, "text longer than its registers");
            assert!(t.is_ascii());
        }
        (raw, ty) => panic!("{ty:?} decoded as {raw:?}"),
    }
}

/// Renders the tag definitions as a plant file with one device.
fn plant_text(input: &Input) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "[[devices]]\nid = \"M\"\nhost = \"127.0.0.1\"\nword_order = \"{}\"\nmax_gap = {}\n\
         scan_groups = [{{ name = \"a\", period_ms = 100 }}, {{ name = \"b\", period_ms = 1000 }}]\n",
        input.device_order.toml(),
        input.max_gap
    );
    for (i, t) in input.tags.iter().take(12).enumerate() {
        let address = if t.far {
            65_535 - u32::from(t.address)
        } else {
            u32::from(t.address)
        };
        let _ = write!(
            s,
            "\n[[devices.tags]]\nname = \"t{i}\"\ntable = \"{}\"\naddress = {address}\n\
             type = \"{}\"\nscan_group = \"{}\"\n",
            t.table.toml(),
            t.ty.toml(),
            if t.second_group { "b" } else { "a" }
        );
        if t.length > 0 {
            let _ = writeln!(s, "length = {}", t.length);
        }
        if let Some(b) = t.bit {
            let _ = writeln!(s, "bit = {b}");
        }
        if let Some(o) = t.order {
            let _ = writeln!(s, "word_order = \"{}\"", o.toml());
        }
        if let Some(x) = t.scale {
            let _ = writeln!(s, "scale = {}", toml_f64(x));
        }
        if let Some(x) = t.offset {
            let _ = writeln!(s, "offset = {}", toml_f64(x));
        }
        if let Some(states) = &t.states {
            let entries: Vec<String> = states
                .iter()
                .take(8)
                .map(|(k, v)| {
                    let name = PACKML_STATES[usize::from(*v) % PACKML_STATES.len()];
                    format!("\"{k}\" = \"{name}\"")
                })
                .collect();
            let _ = writeln!(s, "states = {{ {} }}", entries.join(", "));
        }
    }
    s
}

fn device_level(input: &Input) {
    let text = plant_text(input);
    let Ok(plant) = config::parse(Path::new("fuzz.toml"), &text, &|_| None) else {
        return;
    };
    let device = &plant.plant.devices[0];
    for group in 0..device.scan_groups.len() {
        let blocks = plan(device, group);
        let planned: usize = blocks.iter().map(|b| b.tags.len()).sum();
        let in_group = device.tags.iter().filter(|t| t.scan_group == group).count();
        assert_eq!(planned, in_group, "every tag of the group is read once");
        for block in &blocks {
            let limit = if block.table.is_bits() {
                MAX_READ_BITS
            } else {
                MAX_READ_REGISTERS
            };
            assert!(block.count >= 1 && block.count <= limit, "{block:?}");
            let end = u32::from(block.start) + u32::from(block.count);
            assert!(end <= 65_536, "{block:?}");
            for &ti in &block.tags {
                let t = &device.tags[ti];
                assert_eq!(t.table, block.table);
                assert!(t.address >= block.start, "{block:?} {t:?}");
                assert!(u32::from(t.address) + u32::from(t.width()) <= end, "{block:?} {t:?}");
            }
            let count = usize::from(block.count);
            let full = count.min(input.cut.map_or(count, usize::from));
            let words = if block.table.is_bits() {
                Words::Bits(
                    (0..full)
                        .map(|i| input.bits.get(i).copied().unwrap_or(i % 3 == 0))
                        .collect(),
                )
            } else {
                Words::Registers(
                    (0..full)
                        .map(|i| input.words.get(i).copied().unwrap_or(i as u16))
                        .collect(),
                )
            };
            let readings = block_readings(device, block, &words);
            assert_eq!(readings.len(), block.tags.len());
            for (r, &ti) in readings.iter().zip(&block.tags) {
                assert_eq!(r.tag, device.tags[ti].id);
                let tag = &device.tags[ti];
                match &r.value {
                    Some(Value::Number(n)) => assert!(n.is_finite(), "{tag:?}: {n}"),
                    None => assert_eq!(r.quality, Quality::Bad),
                    Some(_) => {}
                }
                // A complete reply decodes every bit and string tag.
                if full == count && matches!(tag.data_type, DataType::Bit | DataType::String) {
                    assert_eq!(r.quality, Quality::Good, "{tag:?} {r:?}");
                }
                if tag.table == Table::Coil || tag.table == Table::Discrete {
                    assert!(matches!(r.value, Some(Value::Bool(_)) | None), "{r:?}");
                }
            }
        }
    }
}

fuzz_target!(|input: Input| {
    codec_level(&input);
    device_level(&input);
});
