//! Read planning: which block reads cover a scan group's tags.
//!
//! Adjacent tags of one table are merged into one read when the gap between them
//! is at most the device's `max_gap` and the read stays within the Modbus limit.

use crate::modbus::{MAX_READ_BITS, MAX_READ_REGISTERS};
use crate::plant::{Device, Table};

/// One read request and the tags it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Table read.
    pub table: Table,
    /// First address (0-based).
    pub start: u16,
    /// Registers or bits read.
    pub count: u16,
    /// Indices into the device's tags.
    pub tags: Vec<usize>,
}

/// Plans the reads of scan group `group` (its index in the device's groups).
pub fn plan(device: &Device, group: usize) -> Vec<Block> {
    let members = (0..device.tags.len()).filter(|&i| device.tags[i].scan_group == group);
    merge(device, members, device.max_gap)
}

/// The reads that replace `block` after the PLC refused it (an exception 02/03 or
/// a short reply: the block spans registers the PLC does not have): its tags in
/// two halves by address, each merged again as the device allows. A half refused
/// in turn is split again, so the reads converge on the holes in a few scans
/// without probing addresses no tag needs. Empty for a block of one tag.
pub fn split(device: &Device, block: &Block) -> Vec<Block> {
    if block.tags.len() < 2 {
        return Vec::new();
    }
    let mut tags = block.tags.clone();
    tags.sort_by_key(|&i| (device.tags[i].address, i));
    let (low, high) = tags.split_at(tags.len() / 2);
    let mut out = merge(device, low.iter().copied(), device.max_gap);
    out.extend(merge(device, high.iter().copied(), device.max_gap));
    out
}

/// The read of tag `index` alone.
pub fn alone(device: &Device, index: usize) -> Block {
    let t = &device.tags[index];
    Block {
        table: t.table,
        start: t.address,
        count: t.width(),
        tags: vec![index],
    }
}

/// Merges tags `members` into reads: one table each, at most `gap` unread
/// registers between neighbours, within the Modbus limit.
fn merge(device: &Device, members: impl Iterator<Item = usize>, gap: u16) -> Vec<Block> {
    let mut tags: Vec<(Table, u32, u32, usize)> = members
        .map(|i| {
            let t = &device.tags[i];
            let start = u32::from(t.address);
            (t.table, start, start + u32::from(t.width()), i)
        })
        .collect();
    tags.sort_by_key(|&(table, start, _, i)| (table, start, i));
    let gap = u32::from(gap);
    let mut out: Vec<Block> = Vec::new();
    let mut cur: Option<(Table, u32, u32, Vec<usize>)> = None;
    for (table, start, end, i) in tags {
        let limit = u32::from(if table.is_bits() {
            MAX_READ_BITS
        } else {
            MAX_READ_REGISTERS
        });
        if let Some((ct, cs, ce, ref mut members)) = cur
            && ct == table
            && start <= ce + gap
            && end.max(ce) - cs <= limit
        {
            members.push(i);
            cur = Some((ct, cs, ce.max(end), std::mem::take(members)));
            continue;
        }
        if let Some(b) = cur.take() {
            out.push(to_block(b));
        }
        cur = Some((table, start, end, vec![i]));
    }
    if let Some(b) = cur {
        out.push(to_block(b));
    }
    out
}

