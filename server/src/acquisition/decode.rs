//! Turns the registers or bits of one block read into tag readings (pure).

use app::line::{Quality, Value};

use super::plan::Block;
use crate::bus::Reading;
use crate::modbus::codec::{DataType, Raw, decode, scale};
use crate::plant::{Device, Tag};

/// A block's reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Words {
    /// Holding or input registers.
    Registers(Vec<u16>),
    /// Coils or discrete inputs.
    Bits(Vec<bool>),
}

impl Words {
    /// Values in the reply.
    pub fn len(&self) -> usize {
        match self {
            Words::Registers(r) => r.len(),
            Words::Bits(b) => b.len(),
        }
    }
    /// True when the reply holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Decodes every tag of `block` from `words` (whose length the caller checked).
pub fn block_readings(device: &Device, block: &Block, words: &Words) -> Vec<Reading> {
    block
        .tags
        .iter()
        .map(|&ti| {
            let tag = &device.tags[ti];
            let offset = usize::from(tag.address).saturating_sub(usize::from(block.start));
            let value = match words {
                Words::Bits(bits) => bits.get(offset).map(|b| Raw::Bool(*b)).ok_or(()),
                Words::Registers(regs) => decode(
                    regs.get(offset..).unwrap_or(&[]),
                    tag.data_type,
                    tag.word_order,
                    tag.bit,
                    tag.length,
                )
                .map_err(|_| ()),
            };
            let (value, quality) = match value {
                Err(()) => (None, Quality::Bad),
                Ok(raw) => to_value(tag, raw),
            };
            Reading {
                tag: tag.id,
                value,
                quality,
            }
        })
        .collect()
}

fn to_value(tag: &Tag, raw: Raw) -> (Option<Value>, Quality) {
    match raw {
        Raw::Number(n) => {
            if let Some(states) = &tag.states {
                // Look the raw value up by name; an unmapped value is shown but marked bad.
                let key = n as i64;
                match states.name_of(key) {
                    Some(name) => (Some(Value::Text(name.to_owned())), Quality::Good),
                    None => (Some(Value::Text(format!("Unknown ({key})"))), Quality::Bad),
                }
            } else if tag.data_type == DataType::Bit {
                (Some(Value::Bool(n != 0.0)), Quality::Good)
            } else if let Some(v) = Some(scale(n, tag.scale, tag.offset)).filter(|v| v.is_finite())
            {
                // NaN, or infinite before or after scaling: not a usable reading.
                (Some(Value::Number(v)), Quality::Good)
            } else {
                (None, Quality::Bad)
            }
        }
        Raw::Bool(b) => (Some(Value::Bool(b)), Quality::Good),
        Raw::Text(t) => (Some(Value::Text(t)), Quality::Good),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquisition::plan::plan;
    use crate::config::parse;
    use std::path::Path;

    const PLANT: &str = r#"
[[devices]]
id = "M"
host = "h"
word_order = "CDAB"
scan_groups = [{ name = "g", period_ms = 100 }]
[[devices.tags]]
name = "speed"
table = "holding"
address = 0
type = "f32"
scan_group = "g"
[[devices.tags]]
name = "temp"
table = "holding"
address = 2
type = "i16"
scale = 0.1
offset = 1.0
scan_group = "g"
[[devices.tags]]
name = "state"
table = "holding"
address = 3
type = "u16"
scan_group = "g"
states = { "6" = "Execute", "2" = "Stopped" }
[[devices.tags]]
name = "alarm"
table = "holding"
address = 4
type = "bit"
bit = 2
scan_group = "g"
"#;

    #[test]
    fn a_block_decodes_into_scaled_named_values() {
        let p = parse(Path::new("p"), PLANT, &|_| None).expect("valid");
        let d = &p.plant.devices[0];
        let blocks = plan(d, 0);
        assert_eq!(blocks.len(), 1);
        // speed 1500.5 in CDAB, temp -20 raw → -1.0 °C, state 6, bit 2 set
        let regs = vec![0x9000, 0x44BB, (-20i16) as u16, 6, 0b100];
        let r = block_readings(d, &blocks[0], &Words::Registers(regs));
        let values: Vec<_> = r.iter().map(|r| (r.value.clone(), r.quality)).collect();
        assert_eq!(values[0], (Some(Value::Number(1500.5)), Quality::Good));
        match &values[1].0 {
            Some(Value::Number(n)) => assert!((n - -1.0).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            values[2],
            (Some(Value::Text("Execute".into())), Quality::Good)
        );
        assert_eq!(values[3], (Some(Value::Bool(true)), Quality::Good));
    }

    #[test]
    fn values_that_are_not_finite_after_scaling_are_bad() {
        let text = PLANT.replace("scale = 0.1", "scale = 1e305");
        let p = parse(Path::new("p"), &text, &|_| None).expect("valid");
        let d = &p.plant.devices[0];
        let blocks = plan(d, 0);
        // temp raw 30000 × 1e305 overflows; speed NaN (7FC0 0000 in CDAB)
        let r = block_readings(
            d,
            &blocks[0],
            &Words::Registers(vec![0x0000, 0x7FC0, 30000, 6, 0]),
        );
        assert_eq!((r[0].value.clone(), r[0].quality), (None, Quality::Bad));
        assert_eq!((r[1].value.clone(), r[1].quality), (None, Quality::Bad));
        assert_eq!(r[2].quality, Quality::Good);
    }

    #[test]
    fn an_unmapped_state_is_shown_but_marked_bad() {
        let p = parse(Path::new("p"), PLANT, &|_| None).expect("valid");
        let d = &p.plant.devices[0];
        let blocks = plan(d, 0);
        let r = block_readings(d, &blocks[0], &Words::Registers(vec![0, 0, 0, 99, 0]));
        assert_eq!(r[2].value, Some(Value::Text("Unknown (99)".into())));
        assert_eq!(r[2].quality, Quality::Bad);
    }

    #[test]
    fn a_reply_too_short_for_a_tag_marks_it_bad() {
        let p = parse(Path::new("p"), PLANT, &|_| None).expect("valid");
        let d = &p.plant.devices[0];
        let blocks = plan(d, 0);
        let r = block_readings(d, &blocks[0], &Words::Registers(vec![0x9000]));
        assert_eq!(r[0].quality, Quality::Bad);
        assert!(r.iter().all(|r| r.quality == Quality::Bad));
    }
}
