"""Read (never change) tx checksum offload on a container's interface.

On the userspace datapath a veth that leaves checksums for offload sends TCP packets
OVS never completes: ping works, TCP does not. The driver turns it off on the container
end at Join; doctor checks it is still off. The interface is inside the container's
network namespace, so a short-lived thread enters it (setns changes the network
namespace of the calling thread only) and asks with the legacy ethtool ioctl, the
counterpart of the one host/links.py sets it with.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import threading

CLONE_NEWNET = 0x40000000
SIOCETHTOOL = 0x8946
SIOCGIFHWADDR = 0x8927
ETHTOOL_GTXCSUM = 0x16
JOIN_TIMEOUT = 5.0

_libc = ctypes.CDLL(None, use_errno=True)


def _mac(sock: socket.socket, name: str) -> str:
    ifreq = struct.pack("16s16x", name.encode()[:15])
    raw = fcntl.ioctl(sock, SIOCGIFHWADDR, ifreq)
    return ":".join(f"{b:02x}" for b in raw[18:24])


def _tx_checksum(sock: socket.socket, name: str) -> bool:
    value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_GTXCSUM, 0))
    ifreq = struct.pack("16sP", name.encode()[:15], ctypes.addressof(value))
    fcntl.ioctl(sock, SIOCETHTOOL, ifreq)
    return struct.unpack("II", value.raw[:8])[1] != 0  # (the buffer adds a NUL)


def tx_checksum_on(pid: int, mac: str) -> tuple[bool | None, str]:
    """Whether the interface with ``mac`` in process ``pid``'s network namespace has tx
    checksum offload on; (None, why) when that cannot be read."""
    result: dict[str, object] = {}

    def inside() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
            finally:
                os.close(fd)
            # This thread now lives in the container's namespace and ends with the read.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                for _, name in socket.if_nameindex():
                    if _mac(sock, name) == mac.lower():
                        result["on"] = _tx_checksum(sock, name)
                        return
            result["why"] = f"no interface with MAC {mac} in the container"
        except OSError as exc:
            result["why"] = exc.strerror or str(exc)
        except Exception as exc:  # never let a read take doctor down
            result["why"] = str(exc) or type(exc).__name__

    worker = threading.Thread(target=inside, name="dockovn-doctor-offload", daemon=True)
    worker.start()
    worker.join(JOIN_TIMEOUT)
    if "on" in result:
        return bool(result["on"]), ""
    return None, str(result.get("why", "no answer"))
