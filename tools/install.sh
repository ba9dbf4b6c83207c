#!/usr/bin/env bash
# Installs what `make` needs and is missing, pinned: the Python venv (requirements.txt), the npm
# toolchain (package-lock.json: solcjs, anvil, forge, OpenZeppelin, uPlot for the public page) and
# the solc launcher; with --slither also Slither (tools/slither-requirements.txt) in a venv of its
# own, .tools/slither-venv; with --mutmut also mutmut (tools/mutmut-requirements.txt) in
# .tools/mutmut-venv, layered over .venv.
# Idempotent: each step runs only when its lock file is newer than its stamp.
# Everything comes from PyPI and npm; nothing is downloaded from elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { printf '\033[1minstall:\033[0m %s\n' "$*"; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

python=${PYTHON:-python3}
command -v "$python" >/dev/null || die "Python 3.11 is required (looked for '$python'). On Debian: apt-get install python3 python3-venv"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "Python >= 3.11 is required, found $("$python" --version 2>&1). Set PYTHON=/path/to/python3.11"
command -v node >/dev/null || die "Node.js >= 18 is required for solcjs and anvil. On Debian: apt-get install nodejs npm"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 18 ? 1 : 0)' ||
  die "Node.js >= 18 is required, found $(node --version)"
command -v npm >/dev/null || die "npm is required. On Debian: apt-get install npm"

# Python
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$python" --version 2>&1)"
  "$python" -m venv .venv || die "could not create a venv; on Debian: apt-get install python3-venv"
fi
if [ ! -f .venv/.installed ] || [ requirements.txt -nt .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ] ||
  [ clients/python/pyproject.toml -nt .venv/.installed ]; then
  say "installing Python packages (requirements.txt)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
  # the bank client, a package of its own (clients/python; its dependencies are in requirements.txt)
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e clients/python
  touch .venv/.installed
fi

# Node: solcjs, anvil, forge, OpenZeppelin
if [ ! -f node_modules/.installed ] || [ package-lock.json -nt node_modules/.installed ]; then
  say "installing npm packages (package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.installed
fi
# anvil and forge: each npm package brings its native binary in a platform package
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-amd64 ;;
  Linux-aarch64) platform=linux-arm64 ;;
  Darwin-arm64) platform=darwin-arm64 ;;
  Darwin-x86_64) platform=darwin-amd64 ;;
  *) platform=linux-amd64 ;;
esac
anvil_bin=node_modules/@foundry-rs/anvil-$platform/bin/anvil
forge_bin=node_modules/@foundry-rs/forge-$platform/bin/forge
[ -x "$anvil_bin" ] || die "anvil is missing at $anvil_bin: npm did not install @foundry-rs/anvil's binary for $(uname -sm)"
[ -x "$forge_bin" ] || die "forge is missing at $forge_bin: npm did not install @foundry-rs/forge's binary for $(uname -sm)"

# The launchers: .tools/bin goes first on PATH (make does that), .tools/solcx is where py-solc-x
# and ape-solidity look for solc-v<version>.
version=$(sed -n 's/^SOLC_VERSION="\([0-9.]*\)+.*/\1/p' tools/solc)
mkdir -p .tools/bin .tools/solcx
ln -sf "$root/tools/solc" .tools/bin/solc
ln -sf "$root/tools/solc" ".tools/solcx/solc-v$version"
ln -sf "$root/$anvil_bin" .tools/bin/anvil
ln -sf "$root/$forge_bin" .tools/bin/forge

# Slither, for `make lint-contracts` only: its own venv, since it needs newer web3 and eth-abi
# than the ones ape needs in .venv.
if [ "${1:-}" = "--slither" ]; then
  slither_venv=.tools/slither-venv
  if [ ! -x "$slither_venv/bin/python" ]; then
    say "creating $slither_venv"
    "$python" -m venv "$slither_venv" || die "could not create a venv; on Debian: apt-get install python3-venv"
  fi
  if [ ! -f "$slither_venv/.installed" ] || [ tools/slither-requirements.txt -nt "$slither_venv/.installed" ]; then
    say "installing Slither (tools/slither-requirements.txt)"
    "$slither_venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tools/slither-requirements.txt
    touch "$slither_venv/.installed"
  fi
fi

# mutmut, for `make mutants` only: a venv of its own, since mutmut 3.8 needs a newer click than
# ape allows in .venv. It runs the tests in its own process, so it also sees .venv's packages (and
# the editable install of the service) through a .pth file, after its own.
if [ "${1:-}" = "--mutmut" ]; then
  mutmut_venv=.tools/mutmut-venv
  if [ ! -x "$mutmut_venv/bin/python" ]; then
    say "creating $mutmut_venv"
    "$python" -m venv "$mutmut_venv" || die "could not create a venv; on Debian: apt-get install python3-venv"
  fi
  if [ ! -f "$mutmut_venv/.installed" ] || [ tools/mutmut-requirements.txt -nt "$mutmut_venv/.installed" ]; then
    say "installing mutmut (tools/mutmut-requirements.txt)"
    "$mutmut_venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tools/mutmut-requirements.txt
    touch "$mutmut_venv/.installed"
  fi
  venv_site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  mutmut_site=$("$mutmut_venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "import site; site.addsitedir('$venv_site')" > "$mutmut_site/ushk-venv.pth"
fi
