//! Register codec: turns raw Modbus registers into engineering values and back.
//!
//! Pure functions only. The word/byte order names follow the usual convention:
//! for the f32 value 1500.5 (`0x44BB9000`) the registers are
//! `44BB 9000` (ABCD), `9000 44BB` (CDAB), `BB44 0090` (BADC), `0090 BB44` (DCBA).

use serde::{Deserialize, Serialize};

/// How the bytes of a multi-register value are laid out over the registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum WordOrder {
    /// Big-endian words, big-endian bytes (Modbus' own convention).
    #[default]
    Abcd,
    /// Little-endian words ("word swap"), big-endian bytes.
    Cdab,
    /// Big-endian words, bytes swapped within each word.
    Badc,
    /// Fully little-endian.
    Dcba,
}

/// The type a tag's registers or bits encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// Unsigned 16-bit integer, one register.
    U16,
    /// Signed 16-bit integer, one register.
    I16,
    /// Unsigned 32-bit integer, two registers.
    U32,
    /// Signed 32-bit integer, two registers.
    I32,
    /// IEEE-754 single precision, two registers.
    F32,
    /// IEEE-754 double precision, four registers.
    F64,
    /// A single bit: a coil, a discrete input, or one bit of a register.
    Bit,
    /// ASCII text, two characters per register (high byte first).
    String,
}

impl DataType {
    /// Registers occupied by one value of this type (`string_len` registers for text).
    pub fn register_count(self, string_len: u16) -> u16 {
        match self {
            DataType::U16 | DataType::I16 | DataType::Bit => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::F64 => 4,
            DataType::String => string_len,
        }
    }
}

/// A decoded value before scale and offset.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    /// Any numeric type, widened to f64.
    Number(f64),
    /// A bit.
    Bool(bool),
    /// Text with trailing NULs and spaces removed.
    Text(String),
}

/// Why registers could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer registers than the type needs.
    #[error("expected {expected} registers, got {got}")]
    Length {
        /// Registers the type needs.
        expected: usize,
        /// Registers supplied.
        got: usize,
    },
    /// A bit index outside 0..=15.
    #[error("bit index {0} is outside 0..=15")]
    BitIndex(u8),
}

/// Reorders registers of one value into big-endian byte order (ABCD…).
fn to_be_bytes(regs: &[u16], order: WordOrder) -> Vec<u8> {
    let words: Vec<u16> = match order {
        WordOrder::Abcd | WordOrder::Badc => regs.to_vec(),
        WordOrder::Cdab | WordOrder::Dcba => regs.iter().rev().copied().collect(),
    };
    let swap_bytes = matches!(order, WordOrder::Badc | WordOrder::Dcba);
    let mut out = Vec::with_capacity(words.len() * 2);
    for w in words {
        let w = if swap_bytes { w.swap_bytes() } else { w };
        out.extend_from_slice(&w.to_be_bytes());
    }
    out
}

/// Inverse of [`to_be_bytes`]: lays big-endian bytes out as registers in `order`.
fn from_be_bytes(bytes: &[u8], order: WordOrder) -> Vec<u16> {
    let swap_bytes = matches!(order, WordOrder::Badc | WordOrder::Dcba);
    let mut words: Vec<u16> = bytes
        .chunks(2)
        .map(|c| {
            let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
            if swap_bytes { w.swap_bytes() } else { w }
        })
        .collect();
    if matches!(order, WordOrder::Cdab | WordOrder::Dcba) {
        words.reverse();
    }
    words
}

