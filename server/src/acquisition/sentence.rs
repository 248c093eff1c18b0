//! Link failures in words a person can act on: what tokio-modbus and the socket
//! report, turned into "the PLC closed the connection", "reply for transaction
//! 83, expected 82", "connection refused by 10.0.0.5:502".

use std::io;

use tokio_modbus::ExceptionCode;

use crate::plant::Table;

/// Why a connection was given up, each said as a person would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModbusError {
    /// No answer within the device's timeout.
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// The PLC closed the connection (or reset it).
    #[error("the PLC closed the connection")]
    Closed,
    /// Nothing listens at the address (or a firewall says so).
    #[error("connection refused by {0}")]
    ConnectRefused(String),
    /// No TCP connection within the connect timeout.
    #[error("no connection to {target} within {ms} ms")]
    ConnectTimeout {
        /// host:port.
        target: String,
        /// The connect timeout.
        ms: u64,
    },
    /// A reply that does not belong to the request (another transaction, unit or
    /// function): the connection is out of step.
    #[error("{0}")]
    Mismatch(String),
    /// Any other failure of the connection.
    #[error("connection failed: {0}")]
    Transport(String),
    /// The host name did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
}

/// The kinds of failure `/metrics` counts.
pub const FAILURE_KINDS: [&str; 6] = [
    "timeout",
    "closed",
    "refused",
    "mismatch",
    "transport",
    "resolve",
];

impl ModbusError {
    /// Which of [`FAILURE_KINDS`] this is (its index).
    pub fn kind(&self) -> usize {
        match self {
            ModbusError::Timeout(_) | ModbusError::ConnectTimeout { .. } => 0,
            ModbusError::Closed => 1,
            ModbusError::ConnectRefused(_) => 2,
            ModbusError::Mismatch(_) => 3,
            ModbusError::Transport(_) => 4,
            ModbusError::Resolve(_) => 5,
        }
    }
}

/// A tokio-modbus error of a request on an open connection.
pub fn request_error(e: tokio_modbus::Error) -> ModbusError {
    use tokio_modbus::ProtocolError;
    match e {
        tokio_modbus::Error::Transport(io) => io_error(&io),
        tokio_modbus::Error::Protocol(ProtocolError::HeaderMismatch { message, .. }) => {
            ModbusError::Mismatch(header_mismatch(&message))
        }
        tokio_modbus::Error::Protocol(ProtocolError::FunctionCodeMismatch { request, .. }) => {
            ModbusError::Mismatch(format!(
                "reply for another function than the {request} asked"
            ))
        }
    }
}

/// An I/O error of an open connection. When the PLC closes the connection,
/// tokio-modbus reports the thread's last OS error, whatever it was (often
/// "Operation now in progress" or "Resource temporarily unavailable"): those
/// mean the stream ended.
pub fn io_error(e: &io::Error) -> ModbusError {
    use io::ErrorKind::{
        BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof, WouldBlock,
    };
    match e.kind() {
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe | WouldBlock => {
            ModbusError::Closed
        }
        _ if matches!(e.raw_os_error(), Some(0 | 11 | 115)) => ModbusError::Closed,
        // The framing's word for a stream that ended inside a reply.
        _ if e.to_string() == "bytes remaining on stream" => ModbusError::Closed,
        _ => ModbusError::Transport(e.to_string()),
    }
}

/// A failed TCP connect to `target`.
pub fn connect_error(e: &io::Error, target: &str) -> ModbusError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ModbusError::ConnectRefused(target.to_owned()),
        _ => ModbusError::Transport(format!("{target}: {e}")),
    }
}

/// tokio-modbus' "expected/request = Header { transaction_id: 82, unit_id: 1 },
/// actual/response = Header { transaction_id: 83, unit_id: 1 }" as a sentence.
pub fn header_mismatch(message: &str) -> String {
    let field = |name: &str| -> Vec<u64> {
        message
            .match_indices(name)
            .filter_map(|(i, _)| {
                let rest = &message[i + name.len()..];
                let digits: String = rest
                    .trim_start_matches([':', ' '])
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse().ok()
            })
            .collect()
    };
    match (
        field("transaction_id").as_slice(),
        field("unit_id").as_slice(),
    ) {
        ([want, got], _) if want != got => format!("reply for transaction {got}, expected {want}"),
        (_, [want, got]) if want != got => format!("reply from unit {got}, expected {want}"),
        _ => "a reply that does not match the request".to_owned(),
    }
}

/// "exception 02 illegal data address at holding register 100 (40101)".
pub fn exception(code: ExceptionCode, table: Table, address: u16) -> String {
    format!(
        "exception {:02} {} at {}",
        u8::from(code),
        code.to_string().to_lowercase(),
        table.describe(address)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_mismatch_names_both_ids() {
        let m = "expected/request = Header { transaction_id: 82, unit_id: 1 }, \
                 actual/response = Header { transaction_id: 83, unit_id: 1 }";
        assert_eq!(header_mismatch(m), "reply for transaction 83, expected 82");
        let m = "expected/request = Header { transaction_id: 5, unit_id: 7 }, \
                 actual/response = Header { transaction_id: 5, unit_id: 8 }";
        assert_eq!(header_mismatch(m), "reply from unit 8, expected 7");
        assert_eq!(
            header_mismatch("something else"),
            "a reply that does not match the request"
        );
    }

    #[test]
    fn the_os_errors_of_a_closed_stream_say_the_plc_closed_it() {
        for raw in [11, 115] {
            let e = io::Error::from_raw_os_error(raw);
            assert_eq!(io_error(&e), ModbusError::Closed, "os error {raw}");
        }
        let mid = io::Error::other("bytes remaining on stream");
        assert_eq!(io_error(&mid), ModbusError::Closed);
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(io_error(&eof).to_string(), "the PLC closed the connection");
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            connect_error(&refused, "10.0.0.5:502").to_string(),
            "connection refused by 10.0.0.5:502"
        );
    }

    #[test]
    fn an_exception_is_named_with_its_code_and_both_addresses() {
        assert_eq!(
            exception(ExceptionCode::IllegalDataAddress, Table::Holding, 100),
            "exception 02 illegal data address at holding register 100 (40101)"
        );
        assert_eq!(
            exception(ExceptionCode::IllegalDataValue, Table::Input, 0),
            "exception 03 illegal data value at input register 0 (30001)"
        );
        assert_eq!(
            exception(ExceptionCode::ServerDeviceBusy, Table::Coil, 20_000),
            "exception 06 server device busy at coil 20000 (020001)"
        );
    }
}
