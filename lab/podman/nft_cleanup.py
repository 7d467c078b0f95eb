#!/usr/bin/env python3
"""Remove the nftables rules netavark left behind for one podman network, and nothing else.

Usage: nft_cleanup.py --subnet CIDR [--subnet CIDR ...] [--ifname BRIDGE] [--dry-run]

Run after the network is gone. A rule is the network's when it matches one of its subnets (a
prefix inside it or an address in it) or its bridge interface; a chain is the network's when
only the network's rules jumped to it (netavark's per-network NETAVARK-<hash> chains) and it is
not a base chain. Those rules and chains are deleted; tables are never deleted, and rules of
other networks (another tier 2 run, the default podman network) are never touched, so this is
safe while other containers run. An --internal network normally makes no rules at all.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import subprocess
import sys
from typing import Iterator, List, Optional, Sequence, Set, Tuple


def _strings(node) -> Iterator[object]:
    """Every leaf and every dict of a JSON expression, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    else:
        yield node


def _inside(value: str, subnets: Sequence) -> bool:
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return any(net.version == s.version and net.subnet_of(s) for s in subnets)


def rule_is_ours(rule: dict, subnets: Sequence, ifname: Optional[str]) -> bool:
    """True when the rule matches one of ``subnets`` or the bridge ``ifname``."""
    for node in _strings(rule.get("expr", [])):
        if isinstance(node, dict):
            prefix = node.get("prefix")
            if isinstance(prefix, dict) and _inside(f"{prefix.get('addr')}/{prefix.get('len')}", subnets):
                return True
            match = node.get("match")
            if ifname and isinstance(match, dict):
                left = match.get("left")
                meta = left.get("meta", {}) if isinstance(left, dict) else {}
                if meta.get("key") in ("iifname", "oifname") and match.get("right") == ifname:
                    return True
        elif isinstance(node, str) and "/" not in node and _inside(node, subnets):
            return True
    return False


def jump_targets(rule: dict) -> Set[str]:
    targets = set()
    for node in _strings(rule.get("expr", [])):
        if isinstance(node, dict):
            for verdict in ("jump", "goto"):
                target = node.get(verdict)
                if isinstance(target, dict) and "target" in target:
                    targets.add(target["target"])
    return targets


def plan(ruleset: dict, subnets: Sequence, ifname: Optional[str]) -> Tuple[List[dict], List[dict]]:
    """(rules to delete, chains to delete) for the network."""
    items = ruleset.get("nftables", [])
    rules = [i["rule"] for i in items if "rule" in i]
    chains = {(c["family"], c["table"], c["name"]): c for c in (i["chain"] for i in items if "chain" in i)}
    ours = [r for r in rules if rule_is_ours(r, subnets, ifname)]
    our_handles = {(r["family"], r["table"], r["handle"]) for r in ours}
    candidates = {(r["family"], r["table"], t) for r in ours for t in jump_targets(r)}
    drop_chains = []
    for key in sorted(candidates):
        chain = chains.get(key)
        if chain is None or "hook" in chain:
            continue
        others = [
            r
            for r in rules
            if (r["family"], r["table"], r["handle"]) not in our_handles
            and (r["family"], r["table"]) == key[:2]
            and key[2] in jump_targets(r)
        ]
        if not others:
            drop_chains.append(chain)
    dropped = {(c["family"], c["table"], c["name"]) for c in drop_chains}
    # rules inside a chain that goes away go with it
    drop_rules = [r for r in ours if (r["family"], r["table"], r["chain"]) not in dropped]
    return drop_rules, drop_chains


def nft(args: Sequence[str]) -> str:
    return subprocess.run(["nft", *args], check=True, capture_output=True, text=True).stdout


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subnet", action="append", required=True, help="a subnet of the network")
    ap.add_argument("--ifname", help="the network's bridge interface (podmanN)")
    ap.add_argument("--dry-run", action="store_true", help="print what would be deleted")
    args = ap.parse_args(argv)
    subnets = [ipaddress.ip_network(s, strict=False) for s in args.subnet]
    try:
        ruleset = json.loads(nft(["-j", "list", "ruleset"]))
    except (OSError, subprocess.CalledProcessError, ValueError) as e:
        print(f"nft_cleanup: cannot read the ruleset: {e}", file=sys.stderr)
        return 1
    rules, chains = plan(ruleset, subnets, args.ifname)
    rc = 0
    steps = [
        (
            ["delete", "rule", r["family"], r["table"], r["chain"], "handle", str(r["handle"])],
            f"rule {r['family']} {r['table']} {r['chain']} handle {r['handle']}",
        )
        for r in rules
    ]
    for c in chains:
        where = [c["family"], c["table"], c["name"]]
        steps.append((["flush", "chain", *where], None))
        steps.append((["delete", "chain", *where], f"chain {' '.join(where)}"))
    for cmd, what in steps:
        if args.dry_run:
            if what:
                print(f"nft_cleanup: would delete {what}", file=sys.stderr)
            continue
        try:
            nft(cmd)
        except subprocess.CalledProcessError as e:
            print(f"nft_cleanup: nft {' '.join(cmd)} failed: {e.stderr.strip()}", file=sys.stderr)
            rc = 1
            continue
        if what:
            print(f"nft_cleanup: deleted {what}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
