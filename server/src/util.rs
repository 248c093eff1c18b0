//! Small helpers with no home of their own. A leaf module.

use std::fmt::Write as _;

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_become_lower_case_hex() {
        assert_eq!(super::hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
