#!/usr/bin/env python3
"""Lab only: ask the lab's Prometheus (copied into its container and run there: the lab network
is --internal, nothing outside the lab reaches it). Polls at 0.2 s and prints one JSON document.

    prom_poll.py query EXPR                      the instant vector now
    prom_poll.py queries JSON                    several: a JSON list of expressions -> a list of results
    prom_poll.py rules                           the alerting rules as loaded, with their health
    prom_poll.py wait-query EXPR --count N       until EXPR has at least N series (or --timeout)
    prom_poll.py wait-alert NAME --labels k=v,.. --state firing|inactive|none-active
        firing:      until an alert NAME with those labels is firing; reports when it was
                     first seen pending, its activeAt (Prometheus's eval time) and when it fired
        inactive:    until no alert NAME with those labels is pending or firing
        none-active: until no alert at all is pending or firing (--labels ignored)

Python 3 standard library only (the container has python3, nothing else).
"""
import argparse
import json
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime

API = 'http://127.0.0.1:9090/api/v1/'


def get(path, **params):
    url = API + path + ('?' + urllib.parse.urlencode(params) if params else '')
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - a fixed http://127.0.0.1 URL
        doc = json.load(resp)
    if doc.get('status') != 'success':
        raise RuntimeError(f'{url}: {doc}')
    return doc['data']


def epoch(rfc3339):
    """Prometheus's activeAt ('2025-01-01T00:00:00.123456789Z') as UNIX time."""
    text = rfc3339.rstrip('Z')
    head, _, frac = text.partition('.')
    return datetime.fromisoformat(head + '+00:00').timestamp() + (float('0.' + frac) if frac else 0.0)


def matching(alerts, name, labels):
    return [a for a in alerts if (name is None or a['labels'].get('alertname') == name)
            and all(a['labels'].get(k) == v for k, v in labels.items())]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('command', choices=['query', 'queries', 'rules', 'wait-query', 'wait-alert'])
    ap.add_argument('arg', nargs='?')
    ap.add_argument('--labels', default='')
    ap.add_argument('--state', default='firing', choices=['firing', 'inactive', 'none-active'])
    ap.add_argument('--count', type=int, default=1)
    ap.add_argument('--timeout', type=float, default=60)
    args = ap.parse_args(argv)
    labels = dict(kv.split('=', 1) for kv in args.labels.split(',') if kv)
    start = time.time()
    deadline = start + args.timeout
    out = {'ok': False, 'start': start}
    if args.command == 'query':
        out.update(ok=True, result=get('query', query=args.arg)['result'])
    elif args.command == 'queries':
        out.update(ok=True, results=[get('query', query=q)['result'] for q in json.loads(args.arg)])
    elif args.command == 'rules':
        out.update(ok=True, groups=get('rules', type='alert')['groups'])
    elif args.command == 'wait-query':
        while True:
            result = get('query', query=args.arg)['result']
            if len(result) >= args.count or time.time() > deadline:
                break
            time.sleep(0.2)
        out.update(ok=len(result) >= args.count, result=result)
    else:
        pending_seen = None
        while True:
            now = time.time()
            alerts = get('alerts')['alerts']
            found = matching(alerts, None if args.state == 'none-active' else args.arg, labels)
            if args.state == 'firing':
                if pending_seen is None and found:
                    pending_seen = now
                firing = [a for a in found if a['state'] == 'firing']
                if firing:
                    out.update(ok=True, pending_seen=pending_seen, firing_seen=now,
                               active_at=epoch(firing[0]['activeAt']), alert=firing[0])
                    break
            elif not found:
                out.update(ok=True, gone_seen=now)
                break
            if now > deadline:
                out.update(active=found)
                break
            time.sleep(0.2)
    out['end'] = time.time()
    json.dump(out, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