/// Decodes one value of `ty` from the start of `regs`.
///
/// `bit` selects one bit of a register for [`DataType::Bit`] on register tables;
/// `string_len` is the register count of a string.
pub fn decode(
    regs: &[u16],
    ty: DataType,
    order: WordOrder,
    bit: Option<u8>,
    string_len: u16,
) -> Result<Raw, DecodeError> {
    let need = usize::from(ty.register_count(string_len));
    if regs.len() < need {
        return Err(DecodeError::Length {
            expected: need,
            got: regs.len(),
        });
    }
    let regs = &regs[..need];
    Ok(match ty {
        DataType::U16 => Raw::Number(f64::from(regs[0])),
        DataType::I16 => Raw::Number(f64::from(regs[0] as i16)),
        DataType::Bit => {
            let b = bit.unwrap_or(0);
            if b > 15 {
                return Err(DecodeError::BitIndex(b));
            }
            Raw::Bool(regs[0] >> b & 1 == 1)
        }
        DataType::U32 | DataType::I32 | DataType::F32 => {
            let b = to_be_bytes(regs, order);
            let arr = [b[0], b[1], b[2], b[3]];
            Raw::Number(match ty {
                DataType::U32 => f64::from(u32::from_be_bytes(arr)),
                DataType::I32 => f64::from(i32::from_be_bytes(arr)),
                _ => f64::from(f32::from_be_bytes(arr)),
            })
        }
        DataType::F64 => {
            let b = to_be_bytes(regs, order);
            let mut arr = [0u8; 8];
            arr.copy_from_slice(&b[..8]);
            Raw::Number(f64::from_be_bytes(arr))
        }
        DataType::String => {
            // Strings are byte sequences, high byte first in each register; the word
            // order does not apply to them.
            let bytes: Vec<u8> = regs.iter().flat_map(|r| r.to_be_bytes()).collect();
            let text: String = bytes
                .iter()
                .map(|&c| if c.is_ascii() { c as char } else { '?' })
                .collect();
            Raw::Text(text.trim_end_matches(['\0', ' ']).to_owned())
        }
    })
}

/// Encodes a value of `ty` into registers (the simulator's side of [`decode`]).
///
/// Numbers are saturated into the integer types' ranges; text is padded with NULs
/// or cut to `string_len` registers.
pub fn encode(value: &Raw, ty: DataType, order: WordOrder, string_len: u16) -> Vec<u16> {
    let num = match value {
        Raw::Number(n) => *n,
        Raw::Bool(b) => f64::from(u8::from(*b)),
        Raw::Text(_) => 0.0,
    };
    match ty {
        DataType::U16 | DataType::Bit => vec![num.round().clamp(0.0, 65535.0) as u16],
        DataType::I16 => vec![num.round().clamp(-32768.0, 32767.0) as i16 as u16],
        DataType::U32 => from_be_bytes(
            &(num.round().clamp(0.0, 4294967295.0) as u32).to_be_bytes(),
            order,
        ),
        DataType::I32 => from_be_bytes(
            &(num.round().clamp(-2147483648.0, 2147483647.0) as i32).to_be_bytes(),
            order,
        ),
        DataType::F32 => from_be_bytes(&(num as f32).to_be_bytes(), order),
        DataType::F64 => from_be_bytes(&num.to_be_bytes(), order),
        DataType::String => {
            let text = match value {
                Raw::Text(t) => t.as_bytes().to_vec(),
                _ => Vec::new(),
            };
            let mut bytes = vec![0u8; usize::from(string_len) * 2];
            for (dst, src) in bytes.iter_mut().zip(text.iter()) {
                *dst = *src;
            }
            bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect()
        }
    }
}

/// The raw values a register type holds (`None` for bits and text), for refusing a
/// write [`encode`] would otherwise saturate.
pub fn range(ty: DataType) -> Option<(f64, f64)> {
    match ty {
        DataType::U16 => Some((0.0, 65_535.0)),
        DataType::I16 => Some((-32_768.0, 32_767.0)),
        DataType::U32 => Some((0.0, 4_294_967_295.0)),
        DataType::I32 => Some((-2_147_483_648.0, 2_147_483_647.0)),
        DataType::F32 => Some((f64::from(f32::MIN), f64::from(f32::MAX))),
        DataType::F64 => Some((f64::MIN, f64::MAX)),
        DataType::Bit | DataType::String => None,
    }
}

