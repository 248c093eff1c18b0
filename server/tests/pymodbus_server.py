"""An independent Modbus TCP server (pymodbus) for CellGuard's interoperability test.

Serves a fixed register map whose 32/64-bit values are laid out in CDAB word order
(one tag in DCBA), so the test proves acquisition decodes a non-default order from a
second implementation. Usage: python3 pymodbus_server.py PORT UNIT [holes]

With `holes`, the holding registers are a sparse map instead (registers 0-1 and
5-6 exist, 2-4 do not), as real PLC maps are: a read across the hole is refused.
"""
import asyncio
import struct
import sys

from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSparseDataBlock,
)
from pymodbus.server import StartAsyncTcpServer


def words_be(fmt, value):
    raw = struct.pack(">" + fmt, value)
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def cdab(fmt, value):
    return list(reversed(words_be(fmt, value)))


def dcba(fmt, value):
    return [((w & 0xFF) << 8) | (w >> 8) for w in cdab(fmt, value)]


def holding():
    regs = []
    regs += cdab("f", 1500.5)        # 0-1   speed, f32 CDAB
    regs += words_be("h", -1234)     # 2     temperature raw, i16, scale 0.1
    regs += cdab("I", 123456)        # 3-4   counter, u32 CDAB
    regs += cdab("d", -12.25)        # 5-8   offset, f64 CDAB
    regs += dcba("f", 3.9)           # 9-10  voltage, f32 DCBA (per-tag override)
    regs += [6]                      # 11    state
    regs += [0x4C4F, 0x5431, 0]      # 12-14 "LOT1" string
    regs += cdab("f", 1000.0)        # 15-16 speed setpoint, f32 CDAB, writable
    return regs


async def main():
    port = int(sys.argv[1])
    unit = int(sys.argv[2])
    holes = len(sys.argv) > 3 and sys.argv[3] == "holes"
    # pymodbus maps protocol address N to sequential block index N + 1 (the blocks
    # start at 1); a sparse block's keys are protocol addresses.
    hr = (
        ModbusSparseDataBlock({0: [11, 22], 5: [66, 77]})
        if holes
        else ModbusSequentialDataBlock(1, holding())
    )
    device = ModbusDeviceContext(
        hr=hr,
        ir=ModbusSequentialDataBlock(1, cdab("f", 98.5)),
        co=ModbusSequentialDataBlock(1, [True, False, True]),
        di=ModbusSequentialDataBlock(1, [False, True]),
    )
    context = ModbusServerContext(devices={unit: device}, single=False)
    print("pymodbus serving on", port, flush=True)
    await StartAsyncTcpServer(context=context, address=("127.0.0.1", port))


if __name__ == "__main__":
    asyncio.run(main())
