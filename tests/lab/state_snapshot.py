"""A fast picture of everything a run could change, to prove that a refused run changed nothing.

Per host (one shell call): every file under /etc/wireguard with its hash, mode and size; the
WireGuard state (`wg show all dump` without what traffic moves: endpoints, handshakes, counters;
the private key as a hash); link indexes (a re-created interface gets a new one), addresses, routes
of every table, the nft ruleset and the forwarding sysctls. On the controller: every file of a
directory (the registry, its lock, the PSK secret, client keys and configs) with hash and mode.
"""

import hashlib
import os
import stat

HOST_SCRIPT = r'''
cd /etc/wireguard 2>/dev/null && find . \( -type f -o -type l -o -type p -o -type d \) | sort |
while read -r f; do
  if [ -f "$f" ] && [ ! -L "$f" ]; then
    printf 'file %s %s %s\n' "$f" "$(stat -c '%a %s' "$f")" "$(sha256sum < "$f" | cut -c1-16)"
  else
    printf 'node %s %s\n' "$f" "$(stat -c '%F %a' "$f")"
  fi
done
echo '--- wg'
wg show all dump 2>&1
echo '--- links'
ip -o link show | sed 's/ link\/.*//'
echo '--- addr'
ip -o addr show
echo '--- route'
ip route show table all
ip -6 route show table all
echo '--- nft'
nft list ruleset 2>&1 | sed 's/counter packets [0-9]* bytes [0-9]*/counter/'
echo '--- sysctl'
cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding
'''


def _wg_line(line):
    """One `wg show all dump` line without what traffic changes; the private key hashed."""
    f = line.split('\t')
    if len(f) == 5:  # interface: name, private key, public key, port, fwmark
        return '\t'.join([f[0], 'private:' + hashlib.sha256(f[1].encode()).hexdigest()[:16], *f[2:]])
    if len(f) == 9:  # peer: iface, public, psk, endpoint, allowed, handshake, rx, tx, keepalive
        psk = 'psk:' + hashlib.sha256(f[2].encode()).hexdigest()[:16]
        return '\t'.join([f[0], f[1], psk, f[4], f[8]])
    return line


def host_state(lab, host):
    out = lab.exec(host, HOST_SCRIPT, check=False).stdout
    sections, name = {'files': []}, 'files'
    for line in out.splitlines():
        if line.startswith('--- '):
            name = line[4:]
            sections[name] = []
        elif name == 'wg':
            sections[name].append(_wg_line(line))
        elif not (name == 'route' and ' expires ' in line):
            sections[name].append(line)
    sections['wg'] = sorted(sections.get('wg', []))  # peers come in no fixed order
    return '\n'.join(f'--- {k}\n' + '\n'.join(v) for k, v in sections.items())


def controller_state(*dirs, names=None):
    """{relative path: 'mode size hash'} of every file under DIRS (only NAMES at the top, if given)."""
    out = {}
    for top in dirs:
        if not os.path.isdir(top):
            continue
        for root, subdirs, files in os.walk(top):
            rel_root = os.path.relpath(root, top)
            if rel_root == '.' and names is not None:
                subdirs[:] = [d for d in subdirs if d in names]
                files = [f for f in files if f in names]
            for name in sorted(files):
                path = os.path.join(root, name)
                st = os.lstat(path)
                digest = ''
                if stat.S_ISREG(st.st_mode):
                    with open(path, 'rb') as f:
                        digest = hashlib.sha256(f.read()).hexdigest()[:16]
                out[os.path.join(top, rel_root, name)] = (
                    f'{stat.S_IMODE(st.st_mode):04o} {st.st_size} {digest}'
                )
            for d in subdirs:
                st = os.lstat(os.path.join(root, d))
                out[os.path.join(top, rel_root, d) + '/'] = f'{stat.S_IMODE(st.st_mode):04o}'
    return out


def fleet_state(lab, hosts=('h1', 'h2', 'h3')):
    return {h: host_state(lab, h) for h in hosts}


def differences(before, after):
    """Readable differences of two snapshots ({} when equal)."""
    import difflib

    diff = {}
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        if isinstance(a, str) and isinstance(b, str) and '\n' in a:
            diff[key] = '\n'.join(difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm='', n=1))
        else:
            diff[key] = (a, b)
    return diff