/// Applies a tag's linear scaling: `raw * scale + offset`.
pub fn scale(raw: f64, scale: f64, offset: f64) -> f64 {
    raw * scale + offset
}

/// Inverse of [`scale`], for writing engineering values to a register.
pub fn unscale(value: f64, scale: f64, offset: f64) -> f64 {
    if scale == 0.0 {
        return 0.0;
    }
    (value - offset) / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_ORDERS: [(WordOrder, [u16; 2]); 4] = [
        (WordOrder::Abcd, [0x44BB, 0x9000]),
        (WordOrder::Cdab, [0x9000, 0x44BB]),
        (WordOrder::Badc, [0xBB44, 0x0090]),
        (WordOrder::Dcba, [0x0090, 0xBB44]),
    ];

    #[test]
    fn every_value_of_a_range_encodes_without_saturating_and_the_next_would() {
        for ty in [DataType::U16, DataType::I16, DataType::U32, DataType::I32] {
            let (lo, hi) = range(ty).expect("a numeric type");
            for v in [lo, hi] {
                let words = encode(&Raw::Number(v), ty, WordOrder::Abcd, 0);
                let back = decode(&words, ty, WordOrder::Abcd, None, 0);
                assert_eq!(back, Ok(Raw::Number(v)), "{ty:?} {v}");
            }
            // One past either end is what encode would silently clamp.
            let past = encode(&Raw::Number(hi + 1.0), ty, WordOrder::Abcd, 0);
            assert_eq!(
                decode(&past, ty, WordOrder::Abcd, None, 0),
                Ok(Raw::Number(hi))
            );
        }
        assert_eq!(range(DataType::Bit), None);
        assert_eq!(range(DataType::String), None);
    }

    #[test]
    fn f32_1500_5_decodes_in_all_four_word_orders() {
        for (order, regs) in ALL_ORDERS {
            let got = decode(&regs, DataType::F32, order, None, 0);
            assert_eq!(got, Ok(Raw::Number(1500.5)), "{order:?}");
        }
    }

    #[test]
    fn f32_1500_5_encodes_in_all_four_word_orders() {
        for (order, regs) in ALL_ORDERS {
            assert_eq!(
                encode(&Raw::Number(1500.5), DataType::F32, order, 0),
                regs.to_vec(),
                "{order:?}"
            );
        }
    }

    #[test]
    fn f64_round_trips_in_all_orders() {
        for (order, _) in ALL_ORDERS {
            let regs = encode(&Raw::Number(-12345.678901), DataType::F64, order, 0);
            assert_eq!(regs.len(), 4);
            assert_eq!(
                decode(&regs, DataType::F64, order, None, 0),
                Ok(Raw::Number(-12345.678901))
            );
        }
    }

    #[test]
    fn f64_abcd_layout_is_big_endian() {
        // 1.0 is 0x3FF0_0000_0000_0000.
        let regs = encode(&Raw::Number(1.0), DataType::F64, WordOrder::Abcd, 0);
        assert_eq!(regs, vec![0x3FF0, 0, 0, 0]);
        let regs = encode(&Raw::Number(1.0), DataType::F64, WordOrder::Cdab, 0);
        assert_eq!(regs, vec![0, 0, 0, 0x3FF0]);
    }

    #[test]
    fn signed_16_bit_values_are_twos_complement() {
        assert_eq!(
            decode(&[0xFFFF], DataType::I16, WordOrder::Abcd, None, 0),
            Ok(Raw::Number(-1.0))
        );
        assert_eq!(
            decode(&[0x8000], DataType::I16, WordOrder::Abcd, None, 0),
            Ok(Raw::Number(-32768.0))
        );
        assert_eq!(
            decode(&[0xFFFF], DataType::U16, WordOrder::Abcd, None, 0),
            Ok(Raw::Number(65535.0))
        );
    }

    #[test]
    fn signed_32_bit_values_respect_word_order() {
        // -2 is 0xFFFF_FFFE
        assert_eq!(
            decode(&[0xFFFF, 0xFFFE], DataType::I32, WordOrder::Abcd, None, 0),
            Ok(Raw::Number(-2.0))
        );
        assert_eq!(
            decode(&[0xFFFE, 0xFFFF], DataType::I32, WordOrder::Cdab, None, 0),
            Ok(Raw::Number(-2.0))
        );
        assert_eq!(
            decode(&[0x0001, 0x0000], DataType::U32, WordOrder::Cdab, None, 0),
            Ok(Raw::Number(1.0))
        );
        assert_eq!(
            decode(&[0x0001, 0x0000], DataType::U32, WordOrder::Abcd, None, 0),
            Ok(Raw::Number(65536.0))
        );
    }

    #[test]
    fn integers_saturate_when_encoded_out_of_range() {
        assert_eq!(
            encode(&Raw::Number(70000.0), DataType::U16, WordOrder::Abcd, 0),
            vec![65535]
        );
        assert_eq!(
            encode(&Raw::Number(-5.0), DataType::U16, WordOrder::Abcd, 0),
            vec![0]
        );
        assert_eq!(
            encode(&Raw::Number(-40000.0), DataType::I16, WordOrder::Abcd, 0),
            vec![0x8000]
        );
    }

    #[test]
    fn scale_and_offset_apply_and_invert() {
        assert!((scale(452.0, 0.1, 0.0) - 45.2).abs() < 1e-12);
        assert!((scale(1000.0, 0.01, -5.0) - 5.0).abs() < 1e-12);
        assert!((unscale(5.0, 0.01, -5.0) - 1000.0).abs() < 1e-9);
        assert_eq!(unscale(1.0, 0.0, 0.0), 0.0);
    }

    #[test]
    fn bits_of_a_register_are_addressed_from_the_least_significant() {
        assert_eq!(
            decode(&[0b1000], DataType::Bit, WordOrder::Abcd, Some(3), 0),
            Ok(Raw::Bool(true))
        );
        assert_eq!(
            decode(&[0b1000], DataType::Bit, WordOrder::Abcd, Some(2), 0),
            Ok(Raw::Bool(false))
        );
        assert_eq!(
            decode(&[1], DataType::Bit, WordOrder::Abcd, None, 0),
            Ok(Raw::Bool(true))
        );
        assert_eq!(
            decode(&[1], DataType::Bit, WordOrder::Abcd, Some(16), 0),
            Err(DecodeError::BitIndex(16))
        );
    }

    #[test]
    fn strings_are_high_byte_first_and_trimmed() {
        // "CAS_01" + padding
        let regs = [0x4341, 0x535F, 0x3031, 0x0000];
        assert_eq!(
            decode(&regs, DataType::String, WordOrder::Dcba, None, 4),
            Ok(Raw::Text("CAS_01".into()))
        );
        assert_eq!(
            encode(
                &Raw::Text("CAS_01".into()),
                DataType::String,
                WordOrder::Abcd,
                4
            ),
            regs.to_vec()
        );
        // Odd length and non-ASCII bytes.
        assert_eq!(
            decode(
                &[0x41FF, 0x4200],
                DataType::String,
                WordOrder::Abcd,
                None,
                2
            ),
            Ok(Raw::Text("A?B".into()))
        );
    }

    #[test]
    fn short_input_is_an_error_not_a_panic() {
        assert_eq!(
            decode(&[0x44BB], DataType::F32, WordOrder::Abcd, None, 0),
            Err(DecodeError::Length {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            decode(&[], DataType::U16, WordOrder::Abcd, None, 0),
            Err(DecodeError::Length {
                expected: 1,
                got: 0
            })
        );
        assert_eq!(
            decode(&[1, 2], DataType::String, WordOrder::Abcd, None, 3),
            Err(DecodeError::Length {
                expected: 3,
                got: 2
            })
        );
    }
}
