#!/usr/bin/env bash
# Software WebGPU for tapegrad on Debian 12 (bookworm), no GPU needed.
#
#  * Node (npm `webgpu`, i.e. Dawn) needs a Vulkan driver.  Without a GPU that is
#    Mesa's lavapipe ("llvmpipe" adapter).  Debian 12's own Mesa 22 is too old for
#    Dawn (no adapter), so Mesa and the Vulkan loader come from bookworm-backports.
#  * Browser tests use Debian's `chromium` (WebGPU on its bundled SwiftShader).
#
# Idempotent and non-interactive; a re-run on a set-up machine only checks and
# returns in about a second.  Must run as root (CI) or via sudo.
#
# Env:
#   TAPEGRAD_SKIP_CHROMIUM=1   don't install chromium (Node-only WebGPU)
#   TAPEGRAD_FORCE_APT=1       run apt-get update/install even if all looks installed

set -euo pipefail

BACKPORTS_FILE=/etc/apt/sources.list.d/bookworm-backports.sources
DEBIAN_SOURCES=/etc/apt/sources.list.d/debian.sources
MIN_MESA=24        # lavapipe older than this gives Dawn no adapter (22.3 in bookworm fails)

# Mesa 25 names it lvp_icd.json, Mesa 22 lvp_icd.<arch>.json.
have_lvp_icd() { compgen -G '/usr/share/vulkan/icd.d/lvp_icd*.json' >/dev/null; }

log() { printf '[setup-webgpu] %s\n' "$*"; }
start=$(date +%s.%N)
elapsed() { awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

manual() {
  cat >&2 <<'EOF'
[setup-webgpu] Cannot set up automatically: this script needs root and apt-get (Debian 12).
To do it by hand on Debian 12 (bookworm):
  1. Enable bookworm-backports, e.g. create /etc/apt/sources.list.d/bookworm-backports.sources:
       Types: deb
       URIs: http://deb.debian.org/debian
       Suites: bookworm-backports
       Components: main
       Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
  2. sudo apt-get update
  3. sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1
  4. sudo apt-get install -y chromium        # only for browser WebGPU tests
  5. node scripts/check-webgpu.mjs           # should print an "llvmpipe" adapter and OK
On other systems: install a Vulkan loader plus Mesa >= 24 lavapipe (or use a real GPU
driver), and a Chromium for browser tests; then run scripts/check-webgpu.mjs.
EOF
  exit 1
}

if [[ ${EUID:-$(id -u)} -ne 0 ]]; then
  log "not running as root (try: sudo bash $0)"
  manual
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  log "apt-get/dpkg not found: not a Debian system"
  manual
fi

codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
log "OS: $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}"), arch $(dpkg --print-architecture)"

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300)

# Installed version of a package, empty if not installed.
pkg_version() {
  { dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$1" 2>/dev/null || true; } | awk '$1 ~ /^.i/ { print $2 }'
}

# --- 1. bookworm-backports apt source -----------------------------------------
use_backports=0
if [[ $codename == bookworm ]]; then
  use_backports=1
  if [[ -e $BACKPORTS_FILE ]] ||
     grep -rqs --include='*.list' --include='*.sources' -E '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "apt source for bookworm-backports already present: skip"
  else
    if [[ -r $DEBIAN_SOURCES ]]; then
      log "adding $BACKPORTS_FILE (first stanza of $DEBIAN_SOURCES, Suites: bookworm-backports)"
      stanza=$(awk '
        /^[[:space:]]*$/ { if (seen) exit; next }   # blank line ends the first stanza
        { seen = 1 }
        /^Suites:/ { print "Suites: bookworm-backports"; next }
        { print }' "$DEBIAN_SOURCES")
    else
      log "no $DEBIAN_SOURCES (old-style sources.list?): writing a default deb.debian.org stanza to $BACKPORTS_FILE"
      stanza=$'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg'
    fi
    if ! grep -q '^Suites: bookworm-backports$' <<<"$stanza"; then
      log "ERROR: could not derive a backports stanza from $DEBIAN_SOURCES"; exit 1
    fi
    printf '%s\n' "$stanza" >"$BACKPORTS_FILE.tmp"
    mv "$BACKPORTS_FILE.tmp" "$BACKPORTS_FILE"
    sed 's/^/    /' "$BACKPORTS_FILE"
  fi
elif [[ -n $codename ]]; then
  log "not bookworm ($codename): installing Mesa from the default suites (needs Mesa >= $MIN_MESA)"
fi

# --- 2. what is missing? ------------------------------------------------------
mesa_v=$(pkg_version mesa-vulkan-drivers)
vk_v=$(pkg_version libvulkan1)
chr_v=$(pkg_version chromium)
log "installed: mesa-vulkan-drivers=${mesa_v:-none} libvulkan1=${vk_v:-none} chromium=${chr_v:-none}"

need_mesa=0
if [[ -z $mesa_v || -z $vk_v ]] || ! dpkg --compare-versions "$mesa_v" ge "$MIN_MESA" || ! have_lvp_icd; then
  need_mesa=1
fi
need_chromium=0
if [[ ${TAPEGRAD_SKIP_CHROMIUM:-0} != 1 && ( -z $chr_v || ! -x /usr/bin/chromium ) ]]; then
  need_chromium=1
fi
if [[ ${TAPEGRAD_FORCE_APT:-0} == 1 ]]; then
  need_mesa=1
  [[ ${TAPEGRAD_SKIP_CHROMIUM:-0} != 1 ]] && need_chromium=1
fi

if (( !need_mesa && !need_chromium )); then
  log "everything already installed: nothing to do ($(elapsed) s)"
  exit 0
fi

# --- 3. apt-get update (once) -------------------------------------------------
log "apt-get update"
t=$(date +%s)
apt-get update -q -o DPkg::Lock::Timeout=300
log "apt-get update done in $(( $(date +%s) - t )) s"

# --- 4. Mesa lavapipe + Vulkan loader -----------------------------------------
if (( need_mesa )); then
  t=$(date +%s)
  if (( use_backports )); then
    log "installing mesa-vulkan-drivers libvulkan1 from bookworm-backports"
    apt-get install "${APT_OPTS[@]}" -t bookworm-backports mesa-vulkan-drivers libvulkan1
  else
    log "installing mesa-vulkan-drivers libvulkan1"
    apt-get install "${APT_OPTS[@]}" mesa-vulkan-drivers libvulkan1
  fi
  mesa_v=$(pkg_version mesa-vulkan-drivers)
  log "mesa-vulkan-drivers=$mesa_v libvulkan1=$(pkg_version libvulkan1) installed in $(( $(date +%s) - t )) s"
  if ! dpkg --compare-versions "${mesa_v:-0}" ge "$MIN_MESA"; then
    log "ERROR: mesa-vulkan-drivers $mesa_v < $MIN_MESA: Dawn will find no adapter"; exit 1
  fi
  if ! have_lvp_icd; then
    log "ERROR: lavapipe ICD /usr/share/vulkan/icd.d/lvp_icd*.json missing after install"; exit 1
  fi
fi

# --- 5. Chromium (browser WebGPU tests, SwiftShader) --------------------------
if (( need_chromium )); then
  t=$(date +%s)
  log "installing chromium"
  apt-get install "${APT_OPTS[@]}" chromium
  log "chromium $(pkg_version chromium) installed in $(( $(date +%s) - t )) s"
fi

log "done in $(elapsed) s"
