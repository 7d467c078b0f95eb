"""A real Prometheus against the converged tier 2 mesh (molecule/default), end to end.

h4 runs Debian's prometheus package (prepare.yml). It scrapes h1 and h2 through node_exporter's
textfile collector and h3 through the role's exporter, and evaluates the shipped alert rules with
every wait divided by 60 (lab/prometheus/lab_rules.py; promtool unit-tests the shipped file
itself). On this one converged mesh, in order:

- every host is scraped, both ways; node info is the live interface's; every expected peer's
  tunnel address answers the prober;
- the rules are loaded and healthy, and no alert is active on the healthy mesh;
- a broken link (h1 drops h2's UDP) fires WireGuardPeerUnreachable on both ends; restored, it
  resolves;
- a peer never seen (h3 restarts its interface while dropping h1's UDP) fires
  WireGuardHandshakeNever; the metrics say `never` as docs/observe.md promises; restored, it
  resolves; at the same time, an endpoint change (h1 and h2 move to IPv6) fires
  WireGuardEndpointChanged on h1, which resolves once the change leaves the rule's window;
- every query of the Grafana dashboard (docs/grafana/) returns data.

Bounds: an alert must fire within collection (metrics interval + one probe round, where the
alert needs them) + one scrape + two evaluation intervals + its `for:`, the issue's bound; the
check allows twice that plus 10 s for a loaded machine, and the measured seconds are printed.
Prometheus is asked from inside h4 (lab/prometheus/prom_poll.py): the lab network is --internal.
"""

import base64
import importlib.util
import json
import os
import shlex
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import testinfra
import yaml
from testinfra.utils.ansible_runner import AnsibleRunner
from verify_mesh import REPORT

ROOT = os.environ["MOLECULE_PROJECT_DIRECTORY"]
RUNNER = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
H1, H2, H3 = sorted(RUNNER.get_hosts("t2_mesh"))
(MONITOR,) = RUNNER.get_hosts("t2_monitor")
VARS = {h: RUNNER.get_variables(h) for h in (H1, H2, H3)}
MODES = {h: VARS[h].get("wireguard_metrics_mode", "textfile") for h in VARS}
PORT = 51820
# WireGuard retries a handshake after REKEY_TIMEOUT (5 s): once a link is restored, the next
# handshake may be that far away
REKEY_TIMEOUT = 5.0
FACTOR = 60  # prepare.yml: lab_rules.py --factor 60
TUNNEL4 = {H1: "100.64.0.1", H2: "100.64.0.2", H3: "100.64.0.3"}
POLLER = "/root/prom_poll.py"
TIMES = REPORT  # printed at the end of the run (molecule/conftest.py)


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


lab_rules = _load("lab_rules", os.path.join(ROOT, "lab", "prometheus", "lab_rules.py"))
promql = _load("promql_names", os.path.join(ROOT, "tests", "unit", "roles", "promql_names.py"))


def host(name):
    return testinfra.get_host(f"podman://{name}")


def underlay(name, family):
    return VARS[name]["lab_underlay_ipv4" if family == 4 else "lab_underlay_ipv6"]


class Prom:
    """The lab Prometheus, asked through prom_poll.py inside its container."""

    def __init__(self):
        self.mon = host(MONITOR)
        with open(os.path.join(ROOT, "lab", "prometheus", "prom_poll.py"), "rb") as f:
            code = base64.b64encode(f.read()).decode()
        self.mon.check_output(f"echo {code} | base64 -d > {POLLER}")
        config = yaml.safe_load(self.mon.file("/etc/prometheus/prometheus.yml").content_string)
        self.scrape = lab_rules.seconds(config["global"]["scrape_interval"])
        self.eval = lab_rules.seconds(config["global"]["evaluation_interval"])
        interval = int(VARS[H1].get("wireguard_metrics_interval", 30))
        count = int(VARS[H1].get("wireguard_metrics_probe_count", 3))
        timeout = int(VARS[H1].get("wireguard_metrics_probe_timeout", 1))
        # a timer run / probe round starts within `interval` and takes at most this long
        self.probe_round = (count - 1) * 0.2 + timeout + 1.0
        self.collect = interval + self.probe_round

    def __call__(self, *args, timeout=60):
        out = self.mon.check_output(
            " ".join(shlex.quote(str(a)) for a in ("python3", POLLER, *args, "--timeout", timeout))
        )
        return json.loads(out)

    def query(self, expr):
        return self("query", expr)["result"]

    def rule_for(self, alert):
        for group in self("rules")["groups"]:
            for rule in group["rules"]:
                if rule["name"] == alert:
                    return float(rule.get("duration") or 0)
        raise AssertionError(f"{alert} is not loaded")

    def spec_bound(self, for_s, collect_s):
        """The issue's bound: the data reaches Prometheus, then two evaluations plus `for:`."""
        return collect_s + self.scrape + 2 * self.eval + for_s

    def wait_firing(self, alert, labels, bound):
        limit = 2 * bound + 10
        r = self("wait-alert", alert, "--labels", labels, "--state", "firing", timeout=limit + 30)
        active = self.query("ALERTS")
        assert r["ok"], f"{alert}{{{labels}}} not firing after {limit + 30:.0f} s; ALERTS: {active}"
        return r, limit

    def wait_inactive(self, alert, labels, bound):
        limit = 2 * bound + 10
        r = self("wait-alert", alert, "--labels", labels, "--state", "inactive", timeout=limit + 30)
        assert r["ok"], f"{alert}{{{labels}}} still active after {limit + 30:.0f} s: {r.get('active')}"
        return r, limit


