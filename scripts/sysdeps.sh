#!/usr/bin/env bash
# Debian programs the extractors call when present: Tesseract (OCR of images
# and scanned pages) and LibreOffice without a GUI (legacy .doc/.ppt, and
# presentations to PDF for page rendering). Installs only what is missing;
# a no-op in well under a second when everything is there. Needs root (or
# sudo) the first time; without either it says what to install and goes on,
# since the service runs without them (those formats then fail clearly).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need=()
command -v tesseract >/dev/null || need+=(tesseract-ocr tesseract-ocr-eng)
command -v soffice >/dev/null || need+=(libreoffice-writer-nogui libreoffice-impress-nogui)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  log "not installing ${need[*]} (needs root): OCR and legacy Office formats stay off"
  exit 0
fi
command -v apt-get >/dev/null || die "apt-get not found: install ${need[*]} by hand"
log "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet: update once, then retry.
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >&2 \
  || { "${as_root[@]}" apt-get update -q >&2 && "${as_root[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >&2; }
