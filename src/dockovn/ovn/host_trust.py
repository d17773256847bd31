"""The central's list of trusted host certificates and the join secret's digest, kept
in SB_Global.external_ids so every Raft member (and relay) reads the same list.

Only the central's own sockets may write them: SB's role-based access gives a chassis
(role ``ovn-controller``) no write access to SB_Global. Hosts can read them, which is
why only a digest of the join secret is kept, never the secret.
"""

from __future__ import annotations

import ipaddress

from dockovn.ovn.sb import Southbound
from dockovn.ovsdb import commit, reading

CERT_PREFIX = "dockovn-host-cert:"
REVOKED_PREFIX = "dockovn-revoked:"  # + certificate fingerprint -> chassis: never again
JOIN_SECRET_DIGEST = "dockovn-join-secret-sha256"
ENCRYPTION = "dockovn-encryption"            # "wireguard": hosts join with encrypted tunnels
ENCAP_NETWORK = "dockovn-encap-network"      # where their tunnel addresses come from
ENCAP_ADDRESS = "dockovn-encap-address:"     # + chassis -> its tunnel address
ENCAP_CLAIM = "dockovn-encap-claim:"         # + address -> the chassis holding it


class TrustError(RuntimeError):
    pass


class HostTrust:
    def __init__(self, sb: Southbound):
        self.sb = sb
        self.api = sb.api

    def _global(self):
        rows = list(self.api.tables["SB_Global"].rows.values())
        if not rows:
            raise TrustError("SB has no SB_Global row yet (is the central initialised?)")
        return rows[0]

    @reading
    def certificates(self) -> dict[str, str]:
        """chassis name -> its certificate (PEM) for every trusted host."""
        ids = dict(self._global().external_ids)
        return {k[len(CERT_PREFIX):]: v for k, v in ids.items() if k.startswith(CERT_PREFIX)}

    @reading
    def join_secret_digest(self) -> str | None:
        return dict(self._global().external_ids).get(JOIN_SECRET_DIGEST)

    @reading
    def revoked(self, fingerprint: str) -> bool:
        return REVOKED_PREFIX + fingerprint in self._global().external_ids

    @reading
    def revoked_chassis_left(self) -> list[str]:
        """Chassis rows of revoked hosts (not joined again since) that still exist."""
        ids = dict(self._global().external_ids)
        trusted = {k[len(CERT_PREFIX):] for k in ids if k.startswith(CERT_PREFIX)}
        revoked = {v for k, v in ids.items() if k.startswith(REVOKED_PREFIX)} - trusted
        return sorted(c.name for c in self.api.tables["Chassis"].rows.values()
                      if c.name in revoked)

    def remove_chassis(self, names: list[str]) -> None:
        """Their Chassis rows (encaps and all) gone, in one transaction; gone already is fine.
        Only once the servers dropped the revoked host's sessions: its ovn-controller
        would make the row again at once."""
        commit(self.api, TrustError, f"removing revoked chassis {', '.join(names)}",
               *(self.api.chassis_del(name, if_exists=True) for name in names))

    @reading
    def encryption(self) -> tuple[str, str] | None:
        """(kind, encap network) when the cluster's tunnels are encrypted."""
        ids = dict(self._global().external_ids)
        if ids.get(ENCRYPTION) and ids.get(ENCAP_NETWORK):
            return ids[ENCRYPTION], ids[ENCAP_NETWORK]
        return None

    def require_encryption(self, kind: str, network: str) -> None:
        with self.api.ovsdb_connection.lock:
            row = self._global().uuid
        commit(self.api, TrustError, "turning on encrypted tunnels",
               self.api.db_set("SB_Global", row, ("external_ids",
                                                  {ENCRYPTION: kind, ENCAP_NETWORK: network})))

    def encap_address(self, chassis: str, network: str) -> str:
        """``chassis``' tunnel address in ``network``: the one it has, else the lowest
        free one, claimed. Two members handing out one address at once: the claim's later
        writer wins and the other host takes the next one."""
        net = ipaddress.ip_network(network)
        for _ in range(8):
            with self.api.ovsdb_connection.lock:
                ids = dict(self._global().external_ids)
                row = self._global().uuid
            have = ids.get(ENCAP_ADDRESS + chassis)
            if have and ids.get(ENCAP_CLAIM + have) == chassis:
                return have
            taken = {k[len(ENCAP_CLAIM):] for k in ids if k.startswith(ENCAP_CLAIM)}
            free = next((str(a) for a in net.hosts() if str(a) not in taken), None)
            if free is None:
                raise TrustError(f"no tunnel address left in {network}")
            commit(self.api, TrustError, f"giving {chassis} a tunnel address",
                   self.api.db_set("SB_Global", row, ("external_ids", {
                       ENCAP_ADDRESS + chassis: free, ENCAP_CLAIM + free: chassis})))
        raise TrustError(f"could not give {chassis} a tunnel address (contention)")

    def change_seqno(self) -> int:
        return self.api.idl.change_seqno

    def trust(self, chassis: str, pem: str) -> None:
        """Accept ``chassis``' certificate (the same again changes nothing)."""
        with self.api.ovsdb_connection.lock:
            row = self._global().uuid
        commit(self.api, TrustError, f"trusting {chassis}'s certificate",
               self.api.db_set("SB_Global", row, ("external_ids", {CERT_PREFIX + chassis: pem})))

    def set_join_secret_digest(self, digest: str) -> None:
        with self.api.ovsdb_connection.lock:
            row = self._global().uuid
        commit(self.api, TrustError, "setting the join secret",
               self.api.db_set("SB_Global", row, ("external_ids", {JOIN_SECRET_DIGEST: digest})))

    def revoke(self, chassis: str, fingerprint: str | None, new_secret_digest: str) -> None:
        """One transaction: ``chassis``' certificate out of the list and marked revoked
        (it may never join again), and a new join secret (the revoked host knew the old
        one). Again: no change. Its Chassis row goes once its sessions are dropped
        (the identity service: ``remove_chassis``)."""
        with self.api.ovsdb_connection.lock:
            row = self._global().uuid
        marks = {JOIN_SECRET_DIGEST: new_secret_digest}
        if fingerprint:
            marks[REVOKED_PREFIX + fingerprint] = chassis
        commit(self.api, TrustError, f"revoking {chassis}",
               self.api.db_remove("SB_Global", row, "external_ids", CERT_PREFIX + chassis,
                                  if_exists=True),
               self.api.db_set("SB_Global", row, ("external_ids", marks)))
