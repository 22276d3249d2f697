#!/usr/bin/env bash
# Installs the system libraries initdiag links against (OpenBLAS, HDF5, LMDB, LevelDB, zlib, libpng,
# libjpeg-turbo) and the HDF5 command line tools the tests use (h5dump). Does nothing when they are
# already there.
set -euo pipefail
need=()
for pkg in libopenblas-dev libhdf5-dev hdf5-tools liblmdb-dev libleveldb-dev zlib1g-dev libpng-dev libturbojpeg0-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
# The report.html browser check (scripts/check-report-html.sh) needs Chromium: opt-in, it is large.
if [ "${INITDIAG_BROWSER:-0}" = "1" ] && ! command -v chromium >/dev/null 2>&1; then need+=(chromium); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
