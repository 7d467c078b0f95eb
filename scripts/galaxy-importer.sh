#!/usr/bin/env bash
# galaxy-importer (what Galaxy runs on an upload) on the built tarball, without containers:
# scripts/galaxy-importer.cfg turns off its ansible-test step (a container image that cannot be
# fetched here; scripts/sanity.sh runs ansible-test sanity on the same tarball). What runs:
# the MANIFEST (galaxy.yml) checks, ansible-doc on every plugin, the README and changelog checks,
# and ansible-lint --profile production over the whole collection.
# Passes when the import succeeds, every module, documented filter and the role has its docs, and
# nothing is logged but the notices about the (empty) sanity ignore files.
#
# Galaxy requires galaxy.yml's `repository`, and this project has no public repository yet, so
# galaxy.yml names none. Until it does, the shipped tarball must be refused for exactly that reason
# and nothing else (checked), and the importer's other checks run on a copy of the tarball whose
# MANIFEST.json names a stand-in repository. Once galaxy.yml has a repository, the tarball itself
# is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/matrix-venv.sh tools
work=$(mktemp -d /tmp/meshlab-importer.XXXXXX)
[[ -n ${KEEP_IMPORTER_DIR:-} ]] || trap 'rm -rf "$work"' EXIT
.venv/bin/ansible-galaxy collection build --force --output-path "$work" >/dev/null
tarball=$(ls "$work"/meshlab-wireguard-*.tar.gz)
# ansible-lint resolves the role's ansible.posix and community.general modules through sys.path
# (the importer sets ANSIBLE_COLLECTIONS_PATH itself): give it the two collections of the main
# .venv's `ansible` package, and nothing else of that venv.
deps=$work/deps/ansible_collections
site=$("$root/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$deps/ansible" "$deps/community"
ln -s "$site/ansible_collections/ansible/posix" "$deps/ansible/posix"
ln -s "$site/ansible_collections/community/general" "$deps/community/general"

run_importer() {  # run_importer TARBALL DIR: run galaxy-importer in DIR (it writes importer_result.json there)
  mkdir -p "$2"
  (cd "$2" && PATH="$root/.venv-matrix/tools/bin:$PATH" PYTHONPATH="$work/deps" \
    GALAXY_IMPORTER_CONFIG="$root/scripts/galaxy-importer.cfg" \
    "$root/.venv-matrix/tools/bin/python" -m galaxy_importer.main "$1" >importer.log 2>&1 || true)
  cat "$2/importer.log"
}

if ! "$root/.venv/bin/python" -c 'import sys, yaml; sys.exit(not yaml.safe_load(open("galaxy.yml")).get("repository"))'; then
  echo "=== the shipped tarball (galaxy.yml has no repository)"
  run_importer "$tarball" "$work/shipped"
  "$root/.venv/bin/python" - "$work/shipped/importer.log" <<'PY'
import sys
errors = [l for l in open(sys.argv[1]).read().splitlines() if l.startswith('ERROR')]
want = ["ERROR: The import failed for the following reason: Invalid collection metadata. 'repository' is required"]
if errors != want:
    sys.exit(f'galaxy-importer: FAILED: expected only the missing repository, got {errors}')
print('galaxy-importer: the shipped tarball is refused only for its missing repository')
PY
  echo "=== a copy whose MANIFEST.json names a stand-in repository"
  standin=$work/standin/$(basename "$tarball")
  mkdir -p "$work/standin"
  "$root/.venv/bin/python" - "$tarball" "$standin" <<'PY'
import io, json, sys, tarfile
with tarfile.open(sys.argv[1]) as src, tarfile.open(sys.argv[2], 'w:gz') as dst:
    for member in src.getmembers():
        data = src.extractfile(member).read() if member.isfile() else None
        if member.name == 'MANIFEST.json':
            manifest = json.loads(data)
            manifest['collection_info']['repository'] = 'https://example.invalid/stand-in-for-the-import-check'
            data = json.dumps(manifest, indent=4).encode()
            member.size = len(data)
        dst.addfile(member, io.BytesIO(data) if data is not None else None)
PY
  tarball=$standin
fi
run_importer "$tarball" "$work/check"
(cd "$root" && "$root/.venv/bin/python" - "$work/check/importer.log" "$work/check/importer_result.json") <<'PY'
import json, os, re, sys
log = open(sys.argv[1]).read().splitlines()
problems = []
if 'Importer processing completed successfully' not in log:
    problems.append('the import did not complete')
notice = re.compile(r'^WARNING: Ignore files skip ansible-test sanity tests, found ignore-2\.\d+\.txt with 0 statement')
for line in log:
    if line.startswith(('WARNING', 'ERROR')) and not notice.match(line):
        problems.append(line)
try:
    result = json.load(open(sys.argv[2]))
except (OSError, ValueError) as exc:
    result = {}
    problems.append(f'no importer_result.json: {exc}')
blobs = {(c['content_type'], c['content_name']): c for c in result.get('docs_blob', {}).get('contents', [])}
checked = 0
for c in result.get('contents', []):
    # filters: the documented ones (plugins/filter/NAME.yml), not the file that holds them
    if c['content_type'] in ('module', 'role') or (c['content_type'] == 'filter' and
                                                   os.path.exists(f"plugins/filter/{c['name']}.yml")):
        checked += 1
        blob = blobs.get((c['content_type'], c['name'])) or {}
        if not (blob.get('doc_strings') or blob.get('readme_html')) or not c.get('description'):
            problems.append(f"{c['content_type']} {c['name']}: no documentation found")
print(f"galaxy-importer: {len(result.get('contents', []))} contents, {checked} modules, filters and "
      f"roles documented, requires_ansible {result.get('requires_ansible')}")
if problems:
    print('galaxy-importer: FAILED\n- ' + '\n- '.join(problems))
    sys.exit(1)
print('galaxy-importer: passed')
PY
