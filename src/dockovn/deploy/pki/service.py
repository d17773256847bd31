"""The central's identity service: one per central member, started by `central start`.

- Keeps ``trusted-hosts.pem`` equal to the trusted host certificates in SB, and makes
  the ovsdb-servers read it again; when a certificate left the list (a revoked host),
  it also drops their sessions, so the revoked host's open connections end too, and
  then removes the revoked host's chassis.
- Serves joins over HTTPS with the central's certificate (``pki/join.py``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
import threading
import time

from aiohttp import web

from dockovn.deploy.pki import authority, certs, join, trusted_hosts
from dockovn.ovn.host_trust import HostTrust
from dockovn.ovn.sb import Southbound

LOG = logging.getLogger(__name__)


class IdentityService:
    def __init__(self, pki_dir: str, sb_remote: str, ctls: list[str], listen: str,
                 nb_remote: str, sb_remote_for_hosts: str, encap_network: str = "",
                 interval: float = 0.5):
        self.pki_dir = pki_dir
        self.ctls = ctls
        self.listen = listen
        self.remotes = {"nb": nb_remote, "sb": sb_remote_for_hosts}
        self.interval = interval
        self.encap_network = encap_network  # set: the cluster's tunnels are encrypted
        self.trust = HostTrust(Southbound(sb_remote, timeout=10.0))
        self._stop = threading.Event()
        self._sync_lock = threading.Lock()  # the follower and joins both write the file

    # -- the trust file ---------------------------------------------------------------
    def sync_once(self) -> None:
        with self._sync_lock:
            self._sync()

    def _sync(self) -> None:
        changed, dropped = trusted_hosts.write(self.pki_dir, self.trust.certificates())
        if changed:
            self._reload(dropped)
        # After the drop: a revoked host's ovn-controller can no longer make its row again.
        left = self.trust.revoked_chassis_left()
        if left:
            self.trust.remove_chassis(left)
            LOG.info("removed the chassis of revoked host(s) %s", ", ".join(left))

    def _reload(self, dropped: bool) -> None:
        # Any unixctl command wakes ovsdb-server, which then re-reads the changed CA file;
        # a revocation also ends every session (clients reconnect, the revoked one fails).
        command = "ovsdb-server/reconnect" if dropped else "version"
        for ctl in self.ctls:
            subprocess.run(["ovs-appctl", "-t", ctl, command], capture_output=True, timeout=10)
        LOG.info("trusted hosts now: %s%s", ", ".join(sorted(self.trust.certificates())) or "none",
                 " (a certificate left: sessions dropped)" if dropped else "")

    def prepare(self, timeout: float = 60.0) -> None:
        """Before the first join: the cluster's encryption recorded in SB (where every
        member's service reads it), once SB answers."""
        if not self.encap_network:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.trust.require_encryption("wireguard", self.encap_network)
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"recording encrypted tunnels in SB: {exc}") from exc
                time.sleep(0.5)

    def _follow(self) -> None:
        seen = None
        while not self._stop.wait(self.interval):
            try:
                seqno = self.trust.change_seqno()
                if seqno != seen:
                    self.sync_once()
                    seen = seqno
            except Exception as exc:  # SB not there yet, a row vanished: next round
                LOG.warning("following the trusted hosts: %s", exc)

    # -- joins ------------------------------------------------------------------------
    async def _ca(self, request: web.Request) -> web.Response:
        with open(authority.ca_cert(self.pki_dir), "rb") as f:
            return web.Response(body=f.read(), content_type="application/x-pem-file")

    async def _join(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            secret, chassis = str(body["secret"]), str(body["chassis"])
            cert = str(body["certificate"]).encode()
        except (ValueError, KeyError, TypeError):
            return _err(400, "a join carries JSON with secret, chassis and certificate")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, self._admit, secret, chassis, cert)
        except Exception as exc:
            LOG.warning("join of %r failed: %s", chassis, exc)
            return _err(503, f"the central could not record the join: {exc}")

    def _admit(self, secret: str, chassis: str, cert: bytes) -> web.Response:
        if not join.secret_matches(secret, self.trust.join_secret_digest()):
            return _err(403, "wrong join secret (the token may have been rotated: print the "
                             "current one with `dockovn central join-token`)")
        try:
            certs.check_chassis_name(chassis)
            if not certs.is_self_signed(cert) or certs.common_name(cert) != chassis:
                return _err(400, f"the certificate must be self-signed with CN {chassis}")
        except Exception as exc:
            return _err(400, str(exc))
        if not self.remotes["nb"]:
            return _err(503, "the central was started without --address: it cannot tell "
                             "hosts where NB and SB are")
        if self.trust.revoked(certs.fingerprint(cert)):
            return _err(410, f"this certificate of {chassis} was revoked: join with a new key")
        known = self.trust.certificates().get(chassis)
        if known and certs.fingerprint(known.encode()) != certs.fingerprint(cert):
            return _err(409, f"a host named {chassis} has joined already with another key: "
                             f"revoke it first (`dockovn central revoke {chassis}`) or join "
                             "under another --hostname")
        if not known:
            self.trust.trust(chassis, cert.decode())
        # This member's servers accept the host before it hears back (the others' within
        # their next round: a host retries its connections).
        self.sync_once()
        answer = {"chassis": chassis, **self.remotes}
        encryption = self.trust.encryption()
        if encryption:  # the host's tunnel address, handed out here with its identity
            kind, network = encryption
            answer["encryption"] = {"kind": kind, "network": network,
                                    "address": self.trust.encap_address(chassis, network)}
        LOG.info("host %s joined", chassis)
        return web.json_response(answer)

    def serve(self) -> None:
        """Run until stopped (SIGTERM ends aiohttp's loop)."""
        threading.Thread(target=self._follow, name="dockovn-trust", daemon=True).start()
        files = authority.central_files(self.pki_dir)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(files.cert, files.key)
        app = web.Application(client_max_size=64 * 1024)
        app.add_routes([web.get("/v1/ca", self._ca), web.post("/v1/join", self._join)])
        host, _, port = self.listen.rpartition(":")
        try:
            web.run_app(app, host=host.strip("[]") or None, port=int(port), ssl_context=context,
                        print=None, handle_signals=True)
        finally:
            self._stop.set()


def _err(status: int, message: str) -> web.Response:
    return web.json_response({"Err": message}, status=status)