@pytest.fixture(scope="module")
def prom():
    return Prom()


def labels(**kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


def fire_and_resolve(prom, alert, label_sets, collect_s, resolve_collect_s, do_break, restore, what):
    """Break, see `alert` fire with each of `label_sets` within its bound, restore, see them go."""
    for_s = prom.rule_for(alert)
    bound = prom.spec_bound(for_s, collect_s)
    do_break()
    t0 = time.time()  # the break is in place (nft loaded, interface restarted)
    try:
        for lbl in label_sets:
            r, limit = prom.wait_firing(alert, lbl, bound)
            fired = r["firing_seen"] - t0
            TIMES.append(
                f"prometheus e2e, {what}: {alert}{{{lbl}}} firing after {fired:.1f} s (pending from "
                f"{r['active_at'] - t0:.1f} s; bound {bound:.1f} s = collect {collect_s:.1f} + scrape "
                f"{prom.scrape:g} + 2 x eval {prom.eval:g} + for {for_s:g})"
            )
            assert fired <= limit, f"{alert} fired after {fired:.1f} s, bound {bound:.1f} s "
            # the pure Prometheus part: pending to firing takes `for:` plus at most one evaluation
            assert r["firing_seen"] - r["active_at"] <= for_s + 2 * prom.eval + 5
    finally:
        t1 = time.time()
        restore()
    rbound = prom.spec_bound(0, resolve_collect_s)
    for lbl in label_sets:
        r, limit = prom.wait_inactive(alert, lbl, rbound)
        gone = r["gone_seen"] - t1
        TIMES.append(f"prometheus e2e, {what}: {alert}{{{lbl}}} resolved {gone:.1f} s after the restore "
                     f"(bound {rbound:.1f} s)")
        assert gone <= limit, f"{alert} resolved after {gone:.1f} s, bound {rbound:.1f} s (limit {limit:.1f})"


def drop_udp_from(on, peer):
    """nftables on `on`: drop every UDP packet from `peer`'s underlay addresses (both families)."""
    ruleset = (
        "table inet meshlab_e2e {\n chain input {\n"
        "  type filter hook input priority -10; policy accept;\n"
        f"  ip saddr {underlay(peer, 4)} meta l4proto udp drop\n"
        f"  ip6 saddr {underlay(peer, 6)} meta l4proto udp drop\n }}\n}}\n"
    )
    host(on).check_output(f"printf %s {shlex.quote(ruleset)} | nft -f -")


def undrop(on):
    host(on).run("nft delete table inet meshlab_e2e")


def public_key(name):
    return host(name).check_output("wg show wg0 public-key").strip()


# ----------------------------------------------------------------------------- scraping


def test_every_host_is_scraped_both_ways(prom):
    # (the package's default configuration ran briefly before ours: its `up` series, without our
    # `host` label, may still be within the 5 minute lookback)
    r = prom("wait-query", 'up{host!=""} == 1', "--count", 3)
    up = {(s["metric"]["job"], s["metric"]["host"]) for s in r["result"]}
    want = {("node" if MODES[h] == "textfile" else "wireguard", h) for h in (H1, H2, H3)}
    assert up == want, f"targets up: {sorted(up)}"
    assert {"textfile", "exporter"} <= set(MODES.values())  # both ways, really
    ok = prom("wait-query", "wireguard_collector_success == 1", "--count", 3)["result"]
    assert {(s["metric"]["job"], s["metric"]["host"]) for s in ok} == want
    # node_exporter's textfile collector read the role's file on the textfile hosts
    mtimes = prom.query('node_textfile_mtime_seconds{file=~".*/wireguard\\\\.prom"}')
    assert {s["metric"]["host"] for s in mtimes} == {h for h in MODES if MODES[h] == "textfile"}


def test_node_info_is_the_live_interface(prom):
    info = {s["metric"]["host"]: s["metric"] for s in prom.query("wireguard_interface_info")}
    assert set(info) == {H1, H2, H3}
    for h in (H1, H2, H3):
        assert info[h]["public_key"] == public_key(h)
        got = (info[h]["interface"], info[h]["listen_port"], info[h]["engine"])
        assert got == ("wg0", str(PORT), "userspace")


def test_prober_reaches_every_expected_tunnel_address(prom):
    # 3 hosts x 2 peers x (IPv4 + IPv6)
    r = prom("wait-query", "wireguard_peer_probe_success == 1", "--count", 12)
    seen = {(s["metric"]["host"], s["metric"]["friendly_name"], s["metric"]["address"]) for s in r["result"]}
    assert len(seen) == 12, sorted(seen)
    for h in (H1, H2, H3):
        for peer in {H1, H2, H3} - {h}:
            assert (h, peer, TUNNEL4[peer]) in seen
    rtt = prom.query("wireguard_peer_probe_rtt_seconds")
    assert len(rtt) == 12 and all(0 < float(s["value"][1]) < 1 for s in rtt)
    status = prom.query('wireguard_peer_status{status="up"} == 1')
    assert len(status) == 6


def test_rules_loaded_time_compressed(prom):
    with open(os.path.join(ROOT, "docs", "prometheus", "wireguard-alerts.yml"), encoding="utf-8") as f:
        shipped = {r["alert"]: r for g in yaml.safe_load(f)["groups"] for r in g["rules"]}
    loaded = {r["name"]: r for g in prom("rules")["groups"] for r in g["rules"]}
    assert set(loaded) == set(shipped)
    for name, rule in loaded.items():
        assert rule["health"] == "ok", (name, rule.get("lastError"))
        assert float(rule["duration"]) * FACTOR == lab_rules.seconds(shipped[name].get("for", "0s")), name
        assert rule["labels"] == shipped[name]["labels"], name


def test_healthy_mesh_has_no_active_alert(prom):
    r = prom("wait-alert", "-", "--state", "none-active", timeout=90)
    assert r["ok"], f"alerts active on the healthy mesh: {r.get('active')}"


# ----------------------------------------------------------------------------- alerts end to end


def test_broken_link_fires_and_resolves(prom):
    """h1 drops h2's UDP: both ends' probes of each other fail, over IPv4 and IPv6 alike."""
    fire_and_resolve(
        prom, "WireGuardPeerUnreachable",
        [labels(host=H1, friendly_name=H2, address=TUNNEL4[H2]),
         labels(host=H2, friendly_name=H1, address="fd3a:6c1e:9b42:100::1")],
        prom.collect, prom.collect + REKEY_TIMEOUT, lambda: drop_udp_from(H1, H2), lambda: undrop(H1),
        "broken link h1-h2",
    )


def peer_never_seen_fires_and_resolves(prom):
    """h3 (exporter mode) restarts wg0 while dropping h1's UDP: h1 is a peer it never saw."""
    lbl = labels(host=H3, friendly_name=H1)
    h3 = host(H3)

    def do_break():
        drop_udp_from(H3, H1)
        h3.check_output("systemctl restart wg-quick@wg0")

    def check_semantics():
        sel = f'{{host="{H3}",friendly_name="{H1}"}}'
        assert [s["value"][1] for s in prom.query(f"wireguard_latest_handshake_seconds{sel}")] == ["0"]
        assert prom.query(f"wireguard_latest_handshake_delay_seconds{sel}") == []
        never = prom.query(f'wireguard_peer_status{{host="{H3}",friendly_name="{H1}",status="never"}}')
        assert [s["value"][1] for s in never] == ["1"]

    def restore():
        try:
            check_semantics()  # while the alert fires: what docs/observe.md says of never-seen peers
        finally:
            undrop(H3)

    # exporter mode reads `wg` per scrape: no collection delay for the handshake
    fire_and_resolve(prom, "WireGuardHandshakeNever", [lbl], 0.0, prom.collect + REKEY_TIMEOUT, do_break,
                     restore, "peer never seen by h3")


def endpoint_of(on, peer):
    """`on`'s live endpoint for `peer`."""
    key = public_key(peer)
    for line in host(on).check_output("wg show wg0 endpoints").splitlines():
        k, _, endpoint = line.partition("\t")
        if k == key:
            return endpoint.strip()
    raise AssertionError(f"{on} has no peer {peer}")


def pin_endpoints(a, b, family):
    """Set a's endpoint for b and b's for a to the underlay `family`, until both hold.

    WireGuard roams a peer to the source of its latest authenticated packet, so two peers that
    moved to IPv6 stay there until both are set back; a packet already in flight can undo one
    side, hence the check."""
    want = {a: b, b: a}

    def fmt(name):
        return f"[{underlay(name, 6)}]:{PORT}" if family == 6 else f"{underlay(name, 4)}:{PORT}"

    for _ in range(10):
        for me, peer in want.items():
            host(me).check_output(f"wg set wg0 peer {shlex.quote(public_key(peer))} endpoint {fmt(peer)}")
        time.sleep(0.5)
        if all(endpoint_of(me, peer) == fmt(peer) for me, peer in want.items()):
            return
    raise AssertionError(f"endpoints of {a} and {b} do not stay on IPv{family}")


def endpoint_change_fires_and_resolves(prom):
    """h1 and h2 move to their IPv6 underlay: h1 sees h2's endpoint move and counts it."""
    window = lab_rules.seconds("15m") / FACTOR  # increase(...[15m]) in the shipped rule
    lbl = labels(host=H1, friendly_name=H2)
    sel = f'{{host="{H1}",friendly_name="{H2}"}}'
    v4 = f"{underlay(H2, 4)}:{PORT}"
    if endpoint_of(H1, H2) != v4:  # a roam left over: back to the configured endpoints first
        pin_endpoints(H1, H2, 4)
    # Prometheus has h1's view of that endpoint, and no change of it in the rule's window
    seen = prom("wait-query", f'wireguard_peer_info{{host="{H1}",friendly_name="{H2}",endpoint="{v4}"}}')
    assert seen["ok"], f"Prometheus does not see {H2} at {v4} from {H1}: {seen}"
    prom.wait_inactive("WireGuardEndpointChanged", lbl, prom.spec_bound(window, 2 * prom.collect))
    before = prom.query(f"wireguard_peer_endpoint_changes_total{sel}")
    assert len(before) == 1

    def do_break():
        # h2 alone dialling IPv6 is not enough: a packet h1 sent over IPv4 before it saw the roam
        # roams h2 back (measured: the alert fired, then h1 saw IPv4 again). Both sides move.
        pin_endpoints(H1, H2, 6)

    def restore():
        try:
            info = prom.query(f"wireguard_peer_info{sel}")
            assert [s["metric"]["endpoint"] for s in info] == [f"[{underlay(H2, 6)}]:{PORT}"]
            after = prom.query(f"wireguard_peer_endpoint_changes_total{sel}")
            assert float(after[0]["value"][1]) >= float(before[0]["value"][1]) + 1
        finally:
            pin_endpoints(H1, H2, 4)

    # h1's next timer run counts the change
    fire_and_resolve(
        prom, "WireGuardEndpointChanged", [lbl], 2 * prom.collect, 2 * prom.collect + window,
        do_break, restore, "endpoint change of h2 seen by h1",
    )


def test_peer_never_seen_and_endpoint_change(prom):
    """Both scenarios at once: they touch different hosts and alerts (h3's view of h1; h1's view
    of h2), and each waits mostly for Prometheus (a 15 s `for:`, a 15 s window)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(fn, prom) for name, fn in (
            ("peer never seen", peer_never_seen_fires_and_resolves),
            ("endpoint change", endpoint_change_fires_and_resolves))}
    failed = {name: f.exception() for name, f in futures.items() if f.exception() is not None}
    assert not failed, "; ".join(f"{name}: {type(e).__name__}: {e}" for name, e in failed.items())


# ----------------------------------------------------------------------------- the dashboard


def test_dashboard_queries_return_data(prom):
    with open(promql.DASHBOARD, encoding="utf-8") as f:
        dashboard = json.load(f)
    lab = {"$__rate_interval": "20s", "$__interval": "2s", "$__range": "5m"}  # a few scrapes, not minutes
    variables = dict(promql.GRAFANA_VARIABLES, **lab)
    queries = promql.dashboard_queries(dashboard)
    results = prom("queries", json.dumps([promql.substitute(e, variables) for _w, e in queries]))["results"]
    empty = [where for (where, _e), result in zip(queries, results) if not result]
    assert not empty, f"dashboard queries without data: {empty}"
    TIMES.append(f"prometheus e2e, dashboard: {len(queries)} queries, all with data")
