#!/usr/bin/env python3
"""Read the machine's apt sources and print the Debian ones the lab builds from.

    debian_sources.py mirror SUITE    the first mirror URI serving SUITE (for debootstrap)
    debian_sources.py sources SUITE   a deb822 sources file with SUITE, SUITE-updates and
                                      SUITE-security entries (component main, binary only)

Reads /etc/apt/sources.list, /etc/apt/sources.list.d/*.list (one-line format) and
/etc/apt/sources.list.d/*.sources (deb822), the files apt itself reads; entries marked
`Enabled: no` are skipped. The lab never names a mirror of its own: it uses what the machine
uses, so a machine behind a local mirror or snapshot keeps using it.

A suite the machine does not list itself (a Debian 12 machine builds Debian 13 images: trixie)
comes from the same mirrors as the machine's own release (VERSION_CODENAME in /etc/os-release):
each entry serving <own>, <own>-updates or <own>-security is taken with <own> replaced by SUITE.
The mirror must serve that suite (deb.debian.org and its mirrors serve every supported release);
apt-get update or debootstrap fails loudly otherwise.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

APT_ETC = Path("/etc/apt")
OS_RELEASE = Path("/etc/os-release")


def _one_line_entries(text):
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        options = {}
        match = re.match(r"^(deb|deb-src)\s+\[([^\]]*)\]\s+(.*)$", line)
        if match:
            kind, opts, rest = match.groups()
            for opt in opts.split():
                key, _, value = opt.partition("=")
                options[key] = value
        else:
            kind, _, rest = line.partition(" ")
        fields = rest.split()
        if kind != "deb" or len(fields) < 2:
            continue
        yield {
            "uris": [fields[0]],
            "suites": [fields[1]],
            "components": fields[2:],
            "signed_by": options.get("signed-by"),
        }


def _deb822_entries(text):
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        key = None
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in (" ", "\t") and key:
                fields[key] += " " + raw.strip()
                continue
            key, sep, value = raw.partition(":")
            if not sep:
                key = None
                continue
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        yield {
            "uris": fields.get("uris", "").split(),
            "suites": fields.get("suites", "").split(),
            "components": fields.get("components", "").split(),
            "signed_by": fields.get("signed-by"),
        }


def entries():
    files = [APT_ETC / "sources.list", *sorted((APT_ETC / "sources.list.d").glob("*.list"))]
    for path in files:
        if path.is_file():
            yield from _one_line_entries(path.read_text())
    for path in sorted((APT_ETC / "sources.list.d").glob("*.sources")):
        yield from _deb822_entries(path.read_text())


def _suite_entries(suite):
    wanted = {suite, suite + "-updates", suite + "-security"}
    for entry in entries():
        suites = [s for s in entry["suites"] if s in wanted]
        if suites and "main" in entry["components"] and entry["uris"]:
            yield dict(entry, suites=suites)


def own_codename():
    """The machine's own Debian release (VERSION_CODENAME), or None."""
    try:
        text = OS_RELEASE.read_text()
    except OSError:
        return None
    match = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", text, re.M)
    return match.group(1) if match else None


def debian_entries(suite):
    """Entries serving SUITE (and -updates, -security): the machine's own, else derived from the
    machine's own release's entries on the same mirrors."""
    found = list(_suite_entries(suite))
    if any(suite in entry["suites"] for entry in found):
        return found
    own = own_codename()
    if not own or own == suite:
        return found
    derived = []
    for entry in _suite_entries(own):
        suites = [suite + s[len(own):] for s in entry["suites"]]
        derived.append(dict(entry, suites=suites))
    return derived


def main(argv):
    if len(argv) != 3 or argv[1] not in ("mirror", "sources"):
        sys.stderr.write(__doc__)
        return 2
    suite = argv[2]
    found = list(debian_entries(suite))
    if argv[1] == "mirror":
        for entry in found:
            if suite in entry["suites"]:
                print(entry["uris"][0])
                return 0
        sys.stderr.write(f"debian_sources: no apt source serves {suite} main\n")
        return 1
    if not any(suite in entry["suites"] for entry in found):
        sys.stderr.write(f"debian_sources: no apt source serves {suite} main\n")
        return 1
    stanzas = []
    for entry in found:
        lines = [
            "Types: deb",
            "URIs: " + " ".join(entry["uris"]),
            "Suites: " + " ".join(entry["suites"]),
            "Components: main",
        ]
        if entry["signed_by"]:
            lines.append("Signed-By: " + entry["signed_by"])
        stanzas.append("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(stanzas))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
