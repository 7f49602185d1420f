#!/usr/bin/env bash
# `npm start` in a checkout: from a fresh clone (after `npm ci`) to a running
# engine. Installs the Debian packages QEMU and the image build need when run as
# root on Debian or Ubuntu (else names them), builds skiff, builds the guest
# image for this host's architecture if iso/out has none, starts the machine
# (`skiff start`, creating it on first use), and prints the line that points
# this terminal's docker client at it. Arguments go to `skiff start`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

case "$(uname -m)" in
  x86_64) image=skiff-amd64.iso; arch=amd64 ;;
  aarch64 | arm64) image=skiff-arm64.iso; arch=arm64 ;;
  *) image=skiff-amd64.iso; arch=amd64 ;; # other hosts run the amd64 guest under TCG
esac

bash scripts/host-packages.sh install run image
npm run --silent build
if ! grep -q " $image\$" iso/out/SHA256SUMS 2>/dev/null || [ ! -f "iso/out/$image" ]; then
  echo "skiff: building the guest image iso/out/$image (a few minutes, once)" >&2
  bash iso/build.sh --arch "$arch"
fi
node bin/skiff.js start "$@"
echo
echo "Point this terminal's docker at it:"
echo "  eval \"\$($repo/bin/skiff.js shellinit)\""