fn to_block((table, start, end, tags): (Table, u32, u32, Vec<usize>)) -> Block {
    // Validation guarantees start + width <= 65536 and width <= the read limit.
    Block {
        table,
        start: u16::try_from(start).unwrap_or(u16::MAX),
        count: u16::try_from(end - start).unwrap_or(u16::MAX),
        tags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::modbus::codec::DataType;
    use crate::plant::{Access, DeviceId, ScanGroup, Tag, TagId};

    fn tag(name: &str, table: Table, address: u16, ty: DataType, group: &str) -> Tag {
        Tag {
            id: TagId::new(DeviceId::new(0), 0),
            name: name.into(),
            label: name.into(),
            table,
            address,
            data_type: ty,
            length: 0,
            bit: if ty == DataType::Bit && !table.is_bits() {
                Some(0)
            } else {
                None
            },
            word_order: Default::default(),
            scale: 1.0,
            offset: 0.0,
            unit: String::new(),
            scan_group: usize::from(group == "slow"),
            access: Access::Read,
            key: false,
            states: None,
            alarms: Vec::new(),
            sim: None,
        }
    }

    fn device(tags: Vec<Tag>, max_gap: u16) -> Device {
        Device {
            id: DeviceId::new(0),
            machine: "D".into(),
            name: "D".into(),
            host: "h".into(),
            port: 502,
            unit_id: 1,
            timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            max_gap,
            scan_groups: vec![
                ScanGroup {
                    name: "fast".into(),
                    period: Duration::from_millis(100),
                },
                ScanGroup {
                    name: "slow".into(),
                    period: Duration::from_millis(1000),
                },
            ],
            tags,
        }
    }

    #[test]
    fn a_refused_block_splits_in_halves_until_one_tag_is_left() {
        let d = device(
            vec![
                tag("a", Table::Holding, 0, DataType::F32, "fast"),
                tag("b", Table::Holding, 2, DataType::U16, "fast"),
                tag("c", Table::Holding, 6, DataType::F32, "fast"),
                tag("d", Table::Holding, 8, DataType::U16, "fast"),
                tag("e", Table::Holding, 12, DataType::U16, "fast"),
            ],
            8,
        );
        let merged = plan(&d, 0);
        assert_eq!(merged.len(), 1, "one read spans every gap");
        let spans = |bs: &[Block]| -> Vec<(u16, u16, Vec<usize>)> {
            bs.iter()
                .map(|b| (b.start, b.count, b.tags.clone()))
                .collect()
        };
        let parts = split(&d, &merged[0]);
        assert_eq!(
            spans(&parts),
            vec![(0, 3, vec![0, 1]), (6, 7, vec![2, 3, 4])]
        );
        let again = split(&d, &parts[1]);
        assert_eq!(spans(&again), vec![(6, 2, vec![2]), (8, 5, vec![3, 4])]);
        let last = split(&d, &again[1]);
        assert_eq!(spans(&last), vec![(8, 1, vec![3]), (12, 1, vec![4])]);
        // One tag: nothing left to split.
        assert!(split(&d, &last[1]).is_empty());
    }

    #[test]
    fn adjacent_tags_merge_into_one_read() {
        let d = device(
            vec![
                tag("a", Table::Holding, 0, DataType::F32, "fast"),
                tag("b", Table::Holding, 2, DataType::F32, "fast"),
                tag("c", Table::Holding, 4, DataType::U16, "fast"),
            ],
            0,
        );
        assert_eq!(
            plan(&d, 0),
            vec![Block {
                table: Table::Holding,
                start: 0,
                count: 5,
                tags: vec![0, 1, 2]
            }]
        );
    }

    #[test]
    fn small_gaps_merge_and_large_gaps_split() {
        let d = device(
            vec![
                tag("a", Table::Holding, 0, DataType::U16, "fast"),
                tag("b", Table::Holding, 5, DataType::U16, "fast"),
                tag("c", Table::Holding, 50, DataType::U16, "fast"),
            ],
            4,
        );
        let p = plan(&d, 0);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].start, p[0].count, p[0].tags.clone()),
            (0, 6, vec![0, 1])
        );
        assert_eq!((p[1].start, p[1].count), (50, 1));
    }

    #[test]
    fn tables_and_scan_groups_are_read_separately() {
        let d = device(
            vec![
                tag("a", Table::Holding, 0, DataType::U16, "fast"),
                tag("b", Table::Input, 1, DataType::U16, "fast"),
                tag("c", Table::Holding, 1, DataType::U16, "slow"),
                tag("d", Table::Coil, 0, DataType::Bit, "fast"),
            ],
            8,
        );
        let fast = plan(&d, 0);
        assert_eq!(fast.len(), 3);
        assert!(fast.iter().all(|b| b.tags.len() == 1));
        assert_eq!(plan(&d, 1).len(), 1);
    }

    #[test]
    fn a_read_never_exceeds_125_registers() {
        let tags: Vec<Tag> = (0..100)
            .map(|i| {
                tag(
                    &format!("t{i}"),
                    Table::Holding,
                    i * 2,
                    DataType::F32,
                    "fast",
                )
            })
            .collect();
        let d = device(tags, 8);
        let p = plan(&d, 0);
        assert!(p.iter().all(|b| b.count <= 125), "{p:?}");
        assert_eq!(p.iter().map(|b| b.tags.len()).sum::<usize>(), 100);
        assert_eq!(p.len(), 2);
        // every tag lies wholly inside its block
        for b in &p {
            for &t in &b.tags {
                let tag = &d.tags[t];
                assert!(tag.address >= b.start);
                assert!(
                    u32::from(tag.address) + u32::from(tag.width())
                        <= u32::from(b.start) + u32::from(b.count)
                );
            }
        }
    }

    #[test]
    fn two_bits_of_one_register_share_a_read() {
        let mut a = tag("a", Table::Holding, 7, DataType::Bit, "fast");
        a.bit = Some(1);
        let mut b = tag("b", Table::Holding, 7, DataType::Bit, "fast");
        b.bit = Some(2);
        let d = device(vec![a, b], 0);
        assert_eq!(
            plan(&d, 0),
            vec![Block {
                table: Table::Holding,
                start: 7,
                count: 1,
                tags: vec![0, 1]
            }]
        );
    }
}
