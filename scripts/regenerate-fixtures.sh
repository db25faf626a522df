#!/usr/bin/env bash
# Regenerates ci/fixtures/qk256 through `cargo xtask gen-fixtures`, verifies the checksums and
# shows what changed. Works from any directory inside the repository.
set -euo pipefail

die() { echo "regenerate-fixtures: $*" >&2; exit 1; }

command -v git >/dev/null 2>&1 || die "git not found on PATH"
command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH (install Rust with rustup)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found on PATH (coreutils)"

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null) \
  || die "not inside the bitnet fixtures git repository ($script_dir)"
[ -f "$root/xtask/Cargo.toml" ] || die "$root has no xtask/: not the bitnet fixtures repository"

cd "$root"
cargo xtask gen-fixtures || die "cargo xtask gen-fixtures failed"
(cd ci/fixtures/qk256 && sha256sum -c checksums.txt) || die "checksums do not verify"
echo "changes against HEAD:"
git diff --stat -- ci/fixtures/qk256
git status --porcelain -- ci/fixtures/qk256
