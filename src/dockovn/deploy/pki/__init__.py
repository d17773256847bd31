"""Who may talk to the central, and as what.

Three identities, none usable as another:

- **The central** (its NB/SB servers, Raft members, relays, the join service): one
  certificate signed by the central's own CA (ovs-pki's ``controllerca``). Hosts trust
  that CA and nothing else, so a host's certificate cannot pose as the central.
- **A host**: a self-signed certificate whose CN is the host's chassis name (OVN's SB
  role-based access compares the CN with the chassis). The central trusts exactly the
  host certificates in its trust list, which lives in SB (``SB_Global``, writable only
  through the central's own socket: a chassis' role cannot touch it). Revoking a host
  takes its certificate out of that list; ovsdb-server reloads its CA file when it
  changes and drops the sessions made with the revoked certificate.
- **A Raft member** presents the central certificate and trusts only the central CA:
  host certificates are refused on the Raft ports. Hosts reach a clustered central
  through relays (``deploy/central.py``) that trust the host list.

Layout of the central's PKI folder (default ``<dbdir>/pki``)::

    ca/                  ovs-pki's CAs: controllerca signs the central's certificate
    central-*.pem        the central's key and certificate
    trusted-hosts.pem    the host certificates the central accepts (written from SB)
    hosts/NAME-*.pem     keys of hosts whose bundle the central made (`issue-cert`)
    join-token           the current join token (0600)

Every private key is written 0600, whatever the file held before.
"""
