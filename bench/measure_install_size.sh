#!/bin/bash
# Installed size of roomscribe in a fresh venv: docs/BENCHMARKS.md, "Installed size and resident memory".
# usage: bench/measure_install_size.sh SRC LABEL EXTRA  -> prints size of site-packages
set -e
src=$1; label=$2; extra=$3
venv=${TMPDIR:-/tmp}/rs-size-venv-$label
rm -rf $venv
"${PYTHON:-python3}" -m venv $venv
$venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
$venv/bin/pip install -q "$src$extra" >${TMPDIR:-/tmp}/rs-size-$label.log 2>&1
sp=$($venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
pipsz=$(du -sk $sp/pip $sp/pip-* 2>/dev/null | awk '{s+=$1} END {print s}')
total=$(du -sk $sp | awk '{print $1}')
echo "$label: site-packages ${total} KiB, without pip $((total-pipsz)) KiB"
$venv/bin/pip list --format=freeze > ${TMPDIR:-/tmp}/rs-size-$label.freeze
