#!/usr/bin/env bash
# setup.sh - installs the Debian packages the build needs, then builds autoglm into build/.
# Usage: scripts/setup.sh            (as root, or with sudo available)
#        AUTOGLM_SKIP_APT=1 scripts/setup.sh   (packages already there: only build)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake clang libclang-rt-14-dev python3 libcjson-dev)

PACKAGES+=(pkg-config libpcre2-dev libutf8proc-dev) # tokenizer: regex splits, Unicode normalization
PACKAGES+=(libssl-dev)                              # trust: hashes, signatures, TLS; model store: SHA-256
PACKAGES+=(libmicrohttpd-dev libgnutls28-dev)       # server: HTTP, TLS (client certificates)
PACKAGES+=(nodejs)                                  # tests/js: the official ollama and openai npm clients
command -v npm >/dev/null || PACKAGES+=(npm)        # (a Node.js that brings its own npm conflicts with Debian's)
PACKAGES+=(chromium fonts-wqy-microhei)             # tests/js/web.mjs: the desktop page, headless (playwright-core; a CJK font for the Chinese UI)
PACKAGES+=(libsqlite3-dev libpoppler-glib-dev libzip-dev) # knowledge base: SQLite FTS5, PDF text, DOCX zip
PACKAGES+=(libpng-dev libjpeg62-turbo-dev)          # image input of vision models: PNG, JPEG

if [ "${AUTOGLM_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "setup: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# the npm packages of tests/js (the ollama and openai clients, playwright-core), as package-lock.json
# pins them; installed again when the lock file changed (the JS tests are skipped when offline)
if command -v npm >/dev/null && ! cmp -s tests/js/package-lock.json tests/js/node_modules/.autoglm-lock; then
  (cd tests/js && npm ci --no-audit --no-fund >/dev/null && cp package-lock.json node_modules/.autoglm-lock) ||
    echo "setup: npm ci failed: the tests in tests/js will be skipped" >&2
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
echo "setup: built build/autoglm" >&2
