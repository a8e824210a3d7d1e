#!/usr/bin/env bash
# Installs the Debian packages the tests need, if missing: a one-node Slurm, h5py/numpy for the
# independent cross-checks, h5dump, cron, chromium (renders the HTML report headless). Idempotent;
# quick when everything is there.
set -euo pipefail
pkgs=(slurmctld slurmd slurm-client munge python3-h5py python3-numpy hdf5-tools cron chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-prerequisites: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "install-prerequisites: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
