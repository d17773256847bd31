"""An encrypted overlay: Geneve between hosts inside WireGuard (wireguard-go, userspace).

Why here and not in OVN: OVN's own answer (ovs-monitor-ipsec with strongSwan or
Libreswan) needs the kernel datapath's IPsec on the tunnel; hosts on the userspace
datapath (no OVS kernel module) have none. So each host's tunnel endpoint is a private
address (from the central's encap network) and everything sent to another host's
endpoint passes a WireGuard device first:

    br-int ─geneve─> br-wg (endpoint 10.254.0.N) ─veth─> router namespace
        ─> WireGuard device of the current key slot ─(ChaCha20-Poly1305, UDP 51820 or
        51821 from the host's own underlay address)─> the other host

Two devices, one per key slot, so that keys rotate without a lost packet (the new
generation is handed out and tried on the idle slot first: ``ovn/tunnel_keys.py``,
``rotation.py``).

The device lives in a namespace of its own (the "router"): the host's kernel owns the
endpoint address (OVS's userspace tunnelling terminates Geneve sent to the address of
the bridge that holds it), so decrypted packets must reach br-wg from outside, not be
delivered to the host's own stack. wireguard-go runs in the host's namespace, so its
UDP socket uses the host's underlay; its device is moved into the router namespace
once made (the socket stays where it was opened).

On a host with the kernel datapath the router namespace is not needed: the endpoint
address goes on the WireGuard device's side of the host and the kernel's own Geneve
socket receives what WireGuard decrypts; dockovn sets up the userspace layout only.
"""

# The OVN transport zone of hosts whose tunnels are encrypted: ovn-controller makes no
# tunnel to a chassis outside it, so nothing is sent to a host without encryption.
ENCRYPTED_ZONE = "dockovn-encrypted"
