"""Network policy: which containers may open connections to which, enforced by OVN
ACLs on every host (model: what a policy means; manager: policies in NB; membership:
each host keeps its own containers in the right port groups)."""
